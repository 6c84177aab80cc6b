"""The downloads both sides of the cache-layout comparison make, in this order, into one empty cache folder:
huggingface_hub on the GPU machine (make_reference_listing.py) and mbridge in CI (test_hub_layout.py).

  ("file", repo, revision, path)      hf_hub_download(repo, path, revision)  | mbridge download repo path --revision
  ("snapshot", repo, revision)        snapshot_download(repo, revision)      | mbridge download repo --revision
  ("missing", repo, revision, path)   hf_hub_download of a file the repository lacks: an EntryNotFound error, and
                                      the .no_exist/<commit>/<path> marker  | mbridge download repo path (exit 2)

The repositories are served by hub_test_server.py; every file of tiny-llama and tiny-llama32 is one mbridge
downloads for a model, so snapshot_download (which takes every file) and mbridge fetch the same set.
"""
from hub_test_server import commit_sha

TINY = "mbridge-test/tiny-llama"
TINY32 = "mbridge-test/tiny-llama32"

STEPS = [
    ("file", TINY, "v1.0", "config.json"),          # a tag: refs/v1.0, one snapshot link
    ("snapshot", TINY, "main"),                      # a branch: refs/main, sharded weights, tokenizer
    ("snapshot", TINY, commit_sha("tiny-llama", "v1.0")),  # a commit sha: no ref; blobs shared with main
    ("missing", TINY, "main", "special_tokens_map.json"),  # .no_exist marker
    ("snapshot", TINY32, "main"),                    # a single model.safetensors
]

REFERENCE = "tests/fixtures/hub/huggingface_hub_layout.txt"  # written by huggingface_hub, committed
