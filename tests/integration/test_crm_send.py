"""Agents' answers reach the customer (seed 003, issue 16): POST
.../messages stores the answer as `sending`, pulse-batch sends it through
the conversation's platform, here our scripted stand-ins of the Graph API,
Zalo OA and TikTok (tests/platform_standin.py, which check the token, path
and JSON shape as the real services do), and each status change is a
message_status event: sent with the platform's id, retried after 5xx, a
stall or a dropped connection, failed at once on a 4xx or a platform error,
then delivered and read from the platforms' signed receipts, never back."""
import contextlib
import importlib.util
import os
import signal
import sqlite3
import time

from harness import http, token, wait_for
from platform_standin import Platforms, answer_id

_spec = importlib.util.spec_from_file_location("crm_cases", os.path.join(os.path.dirname(__file__), "test_crm.py"))
crm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crm)

TOKENS = {"facebook": "fb-page-token", "zalo": "zalo-oa-token", "tiktok": "tiktok-token",
          "payos_client": "cid", "payos_key": "akey", "payos_checksum": "unused"}


def setup(env, **extra):
    """The stand-ins (stopped with the instance), an instance sending to
    them, a conversation on each platform and the agents' stream."""
    p = Platforms(TOKENS).start()
    env.started.append(p)
    a = env.instance(env=settings(p, **extra))
    convs = conversations(a)
    return p, a, convs, crm.crm_stream(a)


def settings(p, **extra):
    e = dict(crm.SECRETS, FB_GRAPH_URL=p.url + "/fb/v19.0", FB_PAGE_TOKEN=TOKENS["facebook"],
             ZALO_OA_API_URL=p.url + "/zalo", ZALO_OA_ACCESS_TOKEN=TOKENS["zalo"],
             TIKTOK_API_URL=p.url + "/tiktok/open_api/v1.3", TIKTOK_ACCESS_TOKEN=TOKENS["tiktok"],
             PULSE_SEND_TIMEOUT_S="1", PULSE_SEND_RETRY_MS="100", PULSE_SEND_ATTEMPTS="3")
    e.update(extra)
    return e


def conversations(a):
    """A customer writing on each platform (through its signed webhook):
    {platform: conversation id}."""
    assert crm.fb_post(a, crm.fb_body([crm.fb_item("111", "m_in_1", "Xin chào")])).status == 200
    assert crm.zalo_post(a, crm.zalo_text("z-user-1", "z_in_1", "Chào OA")).status == 200
    assert crm.tiktok_post(a, crm.tiktok_msg("tt-open-1", "t_in_1", "hi shop", business="shop-1")).status == 200
    out = {}
    for c in crm.call(a, "GET", "/api/crm/conversations").json()["conversations"]:
        out[c["platform"]] = c["id"]
    return out


def reply(a, conv, text):
    r = crm.call(a, "POST", "/api/crm/conversations/%s/messages" % conv, {"content": text})
    assert r.status == 201, r.body
    m = r.json()
    assert m["status"] == "sending" and m["sender"] == "agent" and m["error"] is None
    return m["id"]


def statuses(s, want, timeout=15):
    """message_status events until every id in want reached its status
    ({id: final status}): {id: [status, ...]} and the last data of each."""
    seen, last = {}, {}
    deadline = time.time() + timeout
    while any(not seen.get(i) or seen[i][-1] != st for i, st in want.items()):
        e = s.next_event(max(0.05, deadline - time.time()))
        if e.get("event") != "message_status":
            continue
        d = e["json"]["data"]
        seen.setdefault(d["id"], []).append(d["status"])
        last[d["id"]] = d
    return seen, last


def stored(a, conv, mid):
    return [m for m in crm.call(a, "GET", "/api/crm/conversations/%s/messages" % conv).json()["messages"]
            if m["id"] == mid][0]


def test_answers_go_out_through_each_platform_as_it_documents(env):
    p, a, convs, s = setup(env)
    ids = {k: reply(a, convs[k], "Dạ shop chào bạn (%s)" % k) for k in ("facebook", "zalo", "tiktok")}
    seen, last = statuses(s, {i: "sent" for i in ids.values()})
    for k, i in ids.items():
        assert seen[i] == ["sending", "sent"], (k, seen[i])
        assert last[i]["conversationId"] == convs[k] and "error" not in last[i]
        m = stored(a, convs[k], i)
        assert m["status"] == "sent" and m["platformMessageId"] == last[i]["platformMessageId"]
    fb, zl, tt = p.of("facebook"), p.of("zalo"), p.of("tiktok")
    assert len(fb) == len(zl) == len(tt) == 1 and all(r["accepted"] for r in fb + zl + tt)
    assert fb[0]["query"] == {"access_token": TOKENS["facebook"]}
    assert fb[0]["body"] == {"recipient": {"id": "111"}, "messaging_type": "RESPONSE",
                             "message": {"text": "Dạ shop chào bạn (facebook)"}}
    assert last[ids["facebook"]]["platformMessageId"].startswith("m_fb_")
    assert zl[0]["headers"]["access_token"] == TOKENS["zalo"]
    assert zl[0]["body"] == {"recipient": {"user_id": "z-user-1"}, "message": {"text": "Dạ shop chào bạn (zalo)"}}
    assert tt[0]["headers"]["access-token"] == TOKENS["tiktok"]
    assert tt[0]["body"]["business_id"] == "shop-1" and tt[0]["body"]["recipient"] == "tt-open-1"
    assert tt[0]["body"]["text"] == {"body": "Dạ shop chào bạn (tiktok)"}
    assert a.sql("SELECT count(*) FROM crm_outbox") == [(0,)]


def test_failures_that_may_pass_are_retried_and_others_are_not(env):
    p, a, convs, s = setup(env)
    # 5xx twice, then the platform takes it: sent once
    p.plan("facebook", [{"status": 500, "json": {"error": {"message": "An unknown error occurred", "code": 1}}},
                        {"status": 503}])
    five = reply(a, convs["facebook"], "after two 5xx")
    seen, last = statuses(s, {five: "sent"})
    assert seen[five] == ["sending", "sent"]
    assert len(p.of("facebook")) == 3 and [r["accepted"] for r in p.of("facebook")] == [False, False, True]
    # a stall: tried again once the timeout (1 s) passed
    t0 = time.monotonic()
    p.plan("facebook", ["stall", "drop"])
    stall = reply(a, convs["facebook"], "after a stall and a drop")
    seen, last = statuses(s, {stall: "sent"})
    fb = p.of("facebook")
    assert len(fb) == 6 and fb[-1]["accepted"] and fb[-1]["body"]["message"]["text"] == "after a stall and a drop"
    assert fb[4]["t"] - fb[3]["t"] >= 0.9 and time.monotonic() - t0 < 10
    # a 4xx: failed at once with the platform's message, not tried again
    p.plan("facebook", [{"status": 400, "json": {"error": {"message": "(#551) This person isn't available right now.",
                                                           "type": "OAuthException", "code": 551}}}])
    four = reply(a, convs["facebook"], "to someone gone")
    seen, last = statuses(s, {four: "failed"})
    assert seen[four] == ["sending", "failed"]
    assert "(#551) This person isn't available right now." in last[four]["error"]
    assert "platformMessageId" not in last[four]
    # Zalo says no in a 200: failed, with its words
    p.plan("zalo", [{"status": 200, "json": {"error": -230, "message": "User has not interacted with the OA"}}])
    zfail = reply(a, convs["zalo"], "too late")
    seen, last = statuses(s, {zfail: "failed"})
    assert last[zfail]["error"] == "zalo answered HTTP 200: Zalo error -230: User has not interacted with the OA"
    # 5xx every time: failed after PULSE_SEND_ATTEMPTS (3)
    p.plan("tiktok", [{"status": 502}] * 3)
    spent = reply(a, convs["tiktok"], "never through")
    seen, last = statuses(s, {spent: "failed"})
    assert "after 3 attempts" in last[spent]["error"] and "HTTP 502" in last[spent]["error"]
    time.sleep(1.0)  # nothing more is sent for the ended ones
    assert len(p.of("facebook")) == 7 and len(p.of("zalo")) == 1 and len(p.of("tiktok")) == 3
    assert stored(a, convs["facebook"], four)["status"] == "failed"
    assert a.sql("SELECT count(*) FROM crm_outbox") == [(0,)]


def test_a_platform_without_its_token_fails_the_answer_clearly(env):
    p, a, convs, s = setup(env, FB_PAGE_TOKEN="")
    m = reply(a, convs["facebook"], "no token")
    seen, last = statuses(s, {m: "failed"})
    assert last[m]["error"] == "FB_PAGE_TOKEN is not configured: answers cannot be sent to facebook"
    assert p.of("facebook") == []


def fb_receipt(sender, kind, watermark, mids=None):
    item = {"sender": {"id": sender}, "recipient": {"id": "page-1"}, "timestamp": watermark}
    if kind == "delivery":
        item["delivery"] = {"watermark": watermark}
        if mids is not None:
            item["delivery"]["mids"] = mids
    else:
        item["read"] = {"watermark": watermark}
    return item


def zalo_receipt(event, msg_ids):
    return {"app_id": "360846524940903967", "event_name": event, "timestamp": "1795000000123",
            "sender": {"id": "oa-1"}, "recipient": {"id": "z-user-1"}, "message": {"msg_ids": msg_ids}}


def test_receipts_move_the_status_forward_only(env):
    p, a, convs, s = setup(env)
    first = reply(a, convs["facebook"], "one")
    seen, last = statuses(s, {first: "sent"})
    mid = last[first]["platformMessageId"]
    now = int(time.time() * 1000)
    # delivered by its mid (the watermark before it was sent changes nothing more)
    assert crm.fb_post(a, crm.fb_body([fb_receipt("111", "delivery", now - 60000, [mid])])).status == 200
    seen, _ = statuses(s, {first: "delivered"})
    second = reply(a, convs["facebook"], "two")
    statuses(s, {second: "sent"})
    # read up to a watermark: every answer sent before it
    now = int(time.time() * 1000) + 1000
    assert crm.fb_post(a, crm.fb_body([fb_receipt("111", "read", now)])).status == 200
    seen, _ = statuses(s, {first: "read", second: "read"})
    assert seen == {first: ["read"], second: ["read"]}
    # a late delivery, and the same read again: nothing moves back, no event
    assert crm.fb_post(a, crm.fb_body([fb_receipt("111", "delivery", now, [mid])])).status == 200
    assert crm.fb_post(a, crm.fb_body([fb_receipt("111", "read", now)])).status == 200
    assert s.no_event(0.5)
    assert stored(a, convs["facebook"], first)["status"] == "read"
    # an unsigned receipt is refused and changes nothing (the answer sent
    # after the read's watermark, which is a second ahead of the clock here:
    # one sent before it was read, as far as the platform said)
    while time.time() * 1000 <= now + 10:
        time.sleep(0.05)
    third = reply(a, convs["facebook"], "three")
    statuses(s, {third: "sent"})
    bad = crm.fb_post(a, crm.fb_body([fb_receipt("111", "read", now + 60000)]), sig="sha256=00")
    assert bad.status == 401 and stored(a, convs["facebook"], third)["status"] == "sent"
    # a receipt holding \u0000 is skipped alone: read, its mid would stop short
    # at the answer's own id; the batch's other messages are still stored
    tid = stored(a, convs["facebook"], third)["platformMessageId"]
    r = crm.fb_post(a, crm.fb_body([fb_receipt("111", "delivery", 1, [tid + "\u0000x"]),
                                    crm.fb_item("111", "m_after_nul", "still here")]))
    assert r.status == 200, (r.status, r.body)
    assert stored(a, convs["facebook"], third)["status"] == "sent"
    assert [e["json"]["data"]["content"] for e in s.events(1)] == ["still here"]
    assert s.no_event(0.5)
    # Zalo: received, then seen, by msg_ids; told twice, once
    z = reply(a, convs["zalo"], "zalo one")
    _, last = statuses(s, {z: "sent"})
    zid = last[z]["platformMessageId"]
    assert crm.zalo_post(a, zalo_receipt("user_received_message", [zid])).json() == {"received": True}
    statuses(s, {z: "delivered"})
    assert crm.zalo_post(a, zalo_receipt("user_seen_message", [zid, "unknown"])).status == 200
    statuses(s, {z: "read"})
    assert crm.zalo_post(a, zalo_receipt("user_received_message", [zid])).status == 200
    assert s.no_event(0.5)
    assert stored(a, convs["zalo"], z)["status"] == "read"
    assert crm.zalo_post(a, dict(zalo_receipt("user_seen_message", []), message={"msg_ids": "x"})).status == 400


def test_a_receipt_that_comes_before_the_send_result_moves_the_answer_once_it_is_sent(env):
    """A customer online gets the answer at once: the platform posts its
    receipt before its answer to the send reaches Pulse."""
    p, a, convs, s = setup(env)
    told = {}

    def zalo_first(rec):
        told["zalo"] = crm.zalo_post(a, zalo_receipt("user_received_message", [answer_id(rec)])).status

    def fb_delivery_first(rec):
        told["delivery"] = crm.fb_post(a, crm.fb_body([fb_receipt("111", "delivery", 1, [answer_id(rec)])])).status

    def fb_read_first(rec):  # a read names no ids: everything sent before its watermark
        told["read"] = crm.fb_post(a, crm.fb_body([fb_receipt("111", "read", int(time.time() * 1000) + 1000)])).status

    p.plan("zalo", [zalo_first])
    z = reply(a, convs["zalo"], "zalo, seen at once")
    seen, _ = statuses(s, {z: "delivered"})
    assert seen[z] == ["sending", "sent", "delivered"], seen
    p.plan("facebook", [fb_delivery_first])
    f = reply(a, convs["facebook"], "facebook, delivered at once")
    seen, _ = statuses(s, {f: "delivered"})
    assert seen[f] == ["sending", "sent", "delivered"], seen
    p.plan("facebook", [fb_read_first])
    g = reply(a, convs["facebook"], "facebook, read at once")
    seen, _ = statuses(s, {g: "read"})
    assert seen[g] == ["sending", "sent", "read"], seen
    assert told == {"zalo": 200, "delivery": 200, "read": 200}, told
    assert [stored(a, convs[k], i)["status"] for k, i in (("zalo", z), ("facebook", f), ("facebook", g))] == \
        ["delivered", "read", "read"]
    # what was kept for them is used up; a receipt for an id no answer will
    # ever hold (the page answered with another tool) is kept a while only
    assert a.sql("SELECT count(*) FROM crm_receipts_early")[0][0] == 0
    assert crm.zalo_post(a, zalo_receipt("user_received_message", ["not-ours"])).status == 200
    assert a.sql("SELECT platform_message_id, status FROM crm_receipts_early") == [("not-ours", "delivered")]
    with contextlib.closing(sqlite3.connect(a.db, timeout=10)) as con, con:  # ten minutes later
        con.execute("UPDATE crm_receipts_early SET at_ms = at_ms - 601000")
    assert crm.zalo_post(a, zalo_receipt("user_seen_message", ["not-ours-either"])).status == 200
    assert a.sql("SELECT platform_message_id, status FROM crm_receipts_early") == [("not-ours-either", "read")]


def test_an_answer_posted_while_pulse_batch_is_down_goes_when_it_is_back(env):
    p, a, convs, s = setup(env)
    pids = a.pids(b"pulse-batch")
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        m = reply(a, convs["facebook"], "while you were out")   # pulse-api takes it
        time.sleep(1.0)
        assert p.of("facebook") == [] and stored(a, convs["facebook"], m)["status"] == "sending"
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)  # ends a stopped process too: nothing to continue
            except ProcessLookupError:
                pass  # a worker gone with its supervisor, reaped already

    def back():
        if not a.pids(b"pulse-batch"):  # the web server starts another on its next request
            http(a.port, "POST", "/api/webhooks/facebook", raw=b"{}", timeout=5)
        return a.sql("SELECT status FROM crm_messages WHERE id = ?", (m,)) == [("sent",)]
    wait_for(back, timeout=20, interval=0.2, what="the answer sent by a new pulse-batch")
    seen, last = statuses(s, {m: "sent"})
    assert len([r for r in p.of("facebook") if r["accepted"]]) == 1


def test_two_instances_on_one_database_send_each_answer_once(env):
    """Two hosts' pulse-batch processes share the outbox: whichever took
    the answer, exactly one of them sends it. The send timeout is the
    default's: with the others' 1 s, a platform answering later than that
    on a loaded machine gets the answer again (at-least-once, README), which
    is not the lease race this test is about."""
    p, a, convs, s = setup(env, PULSE_SEND_TIMEOUT_S="10")
    b = env.instance(name="b", db=a.db, env=settings(p, PULSE_BELL_DIR=a.data + "/b-bells", PULSE_SEND_TIMEOUT_S="10"))
    assert a.pids(b"pulse-batch") and b.pids(b"pulse-batch")
    ids = [reply(x, convs["facebook"], "answer %d" % i) for i, x in enumerate([a, b] * 10)]
    wait_for(lambda: a.sql("SELECT count(*) FROM crm_messages WHERE status = 'sent'") == [(20,)], timeout=20,
             what="20 answers sent")
    texts = [r["body"]["message"]["text"] for r in p.of("facebook")]
    assert sorted(texts) == sorted("answer %d" % i for i in range(20)), texts
    distinct = a.sql("SELECT count(DISTINCT platform_message_id) FROM crm_messages WHERE id IN (%s)" %
                   ",".join("?" * len(ids)), ids)
    assert distinct == [(20,)]
