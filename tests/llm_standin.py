#!/usr/bin/env python3
"""llm_standin.py - a scripted OpenAI-compatible streaming server for tests.

It checks each request as the real service does, then answers as its
script says. Python 3 standard library only; 127.0.0.1, a free port,
one thread per connection, HTTP/1.1 with chunked responses (as the real
service streams), kept connections.

Checks (in this order; the answer is an OpenAI-style error JSON
{"error": {"message", "type", "param", "code"}}):
  - the path is BASE/chat/completions (BASE defaults to /v1)     else 404
  - the method is POST                                           else 405
  - Authorization is "Bearer KEY" when a key is configured       else 401
  - the body is a JSON object with "model" a non-empty string, "stream"
    true, "messages" a non-empty array of {"role": system|user|assistant|
    tool|developer, "content": string}                            else 400

Script: a JSON object (a dict when imported)
  {"default": "NAME",               # the answer when no other is chosen
   "answers": {"NAME": ANSWER, ...}}
The answer is the one named by the content of the request's last message
when there is such a name, else "default". An ANSWER:
  {"mode": "stream"|"stall"|"keepalive"|"fail"|"garbage"|"drop"|"huge",   # "stream"
   "deltas": ["Hel", "lo"],         # the content pieces, in order
   "delay_ms": 0,                   # before each delta
   "finish_reason": "stop",         # null: no finish chunk
   "usage": {...},                  # default: counted; null: none. Sent
                                    # when the request asks for it
                                    # (stream_options.include_usage)
   "done": true,                    # false: no "data: [DONE]"
   "crlf": false,                   # CRLF line ends instead of LF
   "status": 500, "error": "...",   # fail: that status and error message
   "retry_after": 1,                # fail: a Retry-After header (429)
   "garbage": "data: {not json",    # garbage: this line, after the deltas
   "huge_bytes": 10000000,          # huge: this much delta text, at once
   "chunk": 1000,                   # huge: bytes per delta
   "stamp": false}                  # stream: each delta prefixed with
                                    # "bench_us=<int(time.time()*1e6)> ", the
                                    # wall clock when it is sent (bench/
                                    # chat_bench.py measures delta -> browser)
  stream   the deltas, the finish, the usage, [DONE], the end of the body
  stall    the headers and the deltas, then nothing until the client goes
  keepalive  the deltas, then a comment line (": keep-alive") every
           "keepalive_ms" (200) until the client goes, as a proxy waiting
           on a model does
  drop     the deltas, then the connection closes (no finish, no [DONE],
           no last chunk)
With "stamp", one pacer thread sends the deltas of every such answer:
delta k (from 1) at the answer's start + k * delay_ms, its stamp taken
just before its bytes are written, so that the 1,000 connection threads
of a benchmark do not fight over the GIL between the stamp and the write
(the thread of each answer only waits). A client that goes meanwhile is
seen when a write fails.
Every mode watches the client while it waits or writes: when the client
closes the connection first, the request's "disconnected" records when
(time.monotonic(), which is CLOCK_MONOTONIC: a C test compares it with
clock_ms()).

Use from Python:
    s = Standin(script, key="sk-test").start()
    ... s.url ... s.requests ...   # a list of dicts, one per request
    s.stop()
From the shell (prints the base URL on its first line, serves until
SIGTERM or SIGINT; --log writes each request record as a JSON line when
it ends):
    python3 tests/llm_standin.py --key sk-test --script s.json --log r.jsonl
"""

import argparse
import heapq
import http.server
import json
import select
import signal
import socket
import sys
import threading
import time

ROLES = {"system", "user", "assistant", "tool", "developer"}
DEFAULT_SCRIPT = {
    "default": "hello",
    "answers": {"hello": {"deltas": ["Hello", ", ", "world", "!"], "delay_ms": 20}},
}


def _error(message, etype="invalid_request_error", code=None):
    return {"error": {"message": message, "type": etype, "param": None, "code": code}}


def check_body(raw):
    """The request body's problem as the service words it, or None."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return None, "We could not parse the JSON body of your request: %s" % e
    if not isinstance(body, dict):
        return None, "The body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return body, "you must provide a model parameter"
    if body.get("stream") is not True:
        return body, "this stand-in streams only: 'stream' must be true"
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        return body, "'messages' must be a non-empty array"
    for i, m in enumerate(msgs):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            return body, "Invalid 'messages[%d]': a {role, content} object is expected" % i
    return body, None


class _Gone(Exception):
    """The client closed the connection."""


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: tests read the records
        pass

    def do_GET(self):
        self._handle()

    def do_POST(self):
        self._handle()

    # ---- the checks ----
    def _handle(self):
        st = self.server.standin
        rec = {"n": None, "method": self.command, "path": self.path, "headers": dict(self.headers),
               "body": None, "status": None, "answer": None, "started": time.monotonic(),
               "ended": None, "disconnected": None, "bytes": 0, "completed": False}
        st._record(rec)
        try:
            self._answer(st, rec)
        except _Gone:
            rec["disconnected"] = rec["disconnected"] or time.monotonic()
            self.close_connection = True
        finally:
            rec["ended"] = time.monotonic()
            st._ended(rec)

    def _answer(self, st, rec):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if self.path != st.base + "/chat/completions" + ("?" + st.query if st.query else ""):
            return self._json(rec, 404, _error("Unknown URL: %s %s" % (self.command, self.path)))
        if self.command != "POST":
            return self._json(rec, 405, _error("Method not allowed"))
        if st.key is not None and self.headers.get("Authorization") != "Bearer " + st.key:
            return self._json(rec, 401, _error("Incorrect API key provided", code="invalid_api_key"))
        body, problem = check_body(raw)
        rec["body"] = body
        if problem is not None:
            return self._json(rec, 400, _error(problem))
        name = body["messages"][-1]["content"]
        answers = st.script.get("answers", {})
        if name not in answers:
            name = st.script.get("default")
        rec["answer"] = name
        self._stream(st, rec, body, dict(answers.get(name) or {}))

    def _json(self, rec, status, obj, extra=None):
        data = json.dumps(obj).encode()
        rec["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self._write(rec, data)
        rec["completed"] = True

    # ---- the stream ----
    def _write(self, rec, data):
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            rec["disconnected"] = time.monotonic()
            raise _Gone() from None
        rec["bytes"] += len(data)

    def _chunk(self, rec, data):
        self._write(rec, b"%x\r\n%s\r\n" % (len(data), data))

    def _wait(self, st, rec, seconds):
        """Sleeps, watching the client: _Gone when it closes."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if st.stopping.is_set():
                raise _Gone()
            r, _, _ = select.select([self.connection], [], [], min(max(left, 0), 0.02))
            if r:
                try:
                    peek = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    peek = b""
                if not peek:
                    rec["disconnected"] = time.monotonic()
                    raise _Gone()
            if left <= 0:
                return

    def _stream(self, st, rec, body, a):
        mode = a.get("mode", "stream")
        if mode == "fail":
            status = int(a.get("status", 500))
            extra = {"Retry-After": str(a["retry_after"])} if "retry_after" in a else None
            etype = "rate_limit_exceeded" if status == 429 else "server_error"
            return self._json(rec, status, _error(a.get("error", "The server had an error"), etype), extra)
        eol = "\r\n" if a.get("crlf") else "\n"
        ident = "chatcmpl-standin-%d" % rec["n"]

        def event(obj):
            text = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
            self._chunk(rec, ("data: %s%s%s" % (text, eol, eol)).encode())

        def chunk(delta, finish=None):
            return {"id": ident, "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body["model"], "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                         "finish_reason": finish}]}

        rec["status"] = 200
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        event(chunk({"role": "assistant", "content": ""}))
        if mode == "huge":
            piece, left = int(a.get("chunk", 1000)), int(a.get("huge_bytes", 10000000))
            while left > 0:
                event(chunk({"content": "x" * min(piece, left)}))
                left -= piece
        if a.get("stamp"):
            # each delta's JSON made now, with a hole for the stamp the pacer fills in
            frames = [("data: %s%s%s" % (json.dumps(chunk({"content": _HOLE + " " + d}), ensure_ascii=False),
                                         eol, eol)).encode() for d in a.get("deltas", [])]
            if not st._pacer().send(self.connection, rec, frames, a.get("delay_ms", 0) / 1000.0):
                rec["disconnected"] = rec["disconnected"] or time.monotonic()
                raise _Gone()
        for d in [] if a.get("stamp") else a.get("deltas", []):
            self._wait(st, rec, a.get("delay_ms", 0) / 1000.0)
            event(chunk({"content": d}))
        if mode == "garbage":
            self._chunk(rec, (a.get("garbage", "data: {not json") + eol + eol).encode())
        if mode == "stall":
            self._wait(st, rec, 3600)
        while mode == "keepalive":
            self._wait(st, rec, a.get("keepalive_ms", 200) / 1000.0)
            self._chunk(rec, (": keep-alive" + eol + eol).encode())
        if mode == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if a.get("finish_reason", "stop") is not None:
            event(chunk({}, a.get("finish_reason", "stop")))
        if (body.get("stream_options") or {}).get("include_usage") and a.get("usage", 0) is not None:
            n = len(a.get("deltas", []))
            usage = a.get("usage") or {"prompt_tokens": len(body["messages"]), "completion_tokens": n,
                                       "total_tokens": len(body["messages"]) + n}
            event({"id": ident, "object": "chat.completion.chunk", "created": int(time.time()),
                   "model": body["model"], "choices": [], "usage": usage})
        if a.get("done", True):
            event("[DONE]")
        self._write(rec, b"0\r\n\r\n")
        rec["completed"] = True


_HOLE = "bench_us=@STAMP@"


class _Pacer:
    """One thread sending the stamped deltas of every "stamp" answer on time
    (see the docstring); send() blocks the answer's own thread until its
    deltas are out, or its client is gone (False)."""

    def __init__(self, stopping):
        self.stopping = stopping
        self.cond = threading.Condition()
        self.heap = []              # (due, n, job)
        self.n = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def send(self, conn, rec, frames, delay):
        job = {"conn": conn, "rec": rec, "frames": frames, "k": 0, "t0": time.monotonic(), "delay": delay,
               "done": threading.Event(), "ok": True}
        if frames:
            self._push(job)
            while not job["done"].wait(0.5):
                if self.stopping.is_set():
                    return False
        return job["ok"]

    def _push(self, job):
        with self.cond:
            self.n += 1
            heapq.heappush(self.heap, (job["t0"] + (job["k"] + 1) * job["delay"], self.n, job))
            self.cond.notify()

    def _loop(self):
        while not self.stopping.is_set():
            with self.cond:
                wait = self.heap[0][0] - time.monotonic() if self.heap else 0.2
                if wait > 0:
                    self.cond.wait(min(wait, 0.2))
                    continue
                _, _, job = heapq.heappop(self.heap)
            self._one(job)

    def _one(self, job):
        frame = job["frames"][job["k"]].replace(b"@STAMP@", b"%d" % int(time.time() * 1e6))
        try:
            job["conn"].sendall(b"%x\r\n%s\r\n" % (len(frame), frame))
            job["rec"]["bytes"] += len(frame)
        except OSError:
            job["ok"] = False
            job["done"].set()
            return
        job["k"] += 1
        if job["k"] == len(job["frames"]):
            job["done"].set()
        else:
            self._push(job)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096  # a benchmark's 1,000 answers connect at once (a full backlog drops SYNs: 1 s retries)


class Standin:
    """The stand-in server: start(), url, requests, stop()."""

    def __init__(self, script=None, key=None, base="/v1", port=0, log=None, query=None):
        self.script = script if script is not None else DEFAULT_SCRIPT
        self.key = key
        self.base = base.rstrip("/")
        self.query = query  # a query the endpoint's URL must carry (Azure's api-version=...)
        self.requests = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._log = log
        self._port = port
        self._server = None
        self._thread = None
        self._pacer_obj = None

    def _pacer(self):
        with self._lock:
            if self._pacer_obj is None:
                self._pacer_obj = _Pacer(self.stopping)
            return self._pacer_obj

    @property
    def url(self):
        return "http://127.0.0.1:%d%s%s" % (self._server.server_address[1], self.base,
                                              "/?" + self.query if self.query else "")

    def start(self):
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.standin = self
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _record(self, rec):
        with self._lock:
            rec["n"] = len(self.requests)
            self.requests.append(rec)

    def _ended(self, rec):
        if self._log is not None:
            with self._lock:
                self._log.write(json.dumps(rec) + "\n")
                self._log.flush()

    def wait_ended(self, n, timeout=5.0):
        """Request n's record once it has ended, or None after timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if n < len(self.requests) and self.requests[n]["ended"] is not None:
                    return self.requests[n]
            time.sleep(0.01)
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--key", default=None, help="the API key required as Bearer (default: none checked)")
    ap.add_argument("--base", default="/v1")
    ap.add_argument("--script", help="a JSON file holding the script (see the docstring)")
    ap.add_argument("--log", help="appends each request's record, as a JSON line, when it ends")
    args = ap.parse_args()
    script = None
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            script = json.load(f)
    log = open(args.log, "a", encoding="utf-8") if args.log else None
    s = Standin(script, key=args.key, base=args.base, port=args.port, log=log).start()
    print(s.url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    while not done.wait(0.2):
        pass
    s.stop()
    if log is not None:
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
