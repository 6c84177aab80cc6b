#!/bin/bash
# The checks and the benchmark that need a machine of two or more GPUs (CI has none, and NCCL does not allow two
# ranks on one GPU). NVLink multicast off (NCCL_NVLS_ENABLE=0).
#  1. Threads of one process, rank r on GPU r (ncclCommInitAll), and a launcher's ranks on GPUs of their own:
#     test_cuda_parallel (transformers' tokens and logits at TP2, PP2, EP2 on the mixture, both ways).
#  2. One process per GPU, as torchrun starts them (torchrun --no-python when it is installed, else the same
#     variables set here): mbridge generate --tp 2, --pp 2 and --tp 2 --expert-parallel. Rank 0's 32 greedy tokens
#     must equal those of the same prompt on one GPU and transformers' (the fixtures' greedy_N).
#  3. bench_parallel_generate at TP1, TP2 and PP2 on an 8B-shaped Llama-3 made by transformers (the issue's
#     comparison: decode at batch 1 and 16, prefill of 2048 tokens).
# usage: tests/gpu/run_multi_gpu.sh BUILD_DIR [MODEL_DIR]
#   BUILD_DIR: a CUDA build (BUILD_DIR/mbridge, BUILD_DIR/tests/...); MODEL_DIR: where the 8B-shaped model is,
#   or is written; without it, step 3 is left out.
set -u
BUILD=${1:?usage: run_multi_gpu.sh BUILD_DIR [MODEL_DIR]}
MODEL=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
FIX=$HERE/../fixtures/bridge/hf
export NCCL_NVLS_ENABLE=0
gpus=$(nvidia-smi --query-gpu=name --format=csv,noheader | wc -l)
if [ "$gpus" -lt 2 ]; then
  echo "run_multi_gpu.sh: $gpus GPU visible; these checks need 2 (tests/gpu/run_gpu_tests.sh is for one)" >&2
  exit 2
fi
status=0
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

echo "== 1. ranks as threads of one process: NCCL between GPUs"
"$BUILD/tests/test_cuda_parallel" --gtest_filter='*NcclCollectives*:*RankPerGpu*:*LauncherRanks*' || status=1

echo "== 2. one process per GPU"
# a fixture's int64 tensor (prompt_N, greedy_N) as comma-separated ids, read with the standard library
fixture_ids() {
  python3 - "$@" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    begin, end = header[sys.argv[2]]["data_offsets"]
    f.seek(begin, 1)
    data = f.read(end - begin)
print(",".join(str(v) for v in struct.unpack(f"<{len(data) // 8}q", data)))
PY
}
# rank 0's generated ids of a run of two processes (torchrun's variables)
two_processes() {
  local port=$((20000 + RANDOM % 30000))
  if command -v torchrun > /dev/null; then
    torchrun --nproc_per_node=2 --master_port=$port --no-python "$BUILD/mbridge" "$@" > "$T/run.out" 2> "$T/run.err"
  else
    for r in 1 0; do
      MASTER_PORT=$port RANK=$r WORLD_SIZE=2 LOCAL_RANK=$r "$BUILD/mbridge" "$@" > "$T/run.$r" 2> "$T/err.$r" &
    done
    wait
    cat "$T/run.0" > "$T/run.out"; cat "$T/err.0" "$T/err.1" > "$T/run.err"
  fi
}
generated() { python3 -c "import json, sys; print(','.join(map(str, json.load(sys.stdin)['generated_ids'])))"; }
for family in llama31 mixtral; do
  for i in 0 1; do
    prompt=$(fixture_ids "$FIX/$family.greedy.safetensors" prompt_$i)
    expected=$(fixture_ids "$FIX/$family.greedy.safetensors" greedy_$i)
    args=(generate --hf-model "$FIX/$family" --prompt-ids "$prompt" --max-new-tokens 32 --json --no-progress)
    one=$("$BUILD/mbridge" "${args[@]}" --device cuda:0 | generated)
    layouts=("--tp 2" "--pp 2")
    [ "$family" = mixtral ] && layouts+=("--tp 2 --expert-parallel")
    for layout in "${layouts[@]}"; do
      # shellcheck disable=SC2086
      two_processes "${args[@]}" --device cuda $layout
      got=$(generated < "$T/run.out")
      if [ "$got" = "$one" ] && [ "$got" = "$expected" ]; then
        echo "ok   $family prompt $i $layout: 32 tokens as one GPU's and transformers'"
      else
        echo "FAIL $family prompt $i $layout"; echo "  two processes: $got"; echo "  one GPU:       $one"
        echo "  transformers:  $expected"; tail -5 "$T/run.err"; status=1
      fi
    done
  done
done

if [ -n "$MODEL" ]; then
  echo "== 3. benchmark: 8B-shaped Llama-3, TP1 against TP2 (and PP2)"
  [ -f "$MODEL/config.json" ] || python3 "$HERE/../bench/make_llama3_8b_transformers.py" "$MODEL" || status=1
  for layout in "1 1" "2 1" "1 2"; do
    # shellcheck disable=SC2086
    "$BUILD/tests/bench/bench_parallel_generate" "$MODEL" cuda $layout 3 || status=1
  done
fi
exit $status
