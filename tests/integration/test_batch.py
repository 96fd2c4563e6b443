"""The batching responder (pulse-batch): POST /api/publish served on one
epoll loop, the publishes that arrive together committed in one
transaction, FastCGI connections kept open by nginx."""
import os
import signal
import threading
import time

from harness import at_once, publish, wait_for


def _batch_pid(a):
    found = a.pids(b"pulse-batch")
    return found[0] if found else None


def _metric(a, name):
    for line in a.get("/api/metrics").body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError("no metric " + name)


def _burst(a, round_no, n):
    """n publishes released at once; every fourth has a bad topic."""
    adm = a.auth("root", "admin")
    gate = threading.Barrier(n)
    out = [None] * n

    def one(i):
        good = i % 4 != 0
        body = {"topic": "room:g" if good else "bad topic", "type": "note", "data": {"n": round_no * 1000 + i}}
        gate.wait()
        r = a.post("/api/publish", body, headers=adm, timeout=30)
        out[i] = (good, body["data"]["n"], r.status, r.json())

    at_once(one, [(i,) for i in range(n)])
    return out


def test_concurrent_publishes_commit_together_and_fail_alone(env):
    a = env.instance()
    commits0 = _metric(a, "pulse_group_commits_total")
    acked = {}
    good_total = 0
    for round_no in range(10):
        for good, n, status, body in _burst(a, round_no, 32):
            if good:
                good_total += 1
                assert status == 202, body
                acked[body["id"]] = n
            else:
                assert status == 400 and body["error"]["code"] == "invalid_topic", body
        if _metric(a, "pulse_group_commits_total") - commits0 < good_total:
            break  # some publishes shared a transaction: grouping is on
    commits = _metric(a, "pulse_group_commits_total") - commits0
    # grouped: fewer transactions than publishes, and each publish kept
    assert 0 < commits < good_total, (commits, good_total)
    assert len(acked) == good_total
    rows = a.sql("SELECT id, json_extract(data, '$.n') FROM events WHERE topic = 'room:g' ORDER BY id")
    assert dict(rows) == acked
    assert a.sql("SELECT count(*) FROM events WHERE topic != 'room:g'") == [(0,)]


def test_nginx_keeps_fastcgi_connections_to_the_batching_responder(env):
    a = env.instance()
    before = _metric(a, "pulse_batch_connections_total")
    publish(a, "room:k", 100)
    accepted = _metric(a, "pulse_batch_connections_total") - before
    if a.web == "nginx":
        assert accepted <= 4, accepted  # two workers, each reusing its connection
    else:
        assert accepted == 100, accepted  # lighttpd connects once per request


def test_batching_responder_killed_under_load_keeps_every_acknowledged_event(env):
    a = env.instance()
    adm = a.auth("root", "admin")
    acked, other = {}, []
    stop = threading.Event()

    def publisher(k):
        i = 0
        while not stop.is_set():
            n = k * 1000000 + i
            i += 1
            try:
                r = a.post("/api/publish", {"topic": "room:kb", "type": "note", "data": {"n": n}}, headers=adm,
                           timeout=10)
            except (OSError, IndexError, ValueError):
                continue  # the connection broke under the kill
            if r.status == 202:
                acked[r.json()["id"]] = n
            else:
                other.append(r.status)

    ts = [threading.Thread(target=publisher, args=(k,)) for k in range(6)]
    for t in ts:
        t.start()
    try:
        for _ in range(3):
            time.sleep(0.7)
            pid = wait_for(lambda: _batch_pid(a), what="pulse-batch")
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: _batch_pid(a) not in (None, pid), timeout=20, what="pulse-batch to be restarted")
        # and it serves again (slow under valgrind: wait for answers, not time)
        after = len(acked)
        wait_for(lambda: len(acked) >= after + 20, timeout=60, what="publishes answered after the kills")
    finally:
        stop.set()
        for t in ts:
            t.join()
    assert all(s >= 500 for s in other), other  # failures are the server's, never a 4xx
    rows = dict(a.sql("SELECT id, json_extract(data, '$.n') FROM events WHERE topic = 'room:kb'"))
    missing = {i: n for i, n in acked.items() if rows.get(i) != n}
    assert not missing, missing  # an answered publish was committed before its answer
    assert publish(a, "room:kb", 1)
