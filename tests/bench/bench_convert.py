"""Conversion benchmark on the GPU machine: an 8B-shaped random Llama-3 (bf16, ~16 GB) imported into a
Megatron torch_dist checkpoint and exported back by mbridge, against `cp` of the same bytes on the same disk
and against the torch + Megatron-Core path (load safetensors, build a GPTModel, dist_checkpointing.save).
Every timed step starts with the page cache dropped and ends with `sync`.

usage: PYTHONPATH=.megatron python3 tests/bench/bench_convert.py MBRIDGE WORK_DIR [--layers N] [--skip-torch]
Prints and writes WORK_DIR/bench_convert.json.
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import time

import torch

SHAPE = dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
             num_key_value_heads=8, head_dim=128, vocab_size=128256)


def drop_caches():
    subprocess.run("sync; echo 3 > /proc/sys/vm/drop_caches", shell=True, check=False)


def timed(cmd):
    """Runs a command with the page cache dropped first; returns (seconds incl. sync, peak RSS GB of the child)."""
    drop_caches()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    subprocess.run("sync", shell=True)
    s = time.time() - t
    if r.returncode != 0:
        raise RuntimeError(f"{cmd}: {r.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return s, (peak if peak > before else None)


def rss_of(cmd):
    """Peak RSS (GB) of one command, measured by a fresh python child (ru_maxrss of its children)."""
    code = ("import resource,subprocess,sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True).stdout
    return int(out.strip()) / 1e6


def make_model(d, layers):
    """HF names and shapes of Llama-3-8B, random bf16 values, written by safetensors.torch in 5 GB shards."""
    import transformers
    from safetensors.torch import save_file
    os.makedirs(d, exist_ok=True)
    cfg = transformers.LlamaConfig(**dict(SHAPE, num_hidden_layers=layers), rope_theta=500000.0,
                                   tie_word_embeddings=False, max_position_embeddings=8192)
    cfg.save_pretrained(d)
    H, I, V = SHAPE["hidden_size"], SHAPE["intermediate_size"], SHAPE["vocab_size"]
    kv = SHAPE["num_key_value_heads"] * SHAPE["head_dim"]
    shapes = {"model.embed_tokens.weight": (V, H)}
    for i in range(layers):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (H,), p + "post_attention_layernorm.weight": (H,),
                       p + "self_attn.q_proj.weight": (H, H), p + "self_attn.k_proj.weight": (kv, H),
                       p + "self_attn.v_proj.weight": (kv, H), p + "self_attn.o_proj.weight": (H, H),
                       p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H),
                       p + "mlp.down_proj.weight": (H, I)})
    shapes.update({"model.norm.weight": (H,), "lm_head.weight": (V, H)})
    shard, size, index, n, total = {}, 0, {}, 0, 0
    names = list(shapes)
    def flush():
        nonlocal shard, size, n
        if shard:
            n += 1
            fname = f"model-{n:05d}.safetensors"
            save_file(shard, os.path.join(d, fname), metadata={"format": "pt"})
            for k in shard:
                index[k] = fname
            shard, size = {}, 0
    g = torch.Generator(device="cuda").manual_seed(0)
    for k in names:
        t = torch.randint(-16000, 16000, shapes[k], dtype=torch.int16, device="cuda", generator=g).view(torch.bfloat16)
        nbytes = t.numel() * 2
        if size and size + nbytes > 5_000_000_000:
            flush()
        shard[k] = t.cpu()
        size += nbytes
        total += nbytes
    flush()
    # rename to model-0000k-of-0000N and write the index
    final = {}
    for i in range(1, n + 1):
        src = os.path.join(d, f"model-{i:05d}.safetensors")
        dst = f"model-{i:05d}-of-{n:05d}.safetensors"
        os.rename(src, os.path.join(d, dst))
        final[f"model-{i:05d}.safetensors"] = dst
    json.dump({"metadata": {"total_size": total}, "weight_map": {k: final[v] for k, v in sorted(index.items())}},
              open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=2)
    return total


def torch_path(hf, out, layers):
    """What a Python user does: load the safetensors, fill a Megatron-Core GPTModel, dist_checkpointing.save."""
    code = f'''
import os, json, time, torch
os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT="29777")
import torch.distributed as dist
from safetensors.torch import load_file
t0 = time.time()
hf = {hf!r}
sd = {{}}
for f in sorted(os.listdir(hf)):
    if f.endswith(".safetensors"): sd.update(load_file(os.path.join(hf, f)))
dist.init_process_group("nccl", rank=0, world_size=1)
from megatron.core import parallel_state as ps, dist_checkpointing
ps.initialize_model_parallel(1, 1)
from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed
model_parallel_cuda_manual_seed(1)
from megatron.core.transformer.transformer_config import TransformerConfig
from megatron.core.models.gpt.gpt_model import GPTModel
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
tc = TransformerConfig(num_layers={layers}, hidden_size=4096, num_attention_heads=32, num_query_groups=8, kv_channels=128,
    ffn_hidden_size=14336, normalization="RMSNorm", gated_linear_unit=True, activation_func=torch.nn.functional.silu,
    add_bias_linear=False, bf16=True, params_dtype=torch.bfloat16, use_cpu_initialization=True, perform_initialization=False)
m = GPTModel(config=tc, transformer_layer_spec=get_gpt_layer_local_spec(normalization="RMSNorm"), vocab_size=128256,
    max_sequence_length=8192, position_embedding_type="rope", share_embeddings_and_output_weights=False)
with torch.no_grad():
    m.embedding.word_embeddings.weight.copy_(sd["model.embed_tokens.weight"])
    m.output_layer.weight.copy_(sd["lm_head.weight"])
    m.decoder.final_layernorm.weight.copy_(sd["model.norm.weight"])
    for i, layer in enumerate(m.decoder.layers):
        p = f"model.layers.{{i}}."
        q, k, v = sd[p+"self_attn.q_proj.weight"], sd[p+"self_attn.k_proj.weight"], sd[p+"self_attn.v_proj.weight"]
        g = 8; n = 32 // g
        qkv = torch.cat([torch.cat([q.view(g, n*128, -1)[j], k.view(g, 128, -1)[j], v.view(g, 128, -1)[j]]) for j in range(g)])
        layer.self_attention.linear_qkv.weight.copy_(qkv)
        layer.self_attention.linear_proj.weight.copy_(sd[p+"self_attn.o_proj.weight"])
        layer.mlp.linear_fc1.weight.copy_(torch.cat([sd[p+"mlp.gate_proj.weight"], sd[p+"mlp.up_proj.weight"]]))
        layer.mlp.linear_fc2.weight.copy_(sd[p+"mlp.down_proj.weight"])
        layer.input_layernorm.weight.copy_(sd[p+"input_layernorm.weight"])
        layer.pre_mlp_layernorm.weight.copy_(sd[p+"post_attention_layernorm.weight"])
os.makedirs({out!r})
dist_checkpointing.save(m.sharded_state_dict(), {out!r})
os.sync()
print(json.dumps({{"seconds": time.time() - t0}}))
'''
    path = out + ".py"
    open(path, "w").write("if __name__ == '__main__':\n" + "\n".join("    " + l for l in code.strip().splitlines()) + "\n")
    drop_caches()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.time()
    r = subprocess.run([sys.executable, path], capture_output=True, text=True)
    s = time.time() - t
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return s, peak / 1e6 if peak > before else None


def main():
    binary, work = sys.argv[1], sys.argv[2]
    layers = int(sys.argv[sys.argv.index("--layers") + 1]) if "--layers" in sys.argv else SHAPE["num_hidden_layers"]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    res = {"layers": layers}

    def save():
        print(json.dumps(res), flush=True)
        json.dump(res, open(os.path.join(work, "bench_convert.json"), "w"), indent=1)
    hf, copy, mg, back = (os.path.join(work, x) for x in ("hf", "hf_copy", "megatron", "hf_back"))
    t = time.time()
    res["bytes"] = make_model(hf, layers)
    res["generate_s"] = time.time() - t
    save()
    res["cp_s"], _ = timed(["cp", "-r", hf, copy])
    shutil.rmtree(copy)
    save()
    res["import_s"], _ = timed([binary, "import", "--hf-model", hf, "--megatron-path", mg, "--no-progress"])
    res["export_s"], _ = timed([binary, "export", "--megatron-path", mg, "--hf-path", back, "--no-progress"])
    res["export_bit_exact"] = subprocess.run([binary, "compare", hf, back], capture_output=True).returncode == 0
    shutil.rmtree(back)
    shutil.rmtree(mg)
    save()
    res["import_peak_rss_GB"] = rss_of([binary, "import", "--hf-model", hf, "--megatron-path", mg, "--no-progress"])
    res["export_peak_rss_GB"] = rss_of([binary, "export", "--megatron-path", mg, "--hf-path", back, "--no-progress"])
    shutil.rmtree(back)
    res["import_legacy_tp2_s"], _ = timed([binary, "import", "--hf-model", hf, "--megatron-path", mg + "_legacy",
                                           "--format", "legacy", "--tp", "2", "--no-progress"])
    shutil.rmtree(mg + "_legacy")
    shutil.rmtree(mg)
    res["import_vs_cp"] = res["cp_s"] / res["import_s"]
    res["export_vs_cp"] = res["cp_s"] / res["export_s"]
    save()
    if "--skip-torch" not in sys.argv:
        try:
            res["torch_mcore_import_s"], res["torch_mcore_peak_rss_GB"] = torch_path(hf, os.path.join(work, "torch_mcore"), layers)
            res["mbridge_speedup_vs_torch"] = res["torch_mcore_import_s"] / res["import_s"]
        except Exception as e:
            res["torch_mcore_error"] = str(e)[-1500:]
    res["cpu"] = open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(": \t")
    save()


if __name__ == "__main__":
    main()
