"""The shipped web server configurations (lighttpd.conf with lighttpd.lua,
nginx.conf with tools/run-nginx.sh) under abuse and failure: more streams
than the web server holds, many connections from one address, a request
header that never ends, a POST without Content-Length, a FastCGI process
killed mid-request, a client too slow to read its stream; and the security
headers of pages and API answers."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

from harness import ROOT, SSE, Response, http, publish, token, wait_for

SSELOAD = os.path.join(ROOT, "build", "bench", "sseload")


def _json_error(r):
    """The body of an error answer, checked to be Pulse's error shape."""
    ctype = r.header("content-type") or ""
    assert ctype.startswith("application/json"), (r.status, ctype, r.body[:200])
    body = json.loads(r.body)
    err = body["error"]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", err["code"]) and isinstance(err["message"], str) and err["message"], body
    return err


def _stream_head(port, path, source=None):
    """Opens a stream; returns (SSE, None) when it is served, or (None,
    Response) with the whole answer when it is refused."""
    s = SSE(port, path, source=source)
    if s.status == 200:
        return s, None
    body = s.body_text()
    s.close()
    return None, Response(s.status, s.headers, body)


def _config_number(path, pattern):
    with open(os.path.join(ROOT, path)) as f:
        m = re.search(pattern, f.read(), re.M)
    assert m, "%s: no %s" % (path, pattern)
    return int(m.group(1))


def _error_log(a):
    with open(os.path.join(a.data, "lighttpd-error.log" if a.web == "lighttpd" else "nginx-error.log"),
              errors="replace") as f:
        return f.read()


def test_streams_beyond_what_the_web_server_holds_get_503_while_the_api_health_and_pages_stay_served(env):
    # One client opens more streams than the web server has connections for
    # (lighttpd: server.max-connections; nginx: one worker's
    # worker_connections, two per stream). The surplus must be refused with
    # Pulse's 503 + Retry-After, never left hanging, and everything else
    # must still be answered while the streams are held.
    if os.environ.get("PULSE_TEST_WEB") == "nginx":
        a = env.instance(env={"NGINX_WORKERS": "1"})
        slots = _config_number("nginx.conf", r"^\s*worker_connections\s+(\d+);") // 2
    else:
        a = env.instance()
        slots = _config_number("lighttpd.conf", r"^server\.max-connections\s*=\s*(\d+)")
    n = slots + 200
    load = subprocess.Popen([SSELOAD, "-p", str(a.port), "-u", "/api/events/stream?topic=room:flood%d", "-k", "50",
                             "-n", str(n), "-c", "200", "-o", "120", "-H", "120"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = load.stderr.readline()
        assert line.startswith("READY"), line
        opened = int(re.search(r"open=(\d+)", line).group(1))
        assert 0 < opened < slots, line  # streams stopped short of the web server's limit
        # ... and with them held, the rest of the service answers at once
        assert a.get("/api/health", timeout=10).status == 200
        assert a.get("/", timeout=10).status == 200
        assert a.get("/api/live/rooms", timeout=10).status == 200
        s, r = _stream_head(a.port, "/api/events/stream?topic=room:one-more")
        assert s is None and r.status == 503 and r.header("retry-after"), (s and s.status, r and r.headers)
        assert _json_error(r)["code"] == "overloaded"
        assert load.poll() is None  # the streams were still held while the above was answered
    finally:
        load.kill()
        load.wait()


def test_one_address_may_hold_only_PULSE_MAX_PER_CLIENT_connections(env):
    a = env.instance(env={"PULSE_MAX_PER_CLIENT": "3", "PULSE_HEARTBEAT_S": "1"})
    path = "/api/live/rooms/r1/stream"
    held = []
    try:
        for _ in range(3):
            s, r = _stream_head(a.port, path)
            assert s is not None, (r.status, r.body)
            held.append(s)
        s, r = _stream_head(a.port, path)
        assert s is None and r.status == 429 and r.header("retry-after"), (s and s.status, r and r.headers)
        assert _json_error(r)["code"] == "too_many_connections"
        # another address is not affected
        s, r = _stream_head(a.port, path, source="127.0.0.2")
        assert s is not None, (r.status, r.body)
        held.append(s)
        assert http(a.port, "GET", "/api/health", source="127.0.0.2").status == 200
        # and a closed stream frees its place (lighttpd notices at the next heartbeat)
        held.pop(0).close()

        def reopened():
            s, r = _stream_head(a.port, path)
            if s is not None:
                held.append(s)
                return True
            assert r.status == 429, r.status
            return False
        wait_for(reopened, timeout=20, interval=0.2, what="a stream from 127.0.0.1 again")
    finally:
        for s in held:
            s.close()


def test_a_request_header_that_stops_arriving_is_cut_in_seconds_not_minutes(env):
    # The shipped configs allow 10 s (the servers' own default is 60 s):
    # a client holding connections open with half a request (slowloris)
    # loses them quickly.
    a = env.instance()
    s = socket.create_connection(("127.0.0.1", a.port), timeout=45)
    try:
        s.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        t0 = time.time()
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
        except socket.timeout:
            raise AssertionError("the half-sent request is still open after 45 s")
        took = time.time() - t0
    finally:
        s.close()
    assert took < 30, "closed only after %.0f s" % took


def test_a_post_without_content_length_gets_json_not_an_html_page(env):
    # The README's `curl -X POST .../join` sends no Content-Length: lighttpd
    # refuses that (411) before Pulse sees it, nginx takes an empty body.
    # Either way the answer is JSON, an error in Pulse's shape.
    a = env.instance()
    room = a.post("/api/live/rooms", {"title": "t"}, headers={"Authorization": "Bearer " + token("shop", "owner")})
    assert room.status == 201, room.body
    path = "/api/live/rooms/%s/join" % room.json()["id"]
    viewer = {"Authorization": "Bearer " + token("v1", "viewer")}
    r = http(a.port, "POST", path, headers=viewer)  # no body, no Content-Length
    if r.status == 411:
        assert _json_error(r)["code"] == "length_required"
    else:
        assert r.status == 200 and r.json()["count"] == 1, (r.status, r.body)
    # what the README now shows (curl -d ''): an empty body, joined behind both
    r = http(a.port, "POST", path, headers=dict(viewer, **{"Content-Length": "0",
                                                           "Content-Type": "application/x-www-form-urlencoded"}))
    assert r.status == 200 and r.json()["count"] == 1, (r.status, r.body)
    # the web server's other own errors are JSON too
    r = a.get("/no-such-page.html")
    assert r.status == 404 and _json_error(r)["code"] == "not_found"


def test_a_fastcgi_process_killed_mid_request_answers_503_with_retry_after_in_json(env):
    # pulse-batch is SIGKILLed while publishes are in flight (the web server
    # restarts it): what the web server answers for the requests it lost
    # must be a 503 with Retry-After in Pulse's error shape, like any other
    # 503 of the service.
    a = env.instance()
    adm = a.auth("root", "admin")
    failed, stop = [], threading.Event()
    acked = [0]

    def publisher(k):
        i = 0
        while not stop.is_set():
            i += 1
            try:
                r = a.post("/api/publish", {"topic": "room:kill", "type": "note", "data": {"n": k * 1000000 + i}},
                           headers=adm, timeout=10)
            except (OSError, IndexError, ValueError):
                continue  # the connection itself broke: no answer to judge
            if r.status == 202:
                acked[0] += 1
            else:
                failed.append(r)

    def batch_pid():
        found = a.pids(b"pulse-batch")
        return found[0] if found else None

    ts = [threading.Thread(target=publisher, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    try:
        # A kill loses only the requests pulse-batch holds at that instant
        # (connections not yet handed to it wait for its successor): four
        # kills at least, more (at most 20, within 3 minutes) until one has
        # lost something.
        give_up, kills = time.time() + 180, 0
        while kills < 4 or (kills < 20 and not failed and time.time() < give_up):
            kills += 1
            wait_for(lambda: acked[0] >= 20, timeout=60, what="publishes answered")
            acked[0] = 0
            pid = wait_for(batch_pid, what="pulse-batch")
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: batch_pid() not in (None, pid), timeout=20, what="pulse-batch to be restarted")
        wait_for(lambda: acked[0] >= 20, timeout=60, what="publishes answered after the kills")
    finally:
        stop.set()
        for t in ts:
            t.join()
    assert failed, "no publish was lost to %d kills: nothing was checked" % kills
    for r in failed:
        assert r.status == 503 and r.header("retry-after"), (r.status, r.headers, r.body[:200])
        assert _json_error(r)["code"] == "unavailable"


def test_pages_carry_a_content_security_policy_and_every_answer_nosniff(env):
    a = env.instance()
    for page in ("/", "/index.html", "/live.html", "/owner.html", "/topup.html", "/inbox.html", "/chat.html"):
        r = a.get(page)
        assert r.status == 200, page
        csp = r.header("content-security-policy") or ""
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, \
            (page, csp)
        assert r.header("x-frame-options") == "DENY", page
        assert r.header("x-content-type-options") == "nosniff", page
    for path in ("/pulse.js", "/style.css", "/api/health", "/api/live/rooms", "/api/no-such-thing"):
        assert a.get(path).header("x-content-type-options") == "nosniff", path
    s = a.sse("/api/events/stream?topic=room:h")
    s.close()
    assert s.status == 200 and s.headers.get("x-content-type-options") == "nosniff"


def test_a_slow_consumer_is_let_go_cleanly_and_resumes_with_nothing_lost(env):
    # A client that stops reading its stream is dropped once PULSE_STREAM_QUEUE
    # events wait for it. The response must end as a response (the web
    # server's log must not report a dead FastCGI process for it: anyone
    # could fill the log that way), on a whole event, and the client must
    # get everything by resuming from its last event.
    a = env.instance(env={"PULSE_STREAM_QUEUE": "128"})
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", a.port))
    sock.sendall(b"GET /api/events/stream?topic=room:slow HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                 b"Accept: text/event-stream\r\n\r\n")
    adm = a.auth("root", "admin")
    pad = "x" * 2000
    ids = []

    def dropped():
        for line in a.get("/api/metrics").body.splitlines():
            if line.startswith("pulse_slow_consumers_dropped_total "):
                return float(line.split()[1]) > 0
        raise AssertionError("no pulse_slow_consumers_dropped_total metric")

    try:
        for _ in range(500):  # bounded: the kernel and the web server buffer a few MB at most
            for _ in range(20):
                r = a.post("/api/publish", {"topic": "room:slow", "type": "note", "data": {"pad": pad}}, headers=adm)
                assert r.status == 202, r.body
                ids.append(r.json()["id"])
            if dropped():
                break
        else:
            raise AssertionError("the client was never dropped")
        ids += publish(a, "room:slow", 5)  # published after the drop
        data = b""
        while True:
            c = sock.recv(65536)
            if not c:
                break
            data += c
    finally:
        sock.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"200"
    text = body.decode()
    assert text.endswith("\n\n"), text[-200:]  # it ended on a whole event
    # the events' ids (not the stream's opening position, an id with no event)
    got = [int(m) for m in re.findall(r"^id: (\d+)\nevent: ", text, re.M)]
    assert got == ids[:len(got)] and len(got) < len(ids), (len(got), len(ids))
    # the resume (what EventSource does with Last-Event-ID) brings the rest
    s = a.sse("/api/events/stream?topic=room:slow", headers={"Last-Event-ID": str(got[-1] if got else ids[0] - 1)})
    rest = [int(e["id"]) for e in s.events(len(ids) - len(got), timeout=30)]
    s.close()
    assert got + rest == ids
    log = _error_log(a)
    for bad in ("died", "prematurely", "backend returned error"):
        assert bad not in log, log[-2000:]
