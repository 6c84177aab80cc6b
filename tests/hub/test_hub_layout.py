#!/usr/bin/env python3
"""mbridge's Hugging Face cache layout, compared with the one huggingface_hub wrote for the same downloads.

Runs layout_scenario.STEPS with `mbridge download` against hub_test_server.py, lists the cache
(cache_listing.py) and compares the listing with tests/fixtures/hub/huggingface_hub_layout.txt, written by
huggingface_hub itself on the GPU machine (make_reference_listing.py). Before comparing, it checks what the
layout must be on its own: every blob named by the digest of its bytes, every snapshot entry a relative link
to an existing blob, refs holding commit shas.

When the reference file is absent the test cannot say anything about compatibility: it exits 77 (ctest shows
it as skipped, not passed), or fails when MB_REQUIRE_HUB_LAYOUT_REFERENCE=1.

usage: test_hub_layout.py MBRIDGE SCRATCH_DIR
"""
import hashlib
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cache_listing  # noqa: E402
import hub_test_server  # noqa: E402
import layout_scenario  # noqa: E402

SKIP = 77


def git_blob_id(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def check_invariants(cache):
    problems = []
    for repo in sorted(os.listdir(cache)):
        if not repo.startswith("models--"):
            continue
        top = os.path.join(cache, repo)
        for name in os.listdir(os.path.join(top, "blobs")):
            data = open(os.path.join(top, "blobs", name), "rb").read()
            if name not in (hashlib.sha256(data).hexdigest(), git_blob_id(data)):
                problems.append(f"{repo}/blobs/{name}: not the digest of its bytes")
        for root, _, files in os.walk(os.path.join(top, "snapshots")):
            for name in files:
                path = os.path.join(root, name)
                target = os.readlink(path) if os.path.islink(path) else None
                if not target or target.startswith("/") or not os.path.isfile(path):
                    problems.append(f"{os.path.relpath(path, cache)}: not a relative link to a blob ({target})")
        for root, _, files in os.walk(os.path.join(top, "refs")):
            for name in files:
                text = open(os.path.join(root, name)).read()
                if len(text) != 40 or any(c not in "0123456789abcdef" for c in text):
                    problems.append(f"{repo}/refs/{name}: '{text}' is not a commit sha")
    return problems


def main():
    mbridge, scratch = sys.argv[1], sys.argv[2]
    shutil.rmtree(scratch, ignore_errors=True)
    cache = os.path.join(scratch, "cache")
    os.makedirs(cache)
    server = hub_test_server.start_in_thread()
    env = dict(os.environ, HF_ENDPOINT=f"http://127.0.0.1:{server.server_address[1]}", HF_HOME=scratch,
               HF_HUB_CACHE=cache, no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        env.pop(name, None)
    for step in layout_scenario.STEPS:
        kind, repo = step[0], step[1]
        cmd = [mbridge, "download", repo, "--revision", step[2], "--no-progress"]
        if kind in ("file", "missing"):
            cmd.append(step[3])
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        want = 2 if kind == "missing" else 0
        if r.returncode != want:
            sys.exit(f"FAIL: {' '.join(cmd[1:])}: exit {r.returncode}, expected {want}\n{r.stderr}")
    server.shutdown()

    problems = check_invariants(cache)
    if problems:
        sys.exit("FAIL: the cache layout is not what huggingface_hub expects:\n  " + "\n  ".join(problems))
    ours = cache_listing.listing(cache)
    with open(os.path.join(scratch, "mbridge_layout.txt"), "w") as f:
        f.write("\n".join(ours) + "\n")

    reference = os.path.join(HERE, "..", "..", layout_scenario.REFERENCE)
    if not os.path.exists(reference):
        print(f"listing missing: {layout_scenario.REFERENCE} has not been written by huggingface_hub yet "
              "(run `python3 tests/hub/make_reference_listing.py` on the GPU machine and commit it); "
              f"mbridge's layout is in {scratch}/mbridge_layout.txt")
        sys.exit(1 if os.environ.get("MB_REQUIRE_HUB_LAYOUT_REFERENCE") == "1" else SKIP)
    with open(reference) as f:
        theirs = cache_listing.entries(f.read())
    if ours != theirs:
        import difflib
        diff = difflib.unified_diff(theirs, ours, "huggingface_hub", "mbridge", lineterm="")
        sys.exit("FAIL: mbridge's cache layout differs from huggingface_hub's:\n" + "\n".join(diff))
    print(f"cache layout identical to huggingface_hub's ({len(ours)} entries)")


if __name__ == "__main__":
    main()
