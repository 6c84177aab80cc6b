"""Writes a multi-GB safetensors file with safetensors.torch (the reference writer) for the read benchmark.
usage: python3 make_big_safetensors.py OUT.safetensors GIGABYTES"""
import sys
import torch
from safetensors.torch import save_file

out, gb = sys.argv[1], float(sys.argv[2])
# Llama-3-8B-like shapes: 4096x14336 bf16 (117 MB) blocks until the size is reached
tensors, total, i = {}, 0, 0
gen = torch.Generator().manual_seed(0)
while total < gb * 1e9:
    t = torch.randint(-32768, 32767, (4096, 14336), dtype=torch.int16, generator=gen).view(torch.bfloat16)
    tensors[f"model.layers.{i}.mlp.weight"] = t
    total += t.numel() * 2
    i += 1
save_file(tensors, out, metadata={"format": "pt"})
print(f"wrote {out}: {len(tensors)} tensors, {total/1e9:.2f} GB")
