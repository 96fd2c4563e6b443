"""An edge learns of a topic's pruned events however the relay interleaved them.

Retention is per topic, so the primary may prune events of one topic before
its relay (in the stream responder) copied them to Redis. The relay used to
say so (field `f`, the topic's floor) only when the floor was above the id
relayed just before: an event of ANY other topic relayed in between hid the
loss, and the edge then answered a resume from before the pruned events with
the later ones and `reset: false` (found in review, confirmed behind nginx).
Now every entry of a topic with a floor carries it, and the edge records a
gap of that topic when the floor is above what its copy accounts for; events
the edge got before the primary pruned them are no gap."""
from harness import edge_has, edge_pair, edge_with, publish, stopped, wait_for


def floor(inst, topic):
    """The topic's floor in inst's database: the highest of its ids pruned (0: none)."""
    rows = inst.sql("SELECT pruned_upto FROM topic_retention WHERE topic = ?", (topic,))
    return rows[0][0] if rows else 0


def poll(inst, topic, since):
    p = inst.get("/api/events?topic=%s&since=%d&limit=1000" % (topic, since))
    assert p.status == 200, p.body
    j = p.json()
    return [e["id"] for e in j["events"]], j["reset"]


def first_streamed(inst, topic, last_id):
    s = inst.sse("/api/events/stream?topic=" + topic, headers={"Last-Event-ID": str(last_id)})
    assert s.status == 200
    ev = s.next_event()
    s.close()
    return ev


def test_events_pruned_before_relaying_are_a_gap_even_after_another_topics_event(env):
    a, b, q1 = edge_with(env, "5", "100000", "room:quiet")
    # the primary's relay stops; room:busy is flooded and pruned before any
    # of it is relayed, then one event of another topic, then room:busy
    # again, and enough others for the primary to prune room:busy once more
    with stopped(a.stream_pid()):
        busy = publish(a, "room:busy", 300)
        other = publish(a, "room:other", 1)
        later = publish(a, "room:busy", 5, 300)
        filler = publish(a, "room:filler", 140)
        wait_for(lambda: floor(a, "room:busy") == busy[-1],
                 what="the primary to prune all 300 of room:busy's first events")
    assert [i for (i,) in a.sql("SELECT id FROM events WHERE topic = 'room:busy' ORDER BY id")] == later
    assert other[0] == busy[-1] + 1 and later[0] == other[0] + 1  # room:other's event sits right in between
    # on the primary, a resume from the first busy event is told
    got = poll(a, "room:busy", busy[0])
    assert got == (later, True), got
    edge_has(b, "room:filler", filler[-1])
    # so is it on the edge: the events up to busy[-1] are gone there too
    got = poll(b, "room:busy", busy[0])
    assert got == (later, True), got
    ev = first_streamed(b, "room:busy", busy[0])
    assert ev["event"] == "reset" and ev["json"] == {"reason": "history_expired", "last_event_id": busy[0]}, ev
    # from the last pruned one on, nothing is missing
    got = poll(b, "room:busy", busy[-1])
    assert got == (later, False), got
    ev = first_streamed(b, "room:busy", busy[-1])
    assert (ev["event"], int(ev["id"])) == ("note", later[0]), ev
    # the other topics lost nothing
    got = poll(b, "room:other", q1[0])
    assert got == (other, False), got
    got = poll(b, "room:quiet", 0)
    assert got == (q1, False), got


def test_events_the_edge_copied_before_the_primary_pruned_them_are_no_gap(env):
    # every later entry of room:busy carries its floor on the primary; the
    # edge got those events before they were pruned, and keeps them
    a, b = edge_pair(env, "5", "100000")
    first = publish(a, "room:busy", 10)
    # up to the id before the primary's next prune (every 64th id), all
    # copied before it runs
    first += publish(a, "room:busy", (63 - first[-1] % 64) % 64, 10)
    assert (first[-1] + 1) % 64 == 0
    edge_has(b, "room:busy", first[-1])
    rest = publish(a, "room:busy", 1, len(first))
    wait_for(lambda: floor(a, "room:busy") > first[0], what="the primary to prune room:busy")
    rest += publish(a, "room:busy", 5, len(first) + 1)
    edge_has(b, "room:busy", rest[-1])
    assert poll(a, "room:busy", first[0])[1] is True
    got = poll(b, "room:busy", first[0])
    assert got == (first[1:] + rest, False), got
    ev = first_streamed(b, "room:busy", first[0])
    assert (ev["event"], int(ev["id"])) == ("note", first[1]), ev
