"""Lossless resume: Last-Event-ID on the same or another stream responder."""
from harness import publish, q, token


def test_reconnect_with_last_event_id_gets_exactly_the_missed_events(env):
    a = env.instance()
    s = a.sse("/api/events/stream?topic=room:r1")
    first = publish(a, "room:r1", 3)
    got = s.events(3)
    assert [int(e["id"]) for e in got] == first
    s.close()
    missed = publish(a, "room:r1", 5, 3)
    publish(a, "room:other", 2)
    s2 = a.sse("/api/events/stream?topic=room:r1", headers={"Last-Event-ID": got[-1]["id"]})
    later = publish(a, "room:r1", 2, 8)
    got2 = s2.events(7)
    assert [int(e["id"]) for e in got2] == missed + later
    assert [e["json"]["data"]["n"] for e in got2] == list(range(3, 10))
    assert s2.no_event(0.5)


def test_resume_by_query_parameter_multi_topic(env):
    a = env.instance()
    ids = publish(a, "room:a", 2) + publish(a, "room:b", 2) + publish(a, "room:c", 1)
    s = a.sse("/api/events/stream?topic=room:a&topic=room:b&last_event_id=%d" % ids[0])
    got = s.events(3)
    assert [int(e["id"]) for e in got] == ids[1:4]
    assert s.no_event(0.5)


def test_resume_lands_on_second_stream_responder(env):
    a = env.instance(name="a")
    b = env.instance(name="b", db=a.db)
    s = a.sse("/api/events/stream?topic=room:x")
    ids = publish(a, "room:x", 2)
    assert [int(e["id"]) for e in s.events(2)] == ids
    s.close()
    missed = publish(a, "room:x", 4, 2)
    s2 = b.sse("/api/events/stream?topic=room:x", headers={"Last-Event-ID": str(ids[-1])})
    live = publish(a, "room:x", 1, 6) + publish(b, "room:x", 1, 7)
    got = s2.events(6)
    assert [int(e["id"]) for e in got] == missed + live
    assert s2.no_event(0.5)


def test_reset_when_history_expired_and_when_id_unknown(env):
    a = env.instance(env={"PULSE_RETENTION": "5"})
    ids = publish(a, "room:h", 140)
    # pruning runs in batches as events are appended: the oldest are gone
    assert a.sql("SELECT min(id) FROM events")[0][0] > ids[0]
    s = a.sse("/api/events/stream?topic=room:h", headers={"Last-Event-ID": str(ids[0])})
    ev = s.next_event()
    assert ev["event"] == "reset" and ev["json"] == {"reason": "history_expired", "last_event_id": ids[0]}
    more = publish(a, "room:h", 1, 200)
    nx = s.next_event()
    assert int(nx["id"]) == more[0], (nx, more, ids[-6:], a.sql("SELECT min(id), max(id) FROM events"))
    s2 = a.sse("/api/events/stream?topic=room:h", headers={"Last-Event-ID": str(ids[-1] + 1000)})
    ev = s2.next_event()
    assert ev["event"] == "reset" and ev["json"]["reason"] == "unknown_id"
    p = a.get("/api/events?topic=room:h&since=%d" % ids[0]).json()
    assert p["reset"] is True
    p = a.get("/api/events?topic=room:h&since=%d" % (ids[-1] + 1000)).json()
    assert p["reset"] is True


def test_polling_returns_the_same_envelopes(env):
    a = env.instance()
    s = a.sse("/api/events/stream?topic=room:p")
    ids = publish(a, "room:p", 4)
    streamed = [e["json"] for e in s.events(4)]
    p = a.get("/api/events?topic=room:p&since=0").json()
    assert p["events"] == streamed and p["reset"] is False and p["last_id"] == ids[-1]
    p2 = a.get("/api/events?topic=room:p&since=%d&limit=2" % ids[0]).json()
    assert [e["id"] for e in p2["events"]] == ids[1:3] and p2["last_id"] == ids[2]
    p3 = a.get("/api/events?topic=room:p&since=%d" % p2["last_id"]).json()
    assert [e["id"] for e in p3["events"]] == ids[3:]


def test_stream_access_rules(env):
    a = env.instance()
    assert a.sse("/api/events/stream?topic=crm").status == 401
    assert a.sse("/api/events/stream?topic=crm", headers=a.auth("v", "viewer")).status == 403
    assert a.sse("/api/events/stream?topic=crm", headers=a.auth("ag", "agent")).status == 200
    assert a.sse("/api/events/stream?topic=secret", headers=a.auth("ag", "agent")).status == 403
    assert a.sse("/api/events/stream?topic=secret&access_token=" + token("r", "admin")).status == 200
    too_many = "&".join("topic=room:%d" % i for i in range(17))
    assert a.sse("/api/events/stream?" + too_many).status == 400
    assert a.sse("/api/events/stream?topic=" + q("room:a b")).status == 400
    assert a.sse("/api/events/stream").status == 400
    assert a.sse("/api/live/rooms/r1/stream").status == 200


def test_connection_caps_give_503_and_spare_existing_streams(env):
    a = env.instance(env={"PULSE_MAX_CONNECTIONS": "3", "PULSE_MAX_PER_TOPIC": "2"})
    s1 = a.sse("/api/events/stream?topic=room:c")
    s2 = a.sse("/api/events/stream?topic=room:c")
    r = a.sse("/api/events/stream?topic=room:c")
    assert r.status == 503 and r.headers.get("retry-after")
    s3 = a.sse("/api/events/stream?topic=room:d")
    r = a.sse("/api/events/stream?topic=room:e")
    assert r.status == 503
    ids = publish(a, "room:c", 1)
    assert int(s1.next_event()["id"]) == ids[0] and int(s2.next_event()["id"]) == ids[0]
    s3.close()


def test_heartbeat_comment(env):
    a = env.instance(env={"PULSE_HEARTBEAT_S": "1"})
    s = a.sse("/api/events/stream?topic=room:hb")
    s.no_event(2.5)
    assert "ping" in s.comments


def test_concurrent_writers_stream_gets_every_event_once_in_id_order(env):
    """Many request responders commit at once; SQLite serialises them and the
    stream delivers the log in id order: nothing skipped, nothing twice."""
    import threading
    a = env.instance(workers=4)
    s = a.sse("/api/events/stream?topic=room:c&topic=room:d")
    ids, lock = [], threading.Lock()

    def writer(k):
        got = publish(a, "room:c" if k % 2 else "room:d", 25, k * 100)
        with lock:
            ids.extend(got)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 200
    got = [int(e["id"]) for e in s.events(200, timeout=30)]
    assert got == sorted(ids)
    assert s.no_event(0.5)
