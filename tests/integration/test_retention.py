"""Retention per topic (security review, finding b).

PULSE_RETENTION used to count the whole log, so a flood on one topic (a room
whose viewers joined a thousand times a second) pushed every other topic's
history out: a paid top-up's `topup.status` event was gone, and its owner,
reconnecting with Last-Event-ID, got `reset` history_expired. Now retention
counts each topic's events, so no topic can push another's history out, and
what was pruned is known per topic: a client resuming from N gets every
retained event of its topics after N, or a reset exactly when an event of
ITS topics after N is gone, on a stream, by polling, on an edge, and when
the stream responder itself falls behind."""
import threading

from harness import (SLOW_POLL_ENV, at_once, edge_has, edge_pair, edge_with, payos_body, publish, q, stopped,
                     topup, wait_for)


def flood(inst, topic, n, threads=4):
    """n events on topic, published by a few clients at once; their ids in order."""
    ids, lock = [], threading.Lock()

    def run(k):
        got = publish(inst, topic, k)
        with lock:
            ids.extend(got)

    at_once(run, [(n // threads + (i < n % threads),) for i in range(threads)])
    assert len(ids) == n
    return sorted(ids)


def stream_ids(inst, path, last_id, n):
    """The first n events of a stream resumed from last_id: (event, id) pairs."""
    s = inst.sse(path, headers={"Last-Event-ID": str(last_id)})
    assert s.status == 200
    got = [(e["event"], int(e["id"])) for e in s.events(n)]
    assert s.no_event(0.3)
    s.close()
    return got


def test_a_flood_on_one_topic_never_evicts_a_paid_topups_event(env):
    a = env.instance(env={"PULSE_RETENTION": "50"})
    tx = topup(a, "alice", 50000)
    auth = "tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"])
    topic = "topup:" + tx["tx_ref"]
    # where the owner's page stands before the payment
    seen = a.get("/api/events?topic=%s&token=%s&since=0" % (q(topic), tx["stream_token"])).json()["last_id"]
    r = a.post("/api/payos/webhook", payos_body(tx["order_code"], 50000))
    assert r.status == 200 and r.json()["status"] == "PAID", r.body
    paid = a.sql("SELECT id FROM events WHERE topic = ?", (topic,))[0][0]
    # someone floods a room: far more than PULSE_RETENTION events
    busy = flood(a, "room:flood", 600)
    kept = a.sql("SELECT id FROM events WHERE topic = 'room:flood' ORDER BY id")
    assert len(kept) < 200 and kept[-1][0] == busy[-1]  # the room was pruned to about its 50 (every 64 ids)
    # the owner reconnects: the payment's event is still there, once, no reset
    got = stream_ids(a, "/api/topup/stream?" + auth, seen, 1)
    assert got == [("topup.status", paid)]
    p = a.get("/api/events?topic=%s&token=%s&since=%d" % (q(topic), tx["stream_token"], seen)).json()
    assert [e["id"] for e in p["events"]] == [paid] and p["reset"] is False
    assert p["events"][0]["data"]["status"] == "PAID"
    # the flooded room's own old positions did expire: said, never skipped
    s = a.sse("/api/events/stream?topic=room:flood", headers={"Last-Event-ID": str(busy[0])})
    ev = s.next_event()
    assert ev["event"] == "reset" and ev["json"] == {"reason": "history_expired", "last_event_id": busy[0]}
    assert a.get("/api/events?topic=room:flood&since=%d" % busy[0]).json()["reset"] is True
    # a resume from the room's retained part gets exactly what is kept
    first = kept[0][0]
    got = stream_ids(a, "/api/events/stream?topic=room:flood", first, len(kept) - 1)
    assert got == [("note", i) for (i,) in kept[1:]]
    p = a.get("/api/events?topic=room:flood&since=%d&limit=1000" % first).json()
    assert [e["id"] for e in p["events"]] == [i for (i,) in kept[1:]] and p["reset"] is False


def test_history_expired_is_per_topic_on_stream_and_poll(env):
    a = env.instance(env={"PULSE_RETENTION": "5"})
    quiet = publish(a, "room:quiet", 3)
    mixed = publish(a, "room:mixed", 8)
    busy = flood(a, "room:busy", 300)
    later = publish(a, "room:quiet", 1, 3)
    # room:quiet kept all of its 4: from the very start, everything, no reset
    assert stream_ids(a, "/api/events/stream?topic=room:quiet", 0, 4) == [("note", i) for i in quiet + later]
    p = a.get("/api/events?topic=room:quiet&since=0").json()
    assert [e["id"] for e in p["events"]] == quiet + later and p["reset"] is False
    # room:mixed lost its first 3 of 8: from before them a reset, from after them all 5
    assert a.sql("SELECT count(*) FROM events WHERE topic = 'room:mixed'")[0][0] == 5
    assert stream_ids(a, "/api/events/stream?topic=room:mixed", mixed[1], 1)[0][0] == "reset"
    assert a.get("/api/events?topic=room:mixed&since=%d" % mixed[1]).json()["reset"] is True
    assert stream_ids(a, "/api/events/stream?topic=room:mixed", mixed[2], 5) == [("note", i) for i in mixed[3:]]
    assert a.get("/api/events?topic=room:mixed&since=%d" % mixed[2]).json()["reset"] is False
    # several topics: one of them lost events after N, so the stream resets
    both = "/api/events/stream?topic=room:quiet&topic=room:busy"
    assert stream_ids(a, both, quiet[-1], 1)[0][0] == "reset"
    p = a.get("/api/events?topic=room:quiet&topic=room:busy&since=%d" % quiet[-1]).json()
    assert p["reset"] is True
    assert a.get("/api/events?topic=room:busy&since=%d" % busy[0]).json()["reset"] is True


def test_a_stream_responder_that_fell_behind_resets_only_the_streams_of_pruned_topics(env):
    a = env.instance(env=dict(SLOW_POLL_ENV, PULSE_RETENTION="5"))
    sq = a.sse("/api/events/stream?topic=room:quiet")
    sb = a.sse("/api/events/stream?topic=room:busy")
    both = a.sse("/api/events/stream?topic=room:busy&topic=room:quiet")
    q1 = publish(a, "room:quiet", 1)
    b1 = publish(a, "room:busy", 1)
    assert int(sq.next_event()["id"]) == q1[0] and int(sb.next_event()["id"]) == b1[0]
    assert [int(e["id"]) for e in both.events(2)] == q1 + b1
    with stopped(a.stream_pid()):
        # while the stream responder is stopped, room:busy is pruned far past
        # what it delivered; room:quiet loses nothing
        busy = flood(a, "room:busy", 300)
        q2 = publish(a, "room:quiet", 1, 1)
        wait_for(lambda: a.sql("SELECT count(*) FROM events WHERE topic = 'room:busy'")[0][0] < 100,
                 what="room:busy pruned")
    ev = sq.next_event()
    assert (ev["event"], int(ev["id"])) == ("note", q2[0]), ev
    # it had delivered up to b1; it goes on from the log's head (the
    # client refetches its state)
    ev = sb.next_event()
    assert ev["event"] == "reset" and ev["json"] == {"reason": "history_expired", "last_event_id": b1[0]}, ev
    assert int(ev["id"]) == q2[0]
    # a stream of both topics gets one reset, and what follows it
    ev = both.next_event()
    assert (ev["event"], int(ev["id"]), ev["json"]["last_event_id"]) == ("reset", q2[0], b1[0]), ev
    b2 = publish(a, "room:busy", 1)
    assert int(sb.next_event()["id"]) == b2[0]
    q3 = publish(a, "room:quiet", 1, 2)
    assert int(sq.next_event()["id"]) == q3[0]
    assert [int(e["id"]) for e in both.events(2)] == b2 + q3
    assert sq.no_event(0.3) and sb.no_event(0.3) and both.no_event(0.3)


def test_an_edge_prunes_its_own_copy_per_topic(env):
    a, b = edge_pair(env, "100000", "5")
    q1 = publish(a, "room:quiet", 1)
    busy = flood(a, "room:busy", 300)
    edge_has(b, "room:busy", busy[-1])
    wait_for(lambda: b.sql("SELECT count(*) FROM events WHERE topic = 'room:busy'")[0][0] < 100, timeout=15,
             what="the edge to prune room:busy")
    assert a.sql("SELECT count(*) FROM events WHERE topic = 'room:busy'")[0][0] == 300  # the primary kept all
    p = b.get("/api/events?topic=room:quiet&since=0").json()
    assert [e["id"] for e in p["events"]] == q1 and p["reset"] is False
    assert stream_ids(b, "/api/events/stream?topic=room:quiet", 0, 1) == [("note", q1[0])]
    assert b.get("/api/events?topic=room:busy&since=%d" % busy[0]).json()["reset"] is True
    assert stream_ids(b, "/api/events/stream?topic=room:busy", busy[0], 1)[0][0] == "reset"


def test_a_topic_pruned_on_the_primary_before_it_was_relayed_is_a_gap_of_that_topic_alone(env):
    a, b, q1 = edge_with(env, "5", "5", "room:quiet")
    # the primary's relay (in its stream responder) stops while room:busy
    # is flooded, and pruned on the primary before it was relayed
    with stopped(a.stream_pid()):
        busy = flood(a, "room:busy", 300)
        q2 = publish(a, "room:quiet", 1, 1)
        assert a.sql("SELECT count(*) FROM events WHERE topic = 'room:busy'")[0][0] < 100
    edge_has(b, "room:quiet", q2[0])
    edge_has(b, "room:busy", busy[-1])
    # on the edge, room:quiet lost nothing; room:busy's gap is room:busy's alone
    p = b.get("/api/events?topic=room:quiet&since=%d" % q1[0]).json()
    assert [e["id"] for e in p["events"]] == q2 and p["reset"] is False
    assert stream_ids(b, "/api/events/stream?topic=room:quiet", q1[0], 1) == [("note", q2[0])]
    assert b.get("/api/events?topic=room:busy&since=%d" % busy[0]).json()["reset"] is True
    assert stream_ids(b, "/api/events/stream?topic=room:busy", busy[0], 1)[0][0] == "reset"
    kept = [i for (i,) in b.sql("SELECT id FROM events WHERE topic = 'room:busy' ORDER BY id")]
    assert b.get("/api/events?topic=room:busy&since=%d" % kept[0]).json()["reset"] is False
