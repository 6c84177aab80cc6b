#!/usr/bin/env python3
"""The mbridge commands with Hugging Face Hub ids, against hub_test_server.py: download, config, tokenize,
import (and the imported checkpoint equal to the local model), generate, a gated model with and without the
token file, and HF_HUB_OFFLINE=1 answering from the cache without one connection.

usage: test_hub_cli.py MBRIDGE FIXTURES_DIR SCRATCH_DIR
"""
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import hub_test_server  # noqa: E402

failures = []


def check(what, cmd, env, want=0, out_has=(), err_has=()):
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    problems = []
    if r.returncode != want:
        problems.append(f"exit {r.returncode}, expected {want}")
    problems += [f"'{s}' not in stdout" for s in out_has if s not in r.stdout]
    problems += [f"'{s}' not in stderr" for s in err_has if s not in r.stderr]
    if problems:
        failures.append(what)
        print(f"FAIL: {what}: {'; '.join(problems)}\n  $ {' '.join(cmd[1:])}\n  out: {r.stdout[:800]}\n"
              f"  err: {r.stderr[:1500]}")
    return r


def main():
    mbridge, fixtures, scratch = sys.argv[1], sys.argv[2], sys.argv[3]
    shutil.rmtree(scratch, ignore_errors=True)
    home = os.path.join(scratch, "hf_home")
    os.makedirs(home)
    server = hub_test_server.start_in_thread(os.path.join(fixtures, "bridge", "hf"))
    stats = server.stats
    env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}", HF_HOME=home,
               no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")  # the test Hub is local
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH",
                 "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(name, None)
    tiny, tiny32 = "mbridge-test/tiny-llama", "mbridge-test/tiny-llama32"
    local31 = os.path.join(fixtures, "bridge", "hf", "llama31")
    local32 = os.path.join(fixtures, "bridge", "hf", "llama32")

    r = check("download --json", [mbridge, "download", tiny, "--json", "--no-progress"], env)
    if r.returncode == 0:
        v = json.loads(r.stdout)
        snapshot = os.path.join(home, "hub", "models--mbridge-test--tiny-llama", "snapshots", v["commit"])
        if v["path"] != snapshot or v["downloaded_files"] != 7 or len(v["files"]) != 7:
            failures.append("download --json")
            print(f"FAIL: download --json: {v}")
        for f in v["files"]:
            if open(os.path.join(snapshot, f), "rb").read() != open(os.path.join(local31, f), "rb").read():
                failures.append(f"downloaded {f}")
                print(f"FAIL: {f} differs from the fixture")
    check("download: a second time, nothing new", [mbridge, "download", tiny, "--json"], env,
          out_has=['"downloaded_files":0'])
    check("download of files", [mbridge, "download", tiny, "config.json", "tokenizer.json", "--revision", "v1.0"],
          env, want=2, err_has=["no such file", "tokenizer.json"])
    check("download: not an id", [mbridge, "download", "not-an-id"], env, want=2, err_has=["org/name"])

    check("config of a Hub id", [mbridge, "config", tiny, "--json"], env, out_has=['"family":"llama"'])
    ids = check("tokenize a local folder", [mbridge, "tokenize", "--tokenizer", local31, "--text", "Hello", "--json"],
                env).stdout
    check("tokenize with a Hub id", [mbridge, "tokenize", "--tokenizer", tiny, "--text", "Hello", "--json"], env,
          out_has=[ids.strip()] if ids.strip() else ["["])

    meg = os.path.join(scratch, "megatron32")
    check("import --hf-model <Hub id>", [mbridge, "import", "--hf-model", tiny32, "--megatron-path", meg,
                                         "--no-progress", "--json"], env, out_has=['"hf_model":', "snapshots"])
    check("the import equals the local model's", [mbridge, "compare", meg, local32, "--models"], env,
          out_has=[" 0 different"])
    check("generate --hf-model <Hub id>", [mbridge, "generate", "--hf-model", tiny, "--prompt-ids", "1,2,3",
                                           "--max-new-tokens", "2", "--json"], env, out_has=['"generated_ids"'])

    check("gated without a token", [mbridge, "download", "mbridge-test/gated-llama"], env, want=2,
          err_has=["gated", "HF_TOKEN", "request access"])
    with open(os.path.join(home, "token"), "w") as f:  # where `hf auth login` saves it
        f.write(hub_test_server.DEFAULT_TOKEN + "\n")
    check("gated with the token file", [mbridge, "tensors", "mbridge-test/gated-llama", "--json"], env,
          out_has=['"format":"safetensors"'])

    offline = dict(env, HF_HUB_OFFLINE="1")
    stats.reset()
    check("offline: config from the cache", [mbridge, "config", tiny, "--json"], offline, out_has=['"family":"llama"'])
    check("offline: generate from the cache", [mbridge, "generate", "--hf-model", tiny, "--prompt-ids", "1,2,3",
                                               "--max-new-tokens", "2"], offline)
    check("offline: a model not in the cache", [mbridge, "tensors", "mbridge-test/extras-llama"], offline, want=2,
          err_has=["HF_HUB_OFFLINE", "not a local file or folder"])
    with stats.lock:
        connections = stats.connections
    if connections != 0:
        failures.append("offline connections")
        print(f"FAIL: HF_HUB_OFFLINE=1 made {connections} connection(s)")

    check("a missing local path is no Hub id", [mbridge, "config", "./no/such"], env, want=2)
    down = dict(env, HF_ENDPOINT="http://127.0.0.1:9")
    check("the Hub unreachable, nothing cached", [mbridge, "config", "mbridge-test/flaky-llama"], down, want=2,
          err_has=["127.0.0.1:9"])
    server.shutdown()
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("hub cli: all checks passed")


if __name__ == "__main__":
    main()
