"""Order-0 entropy of the byte planes of the bf16/f16 tensors of safetensors files, and the ratio no coder that
takes those bytes one at a time can beat: 16 / (entropy of plane 0 + entropy of plane 1). Samples up to
--sample MiB per file, spread over its 2-byte tensors. Standard library only.

usage: python3 tests/bench/plane_entropy.py FILE_OR_FOLDER [--sample MIB]
"""
import glob
import json
import math
import os
import struct
import sys
from collections import Counter


def tensors_of(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    start = 8 + n
    for name, t in header.items():
        if name != "__metadata__" and t["dtype"] in ("BF16", "F16"):
            a, b = t["data_offsets"]
            yield start + a, b - a


def entropy(counts, n):
    return -sum(c / n * math.log2(c / n) for c in counts.values() if c)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sample = int(sys.argv[sys.argv.index("--sample") + 1]) if "--sample" in sys.argv else 16
    path = args[0]
    files = sorted(glob.glob(os.path.join(path, "*.safetensors"))) if os.path.isdir(path) else [path]
    lo, hi, total = Counter(), Counter(), 0
    for file in files:
        spans = list(tensors_of(file))
        size = sum(n for _, n in spans)
        budget = sample << 20
        with open(file, "rb") as f:
            for offset, n in spans:
                take = min(n, max(2, budget * n // max(size, 1))) // 2 * 2
                f.seek(offset)
                data = f.read(take)
                lo.update(data[0::2])
                hi.update(data[1::2])
                total += len(data) // 2
    h0, h1 = entropy(lo, total), entropy(hi, total)
    print(json.dumps({"values": total, "plane0_bits": round(h0, 3), "plane1_bits": round(h1, 3),
                      "order0_bound_ratio": round(16 / (h0 + h1), 4)}))


if __name__ == "__main__":
    main()
