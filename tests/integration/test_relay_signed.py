"""Edges store only what the primary relayed (README "More than one host").

Anyone who can write Redis can XADD to the log stream <prefix>log. An edge
used to store every entry it read: a forged `topup.status` PAID reached its
browsers as genuine, and a forged entry with a high id moved the edge's log
head there, so the primary's real events (lower ids) never reached its
streams again. Now the relay signs each entry (HMAC-SHA256, field "h"); an
edge refuses, logs and counts (pulse_mirror_refused_entries_total) an entry
not signed with the shared secret, stores nothing of it, and goes on."""
import hashlib
import hmac
import os
import subprocess

from harness import JWT_SECRET
from harness import SLOW_POLL_ENV as SLOW_POLL
from harness import publish, token, topup, wait_for

EDGE = dict(SLOW_POLL, PULSE_ROLE="edge")


def _cli(redis, *args):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port), "--no-raw"] + list(args),
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "ERR" not in out.stdout, (out.stdout, out.stderr)
    return out.stdout


def _entries(redis):
    """Every entry of pulse:log as (id, {field: value}), read with RESP (values may hold newlines)."""
    import socket
    s = socket.create_connection(("127.0.0.1", redis.port), timeout=10)
    s.sendall(b"*4\r\n$6\r\nXRANGE\r\n$9\r\npulse:log\r\n$1\r\n-\r\n$1\r\n+\r\n")
    f = s.makefile("rb")

    def read():
        line = f.readline().rstrip(b"\r\n")
        if line[:1] == b"*":
            return [read() for _ in range(int(line[1:]))]
        if line[:1] == b"$":
            n = int(line[1:])
            v = f.read(n + 2)[:n]
            return v
        raise AssertionError(line)

    reply = read()
    s.close()
    return [(e[0].decode(), {e[1][i].decode(): e[1][i + 1] for i in range(0, len(e[1]), 2)}) for e in reply]


def _metric(inst, name):
    for line in inst.get("/api/metrics").body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0


def _log(inst):
    with open(os.path.join(inst.data, inst.web + ".out"), errors="replace") as f:
        return f.read()


def _head(inst):
    return inst.get("/api/events?topic=room:sig").json()["last_id"]


def _polled(inst, topic, adm):
    r = inst.get("/api/events?topic=%s&since=0&limit=1000" % topic, headers=adm)
    assert r.status == 200, r.body
    return [(e["id"], e["type"]) for e in r.json()["events"]]


def _serving(inst):
    def ok():
        s = inst.sse("/api/events/stream?topic=room:sig")
        s.close()
        return s.status == 200
    wait_for(ok, timeout=15, what="edge serving streams")


def _collect(sse, got, done, timeout, what):
    """Reads events off sse into got until done(got)."""
    def step():
        try:
            ev = sse.next_event(0.2)
        except AssertionError:
            return done(got)
        got.append((int(ev["id"]) if "id" in ev else None, ev.get("event"), ev.get("json")))
        return done(got)
    wait_for(step, timeout=timeout, interval=0, what=what)


def _mac(secret_key, entry_id, fields):
    """README's definition, written independently of the C code."""
    def ns(b):
        return b"%d:%s," % (len(b), b)
    msg = ns(b"pulse-relay-1") + ns(b"pulse:log") + ns(entry_id.encode())
    for name in ("p", "t", "y", "s", "d", "f"):
        msg += ns(fields[name]) if name in fields else b"-"
    return hmac.new(secret_key, msg, hashlib.sha256).hexdigest()


def _edge_pair(env):
    """A primary with a top-up, an edge, and an admin's stream on the edge
    of room:sig and the top-up's topic, which has had three events."""
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=SLOW_POLL)
    b = env.instance(name="edge", redis=redis, env=EDGE)
    _serving(b)
    tx = topup(a)["tx_ref"]
    path = "/api/events/stream?topic=room:sig&topic=topup:%s&access_token=%s" % (tx, token("root", "admin"))
    sb = b.sse(path, headers={"Last-Event-ID": str(_head(a))})
    assert sb.status == 200
    first = publish(a, "room:sig", 3)
    got = []
    _collect(sb, got, lambda g: [e[0] for e in g if e[1] == "note"] == first, 15, "the edge client's first events")
    return redis, a, b, tx, path, sb, first, got


def _notes_or_other(want):
    """done() for _collect: the notes want arrived, or anything else did."""
    return lambda g: any(e[1] != "note" for e in g) or [e[0] for e in g] == want


def test_a_forged_paid_event_never_reaches_edge_clients(env):
    redis, a, b, tx, path, sb, first, got = _edge_pair(env)
    adm = {"Authorization": "Bearer " + token("root", "admin")}
    topic = "topup:" + tx

    # Anyone who can write Redis: a PAID for this transaction at the id the
    # primary writes next, and another with a made-up signature after it.
    head = _head(a)
    paid = '{"tx_ref":"%s","status":"PAID","amount":5000}' % tx
    _cli(redis, "XADD", "pulse:log", "%d-0" % (head + 1), "p", str(head), "t", topic, "y", "topup.status",
         "s", "2026-12-04T00:00:00Z", "d", paid)
    _cli(redis, "XADD", "pulse:log", "%d-0" % (head + 2), "h", "0" * 64, "p", str(head + 1), "t", topic,
         "y", "topup.status", "s", "2026-12-04T00:00:00Z", "d", paid)

    # The primary's next events take those ids and reach the edge's client,
    # in order, right after the first ones: nothing forged, no reset.
    later = publish(a, "room:sig", 3, 3)
    assert later[0] == head + 1
    _collect(sb, got, _notes_or_other(first + later), 30, "the primary's next events on the edge's client")
    sb.close()
    assert [e[:2] for e in got] == [(i, "note") for i in first + later], got
    assert [e[2]["data"]["n"] for e in got] == list(range(6))

    # Polling and resuming on the edge show the same.
    assert _polled(b, "room:sig", adm) == [(i, "note") for i in first + later]
    assert _polled(b, topic, adm) == []
    assert _head(b) == _head(a) == later[-1]
    again = b.sse(path, headers={"Last-Event-ID": str(first[-1])})
    resumed = []
    _collect(again, resumed, _notes_or_other(later), 15, "a resume on the edge")
    again.close()
    assert [e[:2] for e in resumed] == [(i, "note") for i in later], resumed

    # Refused, logged and counted once each on the edge; removed from Redis
    # by the relay, which relayed the events they had displaced.
    wait_for(lambda: _metric(b, "pulse_mirror_refused_entries_total") == 2, timeout=15,
             what="the edge to count the forged entries")
    # (one line a second at most: the two in one line, or in two)
    wait_for(lambda: "1 not signed" in _log(b) and "1 with a signature this edge's key" in _log(b), timeout=10,
             what="the edge to log the forged entries")
    wait_for(lambda: _metric(a, "pulse_relay_foreign_entries_total") == 2, timeout=15,
             what="the relay to count the forged entries")
    entries = _entries(redis)
    assert [int(i.split("-")[0]) for i, _ in entries][-6:] == first + later
    assert all(f["y"] == b"note" for _, f in entries[-6:])


def test_an_entry_with_a_high_id_does_not_stop_an_edge(env):
    redis, a, b, tx, path, sb, first, got = _edge_pair(env)
    adm = {"Authorization": "Bearer " + token("root", "admin")}
    _cli(redis, "XADD", "pulse:log", "999999999-0", "p", str(first[-1]), "t", "room:sig", "y", "note",
         "s", "2026-12-04T00:00:00Z", "d", '{"n":999}')
    later = publish(a, "room:sig", 3, 3)
    _collect(sb, got, _notes_or_other(first + later), 30, "the primary's next events on the edge's client")
    sb.close()
    assert [e[:2] for e in got] == [(i, "note") for i in first + later], got
    assert _head(b) == _head(a) == later[-1]
    assert _polled(b, "room:sig", adm) == [(i, "note") for i in first + later]
    wait_for(lambda: _metric(b, "pulse_mirror_refused_entries_total") == 1, timeout=15,
             what="the edge to count the entry")
    wait_for(lambda: _metric(a, "pulse_relay_foreign_entries_total") == 1, timeout=15,
             what="the relay to count the entry")
    assert 999999999 not in [int(i.split("-")[0]) for i, _ in _entries(redis)]
    # and what the primary publishes next still arrives
    more = publish(a, "room:sig", 2, 6)
    wait_for(lambda: _polled(b, "room:sig", adm)[-2:] == [(i, "note") for i in more], timeout=15,
             what="the edge to mirror what follows")


def test_the_relay_signs_each_entry_as_the_readme_says(env):
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=SLOW_POLL)
    ids = publish(a, "room:sig", 3)
    wait_for(lambda: [int(i.split("-")[0]) for i, _ in _entries(redis)][-3:] == ids, timeout=15,
             what="the relay")
    # Without PULSE_RELAY_SECRET the key is derived from PULSE_JWT_SECRET.
    key = hmac.new(JWT_SECRET.encode(), b"pulse relay key", hashlib.sha256).digest()
    for entry_id, fields in _entries(redis):
        assert fields["h"].decode() == _mac(key, entry_id, fields), (entry_id, fields)


def test_an_edge_with_another_relay_secret_mirrors_nothing_and_says_so(env):
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=dict(SLOW_POLL, PULSE_RELAY_SECRET="primary-secret"))
    b = env.instance(name="edge", redis=redis, env=dict(EDGE, PULSE_RELAY_SECRET="not-the-primary-s"))
    adm = {"Authorization": "Bearer " + token("root", "admin")}
    ids = publish(a, "room:sig", 3)
    wait_for(lambda: _metric(b, "pulse_mirror_refused_entries_total") >= 3 or _polled(b, "room:sig", adm),
             timeout=15, what="the edge to read the primary's entries")
    assert _polled(b, "room:sig", adm) == []
    assert _metric(b, "pulse_mirror_refused_entries_total") >= 3
    assert b.sql("SELECT count(*) FROM events") == [(0,)]
    wait_for(lambda: "with a signature this edge's key (PULSE_RELAY_SECRET" in _log(b), timeout=10,
             what="the edge to log why")

    # With the primary's secret, the same edge (same database) copies it all.
    db = b.db
    b.stop()
    c = env.instance(name="edge2", redis=redis, env=dict(EDGE, PULSE_RELAY_SECRET="primary-secret"), db=db)
    wait_for(lambda: _polled(c, "room:sig", adm) == [(i, "note") for i in ids], timeout=15,
             what="the edge with the right secret to mirror")


def test_a_forged_doorbell_only_makes_a_stream_responder_read_its_log(env):
    """<prefix>ev:<topic> messages only say "the log has news" (an id);
    the stream responder delivers from its log alone, whatever the message
    holds: an envelope, junk, an id the log does not have yet."""
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=SLOW_POLL)
    sa = a.sse("/api/events/stream?topic=room:bell", headers={"Last-Event-ID": str(_head(a))})
    first = publish(a, "room:bell", 2)
    got = []
    _collect(sa, got, lambda g: [e[0] for e in g] == first, 15, "the first events")
    for msg in ('{"id":%d,"topic":"room:bell","type":"topup.status","ts":"x","data":{"status":"PAID"}}'
                % (first[-1] + 1), '{"id":999999999}', "not json", "", str(first[-1] + 1), "99999999999999999999",
                "-5"):
        _cli(redis, "PUBLISH", "pulse:ev:room:bell", msg)
    later = publish(a, "room:bell", 2, 2)
    _collect(sa, got, lambda g: [e[0] for e in g] == first + later, 15, "the events after the forged doorbells")
    sa.close()
    assert [(e[0], e[1], e[2]["data"]) for e in got] == [(i, "note", {"n": n}) for n, i in enumerate(first + later)]
