"""Writes a Llama-shaped bf16 model (config.json + one model.safetensors) without torch, for timing
conversions on machines that have no torch (this development machine, CI-like VMs). The weights are a
repeating byte pattern: fine for measuring bytes moved, useless for anything numerical.

With --gaussian, the weights are bf16 values of normal(0, 0.02) (the norms ones), as a freshly initialised
model holds, for timing compression (mbridge pack): an 8 MiB block of such values repeated, longer than
zstd -3's 2 MiB window and than a bundle chunk (4 MiB), so neither compressor can exploit the repetition and
the bytes compress as fresh Gaussian ones would. Still useless numerically.

usage: python3 tests/bench/make_llama_shaped.py OUT_DIR [LAYERS] [--gaussian]   (4 layers: 2.27 GB)
"""
import json
import os
import random
import struct
import sys

H, I, V, KV = 4096, 14336, 32000, 1024  # Llama-3-8B widths, a smaller vocabulary


def gaussian_block(nbytes, seed=0):
    """nbytes of bf16 values of normal(0, 0.02), rounded to nearest even from float32."""
    rng = random.Random(seed)
    floats = struct.pack(f"<{nbytes // 2}f", *(rng.gauss(0.0, 0.02) for _ in range(nbytes // 2)))
    words = struct.unpack(f"<{nbytes // 2}I", floats)
    return struct.pack(f"<{nbytes // 2}H", *(((w + 0x7FFF + ((w >> 16) & 1)) >> 16) & 0xFFFF for w in words))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    gaussian = "--gaussian" in sys.argv
    out = args[0]
    layers = int(args[1]) if len(args) > 1 else 4
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
    block = gaussian_block(8 << 20) if gaussian else bytes(range(256)) * (1 << 14)
    ones = struct.pack("<H", 0x3F80) * (1 << 20)
    at = 0  # where in the block the next tensor starts: tensors do not all begin with the same bytes
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in sorted(shapes):
            left = header[name]["data_offsets"][1] - header[name]["data_offsets"][0]
            while left:
                if gaussian and name.endswith("norm.weight"):
                    k = min(left, len(ones))
                    f.write(ones[:k])
                else:
                    k = min(left, len(block) - at)
                    f.write(block[at:at + k])
                    at = (at + k) % len(block)
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
