"""Where conversion time goes, on the GPU machine: the 8B-shaped Llama-3 of bench_convert.py imported and
exported by mbridge between `cp` runs of the same bytes, each step timed to process exit and to the end of
a following `sync`, with the CPU time (user and system) it used. Every step starts with the page cache dropped.

usage: python3 tests/bench/bench_convert_phases.py MBRIDGE WORK_DIR [--extra]
  --extra   also: cp and cat of the Megatron checkpoint, cat of the Hugging Face files, an export into one shard
Prints one JSON line per step and writes WORK_DIR/bench_convert_phases.json.
"""
import json
import os
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_convert as B  # noqa: E402  (the model generator and drop_caches)


def main():
    binary, work = sys.argv[1], sys.argv[2]
    extra = "--extra" in sys.argv
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    hf, mg = os.path.join(work, "hf"), os.path.join(work, "mg")
    res = {}

    def step(name, cmd):
        B.drop_caches()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True)
        exit_s = time.time() - t
        subprocess.run("sync", shell=True)
        total_s = time.time() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        res[name] = dict(exit_s=round(exit_s, 2), total_s=round(total_s, 2),
                         user_s=round(after.ru_utime - before.ru_utime, 2),
                         sys_s=round(after.ru_stime - before.ru_stime, 2), rc=p.returncode, err=p.stderr[-300:])
        print(name, json.dumps(res[name]), flush=True)

    t = time.time()
    res["bytes"] = B.make_model(hf, B.SHAPE["num_hidden_layers"])
    res["generate_s"] = round(time.time() - t, 1)
    step("cp_hf", ["cp", "-r", hf, hf + "_copy"])
    shutil.rmtree(hf + "_copy")
    step("import", [binary, "import", "--hf-model", hf, "--megatron-path", mg, "--no-progress"])
    if extra:
        step("cp_mg", ["cp", "-r", mg, mg + "_copy"])
        shutil.rmtree(mg + "_copy")
        step("cat_mg", ["sh", "-c", f"cat {mg}/iter_0000000/*.distcp > /dev/null"])
        step("cat_hf", ["sh", "-c", f"cat {hf}/*.safetensors > /dev/null"])
    step("verify_mg", [binary, "verify", mg, "--no-progress"])
    for i in range(2):
        back = os.path.join(work, f"back{i}")
        step(f"export{i}", [binary, "export", "--megatron-path", mg, "--hf-path", back, "--no-progress"])
        if i == 0:
            res["export_bit_exact"] = subprocess.run([binary, "compare", hf, back], capture_output=True).returncode == 0
        shutil.rmtree(back)
    if extra:
        back = os.path.join(work, "back_one_shard")
        step("export_one_shard", [binary, "export", "--megatron-path", mg, "--hf-path", back, "--no-progress",
                                  "--max-shard-size", "20GB"])
        shutil.rmtree(back)
    step("cp_hf_again", ["cp", "-r", hf, hf + "_copy"])
    shutil.rmtree(hf + "_copy")
    shutil.rmtree(mg)
    step("import_again", [binary, "import", "--hf-model", hf, "--megatron-path", mg, "--no-progress"])
    shutil.rmtree(mg)
    json.dump(res, open(os.path.join(work, "bench_convert_phases.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
