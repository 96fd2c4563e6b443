"""Pulse behind a real Apache 2.4 on a server one controls (README "Deploying
under Apache"): apache.conf filled in and started by tools/run-apache.sh,
mod_proxy_fcgi to pulse-api, pulse-batch and pulse-stream started by
spawn-fcgi, Apache's workers running as an unprivileged account the suite
creates. And the generated Apache of the harness (AllowOverride All, .htaccess,
mod_cgid as that account) that the shared-hosting tests build on."""
import json
import os
import time

from harness import (APACHE_USER, ROOT, SSE, alive, children_of, descendants, ensure_user, http, payos_body, publish,
                     q, topup, wait_for)

WEB_INDEPENDENT = True  # these tests start their own Apache, whatever --web says


def _pulse(env, **kw):
    return env.instance(web="apache", **kw)


def _uid(pid):
    try:
        return os.stat("/proc/%d" % pid).st_uid
    except OSError:
        return None


def _lighttpd_csp():
    """The pages' Content-Security-Policy of lighttpd.conf: Apache must send the same."""
    with open(os.path.join(ROOT, "lighttpd.conf")) as f:
        for line in f:
            if '"Content-Security-Policy" =>' in line:
                return line.split("=>", 1)[1].strip().rstrip(",").strip().strip('"')
    raise AssertionError("no Content-Security-Policy in lighttpd.conf")


def test_health_through_apache_with_workers_as_the_account(env):
    a = _pulse(env)
    r = a.get("/api/health")
    assert r.status == 200 and r.json()["status"] == "ok", (r.status, r.body)
    h = http(a.port, "HEAD", a.url("/api/health"))  # HEAD as GET, and Apache sends no body
    assert h.status == 200 and h.body == "", (h.status, h.body[:200])
    assert r.header("server") == "Apache"  # (ServerTokens Prod) it is Apache that answered
    assert r.header("x-content-type-options") == "nosniff"
    assert r.header("content-security-policy") is None  # for the pages only
    # Apache's workers serve as the account, never as root; only the parent,
    # which opened the port, stays root
    parent = [p for p in a.pids(b"apache2") if p in children_of(a.proc.p.pid)]
    assert len(parent) == 1 and _uid(parent[0]) == 0, parent
    workers = children_of(parent[0])
    uid = ensure_user(APACHE_USER).pw_uid
    assert workers and all(_uid(p) == uid for p in workers), [(p, _uid(p)) for p in workers]


def test_topup_webhook_replayed_credits_the_wallet_once(env):
    a = _pulse(env)
    tx = topup(a, "alice", 25000)
    assert tx["status"] == "PENDING"
    s = a.sse("/api/topup/stream?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]))
    assert s.status == 200 and s.headers["content-type"].startswith("text/event-stream")
    body = payos_body(tx["order_code"], 25000)
    # the signed webhook, then the same delivery twice more (PayOS retries)
    answers = [a.post("/api/payos/webhook", body) for _ in range(3)]
    assert [r.status for r in answers] == [200] * 3, [(r.status, r.body) for r in answers]
    assert answers[0].json()["status"] == "PAID"
    ev = s.next_event(2)
    assert ev["event"] == "topup.status" and ev["json"]["data"]["status"] == "PAID"
    status = a.get("/api/topup/status?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]))
    assert status.status == 200 and status.json() == ev["json"]["data"]
    assert a.get("/api/wallet", headers=a.auth("alice")).json() == {"user_id": "alice", "balance": 25000}
    assert a.sql("SELECT count(*) FROM wallet_credits") == [(1,)]
    assert s.no_event(0.5)  # the replays published nothing
    s.close()


def test_polling_since(env):
    a = _pulse(env)
    ids = publish(a, "room:apache", 3)
    r = a.get("/api/events?topic=%s&since=%d" % (q("room:apache"), ids[0]))
    assert r.status == 200, r.body
    assert [e["id"] for e in r.json()["events"]] == ids[1:]
    assert [e["data"]["n"] for e in r.json()["events"]] == [1, 2]
    assert a.get("/api/events?topic=%s&since=%d" % (q("room:apache"), ids[-1])).json()["events"] == []


def test_held_stream_shows_an_event_published_over_http_within_2s(env):
    a = _pulse(env)
    s = a.sse("/api/events/stream?topic=" + q("room:held"))
    # the head and the stream's opening come through at once (flushpackets=on)
    assert s.status == 200 and s.headers["content-type"].startswith("text/event-stream")
    assert s.headers.get("content-length") is None
    time.sleep(0.3)  # held a while before anything is published
    t0 = time.time()
    ids = publish(a, "room:held", 1)
    ev = s.next_event(2)
    dt = time.time() - t0
    assert int(ev["id"]) == ids[0] and ev["json"]["data"] == {"n": 0}, ev
    assert dt < 2, "the event took %.2f s through Apache" % dt
    # and the next one too: not only the first flush
    t0 = time.time()
    ids = publish(a, "room:held", 1, start=1)
    assert int(s.next_event(2)["id"]) == ids[0]
    assert time.time() - t0 < 2
    s.close()


def test_one_address_holds_at_most_PULSE_MAX_PER_CLIENT_streams(env):
    # Apache has no per-address limit of its own: pulse-stream counts the
    # streams of each REMOTE_ADDR that mod_proxy_fcgi passes it.
    a = env.instance(web="apache", env={"PULSE_MAX_PER_CLIENT": "2", "PULSE_HEARTBEAT_S": "1"})
    path = "/api/events/stream?topic=" + q("room:cap")
    held = [a.sse(path) for _ in range(2)]
    try:
        assert [s.status for s in held] == [200, 200]
        extra = a.sse(path)
        status, headers, body = extra.status, extra.headers, extra.body_text()
        extra.close()
        assert status == 429 and headers.get("retry-after"), (status, headers)
        assert json.loads(body)["error"]["code"] == "too_many_connections", body
        # another address is not affected
        other = SSE(a.port, path, source="127.0.0.2")
        assert other.status == 200, other.status
        held.append(other)
        # a stream that ends gives its place back (Apache notices at the next heartbeat)
        held.pop(0).close()

        def reopened():
            s = a.sse(path)
            if s.status == 200:
                held.append(s)
                return True
            s.close()
            return False
        wait_for(reopened, timeout=20, interval=0.2, what="a stream from 127.0.0.1 again")
    finally:
        for s in held:
            s.close()


def test_static_pages_with_the_same_csp_as_lighttpd(env):
    a = _pulse(env)
    r = a.get("/topup.html")
    assert r.status == 200 and "<html" in r.body.lower()
    assert r.header("content-type") == "text/html; charset=utf-8"
    assert r.header("content-security-policy") == _lighttpd_csp()
    assert r.header("x-frame-options") == "DENY"
    assert r.header("x-content-type-options") == "nosniff"
    js = a.get("/pulse.js")
    assert js.status == 200 and js.header("content-type") == "text/javascript; charset=utf-8"
    assert a.get("/").status == 200  # index.html
    # nothing of the data directory: the database sits beside the sockets
    for path in ("/pulse.db", "/hls/pulse.db", "/hls/../pulse.db", "/apache.conf"):
        assert a.get(path).status in (403, 404), path


def test_stopping_leaves_no_process_behind(env):
    a = _pulse(env)
    s = a.sse("/api/events/stream?topic=" + q("room:stop"))
    assert s.status == 200
    procs = descendants(a.proc.p.pid)
    uid = ensure_user(APACHE_USER).pw_uid
    assert any(_uid(p) == uid for p in procs)  # Apache's workers, one of them holding the stream
    assert a.pids(b"pulse-api") and a.pids(b"pulse-batch") and a.stream_pid()
    t0 = time.time()
    a.stop()  # SIGTERM to run-apache.sh; fails if a process of it or of the account is left
    dt = time.time() - t0
    assert [p for p in procs if alive(p)] == []
    assert dt < 10, "stopping took %.1f s" % dt
    s.close()


def test_generated_apache_reads_htaccess_and_runs_cgi_as_the_account(env):
    site = os.path.join(env.tmp, "site")
    os.mkdir(site)
    with open(os.path.join(site, ".htaccess"), "w") as f:
        f.write("RewriteEngine On\nRewriteRule ^hello$ hello.txt [L]\nHeader set X-From-Htaccess yes\n"
                "Options +ExecCGI\nAddHandler cgi-script .cgi\n")
    with open(os.path.join(site, "hello.txt"), "w") as f:
        f.write("hi\n")
    cgi = os.path.join(site, "who.cgi")
    with open(cgi, "w") as f:
        f.write("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nid -un\n")
    os.chmod(cgi, 0o755)
    ap = env.apache(docroot=site)
    r = ap.get("/hello")
    assert r.status == 200 and r.body == "hi\n", (r.status, r.body, ap.log())
    assert r.header("x-from-htaccess") == "yes"
    r = ap.get("/who.cgi")
    assert r.status == 200 and r.body.strip() == APACHE_USER, (r.status, r.body, ap.log())
    assert ap.get("/.htaccess").status == 403
    kids = ap.pids()
    ap.stop()
    wait_for(lambda: not any(alive(p) for p in kids), timeout=1, what="Apache's processes to be gone")


def test_generated_apache_stop_fails_when_a_process_is_left_behind(env):
    # a CGI program that leaves a child running after its answer (as a badly
    # written one on a shared host might): stop() must notice and say so
    site = os.path.join(env.tmp, "site")
    os.mkdir(site)
    with open(os.path.join(site, ".htaccess"), "w") as f:
        f.write("Options +ExecCGI\nAddHandler cgi-script .cgi\n")
    cgi = os.path.join(site, "leak.cgi")
    with open(cgi, "w") as f:
        f.write("#!/bin/sh\n(sleep 30 </dev/null >/dev/null 2>&1 &)\nprintf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'\n")
    os.chmod(cgi, 0o755)
    ap = env.apache(docroot=site)
    assert ap.get("/leak.cgi").status == 200
    try:
        ap.stop(grace=2)
    except AssertionError as e:
        assert "sleep 30" in str(e), e
    else:
        raise AssertionError("stop() did not notice the process left behind")
