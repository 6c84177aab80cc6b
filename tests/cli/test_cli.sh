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
check "verify --json" 0 "$MB" verify "$T/model.pt" --no-progress --json
contains "verify --json" "$T/out" '"tensors":21'
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
check "verify damaged --json" 1 "$MB" verify "$T/damaged.pt" --no-progress --json
contains "verify damaged --json" "$T/out" '"ok":false'
head -c 100 "$FX/torch/views.pt" > "$T/truncated.pt"
check "truncated" 2 "$MB" tensors "$T/truncated.pt"
contains "truncated" "$T/err" "truncated.pt"

# ---- the bridge: Hugging Face <-> Megatron ----
BX="$2/bridge"
check "list" 0 "$MB" list
contains "list" "$T/out" "Qwen3MoeForCausalLM"
check "config" 0 "$MB" config "$BX/hf/qwen2" --json
contains "config" "$T/out" '"add_qkv_bias":true'
check "import" 0 "$MB" import --hf-model "$BX/hf/llama32" --megatron-path "$T/mg" --tp 2 --pp 2 --format legacy --no-progress
test -f "$T/mg/latest_checkpointed_iteration.txt" || { echo "FAIL: import wrote no tracker"; fails=$((fails + 1)); }
test -f "$T/mg/iter_0000000/mp_rank_01_001/model_optim_rng.pt" || { echo "FAIL: no TP1/PP1 rank file"; fails=$((fails + 1)); }
check "export" 0 "$MB" export --megatron-path "$T/mg" --hf-path "$T/hf_back" --no-progress --json
contains "export" "$T/out" 'config.json'
check "exported equals original" 0 "$MB" compare "$BX/hf/llama32" "$T/hf_back"
check "model-level compare" 0 "$MB" compare "$BX/hf/llama32" "$T/mg" --models
check "reshard" 0 "$MB" reshard --megatron-path "$T/mg" --output "$T/mg_tp1" --format torch_dist --no-progress
check "reshard --json" 0 "$MB" reshard --megatron-path "$T/mg" --output "$T/mg_json" --no-progress --json
contains "reshard --json" "$T/out" '"output":'
check "resharded equals original" 0 "$MB" compare "$BX/hf/llama32" "$T/mg_tp1" --models
check "roundtrip" 0 "$MB" roundtrip --hf-model "$BX/hf/qwen3_moe" --tp 2 --ep 2 --no-progress
contains "roundtrip" "$T/out" "0 mismatches"
check "roundtrip --json" 0 "$MB" roundtrip --hf-model "$BX/hf/qwen2" --format legacy --no-progress --json
contains "roundtrip --json" "$T/out" '"mismatches":0'
check "export of Megatron's own checkpoint" 0 "$MB" export --megatron-path "$BX/mcore/dense_tp2/legacy" --hf-path "$T/native_hf" --family llama --no-progress
contains "native config" "$T/native_hf/config.json" '"LlamaForCausalLM"'
# --hf-model describes a checkpoint another tool wrote: its config.json and its tokenizer files go along
check "export with --hf-model" 0 "$MB" export --megatron-path "$BX/mcore/dense_tp1/torch_dist" --hf-path "$T/native_hf2" --hf-model "$BX/hf/llama31" --no-progress
test -f "$T/native_hf2/tokenizer.json" || { echo "FAIL: --hf-model's tokenizer.json not exported"; fails=$((fails + 1)); }
cmp -s "$T/native_hf2/config.json" "$BX/hf/llama31/config.json" || { echo "FAIL: --hf-model's config.json not exported as it is"; fails=$((fails + 1)); }
# generation: the same tokens from the Hugging Face folder and from the TP2/PP2 legacy checkpoint imported above
check "generate from Hugging Face" 0 "$MB" generate --hf-model "$BX/hf/llama32" --prompt-ids 1,17,42 --max-new-tokens 6 --json
cp "$T/out" "$T/gen_hf.json"
contains "generate from Hugging Face" "$T/gen_hf.json" '"generated_ids":\[[0-9]*,[0-9]*,[0-9]*,[0-9]*,[0-9]*,[0-9]*\]'
check "generate from Megatron" 0 "$MB" generate --megatron-path "$T/mg" --prompt-ids 1,17,42 --max-new-tokens 6 --json
cmp -s "$T/out" "$T/gen_hf.json" || { echo "FAIL: generate from the Megatron checkpoint differs from Hugging Face"; fails=$((fails + 1)); }
check "generate --tp 2 --pp 2" 0 "$MB" generate --megatron-path "$T/mg" --prompt-ids 1,17,42 --max-new-tokens 6 --json --tp 2 --pp 2
cmp -s "$T/out" "$T/gen_hf.json" || { echo "FAIL: generate at TP2 x PP2 differs from one rank"; fails=$((fails + 1)); }
check "generate --tp 3" 2 "$MB" generate --hf-model "$BX/hf/llama32" --prompt-ids 1 --tp 3
contains "generate --tp 3" "$T/err" "tensor parallel 3 must divide"
check "generate --expert-parallel" 0 "$MB" generate --hf-model "$BX/hf/qwen3_moe" --prompt-ids 1,17,42 --max-new-tokens 6 --json --tp 2 --expert-parallel
cp "$T/out" "$T/gen_ep.json"
check "generate qwen3_moe" 0 "$MB" generate --hf-model "$BX/hf/qwen3_moe" --prompt-ids 1,17,42 --max-new-tokens 6 --json
cmp -s "$T/out" "$T/gen_ep.json" || { echo "FAIL: generate with expert parallelism differs from one rank"; fails=$((fails + 1)); }
# one process per rank, as torchrun starts them (RANK, WORLD_SIZE, MASTER_PORT): rank 0 prints what one rank
# does, the others print nothing; a world that does not match --tp x --pp is refused
port=$((20000 + RANDOM % 30000))
for r in 0 1 2 3; do
  MASTER_PORT=$port RANK=$r WORLD_SIZE=4 LOCAL_RANK=$r MB_RENDEZVOUS_TIMEOUT=60 "$MB" generate --megatron-path "$T/mg" \
    --prompt-ids 1,17,42 --max-new-tokens 6 --json --tp 2 --pp 2 >"$T/rank$r.out" 2>"$T/rank$r.err" &
done
wait
cmp -s "$T/rank0.out" "$T/gen_hf.json" || { echo "FAIL: rank 0 of four processes differs from one rank"; cat "$T"/rank*.err; fails=$((fails + 1)); }
[ ! -s "$T/rank1.out" ] && [ ! -s "$T/rank3.out" ] || { echo "FAIL: ranks other than 0 printed"; fails=$((fails + 1)); }
MASTER_PORT=$port RANK=0 WORLD_SIZE=3 check "generate, world of 3 for --tp 2" 2 "$MB" generate --hf-model "$BX/hf/llama32" --prompt-ids 1 --tp 2
contains "generate, world of 3 for --tp 2" "$T/err" "started 3 processes"
check "compare logits with Megatron" 0 "$MB" compare --hf-model "$BX/hf/llama32" --megatron-path "$T/mg" --prompt-ids 1,17,42 --json
contains "compare logits with Megatron" "$T/out" '"logits_max_abs_diff":0[,.]'
contains "compare logits with Megatron" "$T/out" '"tokens_matching":16'
# per-module records of both sides: 4 layers -> embedding, 4 x 4 layer modules, final norm, output layer
check "compare --debug-hooks" 0 "$MB" compare --hf-model "$BX/hf/llama32" --megatron-path "$T/mg" --prompt-ids 1,17,42 --debug-hooks "$T/hooks"
contains "compare --debug-hooks" "$T/out" "module records: .*megatron.jsonl"
[ "$(wc -l < "$T/hooks/hf.jsonl")" = 19 ] && [ "$(wc -l < "$T/hooks/megatron.jsonl")" = 19 ] ||
  { echo "FAIL: compare --debug-hooks: expected 19 records a side"; fails=$((fails + 1)); }
contains "compare --debug-hooks" "$T/hooks/hf.jsonl" '^{"module":"decoder.layers.3.mlp","input_shape":\[3,'
cmp -s "$T/hooks/hf.jsonl" "$T/hooks/megatron.jsonl" || { echo "FAIL: the two sides' module records differ"; fails=$((fails + 1)); }
check "compare logits with transformers' logits" 0 "$MB" compare --hf-model "$BX/hf/mixtral" --reference "$BX/hf/mixtral.logits.safetensors"
contains "compare logits with transformers' logits" "$T/out" "argmax equal at 12 of 12 positions"
check "generate step by step" 0 "$MB" generate --hf-model "$BX/hf/llama31" --prompt "hello world" --max-new-tokens 3
contains "generate step by step" "$T/out" "^step 0 top 5: "
contains "generate step by step" "$T/out" "^step 2: "
check "generate --prompt without a tokenizer" 2 "$MB" generate --hf-model "$BX/hf/llama32" --prompt "hi"
contains "generate --prompt without a tokenizer" "$T/err" "needs a tokenizer"
check "generate on cuda" 2 "$MB" generate --hf-model "$BX/hf/llama32" --prompt-ids 1 --device cuda
check "bad layout" 2 "$MB" import --hf-model "$BX/hf/qwen3" --megatron-path "$T/bad" --tp 3 --no-progress
contains "bad layout" "$T/err" "tensor parallel 3 must divide"
test ! -e "$T/bad" || { echo "FAIL: a failed import left $T/bad behind"; fails=$((fails + 1)); }
mkdir -p "$T/t5" && cp "$BX/hf/qwen3/model.safetensors" "$T/t5/"
printf '{"architectures": ["T5ForConditionalGeneration"], "model_type": "t5"}' > "$T/t5/config.json"
check "unsupported" 2 "$MB" import --hf-model "$T/t5" --megatron-path "$T/t5_out" --no-progress
contains "unsupported" "$T/err" "T5ForConditionalGeneration' is not supported"
mkdir -p "$T/short" && cp "$BX/hf/qwen3/model.safetensors" "$T/short/"
sed 's/"num_hidden_layers": 4/"num_hidden_layers": 5/' "$BX/hf/qwen3/config.json" > "$T/short/config.json"
check "missing tensor" 2 "$MB" import --hf-model "$T/short" --megatron-path "$T/short_out" --no-progress
contains "missing tensor" "$T/err" "model.layers.4.input_layernorm.weight' (layer 4 input_norm of a qwen3 model) is missing"

# tokenizer commands on the fixture's tokenizer.json (expected ids from Hugging Face tokenizers 0.23.2)
TK="$BX/hf/llama31"
check "tokenize" 0 "$MB" tokenize --tokenizer "$TK" --text "a b c</s>" --json
contains "tokenize" "$T/out" "^\[3,21,4,21,5,1\]$"
printf '"a b c</s>"\n"hello world"\n' > "$T/texts.jsonl"
check "tokenize --input" 0 "$MB" tokenize --tokenizer "$TK/tokenizer.json" --input "$T/texts.jsonl"
contains "tokenize --input" "$T/out" "^55 62$"
check "detokenize" 0 "$MB" detokenize --tokenizer "$TK" --ids 3,21,4,21,5,1 --skip-special
contains "detokenize" "$T/out" "^a b c$"
printf '[3,21,4,21,5,1]\n[55,62]\n' > "$T/ids.jsonl"
check "detokenize --input --json" 0 "$MB" detokenize --tokenizer "$TK" --input "$T/ids.jsonl" --json
contains "detokenize --input --json" "$T/out" '^"hello world"$'
printf 'bad \xff' > "$T/bad.txt"
check "tokenize invalid UTF-8" 2 "$MB" tokenize --tokenizer "$TK" --text "$(cat "$T/bad.txt")"
contains "tokenize invalid UTF-8" "$T/err" "not valid UTF-8"
mkdir -p "$T/chat" && cp "$TK/tokenizer.json" "$T/chat/"
printf '{"bos_token": "<s>", "chat_template": "{{ bos_token }}{%% for m in messages %%}[{{ m.role }}] {{ m.content }}\\n{%% endfor %%}"}' > "$T/chat/tokenizer_config.json"
printf '[{"role": "user", "content": "a b"}]' > "$T/messages.json"
check "chat-template" 0 "$MB" chat-template --tokenizer "$T/chat" --messages "$T/messages.json" --json
contains "chat-template" "$T/out" '"text":"<s>\[user\] a b\\n","ids":\[0,'
check "chat-template without a template" 2 "$MB" chat-template --tokenizer "$TK" --messages "$T/messages.json"
contains "chat-template without a template" "$T/err" "no chat template"
check "tokenize without a tokenizer" 2 "$MB" tokenize --tokenizer "$T" --text x
contains "tokenize without a tokenizer" "$T/err" "no tokenizer.json"

# ---- bundles: every fixture packed and unpacked bit for bit; models read in place ----
same_tree() {  # same_tree "description" original unpacked: every file byte for byte, nothing missing or extra
  if ! diff -r "$2" "$3" >"$T/diff" 2>&1; then
    echo "FAIL: $1: the unpacked files differ from the original"
    head -5 "$T/diff" | sed 's/^/  /'
    fails=$((fails + 1))
  fi
}
n=0
for d in "$BX"/hf/*/ "$FX"/hf_tiny_llama_sharded/; do
  d="${d%/}" n=$((n + 1))
  check "pack --hf-model $d" 0 "$MB" pack --hf-model "$d" --output "$T/b$n.mbz" --no-progress --json
  contains "pack --hf-model $d" "$T/out" '"kind":"hf"'
  check "unpack $d" 0 "$MB" unpack "$T/b$n.mbz" --output "$T/u$n" --no-progress --json
  same_tree "$d" "$d" "$T/u$n"
done
for d in "$BX"/mcore/*/torch_dist "$BX"/mcore/*/legacy "$FX"/mcore/* "$FX"/legacy/*; do
  [ -d "$d" ] || continue
  n=$((n + 1))
  check "pack --megatron-path $d" 0 "$MB" pack --megatron-path "$d" --output "$T/b$n.mbz" --level 5 --no-progress --json
  contains "pack --megatron-path $d" "$T/out" '"kind":"megatron"'
  check "unpack $d" 0 "$MB" unpack "$T/b$n.mbz" --output "$T/u$n" --no-progress
  same_tree "$d" "$d" "$T/u$n"
done
[ "$n" -ge 24 ] || { echo "FAIL: only $n model fixtures were packed"; fails=$((fails + 1)); }
# and every other file under tests/fixtures (tokenizers, torch.save files, references), as one folder
check "pack every fixture" 0 "$MB" pack --dir "$2" --output "$T/fixtures.mbz" --threads 2 --chunk-size 64KiB --no-progress --json
contains "pack every fixture" "$T/out" '"kind":"files"'
check "unpack every fixture" 0 "$MB" unpack "$T/fixtures.mbz" --output "$T/fixtures" --no-progress
same_tree "every fixture" "$2" "$T/fixtures"
check "verify a bundle" 0 "$MB" verify "$T/fixtures.mbz" --no-progress --json
contains "verify a bundle" "$T/out" '"ok":true,"format":"bundle"'
check "unpack --list" 0 "$MB" unpack "$T/b1.mbz" --list --json
contains "unpack --list" "$T/out" '"path":"config.json"'
check "unpack over a folder" 2 "$MB" unpack "$T/b1.mbz" --output "$T/u1"
contains "unpack over a folder" "$T/err" "already exists"
check "pack a Megatron checkpoint as Hugging Face" 2 "$MB" pack --hf-model "$BX/mcore/dense_tp1/torch_dist" --output "$T/no.mbz"
contains "pack a Megatron checkpoint as Hugging Face" "$T/err" "not a Hugging Face model folder"
test ! -e "$T/no.mbz" || { echo "FAIL: a refused pack left its output"; fails=$((fails + 1)); }

# models read straight from bundles: the same export, the same generated tokens
check "pack torch_dist" 0 "$MB" pack --megatron-path "$BX/mcore/dense_tp2/torch_dist" --output "$T/tp2.mbz" --no-progress
check "export from a bundle" 0 "$MB" export --megatron-path "$T/tp2.mbz" --hf-path "$T/tp2_from_bundle" --family llama --no-progress
check "export from the folder" 0 "$MB" export --megatron-path "$BX/mcore/dense_tp2/torch_dist" --hf-path "$T/tp2_from_folder" --family llama --no-progress
same_tree "export from a bundle" "$T/tp2_from_folder" "$T/tp2_from_bundle"
check "pack llama31" 0 "$MB" pack --hf-model "$BX/hf/llama31" --output "$T/llama31.mbz" --no-progress
check "generate from a bundle" 0 "$MB" generate --hf-model "$T/llama31.mbz" --prompt "hello world" --max-new-tokens 4 --json
cp "$T/out" "$T/gen_bundle.json"
check "generate from the folder" 0 "$MB" generate --hf-model "$BX/hf/llama31" --prompt "hello world" --max-new-tokens 4 --json
cmp -s "$T/out" "$T/gen_bundle.json" || { echo "FAIL: generate from a bundle differs from the folder"; fails=$((fails + 1)); }
check "config of a bundle" 0 "$MB" config "$T/llama31.mbz"
contains "config of a bundle" "$T/out" '"architecture": "LlamaForCausalLM"'
check "tensors of a bundle" 0 "$MB" tensors "$T/tp2.mbz"
contains "tensors of a bundle" "$T/out" "(torch_dist)"
check "compare a folder with its bundle" 0 "$MB" compare "$BX/hf/llama31" "$T/llama31.mbz"
contains "compare a folder with its bundle" "$T/out" "39 tensors compared, 0 different"

# damaged and truncated bundles are refused, naming the file and tensor (llama2's bundle: the byte damaged
# below then lies inside a chunk whose zstd frame still decodes, so the chunk's CRC is what catches it)
check "pack llama2" 0 "$MB" pack --hf-model "$BX/hf/llama2" --output "$T/llama2.mbz" --no-progress
cp "$T/llama2.mbz" "$T/damaged.mbz"
size=$(stat -c %s "$T/damaged.mbz")
printf '\x5a\x5a\x5a\x5a' | dd of="$T/damaged.mbz" bs=1 seek=$((size / 2)) conv=notrunc status=none
check "unpack damaged" 2 "$MB" unpack "$T/damaged.mbz" --output "$T/damaged_out"
contains "unpack damaged" "$T/err" "damaged.mbz: file 'model.safetensors', tensor 'model\."
test ! -e "$T/damaged_out" || { echo "FAIL: a failed unpack left its output"; fails=$((fails + 1)); }
ls "$T" | grep -q incomplete && { echo "FAIL: a failed unpack left a temporary folder"; fails=$((fails + 1)); }
check "verify damaged bundle" 1 "$MB" verify "$T/damaged.mbz" --no-progress
contains "verify damaged bundle" "$T/out" "DAMAGED: .*tensor 'model\."
check "export from a damaged bundle" 2 "$MB" export --megatron-path "$T/damaged.mbz" --hf-path "$T/damaged_export" --no-progress
contains "export from a damaged bundle" "$T/err" "checksum mismatch"
test ! -e "$T/damaged_export" || { echo "FAIL: a failed export left its output"; fails=$((fails + 1)); }
head -c $((size - 7)) "$T/llama2.mbz" > "$T/truncated.mbz"
check "unpack truncated" 2 "$MB" unpack "$T/truncated.mbz" --output "$T/truncated_out"
contains "unpack truncated" "$T/err" "truncated.mbz: truncated or damaged"

if [ "$fails" -ne 0 ]; then
  echo "$fails CLI check(s) failed"
  exit 1
fi
echo "CLI: all checks passed"
