"""AI chat (seed 004, API.md "AI chat"): the answer is generated once, on
the server (pulse-batch's generator, here from the built-in demo model), and
accumulated there: history plus the deltas after its position is the answer,
at any moment; one answer streams per session; cancel; ownership; limits; a
generator that dies leaves its answer interrupted, never streaming."""
import os
import signal
import sqlite3
import time

from harness import token, wait_for

FAST = {"PULSE_LLM_DEMO_MS": "5"}
SLOW = {"PULSE_LLM_DEMO_MS": "40"}
ENDS = ("chat.done", "chat.error", "chat.cancelled")


def bearer(sub, role="viewer"):
    return {"Authorization": "Bearer " + token(sub, role)}


def session(a, sub="lan"):
    r = a.post("/api/chat/sessions", {}, headers=bearer(sub))
    assert r.status == 201, r.body
    return r.json()["id"]


def post(a, sid, text="Xin chào", sub="lan"):
    return a.post("/api/chat/sessions/%s/messages" % sid, {"message": text}, headers=bearer(sub))


def history(a, sid, sub="lan", query=""):
    r = a.get("/api/chat/sessions/%s/messages%s" % (sid, query), headers=bearer(sub))
    assert r.status == 200, r.body
    return r


def stream(a, sid, sub="lan", last=None):
    h = {"Last-Event-ID": str(last)} if last is not None else {}
    s = a.sse("/api/events/stream?topic=chat:%s&access_token=%s" % (sid, token(sub)), headers=h)
    assert s.status == 200
    return s


def until_end(s, timeout=30):
    """Events up to and including the one that ends the answer."""
    evs, deadline = [], time.time() + timeout
    while True:
        e = s.next_event(max(0.01, deadline - time.time()))
        evs.append(e)
        if e.get("event") in ENDS:
            return evs


def deltas(evs, mid):
    return "".join(e["json"]["data"]["delta"] for e in evs
                   if e.get("event") == "chat.delta" and e["json"]["data"]["messageId"] == mid)


def test_an_answer_is_generated_on_the_server_and_streams_to_the_owner(env):
    a = env.instance(env=FAST)
    sid = session(a)
    s = stream(a, sid)
    r = post(a, sid)
    assert r.status == 202, r.body
    um, am = r.json()["userMessage"], r.json()["assistantMessage"]
    assert (um["role"], um["content"], um["status"], um["sessionId"]) == ("user", "Xin chào", "complete", sid)
    assert (am["role"], am["content"], am["status"], am["completedAt"]) == ("assistant", "", "streaming", None)
    evs = until_end(s)
    assert [e["event"] for e in evs[:2]] == ["chat.message", "chat.message"]
    assert [e["json"]["data"]["id"] for e in evs[:2]] == [um["id"], am["id"]]
    assert evs[0]["json"]["data"]["audit"] == {"userId": "lan", "length": 8}
    done = evs[-1]["json"]["data"]
    assert evs[-1]["event"] == "chat.done" and done["messageId"] == am["id"]
    assert done["finishReason"] == "stop" and done["usage"]["completion_tokens"] > 10
    assert done["audit"]["userId"] == "lan" and done["audit"]["durationMs"] >= 0
    text = deltas(evs, am["id"])
    assert text == done["content"] and text.startswith("Hello! I am Pulse's demo model")
    seqs = [e["json"]["data"]["seq"] for e in evs if e.get("event") == "chat.delta"]
    assert seqs == list(range(1, len(seqs) + 1))
    msgs = history(a, sid).json()["messages"]
    assert [(m["id"], m["role"], m["status"]) for m in msgs] == [(um["id"], "user", "complete"),
                                                                   (am["id"], "assistant", "complete")]
    assert msgs[1]["content"] == text and msgs[1]["completedAt"]
    # the session list: the caller's sessions, newest first
    other = session(a)
    listed = a.get("/api/chat/sessions", headers=bearer("lan")).json()["sessions"]
    assert [x["id"] for x in listed] == [other, sid]
    assert a.get("/api/chat/sessions", headers=bearer("binh")).json()["sessions"] == []


def test_history_mid_answer_plus_the_deltas_after_it_is_the_answer(env):
    """What a reload does: read history (with its Pulse-Event-Id), then
    resume the stream from that id. At any moment, no gap, no repeat."""
    a = env.instance(env=SLOW)
    sid = session(a)
    am = post(a, sid).json()["assistantMessage"]["id"]
    snaps = []
    for _ in range(12):
        r = history(a, sid)
        snaps.append((int(r.header("Pulse-Event-Id")), r.json()["messages"][-1]))
        time.sleep(0.1)
    s = stream(a, sid, last=0)
    final = until_end(s)[-1]["json"]["data"]["content"]
    partial = [m for _, m in snaps if m["status"] == "streaming" and m["content"]]
    assert len(partial) >= 3, "the answer should have been read mid-stream several times"
    for pos, m in snaps:
        after = until_end(stream(a, sid, last=pos)) if m["status"] == "streaming" else []
        assert m["content"] + deltas(after, am) == final, (pos, m["content"][:40])


def test_one_answer_at_a_time_and_cancel_keeps_the_text_so_far(env):
    a = env.instance(env=SLOW)
    sid = session(a)
    s = stream(a, sid)
    am = post(a, sid).json()["assistantMessage"]["id"]
    r = post(a, sid, "and another")
    assert r.status == 409 and r.json()["error"]["code"] == "answer_streaming"
    evs = [s.next_event() for _ in range(6)]            # two messages and a few deltas
    assert all(e["event"] in ("chat.message", "chat.delta") for e in evs)
    r = a.post("/api/chat/sessions/%s/messages/%s/cancel" % (sid, am), {}, headers=bearer("lan"))
    assert r.status == 200, r.body
    assert r.json()["status"] == "cancelled" and r.json()["completedAt"]
    evs += until_end(s)
    end = evs[-1]
    assert end["event"] == "chat.cancelled" and end["json"]["data"]["code"] == "cancelled"
    assert end["json"]["data"]["audit"]["by"] == "lan"
    kept = end["json"]["data"]["content"]
    assert kept and kept == deltas(evs, am) == r.json()["content"]
    assert s.no_event(1.5)                                # the generator stopped: no delta after the cancel
    assert history(a, sid).json()["messages"][-1]["content"] == kept
    r = a.post("/api/chat/sessions/%s/messages/%s/cancel" % (sid, am), {}, headers=bearer("lan"))
    assert r.status == 409 and r.json()["error"]["code"] == "already_finished"
    assert post(a, sid, "next question").status == 202   # the session is free again


def test_only_the_owner_and_admins_and_bad_input_changes_nothing(env):
    a = env.instance(env=FAST)
    sid = session(a)
    base = "/api/chat/sessions/%s/messages" % sid
    assert a.post(base, {"message": "hi"}, headers=bearer("binh")).status == 403
    assert a.get(base, headers=bearer("binh")).status == 403
    assert a.post(base, {"message": "hi"}).status == 401
    assert a.post("/api/chat/sessions/nosuch/messages", {"message": "hi"}, headers=bearer("lan")).status == 404
    for body in ({"message": ""}, {"message": "x" * 4001}, {"message": 5}, {}, ["hi"]):
        r = a.post(base, body, headers=bearer("lan"))
        assert r.status == 400, (body, r.status, r.body)
    assert history(a, sid).json()["messages"] == []
    assert a.post(base, {"message": "ữ" * 4000}, headers=bearer("lan")).status == 202
    s = stream(a, sid, last=0)
    until_end(s)
    assert a.get(base, headers=bearer("root", "admin")).status == 200
    assert a.get(base + "?limit=0", headers=bearer("lan")).status == 400
    assert a.get(base + "?before=bad%20id", headers=bearer("lan")).status == 400
    # who asks comes first: a stranger's bad query is refused as a stranger
    assert a.get(base + "?limit=0", headers=bearer("binh")).status == 403
    assert a.get(base + "?before=bad%20id").status == 401
    r = a.post(base + "/m_nosuch/cancel", {}, headers=bearer("lan"))
    assert r.status == 404


def test_history_pages_oldest_first(env):
    a = env.instance(env=FAST)
    sid = session(a)
    ids = []
    for i in range(3):
        r = post(a, sid, "q%d" % i)
        assert r.status == 202, r.body
        ids += [r.json()["userMessage"]["id"], r.json()["assistantMessage"]["id"]]
        wait_for(lambda: history(a, sid).json()["messages"][-1]["status"] == "complete", timeout=20)
    msgs = history(a, sid).json()["messages"]
    assert [m["id"] for m in msgs] == ids
    page = history(a, sid, query="?limit=2&before=" + ids[4]).json()["messages"]
    assert [m["id"] for m in page] == ids[2:4]
    assert history(a, sid, query="?before=" + ids[0]).json()["messages"] == []


def test_messages_are_rate_limited_per_user(env):
    a = env.instance(env=dict(FAST, PULSE_CHAT_MESSAGE_RATE="2"))
    sid = session(a)
    for _ in range(2):
        assert post(a, sid).status == 202
        wait_for(lambda: history(a, sid).json()["messages"][-1]["status"] == "complete", timeout=20)
    r = post(a, sid)
    assert r.status == 429 and r.header("Retry-After") and r.json()["error"]["code"] == "rate_limited"


def test_retry_after_says_when_the_next_message_is_taken(env):
    """The limit counts a minute: a client that waits what Retry-After says
    is taken, not refused again (it said 1 s, and a minute of 429s followed)."""
    a = env.instance(env=dict(FAST, PULSE_CHAT_MESSAGE_RATE="2"))
    sid = session(a)
    first = time.time()
    for _ in range(2):
        assert post(a, sid).status == 202
        wait_for(lambda: history(a, sid).json()["messages"][-1]["status"] == "complete", timeout=20)
    r = post(a, sid)
    assert r.status == 429
    wait = int(r.header("Retry-After"))
    assert 60 - (time.time() - first) - 1 <= wait <= 60, wait
    time.sleep(1.2)
    r = post(a, sid)
    assert r.status == 429 and wait - 3 <= int(r.header("Retry-After")) < wait + 1, (wait, r.header("Retry-After"))
    # the client waits what it was told: the messages' times moved back by
    # as much (the minute passing, without a minute of this suite)
    con = sqlite3.connect(a.db, timeout=10)
    with con:
        con.execute("UPDATE chat_messages SET created_ms = created_ms - ? WHERE role = 'user'",
                    (int(r.header("Retry-After")) * 1000 + 200,))
    con.close()
    assert post(a, sid).status == 202


def test_a_generator_that_dies_leaves_its_answer_interrupted(env):
    a = env.instance(env={"PULSE_LLM_DEMO_MS": "200"})
    sid = session(a)
    s = stream(a, sid)
    am = post(a, sid).json()["assistantMessage"]["id"]
    evs = [s.next_event() for _ in range(4)]              # it is generating
    assert evs[-1]["event"] == "chat.delta"
    pids = a.pids(b"pulse-batch")
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    evs += until_end(s, timeout=30)
    end = evs[-1]["json"]["data"]
    assert evs[-1]["event"] == "chat.error" and end["code"] == "interrupted" and end["messageId"] == am
    assert end["content"] == deltas(evs, am)
    m = history(a, sid).json()["messages"][-1]
    assert m["status"] == "error" and m["content"] == end["content"]


def test_post_on_one_instance_stream_and_cancel_on_the_other(env):
    """Two instances on one database, sharing Redis: whichever generator
    takes the answer, a reader of the other instance sees it whole, a
    reload there continues it exactly, and a cancel there stops it."""
    from harness import SLOW_POLL_ENV
    redis = env.redis()
    a = env.instance(name="a", redis=redis, env=dict(SLOW_POLL_ENV, **SLOW))
    b = env.instance(name="b", db=a.db, redis=redis,
                     env=dict(SLOW_POLL_ENV, PULSE_BELL_DIR=a.data + "/b-bells", **SLOW))
    sid = session(a)
    sb = stream(b, sid)
    time.sleep(0.3)
    am = post(a, sid).json()["assistantMessage"]["id"]
    evs = [sb.next_event(5) for _ in range(8)]
    r = history(b, sid)                                   # a reload, on the other instance
    pos, partial = int(r.header("Pulse-Event-Id")), r.json()["messages"][-1]
    evs += until_end(sb)
    final = evs[-1]["json"]["data"]["content"]
    assert evs[-1]["event"] == "chat.done" and deltas(evs, am) == final
    assert partial["status"] == "streaming" and partial["content"]
    assert partial["content"] + deltas(until_end(stream(b, sid, last=pos)), am) == final
    # a second answer, cancelled on b: no text after the cancel, on either instance
    am2 = post(a, sid, "again").json()["assistantMessage"]["id"]
    sa = stream(a, sid, last=int(history(a, sid).header("Pulse-Event-Id")))
    [sa.next_event(5) for _ in range(5)]
    r = b.post("/api/chat/sessions/%s/messages/%s/cancel" % (sid, am2), {}, headers=bearer("lan"))
    assert r.status == 200 and r.json()["status"] == "cancelled", r.body
    evs = until_end(sa)
    assert evs[-1]["event"] == "chat.cancelled"
    assert sa.no_event(1.5)
    assert history(a, sid).json()["messages"][-1]["content"] == r.json()["content"]


def test_an_edge_checks_chat_and_topup_owners_from_the_log(env):
    """An edge holds only its copy of the log; the owners travel in it
    (topic.owner events), so the edge lets the owner (or the top-up's
    stream token) in and refuses everyone else, as the primary does."""
    from harness import SLOW_POLL_ENV
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=dict(SLOW_POLL_ENV, **FAST))
    b = env.instance(name="edge", redis=redis, env=dict(SLOW_POLL_ENV, PULSE_ROLE="edge"))
    sid = session(a)
    am = post(a, sid).json()["assistantMessage"]["id"]
    tx = a.post("/api/topup/init", {"amount": 50000}, headers=bearer("lan")).json()
    path = "/api/events/stream?topic=chat:%s&access_token=%s"

    def edge_has_it():
        s = b.sse(path % (sid, token("lan")), headers={"Last-Event-ID": "0"})
        s.close()
        return s.status == 200
    wait_for(edge_has_it, timeout=15, what="the edge learning the session's owner")
    evs = until_end(stream(b, sid, last=0))
    assert evs[-1]["event"] == "chat.done" and deltas(evs, am) == evs[-1]["json"]["data"]["content"]
    assert b.sse(path % (sid, token("binh"))).status == 403
    assert b.sse("/api/events/stream?topic=chat:" + sid).status == 401
    t = "/api/events/stream?topic=topup:" + tx["tx_ref"]
    assert b.sse(t + "&token=" + tx["stream_token"]).status == 200
    assert b.sse(t + "&access_token=" + token("lan")).status == 200
    assert b.sse(t + "&token=wrong").status == 401
    assert b.sse(t + "&access_token=" + token("binh")).status == 403
    assert b.get("/api/events?topic=chat:%s&since=0" % sid, headers=bearer("lan")).status == 200
    assert b.get("/api/events?topic=chat:%s&since=0" % sid, headers=bearer("binh")).status == 403
