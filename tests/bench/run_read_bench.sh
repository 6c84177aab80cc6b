#!/usr/bin/env bash
# Read benchmark: every tensor of a multi-GB safetensors file through mbridge vs `cat FILE >/dev/null`,
# cold (page cache dropped; needs root) and warm. usage: run_read_bench.sh BENCH_BINARY FILE [threads]
set -euo pipefail
BIN="$1"; FILE="$2"; THREADS="${3:-8}"
drop() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "warning: cannot drop caches (not root)" >&2; }
timeit() { local s e; s=$(date +%s%N); "$@" >/dev/null; e=$(date +%s%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", (b - a) / 1e9 }'; }
bytes=$(stat -c %s "$FILE")
drop; cat_cold=$(timeit cat "$FILE")
drop; ours_cold=$("$BIN" "$FILE" --threads "$THREADS" --mode mmap)
drop; copy_cold=$("$BIN" "$FILE" --threads "$THREADS" --mode copy)
cat_warm=$(timeit cat "$FILE")
ours_warm=$("$BIN" "$FILE" --threads "$THREADS" --mode mmap)
copy_warm=$("$BIN" "$FILE" --threads "$THREADS" --mode copy)
printf '{"file_bytes": %s, "cat_cold_s": %.3f, "cat_warm_s": %.3f,\n "mbridge_mmap_cold": %s,\n "mbridge_copy_cold": %s,\n "mbridge_mmap_warm": %s,\n "mbridge_copy_warm": %s}\n' \
  "$bytes" "$cat_cold" "$cat_warm" "$ours_cold" "$copy_cold" "$ours_warm" "$copy_warm"
