#!/usr/bin/env bash
# The main job on the bundled tiny models: convert a Llama saved by transformers (three safetensors
# shards) into a Megatron-Core torch_dist checkpoint at tensor parallel 2 x pipeline parallel 2, convert
# that back to Hugging Face safetensors, and check every tensor came back bit for bit; then a round trip
# of a tiny Qwen3-MoE through legacy mp_rank files with expert parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
MB=build/mbridge
MODEL=tests/fixtures/foundation/hf_tiny_llama_sharded
OUT=$(mktemp -d /tmp/mbridge-demo.XXXXXX)
echo "== the families mbridge converts"
$MB list
echo
echo "== the model: $MODEL"
$MB config "$MODEL"
echo
echo "== to a Megatron-Core torch_dist checkpoint, TP=2 PP=2: $OUT/megatron"
$MB import --hf-model "$MODEL" --megatron-path "$OUT/megatron" --tp 2 --pp 2
$MB info "$OUT/megatron"
echo
echo "== back to Hugging Face (config, generation config and weights from the checkpoint alone): $OUT/hf"
$MB export --megatron-path "$OUT/megatron" --hf-path "$OUT/hf"
ls "$OUT/hf"
echo
echo "== bit-for-bit comparison with the original"
$MB compare "$MODEL" "$OUT/hf"
echo
echo "== round trip of a tiny Qwen3-MoE through legacy mp_rank files, TP=2 EP=2 (one row per tensor)"
$MB roundtrip --hf-model tests/fixtures/bridge/hf/qwen3_moe --format legacy --tp 2 --ep 2 --no-progress | tail -6
echo
echo "demo output kept in $OUT"
