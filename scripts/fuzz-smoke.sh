#!/usr/bin/env bash
# A bounded libFuzzer run of every parser: builds tests/fuzz/ with clang under ASan + UBSan into
# build-fuzz/, seeds each target with files taken from tests/fixtures at run time, and runs each one for
# the given time. Exits non-zero when any target crashes, leaks, hangs (-timeout) or runs out of memory;
# the reproducer is kept in build-fuzz/findings/<target>/ (rerun: build-fuzz/tests/fuzz/fuzz_<target> <file>).
# usage: scripts/fuzz-smoke.sh [seconds per target, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET="${1:-30}"
BUILD="${MB_FUZZ_BUILD_DIR:-build-fuzz}"
FIXTURES=tests/fixtures/foundation
TARGETS=(safetensors zip pickle config_json dcp_metadata tokenizer chat_template hub bundle image)

CC_BIN="${FUZZ_CC:-clang}"
CXX_BIN="${FUZZ_CXX:-clang++}"
command -v "$CXX_BIN" >/dev/null || { echo "fuzz-smoke: $CXX_BIN not found (libFuzzer needs clang)" >&2; exit 2; }

echo "== fuzz-smoke: building the targets in $BUILD"
CC="$CC_BIN" CXX="$CXX_BIN" cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMB_FUZZ=ON \
  -DMB_SANITIZE=address,undefined -DMB_CUDA=OFF -DMB_BUILD_TESTS=OFF -DMB_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target fuzz_targets

WORK="$(mktemp -d "${TMPDIR:-/tmp}/mbridge-fuzz-smoke.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# ---- seed corpora, from the fixtures ---------------------------------------------------------------------
seed() {  # seed <target> <file>...: copies files into the target's corpus under unique names
  local dir="$WORK/corpus/$1" f
  shift
  mkdir -p "$dir"
  for f in "$@"; do cp "$f" "$dir/$(echo "$f" | tr '/' '_')"; done
}

# data.pkl of every torch.save archive under the fixtures (unzip when there, else python3's zipfile)
extract_pickles() {
  local out="$WORK/corpus/pickle" f n=0
  mkdir -p "$out"
  while IFS= read -r f; do
    n=$((n + 1))
    if command -v unzip >/dev/null; then
      unzip -p "$f" '*/data.pkl' >"$out/data_$n.pkl"
    else
      python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
sys.stdout.buffer.write(z.read(next(n for n in z.namelist() if n.endswith("/data.pkl"))))' "$f" >"$out/data_$n.pkl"
    fi
  done < <(find "$FIXTURES" -name '*.pt' | sort)
}

seed safetensors $(find "$FIXTURES" -name '*.safetensors' -size -32k | sort)
seed zip $(find "$FIXTURES/torch" -name '*.pt' | sort)
extract_pickles
seed pickle $(find "$FIXTURES/mcore" -name .metadata | sort)
seed config_json $(find "$FIXTURES" -name '*.json' -size -8k | sort)
seed dcp_metadata $(find "$FIXTURES/mcore" -name .metadata | sort)
seed tokenizer tests/fixtures/bridge/hf/llama31/tokenizer.json tests/fuzz/tokenizer_seeds/*.json
seed hub tests/fuzz/hub_seeds/*
# chat templates: ours, the vision-language fixture's, and those of the real tokenizers when fetched
seed chat_template tests/fuzz/chat_template_seeds/*.jinja tests/fixtures/vlm/qwen2_5_vl_chat/chat_template.jinja
for config in .cache/tokenizers/*/package/models/tokenizer_config.json; do
  [ -f "$config" ] || continue
  python3 -c 'import json, sys
t = json.load(open(sys.argv[1])).get("chat_template")
if isinstance(t, str): sys.stdout.write(t)' "$config" >"$WORK/corpus/chat_template/$(basename "$(dirname "$(dirname "$(dirname "$config")")")").jinja"
done
# bundles and tensor frames of small fixture files, made by mbridge's own writer
"$BUILD/tests/fuzz/fuzz_bundle_seeds" "$WORK/corpus/bundle" tests/fixtures/bridge/hf/llama2/config.json \
  "$FIXTURES/torch/views.pt" "$FIXTURES/torch/dtypes.reference.safetensors" "$FIXTURES/torch/views.reference.safetensors"
# PNGs and JPEGs made by libpng's and libjpeg's encoders
"$BUILD/tests/fuzz/fuzz_image_seeds" "$WORK/corpus/image"

max_len() {
  case "$1" in
    safetensors) echo 32768 ;;
    zip) echo 16384 ;;
    pickle) echo 65536 ;;
    config_json) echo 8192 ;;
    dcp_metadata) echo 32768 ;;
    tokenizer) echo 8192 ;;
    chat_template) echo 16384 ;;
    hub) echo 4096 ;;
    bundle) echo 16384 ;;
    image) echo 8192 ;;
  esac
}
dict() {
  case "$1" in
    pickle | dcp_metadata) echo "-dict=tests/fuzz/pickle.dict" ;;
    config_json | safetensors | tokenizer | bundle) echo "-dict=tests/fuzz/json.dict" ;;
    hub) echo "-dict=tests/fuzz/hub.dict" ;;
    chat_template) echo "-dict=tests/fuzz/chat_template.dict" ;;
  esac
}

# ---- run ----------------------------------------------------------------------------------------------
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# the DCP target reads real chunks: the mutated metadata points into tp1's data file
export MB_FUZZ_DCP_DIR="$PWD/$FIXTURES/mcore/tp1/iter_0000010"

failed=()
summary=()
for t in "${TARGETS[@]}"; do
  findings="$BUILD/findings/$t"
  mkdir -p "$findings"
  log="$WORK/$t.log"
  echo "== fuzz_$t: ${SECONDS_PER_TARGET}s, $(ls "$WORK/corpus/$t" | wc -l) seeds, max_len $(max_len "$t")"
  set +e
  "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 \
    -max_len="$(max_len "$t")" $(dict "$t") -print_final_stats=1 -artifact_prefix="$findings/" \
    "$WORK/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  summary+=("$(printf '%-14s %10s runs  cov %6s  rc %d' "$t" "${runs:-?}" "${cov:-?}" "$rc")")
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "!! fuzz_$t failed (exit $rc); the end of its log:"
    tail -n 60 "$log"
    cp "$log" "$findings/fuzz.log"
  fi
done

echo "== fuzz-smoke summary (${SECONDS_PER_TARGET}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]} (reproducers in $BUILD/findings/)" >&2
  exit 1
fi
echo "fuzz-smoke: no crash"
