#!/usr/bin/env python3
"""A stand-in for the Hugging Face Hub on 127.0.0.1, for tests (Python 3.11 standard library only).

It serves the routes huggingface_hub and mbridge use, with the Hub's headers, for tiny models built from the
fixture folders tests/fixtures/bridge/hf/llama31 (sharded, with tokenizer) and llama32 (one model.safetensors):

  GET  /api/models/{org}/{name}[/revision/{rev}]   repository info with "sha" and "siblings" (?blobs=true: sizes)
  GET  /api/models/{org}/{name}/tree/{rev}[/{path}] the file tree (?recursive=true), as newer huggingface_hub asks
  HEAD|GET /{org}/{name}/resolve/{rev}/{path}       files kept in git: 200 with ETag = git blob id, X-Repo-Commit;
                                                    large (LFS) files, *.safetensors *.bin *.pth: 302 to a storage
                                                    URL on another host name (localhost instead of 127.0.0.1) with
                                                    X-Linked-Etag = sha256, X-Linked-Size, X-Repo-Commit
  HEAD|GET /_cdn/{folder}/{sha256}                  the storage URL: bytes with Range support, no token needed
  GET  /_test/stats, /_test/reset                   what was asked (connections, requests), and forgetting it

Repositories (org mbridge-test):
  tiny-llama     main: llama31's 7 files; tag v1.0: the same without the tokenizer files (an older commit)
  tiny-llama32   main: llama32's config.json, generation_config.json, model.safetensors
  gated-llama    like tiny-llama main, gated: resolve needs "Authorization: Bearer <--token>" (401 without a
                 token, 403 with another), as the Hub answers (X-Error-Code: GatedRepo); the listing is public
  flaky-llama    like tiny-llama main; the storage URL of each LFS file drops the connection halfway through the
                 first time it is fetched (after /_test/reset, again once)
  corrupt-llama  like tiny-llama main; the second shard's stored bytes differ from its sha256 (one byte flipped)
  extras-llama   like tiny-llama main plus README.md, .gitattributes, pytorch_model.bin, consolidated.safetensors
                 and original/consolidated.00.pth, which a model download must not fetch
Errors as the Hub gives them: unknown repository 401 (no token) / 404 with X-Error-Code RepoNotFound, unknown
revision 404 RevisionNotFound, unknown file 404 EntryNotFound with X-Repo-Commit.

Run: hub_test_server.py [--port 0] [--token T] [--fixtures DIR]; prints "PORT <n>" on its first line and serves
until its standard input closes (the test that started it ended) or it is killed.
"""

import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ORG = "mbridge-test"
LFS_SUFFIXES = (".safetensors", ".bin", ".pth")
DEFAULT_TOKEN = "hf_mbridge_test_token"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(data: bytes) -> bytes:
    return b"version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
        hashlib.sha256(data).hexdigest().encode(), len(data))


def commit_sha(repo: str, label: str) -> str:
    return hashlib.sha1(f"mbridge-test commit {repo} {label}".encode()).hexdigest()


class File:
    def __init__(self, path: str, data: bytes):
        self.path = path
        self.data = data
        self.lfs = path.endswith(LFS_SUFFIXES)
        self.sha256 = hashlib.sha256(data).hexdigest()
        self.pointer = lfs_pointer(data)
        # A git file's ETag is its blob id; an LFS file's ETag is its pointer's blob id (X-Linked-Etag: sha256).
        self.blob_id = git_blob_id(self.pointer if self.lfs else data)


class Repo:
    def __init__(self, name: str, commits: dict, refs: dict, gated=False, flaky=False, corrupt=()):
        self.name = name
        self.id = f"{ORG}/{name}"
        self.commits = commits  # sha -> {path: File}
        self.refs = refs        # branch/tag -> sha
        self.gated = gated
        self.flaky = flaky
        self.corrupt = set(corrupt)  # paths whose stored bytes are damaged

    def commit(self, revision: str):
        if revision in self.refs:
            return self.refs[revision]
        if revision in self.commits:
            return revision
        return None

    def folder(self):
        return "models--" + self.id.replace("/", "--")


def read_folder(folder: str) -> dict:
    return {name: File(name, open(os.path.join(folder, name), "rb").read())
            for name in sorted(os.listdir(folder)) if os.path.isfile(os.path.join(folder, name))}


def build_repos(fixtures: str) -> dict:
    llama31 = read_folder(os.path.join(fixtures, "llama31"))
    llama32 = read_folder(os.path.join(fixtures, "llama32"))
    repos = {}

    def add(repo):
        repos[repo.id] = repo

    older = {p: f for p, f in llama31.items() if not p.startswith("tokenizer")}
    main, v1 = commit_sha("tiny-llama", "main"), commit_sha("tiny-llama", "v1.0")
    add(Repo("tiny-llama", {main: llama31, v1: older}, {"main": main, "v1.0": v1}))
    c = commit_sha("tiny-llama32", "main")
    add(Repo("tiny-llama32", {c: llama32}, {"main": c}))
    for name, kw in (("gated-llama", {"gated": True}), ("flaky-llama", {"flaky": True}),
                     ("corrupt-llama", {"corrupt": ["model-00002-of-00002.safetensors"]})):
        c = commit_sha(name, "main")
        add(Repo(name, {c: dict(llama31)}, {"main": c}, **kw))
    extras = dict(llama31)
    for path, data in (("README.md", b"# tiny llama\n"), (".gitattributes", b"*.safetensors filter=lfs\n"),
                       ("pytorch_model.bin", b"\x80\x02not really a pickle" * 64),
                       ("consolidated.safetensors", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "),
                       ("original/consolidated.00.pth", b"PK\x03\x04 not really a zip" * 64)):
        extras[path] = File(path, data)
    c = commit_sha("extras-llama", "main")
    add(Repo("extras-llama", {c: extras}, {"main": c}))
    return repos


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with getattr(self, "lock", threading.Lock()):
            self.connections = 0       # every accepted connection
            self.admin_connections = 0  # those that asked /_test/ (not counted in "connections" reported)
            self.requests = []
            self.dropped = set()       # (repo, sha256) already cut once (flaky-llama)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mbridge-test-hub/1"

    def setup(self):
        super().setup()
        self.is_admin = False
        with self.server.stats.lock:
            self.server.stats.connections += 1

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("hub_test_server: " + (fmt % args) + "\n")

    # ---- plumbing ---------------------------------------------------------------------------------------
    def send(self, status, body=b"", headers=(), content_type="application/octet-stream", head=False, length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def send_json(self, value, headers=()):
        self.send(200, json.dumps(value).encode(), headers, "application/json")

    def error(self, status, code, message, headers=(), head=False):
        body = json.dumps({"error": message}).encode()
        hdrs = list(headers) + [("X-Error-Message", message)]
        if code:
            hdrs.append(("X-Error-Code", code))
        self.send(status, body, hdrs, "application/json", head=head)

    def authorized(self, repo):
        return self.headers.get("Authorization") == f"Bearer {self.server.token}"

    def find_repo(self, org, name, head=False):
        repo = self.server.repos.get(f"{org}/{name}")
        if repo is None:
            has_token = self.headers.get("Authorization") is not None
            self.error(404 if has_token else 401, "RepoNotFound", "Repository not found", head=head)
        return repo

    # ---- routes -----------------------------------------------------------------------------------------
    def do_HEAD(self):
        self.route(head=True)

    def do_GET(self):
        self.route(head=False)

    def route(self, head):
        url = urllib.parse.urlsplit(self.path)
        raw = url.path.split("/")[1:]
        parts = [urllib.parse.unquote(p) for p in raw]
        query = urllib.parse.parse_qs(url.query)
        stats = self.server.stats
        if parts[:1] == ["_test"]:
            with stats.lock:
                if not self.is_admin:
                    self.is_admin = True
                    stats.admin_connections += 1
            return self.admin(parts[1:])
        with stats.lock:
            stats.requests.append({"method": self.command, "path": urllib.parse.unquote(url.path),
                                   "range": self.headers.get("Range"), "auth": self.headers.get("Authorization"),
                                   "host": self.headers.get("Host")})
        if parts[:2] == ["api", "models"] and len(parts) >= 4:
            return self.api(parts[2], parts[3], parts[4:], query)
        if parts[:1] == ["_cdn"] and len(parts) == 3:
            return self.cdn(parts[1], parts[2], head)
        if len(parts) >= 5 and parts[2] == "resolve":
            return self.resolve(parts[0], parts[1], parts[3], "/".join(parts[4:]), head)
        self.error(404, None, "Not Found", head=head)

    def admin(self, parts):
        stats = self.server.stats
        if parts == ["stats"]:
            with stats.lock:
                value = {"connections": stats.connections - stats.admin_connections, "requests": list(stats.requests)}
            return self.send_json(value)
        if parts == ["reset"]:
            stats.reset()
            with stats.lock:  # this connection was counted before the reset: count it again as an admin one
                stats.connections = stats.admin_connections = 1
            return self.send_json({"ok": True})
        self.error(404, None, "unknown test route")

    def api(self, org, name, rest, query):
        repo = self.find_repo(org, name)
        if repo is None:
            return
        if not rest:
            rest = ["revision", "main"]
        kind, revision, path = rest[0], rest[1] if len(rest) > 1 else "main", "/".join(rest[2:])
        commit = repo.commit(revision)
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        files = repo.commits[commit]
        if kind == "revision":
            blobs = query.get("blobs", ["false"])[0].lower() == "true"
            siblings = []
            for f in files.values():
                s = {"rfilename": f.path}
                if blobs:
                    s.update({"size": len(f.data), "blobId": f.blob_id})
                    if f.lfs:
                        s["lfs"] = {"sha256": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer)}
                siblings.append(s)
            return self.send_json({
                "_id": hashlib.sha1(repo.id.encode()).hexdigest()[:24], "id": repo.id, "modelId": repo.id,
                "author": ORG, "sha": commit, "lastModified": "2025-01-01T00:00:00.000Z",
                "createdAt": "2025-01-01T00:00:00.000Z", "private": False, "disabled": False,
                "gated": "manual" if repo.gated else False, "downloads": 0, "likes": 0, "tags": [],
                "library_name": "transformers", "siblings": siblings,
                "usedStorage": sum(len(f.data) for f in files.values())})
        if kind == "tree":
            recursive = query.get("recursive", ["false"])[0].lower() == "true"
            prefix = path + "/" if path else ""
            entries, folders = [], set()
            for f in files.values():
                if not f.path.startswith(prefix):
                    continue
                rel = f.path[len(prefix):]
                if "/" in rel and not recursive:
                    folders.add(prefix + rel.split("/")[0])
                    continue
                for i in range(1, rel.count("/") + 1):
                    folders.add(prefix + "/".join(rel.split("/")[:i]))
                e = {"type": "file", "oid": f.blob_id, "size": len(f.data), "path": f.path}
                if f.lfs:
                    e["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": len(f.pointer)}
                entries.append(e)
            dirs = [{"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
                    for d in sorted(folders)]
            return self.send_json(dirs + entries)
        self.error(404, None, "Not Found")

    def resolve(self, org, name, revision, path, head):
        repo = self.find_repo(org, name, head)
        if repo is None:
            return
        if repo.gated and not self.authorized(repo):
            if self.headers.get("Authorization") is None:
                msg = (f"Access to model {repo.id} is restricted. You must have access to it and be authenticated "
                       "to access it. Please log in.")
                return self.error(401, "GatedRepo", msg, head=head)
            msg = (f"Access to model {repo.id} is restricted and you are not in the authorized list. "
                   f"Visit http://{self.headers.get('Host')}/{repo.id} to ask for access.")
            return self.error(403, "GatedRepo", msg, head=head)
        commit = repo.commit(revision)
        if commit is None:
            return self.error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head=head)
        f = repo.commits[commit].get(path)
        base = [("X-Repo-Commit", commit), ("Accept-Ranges", "bytes")]
        if f is None:
            return self.error(404, "EntryNotFound", f"{path} does not exist on \"{revision}\"", base, head=head)
        if f.lfs:
            port = self.server.server_address[1]
            location = f"http://localhost:{port}/_cdn/{repo.folder()}/{f.sha256}?X-Amz-Signature=test"
            hdrs = base + [("ETag", f'"{f.blob_id}"'), ("X-Linked-Etag", f'"{f.sha256}"'),
                           ("X-Linked-Size", str(len(f.data))), ("Location", location)]
            return self.send(302, b"", hdrs, "text/plain", head=head)
        self.send_bytes(f.data, base + [("ETag", f'"{f.blob_id}"')], head)

    def cdn(self, folder, sha256, head):
        repo = next((r for r in self.server.repos.values() if r.folder() == folder), None)
        f = None
        if repo is not None:
            f = next((x for files in repo.commits.values() for x in files.values() if x.sha256 == sha256), None)
        if f is None:
            return self.send(404, b"NoSuchKey", content_type="text/plain", head=head)
        data = f.data
        if f.path in repo.corrupt:
            data = bytearray(data)
            data[len(data) // 2] ^= 0xFF
            data = bytes(data)
        drop = False
        if repo.flaky and not head:
            with self.server.stats.lock:
                if (repo.id, sha256) not in self.server.stats.dropped:
                    self.server.stats.dropped.add((repo.id, sha256))
                    drop = True
        self.send_bytes(data, [("ETag", f'"{sha256}"')], head, drop)

    def send_bytes(self, data, headers, head, drop=False):
        """The whole file, or the asked range (206); `drop`: cut the connection halfway through the body."""
        start, end, status = 0, len(data), 200
        rng = self.headers.get("Range")
        if rng:
            spec = rng.strip()
            if not spec.startswith("bytes=") or "," in spec:
                return self.send(416, b"", headers + [("Content-Range", f"bytes */{len(data)}")], head=head)
            first, _, last = spec[6:].partition("-")
            start = int(first) if first else 0
            end = min(int(last) + 1, len(data)) if last else len(data)
            if start >= len(data) or start >= end:
                return self.send(416, b"", headers + [("Content-Range", f"bytes */{len(data)}")], head=head)
            status = 206
            headers = headers + [("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")]
        body = data[start:end]
        if not drop:
            return self.send(status, body, headers, head=head)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class HubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # Clients that hang up (a cancelled download, a test that is done) are expected; report anything else.
        if not isinstance(sys.exc_info()[1], (ConnectionError, BrokenPipeError)):
            super().handle_error(request, client_address)

    def __init__(self, port, fixtures, token=DEFAULT_TOKEN, verbose=False):
        super().__init__(("127.0.0.1", port), Handler)
        self.repos = build_repos(fixtures)
        self.token = token
        self.verbose = verbose
        self.stats = Stats()


def default_fixtures():
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "bridge", "hf")


def start_in_thread(fixtures=None, token=DEFAULT_TOKEN, verbose=False):
    """For Python drivers: a running server (port: server.server_address[1]); stop with server.shutdown()."""
    server = HubServer(0, fixtures or default_fixtures(), token, verbose)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--token", default=DEFAULT_TOKEN)
    ap.add_argument("--fixtures", default=default_fixtures())
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    server = HubServer(args.port, args.fixtures, args.token, args.verbose)
    print(f"PORT {server.server_address[1]}", flush=True)

    def watch_stdin():  # the parent closed our input (or died): stop
        try:
            while sys.stdin.buffer.read(4096):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
