"""A database file put back from a backup never hands out an id again
(store/db_ids.h): the events written after the copy was taken are gone,
and a client that saw them resumes with a reset, not past the new events
that would otherwise have taken their ids. The same on an edge, whose copy
of the log drops what the primary's file lost."""
import os

from harness import backup_db, edge_has, edge_pair, publish, put_back_db, wait_for


def poll(inst, topic, since):
    r = inst.get("/api/events?topic=%s&since=%d&limit=1000" % (topic, since), headers=inst.auth("root", "admin"))
    assert r.status == 200, (r.status, r.body)
    return r.json()


def numbers(answer):
    return [e["data"]["n"] for e in answer["events"]]


def copied_then_lost(env, topic, n, lost_n=None, primary_env=None):
    """A primary (primary_env added to its environment) and an edge sharing
    a redis-server; n events on topic, a copy of the primary's database,
    then lost_n (default n) more (n=100..) that the copy lacks and the edge
    holds: (redis, primary, edge, kept ids, the copy's path, lost ids)."""
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=primary_env)
    b = env.instance(name="edge", redis=redis, env={"PULSE_ROLE": "edge"})
    kept = publish(a, topic, n)
    copy = os.path.join(env.tmp, "copy.db")
    backup_db(a, copy)
    lost = publish(a, topic, n if lost_n is None else lost_n, start=100)
    edge_has(b, topic, lost[-1])
    return redis, a, b, kept, copy, lost


def reset_then(s, new, lost_last):
    """The stream that had seen the lost events: a reset for its position,
    then exactly the new events after the reset's id (where the client's
    refetched state stands)."""
    ev = s.next_event(15)
    assert ev["event"] == "reset" and ev["json"]["last_event_id"] == lost_last, ev
    after = [i for i in new if i > int(ev["id"])]
    assert [int(e["id"]) for e in s.events(len(after), 15)] == after


def test_ids_handed_out_before_a_file_put_back_are_never_handed_out_again(env):
    a = env.instance()
    kept = publish(a, "room:pb", 5)
    backup = os.path.join(env.tmp, "backup.db")
    backup_db(a, backup)
    lost = publish(a, "room:pb", 5, start=100)
    s = a.sse("/api/events/stream?topic=room:pb", headers={"Last-Event-ID": str(lost[-1])})
    assert s.status == 200
    put_back_db(a, backup)
    new = publish(a, "room:pb", 3, start=200)
    assert new[0] > lost[-1] + 1, (lost, new)  # past every id handed out, and the row saying so
    reset_then(s, new, lost[-1])
    s.close()
    # a poll from a position the file put back lacks, or from before it: a
    # reset, and never a lost event
    for since in (lost[-1], lost[0], kept[-1], 0):
        got = poll(a, "room:pb", since)
        assert got["reset"] is True, (since, got)
        assert not set(numbers(got)) & set(range(100, 105)), (since, got)
        assert numbers(got)[-3:] == [200, 201, 202], (since, got)
    # from where a reset put its client (the void row's id or later): no reset, the new events
    void = new[0] - 1
    got = poll(a, "room:pb", void)
    assert got["reset"] is False and numbers(got) == [200, 201, 202], got
    assert a.sql("SELECT topic, type, json_extract(data, '$.after') FROM events WHERE id = ?", (void,)) == \
        [("", "void", kept[-1])]
    # a stream resuming from a lost id: a reset first
    s = a.sse("/api/events/stream?topic=room:pb", headers={"Last-Event-ID": str(lost[1])})
    ev = s.next_event(15)
    assert ev["event"] == "reset", ev
    s.close()
    with open(a.db + "-ids") as f:
        assert int(f.read()) == new[-1]


def test_a_file_put_back_while_pulse_was_stopped_is_found_at_start(env):
    a = env.instance()
    publish(a, "room:pb", 3)
    backup = os.path.join(env.tmp, "backup.db")
    backup_db(a, backup)
    lost = publish(a, "room:pb", 4, start=100)
    a.stop()
    put_back_db(a, backup)
    a.start()
    new = publish(a, "room:pb", 2, start=200)
    assert new[0] == lost[-1] + 2, (lost, new)
    got = poll(a, "room:pb", lost[-1])
    assert got["reset"] is True and numbers(got) == [200, 201], got
    assert "ids up to %d were handed out" % lost[-1] in a.log_text()


def test_an_edge_drops_what_its_primarys_file_lost_and_resets_its_streams(env):
    _, a, b, kept, backup, lost = copied_then_lost(env, "room:pe", 5)
    s = b.sse("/api/events/stream?topic=room:pe", headers={"Last-Event-ID": str(lost[-1])})
    assert s.status == 200
    put_back_db(a, backup)
    new = publish(a, "room:pe", 3, start=200)
    edge_has(b, "room:pe", new[-1])
    reset_then(s, new, lost[-1])
    s.close()
    # the edge answers as the primary does: the lost events are gone there too
    for since in (0, kept[-1], lost[-1]):
        got, want = poll(b, "room:pe", since), poll(a, "room:pe", since)
        assert got["reset"] is True and numbers(got) == numbers(want), (since, got, want)
        assert numbers(want)[-3:] == [200, 201, 202] and not set(numbers(want)) & set(range(100, 105)), want
    assert b.sql("SELECT count(*) FROM events WHERE id > ? AND id < ?", (kept[-1], new[0] - 1)) == [(0,)]
    wait_for(lambda: "the primary's database was put back" in b.log_text(), what="the edge's log line")


def test_an_edge_promoted_on_an_older_copy_never_hands_out_the_old_primarys_ids(env):
    """README, "When the primary dies": an edge is promoted on a copy of the
    old primary's database, which may be older than what the primary
    relayed. Redis's copy of the log says which ids the old primary handed
    out (entries it signed): the new primary starts after them, and an
    edge that had the lost events drops them."""
    redis, a, b, kept, copy, lost = copied_then_lost(env, "room:pp", 4)
    a.stop()
    c = env.instance(name="promoted", redis=redis, db=copy)
    wait_for(lambda: "signed by this deployment's primary" in c.log_text(), what="the new primary's relay")
    new = publish(c, "room:pp", 2, start=200)
    assert new[0] == lost[-1] + 2, (lost, new)
    got = poll(c, "room:pp", lost[-1])
    assert got["reset"] is True and numbers(got) == [200, 201], got
    edge_has(b, "room:pp", new[-1])
    got = poll(b, "room:pp", 0)
    assert numbers(got) == [0, 1, 2, 3, 200, 201] and got["reset"] is True, got
    assert [e["id"] for e in got["events"]][:4] == kept, got


def test_an_edge_that_drops_lost_events_keeps_its_topics_history_as_the_primary_does(env):
    """The events an edge drops leave its per-topic counts too (retention
    PULSE_RETENTION a topic): it prunes no more than the primary."""
    a, b = edge_pair(env, "10", "10")
    publish(a, "room:r", 8)
    backup = os.path.join(env.tmp, "backup.db")
    backup_db(a, backup)
    lost = publish(a, "room:r", 5, start=100)
    edge_has(b, "room:r", lost[-1])
    put_back_db(a, backup)
    new = publish(a, "room:r", 6, start=200)
    edge_has(b, "room:r", new[-1])
    last = publish(a, "room:other", 1)[0]  # one more batch: one more prune on each side
    edge_has(b, "room:other", last)
    # the primary prunes in batches (it may hold a few more for a while);
    # the edge holds the topic's newest 10 of them, not fewer
    got, want = poll(b, "room:r", 0), poll(a, "room:r", 0)
    assert numbers(got) == numbers(want)[-10:] and len(numbers(got)) == 10, (got, want)
    assert b.sql("SELECT kept FROM topic_retention WHERE topic = 'room:r'") == \
        b.sql("SELECT count(*) FROM events WHERE topic = 'room:r' AND id <= (SELECT v FROM meta WHERE k = 'counted_upto')")


def publish_many(inst, topic, n):
    r = inst.post("/api/publish", {"events": [{"topic": topic, "type": "note", "data": {"n": i}} for i in range(n)]},
                  headers=inst.auth("root", "admin"))
    assert r.status == 202, r.body
    return r.json()["ids"]


def test_an_edge_away_while_the_void_row_left_redis_still_drops_the_lost_events(env):
    """The void row itself may be gone from Redis when an edge comes back
    (trimmed to PULSE_REDIS_HISTORY, or Redis restarted): every entry
    after it names it ("v", and the relay names it again after it
    reconnects), so the edge drops the lost events all the same."""
    _, a, b, kept, backup, lost = copied_then_lost(env, "room:fb", 3, 5, {"PULSE_REDIS_HISTORY": "10"})
    b.stop()
    put_back_db(a, backup)
    for _ in range(3):
        publish_many(a, "room:filler", 200)
    new = publish(a, "room:fb", 2, start=200)
    void = a.sql("SELECT id FROM events WHERE topic = '' AND type = 'void'")[0][0]
    wait_for(lambda: int(a.sql("SELECT max(id) FROM events")[0][0]) > void + 500, what="the filler")
    b.start()
    edge_has(b, "room:fb", new[-1])
    got, want = poll(b, "room:fb", kept[-1]), poll(a, "room:fb", kept[-1])
    assert numbers(got) == numbers(want) == [200, 201], (got, want)
    assert got["reset"] is True


def test_an_edge_away_during_two_put_backs_serves_none_of_what_either_lost(env):
    """Each entry names the newest void row and the lowest end of a file
    put back: an edge that missed both rows drops what either file lost.
    (What it never got, having been away while it left Redis, it does not
    serve either: its clients resuming there get a reset.)"""
    _, a, b, _, first, _ = copied_then_lost(env, "room:tw", 3, 5, {"PULSE_REDIS_HISTORY": "10"})
    b.stop()
    put_back_db(a, first)
    publish(a, "room:tw", 2, start=150)
    second = os.path.join(env.tmp, "second.db")
    backup_db(a, second)
    publish(a, "room:tw", 3, start=170)
    put_back_db(a, second)
    for _ in range(3):
        publish_many(a, "room:filler", 200)
    new = publish(a, "room:tw", 2, start=200)
    b.start()
    edge_has(b, "room:tw", new[-1])
    got, want = poll(b, "room:tw", 0), poll(a, "room:tw", 0)
    assert numbers(want) == [0, 1, 2, 150, 151, 200, 201], want
    assert got["reset"] is True and numbers(got) == [0, 1, 2, 200, 201], got
