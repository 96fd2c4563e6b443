"""The one binary run as CGI, as Apache's mod_cgid runs it (the environment,
stdin, stdout), straight from the suite's build (the sanitizer build under
make test): the request responder answers from the environment, a stream
route is held until its time limit, another process's commit wakes it, a
full set of stream slots answers 503 at once. The same binary packed by make
dist is driven through a real Apache in test_shared_hosting."""
import json
import os
import subprocess
import threading
import time

import harness
from harness import JWT_SECRET, token

WEB_INDEPENDENT = True  # no web server: the test is the CGI host


def _data(env):
    """The install's data/ (the package ships it; Pulse makes nothing above its database)."""
    d = os.path.join(env.tmp, "data")
    os.makedirs(d, mode=0o700, exist_ok=True)
    return d


def _cgi(data, uri, method="GET", body=b"", extra=None, timeout=30):
    env = {"PATH": "/usr/bin:/bin", "PULSE_DATA": data, "PULSE_JWT_SECRET": JWT_SECRET,
           "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": method,
           "REQUEST_URI": uri, "SCRIPT_NAME": "/pulse/pulse.cgi", "QUERY_STRING": uri.partition("?")[2],
           "CONTENT_LENGTH": str(len(body)) if body else ""}
    env.update({k: v for k, v in os.environ.items() if k.startswith(("ASAN_", "UBSAN_", "LSAN_"))})
    env.update(extra or {})
    p = subprocess.run([os.path.join(harness.BIN, "pulse")], env=env, input=body, capture_output=True, timeout=timeout)
    err = p.stderr.decode(errors="replace")
    assert "Sanitizer" not in err and "runtime error" not in err, err
    head, _, rest = p.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1]) if lines[0].startswith("Status:") else None
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return p.returncode, status, headers, rest.decode(errors="replace"), err


def test_cgi_requests_answer_from_the_environment_and_stdin(env):
    data = _data(env)
    rc, st, h, body, err = _cgi(data, "/pulse/api/health")
    assert rc == 0 and st == 200 and json.loads(body)["status"] == "ok", (rc, st, body, err)
    assert " info: " not in err, err  # a CGI run logs warnings and errors only: the host's log stays quiet
    pub = json.dumps({"topic": "room:cgi", "type": "note", "data": {"n": 1}}).encode()
    auth = {"HTTP_AUTHORIZATION": "Bearer " + token("root", "admin")}
    rc, st, h, body, err = _cgi(data, "/pulse/api/publish", "POST", pub, auth)
    assert st == 202 and json.loads(body)["id"] == 1, (st, body, err)
    # a body shorter than announced changes nothing
    rc, st, h, body, err = _cgi(data, "/pulse/api/publish", "POST", pub, dict(auth, CONTENT_LENGTH=str(len(pub) + 9)))
    assert st == 400, (st, body)
    rc, st, h, body, err = _cgi(data, "/pulse/api/events?topic=room:cgi&since=0")
    assert st == 200 and [e["id"] for e in json.loads(body)["events"]] == [1], body
    # the WAL and its index stay for the next process (README, "What a CGI
    # request costs"), holding the publish until a checkpoint: still read
    # back by the next process, and by any SQLite reader
    assert os.path.exists(os.path.join(data, "pulse.db-wal")) and os.path.exists(os.path.join(data, "pulse.db-shm"))
    n = subprocess.run(["sqlite3", os.path.join(data, "pulse.db"), "SELECT count(*) FROM events WHERE topic = 'room:cgi'"],
                       capture_output=True, text=True, check=True).stdout.strip()
    assert n == "1", n
    # bad input: a clear 4xx, the process ends normally
    rc, st, h, body, err = _cgi(data, "/pulse/api/publish", "POST", b"{not json", auth)
    assert rc == 0 and 400 <= st < 500, (rc, st, body)


def test_cgi_stream_is_woken_by_another_process_and_ends_at_its_limit(env):
    data = _data(env)
    auth = {"HTTP_AUTHORIZATION": "Bearer " + token("root", "admin")}
    assert _cgi(data, "/pulse/api/health")[1] == 200  # the database exists
    out = {}

    def hold():
        t0 = time.time()
        out["r"] = _cgi(data, "/pulse/api/events/stream?topic=room:held", extra={"PULSE_STREAM_MAX_S": "3"})
        out["took"] = time.time() - t0
    t = threading.Thread(target=hold)
    t.start()
    time.sleep(1)
    pub = json.dumps({"topic": "room:held", "type": "note", "data": {"n": 7}}).encode()
    assert _cgi(data, "/pulse/api/publish", "POST", pub, auth)[1] == 202
    t.join(20)
    rc, st, h, body, err = out["r"]
    assert rc == 0 and st == 200 and h["content-type"] == "text/event-stream", (rc, st, h, err)
    assert "retry: 2000" in body and '"n":7' in body, body
    assert body.rstrip().endswith(": stream time limit (PULSE_STREAM_MAX_S): reconnect to resume"), body
    assert 2.5 < out["took"] < 10, out["took"]


def test_cgi_streams_past_the_cap_get_503_at_once(env):
    data = _data(env)
    cap = {"PULSE_CGI_STREAMS": "1", "PULSE_STREAM_MAX_S": "3"}
    t = threading.Thread(target=_cgi, args=(data, "/pulse/api/events/stream?topic=room:cap"), kwargs={"extra": cap})
    t.start()
    time.sleep(1)
    t0 = time.time()
    rc, st, h, body, err = _cgi(data, "/pulse/api/events/stream?topic=room:cap", extra=cap)
    assert st == 503 and h["retry-after"] == "5", (st, h, body)
    assert json.loads(body)["error"]["code"] == "too_many_streams"
    assert time.time() - t0 < 2
    t.join(20)
    # the slot is given back with the process
    rc, st, h, body, err = _cgi(data, "/pulse/api/events/stream?topic=room:cap",
                                extra=dict(cap, PULSE_STREAM_MAX_S="1"))
    assert st == 200, (st, body)
