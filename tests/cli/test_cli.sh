#!/usr/bin/env bash
# The mbridge command end to end: listing, transcoding through every format and back, comparing,
# verifying, and its exit codes. usage: test_cli.sh MBRIDGE FIXTURES_DIR SCRATCH_DIR
set -u
MB="$1"
FX="$2/foundation"
T="$3"
rm -rf "$T" && mkdir -p "$T"
fails=0
check() {  # check "description" expected_exit command...
  local what="$1" want="$2"
  shift 2
  "$@" >"$T/out" 2>"$T/err"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $what: exit $got, expected $want"
    sed 's/^/  out: /' "$T/out" | head -5
    sed 's/^/  err: /' "$T/err" | head -5
    fails=$((fails + 1))
  fi
}
contains() {  # contains "description" file text
  if ! grep -q -- "$3" "$2"; then
    echo "FAIL: $1: '$3' not in output"
    head -5 "$2" | sed 's/^/  /'
    fails=$((fails + 1))
  fi
}

check "version" 0 "$MB" version
contains "version" "$T/out" "mbridge 0."
check "no command" 2 "$MB"
check "unknown command" 2 "$MB" frobnicate
check "unknown option" 2 "$MB" tensors "$FX/torch/dtypes.pt" --bogus
contains "unknown option" "$T/err" "unknown option --bogus"

check "tensors of a torch_dist checkpoint" 0 "$MB" tensors "$FX/mcore/tp2"
contains "tensors" "$T/out" "decoder.layers.mlp.linear_fc1.weight *BF16 *\[4, 128, 32\]"
contains "tensors" "$T/out" "9 tensors"
check "tensors --json" 0 "$MB" tensors "$FX/legacy/pp2" --json
contains "tensors --json" "$T/out" '"format":"megatron_legacy"'
contains "tensors --json" "$T/out" 'mp_rank_00_001/decoder.layers.1.mlp.linear_fc2.weight'
check "info" 0 "$MB" info "$FX/mcore/pp2"
contains "info" "$T/out" '"iteration": 10'
contains "info" "$T/out" '"pipeline_model_parallel_size": 2'

# a Hugging Face folder through every format and back, bit for bit
HF="$FX/hf_tiny_llama_sharded"
check "to torch_dist" 0 "$MB" transcode "$HF" "$T/dist" --to torch_dist --files 2 --chunks 3 --no-progress
test -f "$T/dist/latest_checkpointed_iteration.txt" || { echo "FAIL: no tracker file"; fails=$((fails + 1)); }
check "to torch" 0 "$MB" transcode "$T/dist" "$T/model.pt" --to torch --no-progress
check "to legacy" 0 "$MB" transcode "$T/model.pt" "$T/legacy" --to megatron_legacy --no-progress
check "to safetensors" 0 "$MB" transcode "$T/model.pt" "$T/hf" --to safetensors --max-shard-size 20KB --json --no-progress
contains "to safetensors --json" "$T/out" 'model.safetensors.index.json'
check "round trip equal" 0 "$MB" compare "$HF" "$T/hf"
contains "round trip equal" "$T/out" "21 tensors compared, 0 different"
check "torch_dist equal" 0 "$MB" compare "$HF" "$T/dist"
check "verify" 0 "$MB" verify "$T/model.pt" --no-progress
contains "verify" "$T/out" "ok: 21 tensors"
check "legacy names" 0 "$MB" tensors "$T/legacy"
contains "legacy names" "$T/out" "mp_rank_00/lm_head.weight"

# casting is visible to compare, and an existing output is refused
check "cast to f32" 0 "$MB" transcode "$HF" "$T/f32" --to safetensors --dtype F32 --no-progress
check "cast differs" 1 "$MB" compare "$HF" "$T/f32"
contains "cast differs" "$T/out" "DIFFERENT"
check "output exists" 2 "$MB" transcode "$HF" "$T/f32" --to safetensors
contains "output exists" "$T/err" "already exists"

# damage is reported with the file's name
cp "$FX/torch/dtypes.pt" "$T/damaged.pt"
printf '\xff' | dd of="$T/damaged.pt" bs=1 seek=2000 conv=notrunc status=none
check "verify damaged" 1 "$MB" verify "$T/damaged.pt" --no-progress
contains "verify damaged" "$T/out" "damaged.pt"
head -c 100 "$FX/torch/views.pt" > "$T/truncated.pt"
check "truncated" 2 "$MB" tensors "$T/truncated.pt"
contains "truncated" "$T/err" "truncated.pt"

if [ "$fails" -ne 0 ]; then
  echo "$fails CLI check(s) failed"
  exit 1
fi
echo "CLI: all checks passed"
