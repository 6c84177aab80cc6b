#!/usr/bin/env bash
# The main job on the bundled tiny model (a Llama saved by transformers in three safetensors shards):
# list it, convert it to a Megatron-Core torch_dist checkpoint, convert that back to Hugging Face
# safetensors, and check that every tensor came back bit for bit.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
MB=build/mbridge
MODEL=tests/fixtures/foundation/hf_tiny_llama_sharded
OUT=$(mktemp -d /tmp/mbridge-demo.XXXXXX)
echo "== the model: $MODEL"
$MB tensors "$MODEL"
echo
echo "== to a torch_dist checkpoint (2 files, every tensor in 2 chunks): $OUT/megatron"
$MB transcode "$MODEL" "$OUT/megatron" --to torch_dist --files 2 --chunks 2
$MB info "$OUT/megatron"
echo
echo "== back to Hugging Face safetensors (shards of at most 20 KB): $OUT/hf"
$MB transcode "$OUT/megatron" "$OUT/hf" --to safetensors --max-shard-size 20KB
ls "$OUT/hf"
echo
echo "== bit-for-bit comparison with the original"
$MB compare "$MODEL" "$OUT/hf"
