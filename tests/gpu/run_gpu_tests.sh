#!/bin/bash
# The GPU machine's checks of the CUDA backend (CI has no GPU): the kernel tests, plain and under
# compute-sanitizer (memcheck; racecheck for the attention and sampling kernels, which share memory between
# warps), the engine tests on the transformers fixtures, and tensor/pipeline/expert-parallel runs (ranks on one
# GPU; NCCL's own collectives with as many ranks as GPUs are visible).
# usage: tests/gpu/run_gpu_tests.sh BUILD_DIR      (a CUDA build: cmake -DMB_CUDA=ON ...)
set -u
BUILD=${1:?usage: run_gpu_tests.sh BUILD_DIR}
SANITIZER=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
status=0
run() { echo "+ $*"; "$@" || status=1; }
run "$BUILD/test_cuda_kernels"
run "$SANITIZER" --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_kernels"
run "$SANITIZER" --tool racecheck --error-exitcode 1 "$BUILD/test_cuda_kernels" --gtest_filter='*Attention*:*SamplerDraws'
run "$BUILD/test_cuda_engine"
run "$SANITIZER" --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_engine" --gtest_filter='*HuggingFace*'
run "$BUILD/test_cuda_parallel"
run "$SANITIZER" --tool memcheck --error-exitcode 1 "$BUILD/test_cuda_parallel" --gtest_filter='*Megatron*'
exit $status
