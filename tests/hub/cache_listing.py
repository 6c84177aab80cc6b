#!/usr/bin/env python3
"""A canonical text listing of a Hugging Face cache folder, to compare the layouts two downloaders wrote.

One line per entry under each models--*/ repository folder, sorted by path:
  d <path>                          a folder
  f <path> <size> <sha256>          a regular file
  l <path> -> <target>              a symbolic link (its target as written, not followed)
Left out, because they depend on the downloader's version rather than on the layout: the folders next to the
repositories (.locks/, xet/), CACHEDIR.TAG, and a repository's trees/ (the tree listings newer huggingface_hub
keeps). Lines starting with '#' are comments (the comparison ignores them).

usage: cache_listing.py CACHE_DIR [OUT_FILE]
"""
import hashlib
import os
import sys

IGNORED_IN_REPO = ("trees",)


def listing(cache_dir):
    lines = []
    for repo in sorted(os.listdir(cache_dir)):
        top = os.path.join(cache_dir, repo)
        if not repo.startswith("models--") or not os.path.isdir(top) or os.path.islink(top):
            continue
        lines.append(f"d {repo}")
        for root, dirs, files in os.walk(top):
            rel_root = os.path.relpath(root, cache_dir)
            if root == top:
                dirs[:] = [d for d in dirs if d not in IGNORED_IN_REPO]
            for name in sorted(dirs + files):
                path = os.path.join(root, name)
                rel = os.path.join(rel_root, name)
                if os.path.islink(path):
                    lines.append(f"l {rel} -> {os.readlink(path)}")
                elif os.path.isdir(path):
                    lines.append(f"d {rel}")
                else:
                    with open(path, "rb") as f:
                        data = f.read()
                    lines.append(f"f {rel} {len(data)} {hashlib.sha256(data).hexdigest()}")
            # os.walk does not descend into symlinked folders; they were listed as links above
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    return sorted(lines, key=lambda l: l.split(" ")[1])


def entries(text):
    """The listing lines of a listing file's text, comments and blank lines left out."""
    return [l for l in text.splitlines() if l.strip() and not l.startswith("#")]


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    text = "\n".join(listing(sys.argv[1])) + "\n"
    if len(sys.argv) == 3:
        with open(sys.argv[2], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
