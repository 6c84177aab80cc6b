#!/usr/bin/env bash
# Bundle benchmark: a Hugging Face model folder packed by `mbridge pack` and by `tar | zstd -3` (the plain
# alternative for shipping a folder), unpacked by each, and loaded (every tensor read once) from the folder and
# from the bundle; with `safetensors.torch.load_file` as well when Python has safetensors. Each timed step starts
# with the page cache dropped (needs root; otherwise the runs are warm and say so) and ends with `sync`; the
# loads are also timed warm. Every unpacked tree is compared with the original byte for byte.
# usage: run_bundle_bench.sh BUILD_DIR MODEL_DIR WORK_DIR [THREADS]   (MB_BENCH_WARM=1: never drop the cache,
#   e.g. on a machine shared with others)
#   BUILD_DIR holds mbridge and tests/bench/bench_bundle (a Release build); WORK_DIR is created and emptied
#   as it goes (it needs about twice the model's size free). Prints one JSON object.
set -euo pipefail
BUILD="$1"; MODEL="$2"; WORK="$3"; THREADS="${4:-$(nproc)}"
MB="$BUILD/mbridge"; BENCH="$BUILD/tests/bench/bench_bundle"
mkdir -p "$WORK"
cold=true
drop() {
  sync
  if [ -n "${MB_BENCH_WARM:-}" ] || ! echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then cold=false; fi
}
# seconds of a command, its `sync` included; stdout discarded
timeit() { local s e; s=$(date +%s%N); "$@" >/dev/null; sync; e=$(date +%s%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
same_tree() { diff -r -q "$1" "$2" >/dev/null || { echo "run_bundle_bench: $2 differs from $1" >&2; exit 1; }; }
# the zstd program, or (where it is not installed) bench_bundle doing the same with the same library
if command -v zstd >/dev/null; then
  zstd_version=$(zstd -V | head -1)
  tarzst() { tar -cf - -C "$MODEL" . | zstd -3 -T"$1" -q -o "$WORK/model.tar.zst"; }
  untarzst() { mkdir -p "$WORK/untarred" && zstd -d -q -c "$WORK/model.tar.zst" | tar -xf - -C "$WORK/untarred"; }
else
  zstd_version="libzstd through bench_bundle (no zstd program)"
  tarzst() { tar -cf - -C "$MODEL" . | "$BENCH" zstd 3 "$1" > "$WORK/model.tar.zst"; }
  untarzst() { mkdir -p "$WORK/untarred" && "$BENCH" unzstd < "$WORK/model.tar.zst" | tar -xf - -C "$WORK/untarred"; }
fi

bytes=$(find "$MODEL" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
rm -rf "$WORK/model.mbz" "$WORK/unpacked" "$WORK/model.tar.zst" "$WORK/untarred"

drop; pack_s=$(timeit "$MB" pack --hf-model "$MODEL" --output "$WORK/model.mbz" --threads "$THREADS" --no-progress)
mbz_bytes=$(stat -c %s "$WORK/model.mbz")
drop; unpack_s=$(timeit "$MB" unpack "$WORK/model.mbz" --output "$WORK/unpacked" --threads "$THREADS" --no-progress)
same_tree "$MODEL" "$WORK/unpacked"; rm -rf "$WORK/unpacked"

drop; load_folder_cold=$("$BENCH" "$MODEL" --threads "$THREADS")
load_folder_warm=$("$BENCH" "$MODEL" --threads "$THREADS")
drop; load_bundle_cold=$("$BENCH" "$WORK/model.mbz" --threads "$THREADS")
load_bundle_warm=$("$BENCH" "$WORK/model.mbz" --threads "$THREADS")

st_cold=null; st_warm=null
if python3 -c 'import safetensors.torch' 2>/dev/null; then
  st_load() {
    python3 - "$MODEL" <<'EOF'
import glob, sys, time
from safetensors.torch import load_file
t = time.time()
n = sum(v.numel() * v.element_size() for f in sorted(glob.glob(sys.argv[1] + "/*.safetensors")) for v in load_file(f).values())
print('{"bytes": %d, "seconds": %.3f}' % (n, time.time() - t))
EOF
  }
  drop; st_cold=$(st_load); st_warm=$(st_load)
fi

rm -f "$WORK/model.mbz"  # disk: the model, and one of the compressed copies and its unpacked tree at a time
drop; zstd1_s=$(timeit tarzst 1); zstd_bytes=$(stat -c %s "$WORK/model.tar.zst"); rm -f "$WORK/model.tar.zst"
drop; zstdT_s=$(timeit tarzst "$THREADS")
drop; unzstd_s=$(timeit untarzst)
same_tree "$MODEL" "$WORK/untarred"; rm -rf "$WORK/untarred" "$WORK/model.tar.zst"

cat <<EOF
{"model": "$MODEL", "bytes": $bytes, "threads": $THREADS, "cold_cache": $cold,
 "mbridge": {"bundle_bytes": $mbz_bytes, "ratio": $(awk -v a="$bytes" -v b="$mbz_bytes" 'BEGIN { printf "%.4f", a / b }'),
             "pack_s": $pack_s, "unpack_s": $unpack_s},
 "zstd_3": {"zstd": "$zstd_version", "tar_zst_bytes": $zstd_bytes, "ratio": $(awk -v a="$bytes" -v b="$zstd_bytes" 'BEGIN { printf "%.4f", a / b }'),
            "pack_s_T1": $zstd1_s, "pack_s_T$THREADS": $zstdT_s, "unpack_s": $unzstd_s},
 "load_folder_cold": $load_folder_cold,
 "load_folder_warm": $load_folder_warm,
 "load_bundle_cold": $load_bundle_cold,
 "load_bundle_warm": $load_bundle_warm,
 "safetensors_load_file_cold": $st_cold,
 "safetensors_load_file_warm": $st_warm}
EOF
