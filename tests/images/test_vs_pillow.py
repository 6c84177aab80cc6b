#!/usr/bin/env python3
"""mbridge's image decoding and bicubic resize against Pillow, which transformers' image processors use.

    python3 tests/images/test_vs_pillow.py IMAGE_DUMP WORK_DIR

Writes images with Pillow (PNG: RGB, grey, 16-bit grey, palette, RGBA, interlaced; JPEG: 4:2:0, 4:4:4, grey,
progressive), decodes each with image_dump (io/image_file.h) and compares the RGB bytes with Pillow's
Image.open(f).convert("RGB"); then resizes each to sizes above and below its own (and the multiples of 28 that
Qwen2-VL's smart_resize picks) and compares with Pillow's resize(size, BICUBIC). Every byte must be equal.
Exits 77 (skipped, not passed) when Pillow or numpy is missing (Debian: python3-pil, python3-numpy).
"""
import os
import subprocess
import sys

try:
    import numpy as np
    from PIL import Image
except ImportError:
    print("Pillow or numpy missing: skipped")
    sys.exit(77)


def dump(tool, path, size=None):
    args = [tool, path] + ([str(size[0]), str(size[1])] if size else [])
    r = subprocess.run(args, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.decode()}")
    head, _, data = r.stdout.partition(b"\n")
    w, h = map(int, head.split())
    return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)


def images(work, rng):
    """(path, Pillow image as saved) of every kind the decoders handle"""
    out = []
    for i, (w, h) in enumerate([(37, 23), (90, 41), (5, 130)]):
        y, x = np.mgrid[0:h, 0:w]
        base = np.stack([x * 255 // w, y * 255 // h, (x + y) * 127 // (w + h)], -1)
        rgb = Image.fromarray(np.clip(base + rng.integers(-40, 41, base.shape), 0, 255).astype(np.uint8), "RGB")
        kinds = {
            "rgb.png": (rgb, {}),
            "grey.png": (rgb.convert("L"), {}),
            "grey16.png": (Image.fromarray((base[..., 0] * 257).astype(np.uint16)), {}),
            "palette.png": (rgb.convert("P", palette=Image.ADAPTIVE, colors=16), {}),
            "rgba.png": (rgb.convert("RGBA"), {}),
            "interlaced.png": (rgb, {"interlace": 1}),
            "420.jpg": (rgb, {"quality": 85}),
            "444.jpg": (rgb, {"quality": 95, "subsampling": 0}),
            "grey.jpg": (rgb.convert("L"), {"quality": 90}),
            "progressive.jpg": (rgb, {"quality": 80, "progressive": True}),
        }
        for name, (img, options) in kinds.items():
            path = os.path.join(work, f"{i}_{name}")
            img.save(path, **options)
            out.append(path)
    return out


def main():
    tool, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(11)
    failures, checks = [], 0
    for path in images(work, rng):
        ref = Image.open(path).convert("RGB")
        got = dump(tool, path)
        checks += 1
        if not np.array_equal(got, np.asarray(ref)):
            failures.append(f"decode {path}")
            continue
        w, h = ref.size
        sizes = {(w * 2 + 1, h * 3), (max(1, w // 3), max(1, h // 2)), (w, h * 2), (w * 3, h), (56, 84), (28, 28)}
        for size in sorted(sizes):
            checks += 1
            want = np.asarray(ref.resize(size, Image.BICUBIC))
            if not np.array_equal(dump(tool, path, size), want):
                failures.append(f"resize {path} to {size}")
    print(f"{checks} checks against Pillow {Image.__version__ if hasattr(Image, '__version__') else ''}, "
          f"{len(failures)} failed")
    for f in failures:
        print("FAILED:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
