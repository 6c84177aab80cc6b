#!/usr/bin/env bash
# One run on the GPU machine (see docs/testing.md): the unit tests of a CUDA build, the interop checks
# with torch / Megatron-Core / transformers, and the safetensors read benchmark against cat.
# usage, from the repository root with build-device/ (a -DMB_CUDA=ON build), .megatron/ and .carry/lib
# (libsimdjson, which the GPU machine lacks) present: tests/interop/device_run.sh OUT_DIR [GB]
set -uo pipefail
OUT="${1:-/tmp/out}"
GB="${2:-8}"
mkdir -p "$OUT"
NCCL="$(python3 -c 'import nvidia.nccl as n; print(list(n.__path__)[0])')/lib"
export LD_LIBRARY_PATH="$PWD/.carry/lib:$NCCL:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
export PYTHONPATH="$PWD/.megatron" PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0
B=build-device
nvidia-smi -L
status=0

echo "== unit tests of the CUDA build"
(cd "$B" && ctest --output-on-failure -E install_consumers) >"$OUT/ctest.log" 2>&1 || status=1
tail -4 "$OUT/ctest.log"
grep -h "DeviceCopiesWhenCudaIsAvailable" "$OUT/ctest.log" | head -2

echo "== interop with the real tools"
rm -rf /tmp/samples /tmp/work
"$B/tests/interop_write_samples" tests/fixtures /tmp/samples || status=1
python3 tests/interop/interop_foundation.py "$B/mbridge" /tmp/samples /tmp/work --big 2>"$OUT/interop.stderr" || status=1
cp /tmp/work/interop_report.json "$OUT/" 2>/dev/null

echo "== read benchmark (${GB} GB safetensors file vs cat)"
python3 tests/bench/make_big_safetensors.py /tmp/big.safetensors "$GB" &&
  tests/bench/run_read_bench.sh "$B/tests/bench/bench_read_safetensors" /tmp/big.safetensors 16 | tee "$OUT/read_bench.json"
lscpu | grep -E "Model name|^CPU\(s\)" >"$OUT/machine.txt"; free -g >>"$OUT/machine.txt"; df -h /tmp >>"$OUT/machine.txt"
exit $status
