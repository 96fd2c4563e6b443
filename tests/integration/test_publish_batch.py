"""The batch form of POST /api/publish: {"events":[{topic,type,data}, ...]}
(1..1000), all or nothing in one transaction, 202 {"ids":[...]} in order;
each element checked as a single publish is."""
import json

from harness import http, publish

TOPICS = ("room:b1", "room:b2", "room:b3")


def _ev(topic, n, **over):
    ev = {"topic": topic, "type": "note", "data": {"n": n}}
    ev.update(over)
    return ev


def _events(a):
    return a.sql("SELECT id, topic, type, json_extract(data, '$.n') FROM events ORDER BY id")


def _poll(a, topic, since):
    r = a.get("/api/events?topic=%s&since=%d" % (topic, since))
    assert r.status == 200, r.body
    return r.json()["events"]


def test_batch_reaches_each_topics_subscribers_with_its_ids(env):
    a = env.instance()
    adm = a.auth("root", "admin")
    subs = {t: a.sse("/api/events/stream?topic=" + t) for t in TOPICS}
    head = publish(a, "room:other", 1)[0]
    r = a.post("/api/publish", {"events": [_ev(t, i) for i, t in enumerate(TOPICS)]}, headers=adm)
    assert r.status == 202, r.body
    ids = r.json()["ids"]
    assert len(ids) == 3 and head < ids[0] < ids[1] < ids[2], ids
    assert r.header("Pulse-Event-Id") == str(ids[-1])
    for i, t in enumerate(TOPICS):
        ev = subs[t].next_event()
        assert int(ev["id"]) == ids[i], (t, ev)
        assert ev["json"]["topic"] == t and ev["json"]["type"] == "note" and ev["json"]["data"] == {"n": i}
        # the polling fallback hands out the same event under the same id
        assert [(e["id"], e["data"]) for e in _poll(a, t, head)] == [(ids[i], {"n": i})]
    # a second batch on one topic arrives in order, after the first
    r = a.post("/api/publish", {"events": [_ev("room:b1", 10 + i) for i in range(3)]}, headers=adm)
    assert r.status == 202, r.body
    more = r.json()["ids"]
    got = subs["room:b1"].events(3)
    assert [int(e["id"]) for e in got] == more and more[0] > ids[-1]
    assert [e["json"]["data"]["n"] for e in got] == [10, 11, 12]
    # the single form answers as before
    r = a.post("/api/publish", _ev("room:b2", 99), headers=adm)
    assert r.status == 202 and set(r.json()) == {"id"} and r.json()["id"] == more[-1] + 1, r.body
    assert int(subs["room:b2"].next_event()["id"]) == r.json()["id"]
    for s in subs.values():
        s.close()


def test_batch_of_1000_is_taken_and_1001_is_not(env):
    a = env.instance()
    adm = a.auth("root", "admin")
    s = a.sse("/api/events/stream?topic=room:k")
    r = a.post("/api/publish", {"events": [_ev("room:k", i) for i in range(1000)]}, headers=adm, timeout=60)
    assert r.status == 202, r.body
    ids = r.json()["ids"]
    assert len(ids) == 1000 and ids == list(range(ids[0], ids[0] + 1000)), ids[:3]
    assert _events(a) == [(ids[i], "room:k", "note", i) for i in range(1000)]
    got = s.events(1000, timeout=30)
    assert [int(e["id"]) for e in got] == ids
    before = a.snapshot()
    r = a.post("/api/publish", {"events": [_ev("room:k", i) for i in range(1001)]}, headers=adm, timeout=60)
    assert r.status == 400 and r.json()["error"]["code"] == "invalid_events", r.body
    assert a.snapshot() == before
    assert s.no_event(0.5)
    s.close()


def test_one_bad_element_refuses_the_whole_batch(env):
    a = env.instance(env={"PULSE_MAX_EVENT_BYTES": "4096"})
    adm = a.auth("root", "admin")
    s = a.sse("/api/events/stream?topic=room:ok")
    head = publish(a, "room:ok", 1)[0]
    assert int(s.next_event()["id"]) == head
    bad = [
        (_ev("bad topic", 1), 400, "invalid_topic"),
        (_ev("room:ok", 1, data=[1]), 400, "invalid_data"),
        (_ev("room:ok", 1, data="x"), 400, "invalid_data"),
        ({"topic": "room:ok", "data": {}}, 400, "invalid_type"),
        (_ev("room:ok", 1, type=7), 400, "invalid_type"),
        ({"topic": "room:ok", "type": "note"}, 400, "invalid_data"),
        ("room:ok", 400, "invalid_event"),
        (json.dumps(_ev("room:ok", 1)), 400, "invalid_event"),  # an event's JSON as a string: no object
        (None, 400, "invalid_event"),
        ([_ev("room:ok", 1)], 400, "invalid_event"),
        (_ev("room:ok", 1, data={"s": "x" * 5000}), 413, "event_too_large"),
        # ownership facts are Pulse's own: a forged one would stand on every edge
        (_ev("pulse.owners", 1, type="topic.owner", data={"topic": "chat:s1", "ownerId": "mallory"}),
         403, "reserved_topic"),
        # the stream's own "cannot resume" event
        (_ev("room:ok", 1, type="reset"), 400, "reserved_type"),
    ]
    before = a.snapshot()
    for el, status, code in bad:
        body = {"events": [_ev("room:ok", 0), el, _ev("room:ok", 2)]}
        r = a.post("/api/publish", body, headers=adm)
        assert r.status == status and r.json()["error"]["code"] == code, (el, r.status, r.body)
        assert r.json()["error"]["message"].startswith("events[1]: "), r.body
    # an escaped NUL would end the name early in C: refused, not cut short
    for raw in (b'{"events":[{"topic":"room:ok","type":"note","data":{}},'
                b'{"topic":"room:ok\\u0000x","type":"note","data":{}}]}',
                b'{"events":[{"topic":"room:ok","type":"no\\u0000te","data":{}}]}'):
        r = http(a.port, "POST", "/api/publish", raw=raw, headers=adm)
        assert r.status == 400 and r.json()["error"]["code"] in ("invalid_topic", "invalid_type"), r.body
    # the body's shape: both forms, neither, no array, empty, too many
    for body in ({"events": [_ev("room:ok", 0)], "topic": "room:ok"},
                 {"events": [_ev("room:ok", 0)], "data": {}},
                 {"nothing": 1}, {}):
        r = a.post("/api/publish", body, headers=adm)
        assert r.status == 400 and r.json()["error"]["code"] == "invalid_body", (body, r.body)
    for events in ([], {"0": _ev("room:ok", 0)}, "x", None):
        r = a.post("/api/publish", {"events": events}, headers=adm)
        assert r.status == 400 and r.json()["error"]["code"] == "invalid_events", (events, r.body)
    # not an admin
    good = {"events": [_ev("room:ok", 0)]}
    assert a.post("/api/publish", good, headers=a.auth("lan", "viewer")).status == 403
    assert a.post("/api/publish", good, headers=a.auth("shop1", "owner")).status == 403
    assert a.post("/api/publish", good).status == 401
    # nothing stored, nothing emitted: not in the log, the poll, the stream
    assert a.snapshot() == before
    assert _poll(a, "room:ok", head) == []
    assert s.no_event(0.5)
    # the subscriber was listening all along: the good batch reaches it
    r = a.post("/api/publish", {"events": [_ev("room:ok", 0), _ev("room:ok", 2)]}, headers=adm)
    assert r.status == 202, r.body
    assert [int(e["id"]) for e in s.events(2)] == r.json()["ids"] == [head + 1, head + 2]
    s.close()


def test_publish_body_has_its_own_bound(env):
    a = env.instance(env={"PULSE_MAX_BODY": "4096", "PULSE_MAX_PUBLISH_BODY": "65536"})
    adm = a.auth("root", "admin")
    # over PULSE_MAX_BODY, within PULSE_MAX_PUBLISH_BODY: a publish takes it
    body = {"events": [_ev("room:big", i, data={"s": "x" * 1000}) for i in range(20)]}
    assert 4096 < len(json.dumps(body)) < 65536
    r = a.post("/api/publish", body, headers=adm)
    assert r.status == 202 and len(r.json()["ids"]) == 20, r.body
    # over it: 413, nothing stored
    before = a.snapshot()
    body = {"events": [_ev("room:big", i, data={"s": "x" * 1000}) for i in range(70)]}
    r = a.post("/api/publish", body, headers=adm)
    assert r.status == 413 and r.json()["error"]["code"] == "body_too_large", r.body
    assert "PULSE_MAX_PUBLISH_BODY" in r.json()["error"]["message"]
    # other routes keep PULSE_MAX_BODY, on the batching responder (a webhook)
    # and on pulse-api alike
    pad = "x" * 5000
    for path, h in (("/api/payos/webhook", {}), ("/api/crm/customers", a.auth("agent1", "agent"))):
        r = a.post(path, {"pad": pad}, headers=h)
        assert r.status == 413 and "PULSE_MAX_BODY" in r.json()["error"]["message"], (path, r.body)
    assert a.snapshot() == before


def test_batch_stores_each_event_as_a_single_publish_would(env):
    """A batch is appended by one statement, a single publish (or a batch
    holding a \\u0000 escape) one event at a time: the same bytes either
    way, and the size bound at the same byte."""
    a = env.instance(env={"PULSE_MAX_EVENT_BYTES": "1024"})
    adm = a.auth("root", "admin")
    data = {"z": [1, 2.5, None, True], "a": {"b": "Xin chào \u1ea1 \"q\" \\ /"}, "e": {}, "s": "\u00e9"}
    raw = '{"z" : [1, 2.5 ,null,true],\n "a":{"b":"Xin ch\\u00e0o \u1ea1 \\"q\\" \\\\ \\/"}, "e":{ }, "s":"\\u00e9"}'
    assert json.loads(raw) == data
    one = http(a.port, "POST", "/api/publish", headers=adm,
               raw=('{"topic":"room:same","type":"t","data":%s}' % raw).encode())
    many = http(a.port, "POST", "/api/publish", headers=adm,
                raw=('{"events":[{"topic":"room:same","type":"t","data":%s},'
                     '{"topic":"room:same","type":"t","data":%s}]}' % (raw, raw)).encode())
    assert one.status == 202 and many.status == 202, (one.body, many.body)
    rows = a.sql("SELECT data FROM events WHERE topic = 'room:same' ORDER BY id")
    assert len(rows) == 3 and rows[0] == rows[1] == rows[2], rows
    # PULSE_MAX_EVENT_BYTES counts the stored (minified) bytes, in both forms
    fits = {"s": "x" * (1024 - len('{"s":""}'))}
    over = {"s": "x" * (1025 - len('{"s":""}'))}
    for body, want in (({"topic": "room:size", "type": "t", "data": fits}, 202),
                       ({"events": [{"topic": "room:size", "type": "t", "data": fits}]}, 202),
                       ({"topic": "room:size", "type": "t", "data": over}, 413),
                       ({"events": [{"topic": "room:size", "type": "t", "data": over}]}, 413)):
        r = a.post("/api/publish", body, headers=adm)
        assert r.status == want, (body, r.status, r.body)
