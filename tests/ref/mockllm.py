#!/usr/bin/env python3
"""mockllm.py: a scriptable OpenAI-compatible chat-completions server for tests.

Usage:  mockllm.py SCRIPT.json [--log FILE] [--lifetime S] [--tls CERT KEY]
Binds 127.0.0.1 on a free port and prints the port as the first line on stdout; point the
client at it with OPENAI_BASE_URL=http://127.0.0.1:PORT/v1.  Exits by itself after
--lifetime seconds (default: the script's "lifetime", else 60) and when its parent ends.
--tls CERT KEY serves https with that certificate (PEM files) instead of plain http.

Every request (any method, any path) is answered by the next entry of the script, in
order.  SCRIPT is a JSON array of entries, or {"lifetime": S, "responses": [entries]}.
An entry is an object; all fields are optional:

  "status": 200             HTTP status (default 200)
  "headers": {"Retry-After": "1", ...}   extra response headers
  "body": <any JSON value>  sent as JSON (Content-Type: application/json)
  "text": "..."             sent as is (UTF-8; Content-Type: text/plain unless in headers)
  "reply": {...}            shortcut for a chat completion (choices[0]) body:
        {"content": "text" or null, "tool_calls": [{"id": "call_1", "name": "f",
         "arguments": "<JSON text>" or <JSON value, serialised for you>}, ...],
         "finish_reason": "stop"|"tool_calls"|... (default: "tool_calls" when there are
         tool calls, else "stop"), "model": "...", "usage": {...}}
        ("id" defaults to "call_<request>_<k>")
  "error": {"message": "...", "type": "...", "code": "..."}
                            shortcut for the body {"error": {...}} (set "status" too)
  "raw": "..."              these bytes (UTF-8) are written to the socket instead of an
                            HTTP response, then the connection is closed
  "delay": 0.5              seconds to wait before answering (or before hang/close/raw)
  "hang": true              never answer (the connection stays open until the client
                            gives up or the server's lifetime ends)
  "close": true             close the connection without sending anything
  "repeat": N               this entry answers N requests in a row (default 1)
  "judge": "answer"         a reply to a `judge` request computed from it: the items of
                            the last user message (the JSON array after its first line)
                            get one verdict per question, "yes" when the item's
                            expected_answer occurs in its continuation, else "no"
                            (reason "mock: ..."); "judge": "yes" / "no" / "unsure" gives
                            that verdict to every question.  Combine with "delay" etc.

"{{key}}" anywhere in an entry's strings is replaced by the key of the request's
"Authorization: Bearer KEY" header (empty without one), as a server that echoes the key
it was sent (OpenAI's 401 message does): the script file need not hold the key.

An empty entry {} is a 200 with an empty chat completion ("content": "").  When the
script is used up, every further request gets a 400 {"error": {"message": "mockllm: no
scripted response left (request N)", "type": "mockllm", "code": "script_exhausted"}}.

--log FILE appends one JSON line per request, written (and flushed) before the answer:
  {"n": 0, "method": "POST", "path": "/v1/chat/completions",
   "headers": {"authorization": "Bearer sha256:<16 hex>", "content-type": ...},   (names lowercased)
   "body": <the request body parsed as JSON, or null>, "body_text": "<when not JSON>",
   "t": <seconds since the server started>}
The Authorization header's credential is logged as the first 16 hex digits of its SHA-256
("Bearer sha256:…", tests/lib.sh bearer_digest), never as received: the suite's secret
scan (tests/run.sh) reads this log like every other file a test writes.
"""
import argparse
import hashlib
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

START = time.monotonic()


def load_script(path):
    with open(path, encoding="utf-8") as f:
        script = json.load(f)
    lifetime = None
    if isinstance(script, dict):
        lifetime = script.get("lifetime")
        script = script.get("responses", [])
    if not isinstance(script, list) or not all(isinstance(e, dict) for e in script):
        sys.exit("mockllm: the script must be a list of objects (or {\"responses\": [...]})")
    entries = []
    for e in script:
        entries.extend([e] * int(e.get("repeat", 1)))
    return entries, lifetime


def completion_body(reply, n):
    calls = []
    for k, tc in enumerate(reply.get("tool_calls") or []):
        args = tc.get("arguments", "{}")
        if not isinstance(args, str):
            args = json.dumps(args)
        calls.append({"id": tc.get("id", "call_%d_%d" % (n, k)), "type": "function",
                      "function": {"name": tc.get("name", ""), "arguments": args}})
    message = {"role": "assistant", "content": reply.get("content", None if calls else "")}
    if calls:
        message["tool_calls"] = calls
    finish = reply.get("finish_reason", "tool_calls" if calls else "stop")
    return {"id": "chatcmpl-mock-%d" % n, "object": "chat.completion", "created": 0,
            "model": reply.get("model", "mock-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": reply.get("usage", {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})}


def judge_reply(rule, body, n):
    """A chat completion answering every question of a judge request (see "judge")."""
    content = body["messages"][-1]["content"]
    items, _ = json.JSONDecoder().raw_decode(content, content.index("["))
    verdicts = []
    for it in items:
        for q, _ in enumerate(it["questions"]):
            if rule == "answer":
                answer = (it.get("expected_answer") or "").strip()
                v = "yes" if answer and answer in it["continuation"] else "no"
            else:
                v = rule
            verdicts.append({"item": it["item"], "question": q + 1, "verdict": v,
                             "reason": "mock: %s for item %d" % (v, it["item"])})
    return completion_body({"content": json.dumps({"verdicts": verdicts})}, n)


def digest(credential):
    return "sha256:" + hashlib.sha256(credential.encode("utf-8")).hexdigest()[:16]


def logged_authorization(value):
    """The Authorization header with its credential replaced by a digest."""
    scheme, _, credential = value.partition(" ")
    return scheme + " " + digest(credential) if credential else digest(value)


def bearer_key(headers):
    value = headers.get("Authorization") or ""
    return value[7:] if value[:7].lower() == "bearer " else ""


def with_key(entry, key):
    """entry with "{{key}}" in its strings replaced by key."""
    text = json.dumps(entry).replace("{{key}}", json.dumps(key)[1:-1])
    return json.loads(text)


class State:
    def __init__(self, entries, log):
        self.entries = entries
        self.log = log
        self.n = 0
        self.lock = threading.Lock()

    def next(self, record):
        with self.lock:
            n = self.n
            self.n += 1
            record["n"] = n
            if self.log:
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(record) + "\n")
            return n, (self.entries[n] if n < len(self.entries) else None)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        if "authorization" in headers:
            headers["authorization"] = logged_authorization(headers["authorization"])
        record = {"method": self.command, "path": self.path, "headers": headers,
                  "t": round(time.monotonic() - START, 3)}
        try:
            record["body"] = json.loads(raw) if raw else None
        except ValueError:
            record["body"] = None
            record["body_text"] = raw.decode("utf-8", "replace")
        n, e = self.server.state.next(record)
        if e is not None:
            e = with_key(e, bearer_key(self.headers))
        if e is None:
            e = {"status": 400, "error": {"message": "mockllm: no scripted response left (request %d)" % n,
                                          "type": "mockllm", "code": "script_exhausted"}}
        if e.get("delay"):
            time.sleep(float(e["delay"]))
        if e.get("hang"):
            while True:
                time.sleep(3600)
        if e.get("close"):
            self.close_connection = True
            return
        if "raw" in e:
            self.wfile.write(e["raw"].encode("utf-8"))
            self.wfile.flush()
            self.close_connection = True
            return
        headers = {}
        if "text" in e:
            data = e["text"].encode("utf-8")
            headers["Content-Type"] = "text/plain; charset=utf-8"
        else:
            if "body" in e:
                body = e["body"]
            elif "error" in e:
                body = {"error": e["error"]}
            elif "judge" in e:
                body = judge_reply(e["judge"], record["body"], n)
            else:
                body = completion_body(e.get("reply", {}), n)
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        headers.update(e.get("headers", {}))
        self.send_response(int(e.get("status", 200)))
        for k, v in headers.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


def watch_parent(ppid):
    while True:
        time.sleep(0.5)
        if os.getppid() != ppid:
            os._exit(0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("script")
    ap.add_argument("--log")
    ap.add_argument("--lifetime", type=float)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    args = ap.parse_args()
    entries, lifetime = load_script(args.script)
    lifetime = args.lifetime or lifetime or 60
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(entries, args.log)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*args.tls)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Timer(float(lifetime), lambda: os._exit(0)).start()
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
