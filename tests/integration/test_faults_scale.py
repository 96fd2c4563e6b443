"""The fault test at full scale: 1,000 EventSource-like clients (the C load
generator bench/sseload.c in resume mode) each drop their stream at random
moments and reconnect with Last-Event-ID while 10,000 events are published.
A fifth of the connections are a fresh EventSource instead (a page loaded
anew): no Last-Event-ID, dropped before any event, reconnecting from the
position the stream's first block gave. Every client must end with every
id exactly once, in order, and no reset; every fresh stream got a position.

It runs once, behind lighttpd (whose per-stream cost is the higher): behind
both web servers it would double the suite's longest test for the same
stream responder code."""
import json
import os
import subprocess
import threading

from harness import ROOT, publish, wait_for

WEB_INDEPENDENT = True
SERIAL = True  # runs alone: a thousand clients take the machine (tests/run.py)
SSELOAD = os.path.join(ROOT, "build", "bench", "sseload")
# `make check-valgrind` runs every Pulse process under memcheck, 20-50 times
# slower: it sets PULSE_TEST_SCALE=0.05 (50 clients, 500 events) and this
# test says so in its output. `make test` always runs the full scale.
SCALE = float(os.environ.get("PULSE_TEST_SCALE", "1"))
PUBLISHERS = 4
CLIENTS = max(20, int(1000 * SCALE))
EVENTS = max(200, int(10000 * SCALE)) // PUBLISHERS * PUBLISHERS
# Mean time between a client's drops: scaled with the run, so that a short
# run still has every client drop (and resume) more than once.
DROP_MEAN_MS = max(100, int(2000 * SCALE))
FRESH_PCT = 20


def test_a_thousand_clients_reconnecting_at_random_while_ten_thousand_events_are_published(env):
    a = env.instance(workers=3)
    start = publish(a, "room:before", 1)[0]
    load = subprocess.Popen([SSELOAD, "-p", str(a.port), "-u", "/api/events/stream?topic=room:big",
                             "-n", str(CLIENTS), "-c", "200", "-o", "120", "-e", str(EVENTS), "-w", "300",
                             "-r", str(DROP_MEAN_MS), "-L", str(start), "-F", str(FRESH_PCT)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = load.stderr.readline()
        assert line.startswith("READY"), line  # (open counts drift: clients drop from the start)
        ids = []

        def publisher(k):
            ids.extend(publish(a, "room:big", EVENTS // PUBLISHERS, k * EVENTS))

        threads = [threading.Thread(target=publisher, args=(k,)) for k in range(PUBLISHERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # The log holds nothing else: the published ids are exactly these.
        assert sorted(ids) == list(range(start + 1, start + EVENTS + 1))
        out, err = load.communicate(timeout=360)
    finally:
        if load.poll() is None:
            load.kill()
            load.wait()
    r = json.loads(out)
    print("%d clients x %d events%s:" % (CLIENTS, EVENTS, " (PULSE_TEST_SCALE=%g)" % SCALE if SCALE != 1 else ""),
          json.dumps(r["resume"]), "in %.1f s" % r["phase_s"])
    assert r["resume"] == dict(r["resume"], clients_complete=CLIENTS, gaps=0, duplicates=0, resets=0,
                               unpositioned=0, bad_positions=0), r
    assert r["resume"]["fresh_opens"] >= CLIENTS * FRESH_PCT // 100, r  # many dropped before any event
    assert r["resume"]["reconnects"] >= CLIENTS, r  # every client did drop and resume, most of them often
    wait_for(lambda: a.get("/api/health").status == 200, what="service still healthy")
