"""Writes a Llama-shaped bf16 model (config.json + one model.safetensors) without torch, for timing
conversions on machines that have no torch (this development machine, CI-like VMs). The weights are a
repeating byte pattern: fine for measuring bytes moved, useless for anything numerical.

usage: python3 tests/bench/make_llama_shaped.py OUT_DIR [LAYERS]   (4 layers: 2.27 GB)
"""
import json
import os
import struct
import sys

H, I, V, KV = 4096, 14336, 32000, 1024  # Llama-3-8B widths, a smaller vocabulary


def main():
    out = sys.argv[1]
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    os.makedirs(out, exist_ok=True)
    shapes = {"model.embed_tokens.weight": [V, H], "lm_head.weight": [V, H], "model.norm.weight": [H]}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": [H], p + "post_attention_layernorm.weight": [H],
                       p + "self_attn.q_proj.weight": [H, H], p + "self_attn.k_proj.weight": [KV, H],
                       p + "self_attn.v_proj.weight": [KV, H], p + "self_attn.o_proj.weight": [H, H],
                       p + "mlp.gate_proj.weight": [I, H], p + "mlp.up_proj.weight": [I, H],
                       p + "mlp.down_proj.weight": [H, I]})
    header, offset = {}, 0
    for name in sorted(shapes):
        n = 2
        for s in shapes[name]:
            n *= s
        header[name] = {"dtype": "BF16", "shape": shapes[name], "data_offsets": [offset, offset + n]}
        offset += n
    header["__metadata__"] = {"format": "pt"}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    block = bytes(range(256)) * (1 << 14)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        left = offset
        while left:
            k = min(left, len(block))
            f.write(block[:k])
            left -= k
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H,
              "intermediate_size": I, "num_hidden_layers": layers, "num_attention_heads": 32,
              "num_key_value_heads": KV // 128, "head_dim": 128, "vocab_size": V, "max_position_embeddings": 8192,
              "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    print(f"{out}: {layers} layers, {offset / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
