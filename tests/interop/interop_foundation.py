"""What mbridge writes, the real tools read (run on the GPU machine; see docs/testing.md).

usage: PYTHONPATH=.megatron python3 tests/interop/interop_foundation.py MBRIDGE SAMPLES_DIR WORK_DIR [--big]

SAMPLES_DIR is what `interop_write_samples tests/fixtures SAMPLES_DIR` wrote: torch.save files re-pickled by
mbridge, legacy Megatron rank files re-written whole (args, optimizer, numpy rng), torch_dist checkpoints
re-chunked. Each is read by torch / torch.distributed.checkpoint / Megatron-Core / safetensors / transformers
and compared with the fixture the real tool wrote. --big adds a >4 GiB torch.save file in both directions
(ZIP64). Prints and writes WORK_DIR/interop_report.json; exits 1 if any check fails.
"""
import argparse
import collections
import enum
import json
import os
import shutil
import struct
import subprocess
import sys
import time
import traceback

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FX = os.path.join(HERE, "..", "fixtures", "foundation")
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
REPORT = collections.OrderedDict()


def check(name):
    def wrap(fn):
        def run(*a, **k):
            t = time.time()
            try:
                detail = fn(*a, **k)
                REPORT[name] = {"ok": True, "seconds": round(time.time() - t, 2), "detail": detail}
            except Exception:
                REPORT[name] = {"ok": False, "error": traceback.format_exc()[-3000:]}
            print(f"[{'ok' if REPORT[name]['ok'] else 'FAIL'}] {name}", flush=True)
        return run
    return wrap


def bits(t):
    return t.detach().reshape(-1).contiguous().view(torch.uint8)


def deep_equal(a, b, path="root"):
    """Same Python types, same values; tensors bit for bit with the same strides and offsets."""
    import numpy as np
    if type(a) is not type(b):
        raise AssertionError(f"{path}: {type(a)} vs {type(b)}")
    if isinstance(a, torch.Tensor):
        for attr in ("dtype", "shape", "requires_grad"):
            if getattr(a, attr) != getattr(b, attr):
                raise AssertionError(f"{path}: {attr} {getattr(a, attr)} vs {getattr(b, attr)}")
        if a.stride() != b.stride() or a.storage_offset() != b.storage_offset():
            raise AssertionError(f"{path}: layout {a.stride()}+{a.storage_offset()} vs {b.stride()}+{b.storage_offset()}")
        if not torch.equal(bits(a), bits(b)):
            raise AssertionError(f"{path}: tensor bytes differ")
    elif isinstance(a, dict):
        if list(a.keys()) != list(b.keys()):
            raise AssertionError(f"{path}: keys {list(a.keys())[:5]} vs {list(b.keys())[:5]}")
        for k in a:
            deep_equal(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        if len(a) != len(b):
            raise AssertionError(f"{path}: length {len(a)} vs {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            deep_equal(x, y, f"{path}[{i}]")
    elif isinstance(a, np.ndarray):
        if a.dtype != b.dtype or a.shape != b.shape or a.tobytes() != b.tobytes():
            raise AssertionError(f"{path}: numpy arrays differ")
    elif isinstance(a, float):
        if struct.pack(">d", a) != struct.pack(">d", b):
            raise AssertionError(f"{path}: {a!r} vs {b!r}")
    elif isinstance(a, enum.Enum) or not hasattr(a, "__dict__"):
        if a != b:
            raise AssertionError(f"{path}: {a!r} vs {b!r}")
    else:
        deep_equal(vars(a), vars(b), f"{path}.__dict__")


def storage_groups(d):
    ids = {}
    return {k: ids.setdefault(v.untyped_storage().data_ptr(), len(ids)) for k, v in d.items()}


# ---- torch.save ---------------------------------------------------------------------------------------
@check("torch.load(weights_only=True) reads our .pt files: values, views, every dtype")
def torch_save(samples):
    out = {}
    # torch's own values.pt needs these too: argparse.Namespace, and bytes (protocol 2 pickles b"" as bytes())
    with torch.serialization.safe_globals([argparse.Namespace, bytes]):
        for name in ("values", "views", "dtypes"):
            theirs = torch.load(os.path.join(FX, "torch", name + ".pt"), weights_only=True)
            ours = torch.load(os.path.join(samples, name + ".pt"), weights_only=True)
            deep_equal(ours, theirs, name)
            out[name] = "equal"
    theirs = torch.load(os.path.join(FX, "torch", "views.pt"), weights_only=True)
    ours = torch.load(os.path.join(samples, "views.pt"), weights_only=True)
    if storage_groups(ours) != storage_groups(theirs):
        raise AssertionError(f"storage sharing differs: {storage_groups(ours)} vs {storage_groups(theirs)}")
    out["views_storage_sharing"] = storage_groups(ours)
    return out


# ---- legacy Megatron ----------------------------------------------------------------------------------
@check("torch.load reads our legacy Megatron rank files (args, model, optimizer, numpy rng) as written by torch")
def legacy(samples):
    out = {}
    for rank in ("mp_rank_00", "mp_rank_01"):
        f = os.path.join("iter_0000010", rank, "model_optim_rng.pt")
        theirs = torch.load(os.path.join(FX, "legacy", "tp2", f), weights_only=False)
        ours = torch.load(os.path.join(samples, "legacy_tp2", f), weights_only=False)
        deep_equal(ours, theirs, rank)
        out[rank] = sorted(ours.keys())
    # Megatron-Core's own safe-globals path (weights_only=True): ours must behave like the original
    import megatron.core  # noqa: F401  registers megatron/core/safe_globals.py
    verdicts = []
    for path in (os.path.join(FX, "legacy", "tp2"), os.path.join(samples, "legacy_tp2")):
        try:
            torch.load(os.path.join(path, "iter_0000010", "mp_rank_00", "model_optim_rng.pt"), weights_only=True)
            verdicts.append("loads")
        except Exception as e:
            verdicts.append(f"refused: {str(e).splitlines()[0][:200]}")
    if verdicts[0] != verdicts[1]:
        raise AssertionError(f"weights_only with Megatron's safe globals: original {verdicts[0]}, ours {verdicts[1]}")
    out["weights_only_with_megatron_safe_globals"] = verdicts[1]
    with open(os.path.join(samples, "legacy_tp2", "latest_checkpointed_iteration.txt")) as fh:
        out["tracker"] = fh.read()
    return out


# ---- torch_dist ---------------------------------------------------------------------------------------
def load_reference(layout):
    from safetensors.torch import load_file
    return load_file(os.path.join(FX, "mcore", layout + ".reference.safetensors"))


@check("torch.distributed.checkpoint reads our torch_dist checkpoints (global tensors and objects)")
def dcp_plain(samples, work):
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save
    out = {}
    for layout, ours in (("tp1", "dist_tp1"), ("tp2", "dist_tp2"), ("pp2", "dist_pp2"), ("tp1", "dist_tp1_common_pt")):
        tmp = os.path.join(work, ours + ".pt")
        dcp_to_torch_save(os.path.join(samples, ours, "iter_0000010"), tmp)
        got = torch.load(tmp, weights_only=False)
        ref = load_reference(layout)
        for k, v in ref.items():
            if not torch.equal(bits(got[k]), bits(v)) or got[k].dtype != v.dtype or got[k].shape != v.shape:
                raise AssertionError(f"{ours}: {k} differs")
        tmp2 = os.path.join(work, ours + ".orig.pt")
        dcp_to_torch_save(os.path.join(FX, "mcore", layout, "iter_0000010"), tmp2)
        orig = torch.load(tmp2, weights_only=False)
        objects = [k for k in orig if not isinstance(orig[k], torch.Tensor)]
        for k in objects:
            if k.startswith("common_state/") and ours.endswith("common_pt"):  # ours holds it in common.pt
                continue
            deep_equal(got[k], orig[k], f"{ours}:{k}")
        out[ours] = {"tensors": len(ref), "objects": len(objects)}
    return out


def mcore_compare(rank, world, layout, ours_dir, result_path, port):
    """Megatron-Core loads the fixture and our copy through its own sharded_state_dict; both must agree."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    import torch.distributed as dist
    dist.init_process_group("nccl" if world == 1 else "gloo", rank=rank, world_size=world)
    import generate_foundation_fixtures as gen
    from megatron.core import parallel_state as ps, dist_checkpointing
    from megatron.core.dist_checkpointing.validation import StrictHandling
    from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed
    tp, pp = {"tp1": (1, 1), "tp2": (2, 1), "pp2": (1, 2)}[layout]
    ps.initialize_model_parallel(tp, pp)
    model_parallel_cuda_manual_seed(1)
    model = gen.build_gpt(tp, pp)
    result = {}
    try:
        loaded = {}
        for which, path in (("fixture", os.path.join(FX, "mcore", layout, "iter_0000010")),
                            ("ours", os.path.join(ours_dir, "iter_0000010"))):
            sd, missing, unexpected = dist_checkpointing.load({"model": model.sharded_state_dict()}, path,
                                                              strict=StrictHandling.RETURN_ALL)
            loaded[which] = {k: (v.detach().clone() if isinstance(v, torch.Tensor) else v) for k, v in sd["model"].items()}
            result[which] = {"missing": sorted(missing), "unexpected": sorted(unexpected)}
            common = dist_checkpointing.load_common_state_dict(path)
            result[which]["iteration"] = common.get("iteration")
            result[which]["num_layers"] = getattr(common.get("args"), "num_layers", None)
        # Megatron's "unexpected" keys: requested by the model but absent from the checkpoint ("missing" ones
        # are in the checkpoint but not requested, like rng_state here)
        if result["ours"]["unexpected"]:
            raise AssertionError(f"keys the model needs are absent from ours: {result['ours']['unexpected'][:5]}")
        if result["ours"] != result["fixture"]:
            raise AssertionError(f"fixture {result['fixture']} vs ours {result['ours']}")
        n = 0
        for k, v in loaded["fixture"].items():
            if isinstance(v, torch.Tensor):
                w = loaded["ours"][k]
                if v.dtype != w.dtype or v.shape != w.shape or not torch.equal(bits(v), bits(w)):
                    raise AssertionError(f"rank {rank}: {k} differs")
                n += 1
        result["tensors_compared_on_this_rank"] = n
        result["ok"] = True
    except Exception:
        result["ok"] = False
        result["error"] = traceback.format_exc()[-2000:]
    gathered = [None] * world
    dist.all_gather_object(gathered, result)
    if rank == 0:
        with open(result_path, "w") as fh:
            json.dump(gathered, fh, indent=1, default=str)
    ps.destroy_model_parallel()
    dist.destroy_process_group()


@check("Megatron-Core dist_checkpointing.load reads our torch_dist checkpoints into GPTModels (TP1, TP2, PP2)")
def dcp_megatron(samples, work):
    import torch.multiprocessing as mp
    out = {}
    port = 29700
    for layout, ours, world in (("tp1", "dist_tp1", 1), ("tp1", "dist_tp1_common_pt", 1),
                                ("tp2", "dist_tp2", 2), ("pp2", "dist_pp2", 2)):
        result_path = os.path.join(work, ours + ".mcore.json")
        port += 1
        mp.spawn(mcore_compare, args=(world, layout, os.path.join(samples, ours), result_path, port), nprocs=world, join=True)
        ranks = json.load(open(result_path))
        if not all(r["ok"] for r in ranks):
            raise AssertionError(json.dumps(ranks)[:3000])
        out[ours] = {"ranks": world, "tensors_per_rank": [r["tensors_compared_on_this_rank"] for r in ranks],
                     "unexpected_keys_in_both": len(ranks[0]["ours"]["unexpected"])}
    return out


# ---- safetensors / transformers ---------------------------------------------------------------------------
def mbridge(binary, *args):
    r = subprocess.run([binary, *args, "--no-progress"] if args[0] == "transcode" else [binary, *args],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"mbridge {' '.join(args)}: {r.stderr[-2000:]}")
    return r.stdout


@check("safetensors and transformers load what mbridge wrote (HF -> torch_dist -> HF, sharded)")
def hf(binary, work):
    import transformers
    from safetensors.torch import load_file
    src = os.path.join(FX, "hf_tiny_llama_sharded")
    dist_dir, back = os.path.join(work, "hf_dist"), os.path.join(work, "hf_back")
    for d in (dist_dir, back):
        shutil.rmtree(d, ignore_errors=True)
    mbridge(binary, "transcode", src, dist_dir, "--to", "torch_dist", "--files", "2", "--chunks", "2")
    mbridge(binary, "transcode", dist_dir, back, "--to", "safetensors", "--max-shard-size", "20KB")
    for f in ("config.json", "generation_config.json"):
        shutil.copy(os.path.join(src, f), back)
    theirs = transformers.AutoModelForCausalLM.from_pretrained(src, dtype=torch.bfloat16).state_dict()
    ours = transformers.AutoModelForCausalLM.from_pretrained(back, dtype=torch.bfloat16).state_dict()
    for k in theirs:
        if not torch.equal(bits(theirs[k]), bits(ours[k])):
            raise AssertionError(f"{k} differs after from_pretrained")
    shards = sorted(f for f in os.listdir(back) if f.endswith(".safetensors"))
    n = 0
    for s in shards:
        for k, v in load_file(os.path.join(back, s)).items():
            if not torch.equal(bits(v), bits(load_file(os.path.join(FX, "hf_tiny_llama_sharded.reference.safetensors"))[k])):
                raise AssertionError(f"{s}:{k} differs")
            n += 1
    # a single file of every dtype, from a torch.save file
    shutil.rmtree(os.path.join(work, "dtypes_st"), ignore_errors=True)
    mbridge(binary, "transcode", os.path.join(FX, "torch", "dtypes.pt"), os.path.join(work, "dtypes_st"), "--to", "safetensors")
    got = load_file(os.path.join(work, "dtypes_st", "model.safetensors"))
    want = torch.load(os.path.join(FX, "torch", "dtypes.pt"), weights_only=True)
    for k, v in want.items():
        if got[k].dtype != v.dtype or not torch.equal(bits(got[k]), bits(v.contiguous())):
            raise AssertionError(f"dtypes.safetensors: {k} differs")
    return {"shards": len(shards), "tensors": n, "state_dict_keys": len(theirs), "dtypes": len(want)}


@check("ZIP64: torch reads our >4 GiB .pt and we read torch's")
def big(binary, work):
    path = os.path.join(work, "big_torch.pt")
    ours = os.path.join(work, "big_ours.pt")
    for p in (path, ours):
        if os.path.exists(p):
            os.remove(p)
    n = (4 * 1024 ** 3 + 300 * 1024 ** 2) // 2  # 4.3 GiB of int16
    t = torch.randint(-32768, 32767, (n,), dtype=torch.int16, device="cuda").cpu()
    small = torch.arange(10, dtype=torch.float32)
    torch.save({"big": t, "after": small}, path)
    del t
    out = {"torch_file_bytes": os.path.getsize(path)}
    out["mbridge_verify"] = mbridge(binary, "verify", path).strip()
    mbridge(binary, "transcode", path, ours, "--to", "torch")
    out["ours_file_bytes"] = os.path.getsize(ours)
    a = torch.load(path, mmap=True, weights_only=True)
    b = torch.load(ours, mmap=True, weights_only=True)
    for k in ("big", "after"):
        if not torch.equal(a[k], b[k]):
            raise AssertionError(f"{k} differs")
    import zipfile
    with zipfile.ZipFile(ours) as z:
        out["zip64_entries"] = [i.filename for i in z.infolist() if i.file_size >= 0xFFFFFFFF]
    os.remove(path)
    os.remove(ours)
    return out


def main():
    binary, samples, work = sys.argv[1], sys.argv[2], sys.argv[3]
    os.makedirs(work, exist_ok=True)
    torch_save(samples)
    legacy(samples)
    dcp_plain(samples, work)
    dcp_megatron(samples, work)
    hf(binary, work)
    if "--big" in sys.argv:
        big(binary, work)
    versions = {"torch": torch.__version__}
    try:
        import transformers, safetensors
        versions.update(transformers=transformers.__version__, safetensors=safetensors.__version__)
    except Exception:
        pass
    REPORT["versions"] = versions
    with open(os.path.join(work, "interop_report.json"), "w") as fh:
        json.dump(REPORT, fh, indent=1, default=str)
    failed = [k for k, v in REPORT.items() if isinstance(v, dict) and v.get("ok") is False]
    print(json.dumps({k: v.get("ok") for k, v in REPORT.items() if isinstance(v, dict) and "ok" in v}, indent=1))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
