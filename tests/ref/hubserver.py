#!/usr/bin/env python3
"""hubserver.py: a local stand-in for the Hugging Face hub, for the download tests.

Serves ROOT/{org}/{name}/{file} (or ROOT/{name}/{file}) in the hub's URL layout:

  HEAD|GET /{repo}/resolve/{rev}/{file}
      small file:  200, X-Repo-Commit, ETag "<git blob sha1>", the content
      LFS file:    302, X-Repo-Commit, X-Linked-Etag "<sha256>", X-Linked-Size,
                   Location /cdn/<sha256> (or http://HOST:PORT/cdn/… with --cdn-host)
                   (LFS: *.safetensors, *.bin, or larger than --lfs-threshold)
      renamed:     307 to /{new}/resolve/… for gpt2, gpt2-medium/large/xl, distilgpt2
                   when ROOT holds only the new name (and for each --rename OLD=NEW)
      missing:     404 with X-Error-Code RepoNotFound / RevisionNotFound / EntryNotFound
      gated:       401 X-Error-Code GatedRepo for repos given with --gated, unless the
                   request carries "Authorization: Bearer <--token>"
  GET /cdn/<sha256>   the LFS content, with Range support (206 / 416)
  POST /echo          {"method", "content_type", "body", "authorization": bool} (http tests)
  GET /status/<code>  that status, with Retry-After from ?retry_after=

Revisions: "main" and the repo's commit (ROOT/<repo>/.commit, else sha1 of the repo id).
Faults, on /cdn/ responses: --cut-after N (once: close the connection after N body
bytes), --cut-at LIST (the k-th GET of /cdn/ is cut when the file offset reaches the k-th
point of LIST, "N" bytes or "P%" of the file, e.g. 10%,20%,...,90%; later GETs are whole), --corrupt (flip one byte of every body), --no-range (ignore Range, answer 200),
--stall-after N [--stall-always] (stop sending for --stall-seconds after N bytes),
--fail-once CODE (answer CODE with Retry-After: 0 to the first request).
--tls CERT KEY serves https with that certificate (PEM files) instead of plain http.

--log FILE appends one JSON line per request: method, path, range, auth ("none",
"valid", "invalid"; never the token).  The first line on stdout is the port.  The server
exits by itself after --lifetime seconds (default 300) and when its parent process ends.
"""
import argparse
import hashlib
import json
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ALIASES = {
    "gpt2": "openai-community/gpt2",
    "gpt2-medium": "openai-community/gpt2-medium",
    "gpt2-large": "openai-community/gpt2-large",
    "gpt2-xl": "openai-community/gpt2-xl",
    "distilgpt2": "distilbert/distilgpt2",
}


def git_blob_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class State:
    def __init__(self, args):
        self.args = args
        self.root = os.path.abspath(args.root)
        self.renames = dict(ALIASES)
        for r in args.rename:
            old, new = r.split("=", 1)
            self.renames[old] = new
        self.lock = threading.Lock()
        self.cut_done = False
        self.stall_done = False
        self.fail_done = False
        self.cdn_gets = 0                  # GETs of /cdn/ so far (indexes --cut-at)
        self.blobs = {}

    def log(self, rec):
        if not self.args.log:
            return
        with self.lock, open(self.args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")

    def repo_dir(self, repo):
        d = os.path.join(self.root, repo)
        return d if os.path.isdir(d) else None

    def commit(self, repo):
        p = os.path.join(self.root, repo, ".commit")
        if os.path.isfile(p):
            return open(p).read().strip()
        return hashlib.sha1(("commit:" + repo).encode()).hexdigest()

    def is_lfs(self, name, size):
        return name.endswith((".safetensors", ".bin")) or size > self.args.lfs_threshold

    def blob_path(self, sha):
        if sha not in self.blobs:
            for dirpath, _, names in os.walk(self.root):
                for n in names:
                    p = os.path.join(dirpath, n)
                    with open(p, "rb") as f:
                        self.blobs[hashlib.sha256(f.read()).hexdigest()] = p
        return self.blobs.get(sha)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "hubserver/1"

    def log_message(self, fmt, *args):
        pass

    @property
    def st(self):
        return self.server.state

    def auth_state(self):
        h = self.headers.get("Authorization")
        if h is None:
            return "none"
        return "valid" if self.st.args.token and h == "Bearer " + self.st.args.token else "invalid"

    def record(self):
        self.st.log({"method": self.command, "path": self.path,
                     "range": self.headers.get("Range"), "auth": self.auth_state()})

    def reply(self, status, headers=(), body=b""):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def error(self, status, code, message):
        body = json.dumps({"error": message}).encode()
        self.reply(status, [("X-Error-Code", code), ("X-Error-Message", message),
                            ("Content-Type", "application/json")], body)

    def do_HEAD(self):
        self.handle_get()

    def do_GET(self):
        self.handle_get()

    def do_POST(self):
        self.record()
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        if self.path != "/echo":
            return self.error(404, "EntryNotFound", "no such endpoint")
        out = json.dumps({"method": "POST", "content_type": self.headers.get("Content-Type"),
                          "body": body, "authorization": self.headers.get("Authorization") is not None})
        self.reply(200, [("Content-Type", "application/json"), ("X-Echo", "yes")], out.encode())

    def handle_get(self):
        self.record()
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if parts[0] == "cdn" and len(parts) == 2:
            return self.serve_cdn(parts[1])
        if parts[0] == "status" and len(parts) == 2 and parts[1].isdigit():
            q = urllib.parse.parse_qs(url.query)
            hdrs = [("Retry-After", q["retry_after"][0])] if "retry_after" in q else []
            return self.reply(int(parts[1]), hdrs, b"status body")
        if "resolve" not in parts[:3]:
            return self.error(404, "RepoNotFound", "not a resolve URL")
        i = parts.index("resolve")
        if i not in (1, 2) or len(parts) < i + 3:
            return self.error(404, "RepoNotFound", "bad resolve URL")
        repo = "/".join(parts[:i])
        rev = urllib.parse.unquote(parts[i + 1])
        name = urllib.parse.unquote("/".join(parts[i + 2:]))
        self.serve_resolve(repo, rev, name, parts[i + 1:])

    def serve_resolve(self, repo, rev, name, tail):
        st = self.st
        d = st.repo_dir(repo)
        if d is None:
            new = st.renames.get(repo)
            if new and st.repo_dir(new):
                loc = "/" + new + "/resolve/" + "/".join(tail)
                return self.reply(307, [("Location", loc)], b"")
            return self.error(404, "RepoNotFound", "Repository Not Found for url: " + self.path)
        if repo in st.args.gated and self.auth_state() != "valid":
            return self.error(401, "GatedRepo",
                              "Access to model %s is restricted. You must be authenticated." % repo)
        commit = st.commit(repo)
        if rev not in ("main", commit):
            return self.error(404, "RevisionNotFound", "Invalid rev id: " + rev)
        path = os.path.join(d, name)
        if ".." in name.split("/") or not os.path.isfile(path) or name.startswith("."):
            return self.error(404, "EntryNotFound", "Entry not found")
        with open(path, "rb") as f:
            data = f.read()
        common = [("X-Repo-Commit", commit), ("Content-Type", "application/octet-stream")]
        if st.is_lfs(name, len(data)):
            sha = hashlib.sha256(data).hexdigest()
            pointer = ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
                       % (sha, len(data))).encode()
            if st.args.cdn_host:
                scheme = "https" if st.args.tls else "http"
                loc = "%s://%s:%d/cdn/%s" % (scheme, st.args.cdn_host, self.server.server_port, sha)
            else:
                loc = "/cdn/" + sha
            return self.reply(302, common + [("X-Linked-Etag", '"%s"' % sha),
                                             ("X-Linked-Size", str(len(data))),
                                             ("ETag", '"%s"' % git_blob_sha1(pointer)),
                                             ("Location", loc)], b"")
        self.reply(200, common + [("ETag", '"%s"' % git_blob_sha1(data))], data)

    def serve_cdn(self, sha):
        st = self.st
        a = st.args
        if a.fail_once:
            with st.lock:
                first = not st.fail_done
                st.fail_done = True
            if first:
                return self.reply(a.fail_once, [("Retry-After", "0")], b"try again")
        p = st.blob_path(sha)
        if p is None:
            return self.reply(404, [], b"no such blob")
        with open(p, "rb") as f:
            data = bytearray(f.read())
        if a.corrupt and data:
            data[len(data) // 2] ^= 0xFF
        size, start, end = len(data), 0, len(data) - 1
        status, headers = 200, [("Content-Type", "application/octet-stream"), ("Accept-Ranges", "bytes")]
        rng = self.headers.get("Range")
        if rng and not a.no_range and rng.startswith("bytes="):
            lo, _, hi = rng[6:].partition("-")
            start = int(lo)
            end = int(hi) if hi else size - 1
            if start >= size or end < start:
                return self.reply(416, [("Content-Range", "bytes */%d" % size)], b"")
            end = min(end, size - 1)
            status = 206
            headers.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
        body = bytes(data[start:end + 1])
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        with st.lock:
            cut = a.cut_after is not None and not st.cut_done and len(body) > a.cut_after
            if cut:
                st.cut_done = True
            cut_len = scripted_cut(a.cut_at, st.cdn_gets, size, start, len(body))
            st.cdn_gets += 1
            stall = a.stall_after is not None and len(body) > a.stall_after and (a.stall_always or not st.stall_done)
            if stall:
                st.stall_done = True
        if cut:
            cut_len = a.cut_after
        try:
            if cut_len is not None:
                self.wfile.write(body[:cut_len])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            if stall:
                self.wfile.write(body[:a.stall_after])
                self.wfile.flush()
                time.sleep(a.stall_seconds)
                body = body[a.stall_after:]
            self.wfile.write(body)
        except OSError:
            self.close_connection = True


def cut_point(spec, size):
    """A --cut-at point: "N" bytes, or "P%" of a file of size bytes."""
    return size * int(spec[:-1]) // 100 if spec.endswith("%") else int(spec)


def scripted_cut(points, k, size, start, n):
    """Body bytes to send before cutting GET number k (body of n bytes from start), or None."""
    if not points or k >= len(points):
        return None
    at = cut_point(points[k], size) - start
    return at if 0 <= at < n else None


def watch_parent(ppid):
    while True:
        time.sleep(0.5)
        if os.getppid() != ppid:
            os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("root")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--lfs-threshold", type=int, default=10 * 1000 * 1000)
    ap.add_argument("--gated", action="append", default=[])
    ap.add_argument("--token")
    ap.add_argument("--rename", action="append", default=[])
    ap.add_argument("--cdn-host")
    ap.add_argument("--cut-after", type=int)
    ap.add_argument("--corrupt", action="store_true")
    ap.add_argument("--no-range", action="store_true")
    ap.add_argument("--stall-after", type=int)
    ap.add_argument("--stall-always", action="store_true")
    ap.add_argument("--stall-seconds", type=float, default=30)
    ap.add_argument("--fail-once", type=int)
    ap.add_argument("--cut-at", type=lambda v: v.split(","), default=[])
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
