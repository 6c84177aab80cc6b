#!/usr/bin/env python3
"""Writes the cache layout huggingface_hub itself makes for layout_scenario.STEPS, as the reference mbridge's
layout is compared with in CI (tests/hub/test_hub_layout.py).

Run on the GPU machine (huggingface_hub comes with transformers there; no internet is needed: the repositories
are served on 127.0.0.1 by hub_test_server.py), from the repository root:

    python3 tests/hub/make_reference_listing.py

It writes tests/fixtures/hub/huggingface_hub_layout.txt (commit it). Any huggingface_hub version works; the
one used is recorded in the file's first line.
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cache_listing  # noqa: E402
import hub_test_server  # noqa: E402
import layout_scenario  # noqa: E402


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", layout_scenario.REFERENCE)
    server = hub_test_server.start_in_thread()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    home = tempfile.mkdtemp(prefix="mbridge-hf-reference-")
    cache = os.path.join(home, "hub")
    # huggingface_hub reads these when it is imported: set them first, and keep any real login out.
    os.environ.update({"HF_ENDPOINT": endpoint, "HF_HOME": home, "HF_HUB_CACHE": cache,
                       "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0",
                       "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                       "no_proxy": "127.0.0.1,localhost", "NO_PROXY": "127.0.0.1,localhost"})
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "TRANSFORMERS_OFFLINE"):
        os.environ.pop(name, None)
    import huggingface_hub
    from huggingface_hub import hf_hub_download, snapshot_download

    for step in layout_scenario.STEPS:
        kind, repo = step[0], step[1]
        if kind == "file":
            hf_hub_download(repo, step[3], revision=step[2], cache_dir=cache)
        elif kind == "snapshot":
            snapshot_download(repo, revision=step[2], cache_dir=cache)
        elif kind == "missing":
            try:
                hf_hub_download(repo, step[3], revision=step[2], cache_dir=cache)
            except Exception as e:  # EntryNotFoundError (its module moved between versions)
                if "EntryNotFound" not in type(e).__name__:
                    raise
            else:
                sys.exit(f"{repo}: {step[3]} was expected to be missing")
        print(f"done: {step}")
    server.shutdown()

    lines = cache_listing.listing(cache)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(f"# written by huggingface_hub {huggingface_hub.__version__} (Python {sys.version.split()[0]}) "
                "for tests/hub/layout_scenario.py with tests/hub/make_reference_listing.py\n")
        f.write("\n".join(lines) + "\n")
    print(f"wrote {out} ({len(lines)} entries)")


if __name__ == "__main__":
    main()
