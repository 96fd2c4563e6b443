"""An edge with PULSE_PRIMARY_URL takes any request (seed 002: a plain
round-robin balancer in front of every host): what it does not serve itself
goes on to the primary, and the client gets exactly the primary's answer.
A primary that is down: 503 with Retry-After, nothing applied anywhere."""
import hashlib
import hmac
import json
import os
import time

from harness import JWT_SECRET
from harness import SLOW_POLL_ENV as SLOW_POLL
from harness import http, payos_body, token, wait_for


def pair(env):
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=SLOW_POLL)
    b = env.instance(name="edge", redis=redis,
                     env=dict(SLOW_POLL, PULSE_ROLE="edge", PULSE_PRIMARY_URL="http://127.0.0.1:%d/" % a.port,
                              PULSE_FORWARD_TIMEOUT_S="5"))
    return a, b


def test_writes_sent_to_an_edge_are_applied_once_on_the_primary_and_answered_as_it_answered(env):
    a, b = pair(env)
    adm = b.auth("root", "admin")
    r = b.post("/api/publish", {"topic": "room:fw", "type": "note", "data": {"n": 1}}, headers=adm)
    assert r.status == 202, (r.status, r.body)
    eid = r.json()["id"]
    assert r.header("Pulse-Event-Id") == str(eid), r.headers
    got = a.get("/api/events?topic=room:fw&since=0", headers=a.auth("root", "admin")).json()
    assert [(e["id"], e["data"]) for e in got["events"]] == [(eid, {"n": 1})]
    # the edge stored nothing of its own: its copy comes from the primary's relay only
    wait_for(lambda: b.sql("SELECT id FROM events WHERE topic='room:fw'") == [(eid,)], timeout=15,
             what="the edge's mirror of the primary's event")

    # a top-up made and paid through the edge: the payer's wallet on the primary, credited once
    r = b.post("/api/topup/init", {"amount": 7000, "description": "nap tien"}, headers=b.auth("carol"))
    assert r.status == 201, (r.status, r.body)
    tx = r.json()
    for _ in range(2):  # PayOS retries a webhook: the second is answered as the primary answers it
        r = b.post("/api/payos/webhook", payos_body(tx["order_code"], 7000))
        assert r.status == 200 and r.json()["status"] == "PAID", (r.status, r.body)
    assert a.get("/api/wallet", headers=a.auth("carol")).json() == {"user_id": "carol", "balance": 7000}

    # refusals are the primary's own, byte for byte
    bad = payos_body(tx["order_code"], 7000, key="not-the-key")
    ra, rb = a.post("/api/payos/webhook", bad), b.post("/api/payos/webhook", bad)
    assert (rb.status, rb.body) == (ra.status, ra.body) and ra.status == 401, (ra.status, ra.body, rb.body)
    ra = a.post("/api/publish", {"topic": "room:fw"}, headers=a.auth("root", "admin"))
    rb = b.post("/api/publish", {"topic": "room:fw"}, headers=adm)
    assert (rb.status, rb.body) == (ra.status, ra.body) and ra.status == 400
    ra = a.get("/api/live/rooms/nope")
    rb = b.get("/api/live/rooms/nope")
    assert (rb.status, rb.body) == (ra.status, ra.body) and ra.status >= 400, (ra.status, ra.body, rb.status, rb.body)
    assert a.get("/api/wallet", headers=a.auth("carol")).json()["balance"] == 7000


def test_forwarded_client_headers_are_taken_only_when_an_edge_signed_them(env):
    a, b = pair(env)
    forged = {"Authorization": "Bearer " + token("root", "admin"), "Pulse-Forwarded-For": "10.9.8.7",
              "Pulse-Forwarded-Host": "example.com", "Pulse-Forwarded-Proto": "https",
              "Pulse-Forwarded-At": "1", "Pulse-Forwarded-Sig": "0" * 64}
    before = a.sql("SELECT count(*) FROM events")
    r = a.post("/api/publish", {"topic": "room:fw", "type": "note", "data": {}}, headers=forged)
    assert r.status == 403 and r.json()["error"]["code"] == "bad_forward", (r.status, r.body)
    assert a.sql("SELECT count(*) FROM events") == before
    # what the edge itself sends is signed and accepted
    r = b.post("/api/publish", {"topic": "room:fw", "type": "note", "data": {}}, headers=b.auth("root", "admin"))
    assert r.status == 202, r.body


def forwarded(method, uri, body, who="10.9.8.7", at=None, fid=None, auth=""):
    """The Pulse-Forwarded-* headers an edge of this deployment writes
    (README, "More than one host"), signed over body and the request's
    Authorization (auth)."""
    ns = lambda v: b"%d:%s," % (len(v), v)
    at = str(int(time.time()) if at is None else at)
    fid = fid or os.urandom(16).hex()
    key = hmac.new(JWT_SECRET.encode(), b"pulse forward key", hashlib.sha256).digest()
    msg = b"".join(ns(v.encode() if isinstance(v, str) else v)
                   for v in ("pulse-forward-3", method, uri, who, "example.com", "https", at, fid, auth, body))
    return {"Pulse-Forwarded-For": who, "Pulse-Forwarded-Host": "example.com", "Pulse-Forwarded-Proto": "https",
            "Pulse-Forwarded-At": at, "Pulse-Forwarded-Id": fid,
            "Pulse-Forwarded-Sig": hmac.new(key, msg, hashlib.sha256).hexdigest()}


def test_a_forwarded_write_sent_again_is_answered_as_the_first_time_and_applied_once(env):
    """libcurl sends a request again on a new connection when a kept one
    dies before any byte of the answer (a review showed publishes applied
    twice so): the primary answers a forward it applied already, by its
    Pulse-Forwarded-Id, with the first answer."""
    a, _ = pair(env)
    adm = {"Authorization": "Bearer " + token("root", "admin")}
    body = json.dumps({"topic": "room:again", "type": "note", "data": {"n": 1}}).encode()
    fw = forwarded("POST", "/api/publish", body, auth=adm["Authorization"])
    first = a.post("/api/publish", raw=body, headers=dict(adm, **fw))
    assert first.status == 202, (first.status, first.body)
    again = a.post("/api/publish", raw=body, headers=dict(adm, **fw))
    assert (again.status, again.body) == (first.status, first.body), (again.status, again.body)
    assert again.header("pulse-event-id") == first.header("pulse-event-id")
    assert a.sql("SELECT count(*) FROM events WHERE topic = 'room:again'") == [(1,)]
    # the copy must carry the first one's credentials: no answer to anyone else
    for who in ({}, {"Authorization": "Bearer " + token("eve")}):
        r = a.post("/api/publish", raw=body, headers=dict(who, **fw))
        assert r.status == 403 and r.json()["error"]["code"] == "bad_forward", (who, r.status, r.body)
    # another forward of the same body (its own id) is another write
    other = a.post("/api/publish", raw=body, headers=dict(adm, **forwarded("POST", "/api/publish", body, auth=adm["Authorization"])))
    assert other.status == 202 and other.json()["id"] != first.json()["id"], other.body
    # a refusal changes nothing, and nothing of it is kept
    bad = json.dumps({"topic": "room:again"}).encode()
    fw = forwarded("POST", "/api/publish", bad, auth=adm["Authorization"])
    assert a.post("/api/publish", raw=bad, headers=dict(adm, **fw)).status == 400
    assert a.sql("SELECT count(*) FROM events WHERE topic = 'room:again'") == [(2,)]
    # an id that is not 32 hex digits is no edge's
    r = a.post("/api/publish", raw=body, headers=dict(adm, **forwarded("POST", "/api/publish", body, auth=adm["Authorization"], fid="x" * 32)))
    assert r.status == 403 and r.json()["error"]["code"] == "bad_forward", (r.status, r.body)


def test_signed_client_headers_vouch_for_their_own_body_only(env):
    """Headers seen on the wire between an edge and its primary cannot be
    lent to another write within their minute."""
    a, _ = pair(env)
    adm = {"Authorization": "Bearer " + token("root", "admin")}
    mine = json.dumps({"topic": "room:fw", "type": "note", "data": {"n": 1}}).encode()
    other = json.dumps({"topic": "room:fw", "type": "note", "data": {"n": 2}}).encode()
    fw = forwarded("POST", "/api/publish", mine, auth=adm["Authorization"])
    before = a.sql("SELECT count(*) FROM events")[0][0]
    r = a.post("/api/publish", raw=other, headers=dict(adm, **fw))
    assert r.status == 403 and r.json()["error"]["code"] == "bad_forward", (r.status, r.body)
    assert a.sql("SELECT count(*) FROM events")[0][0] == before
    r = a.post("/api/publish", raw=mine, headers=dict(adm, **fw))
    assert r.status == 202, (r.status, r.body)
    assert a.sql("SELECT count(*) FROM events")[0][0] == before + 1
    # and a date outside the minute is refused with the right body too
    r = a.post("/api/publish", raw=mine, headers=dict(adm, **forwarded("POST", "/api/publish", mine, auth=adm["Authorization"],
                                                                      at=int(time.time()) - 600)))
    assert r.status == 403, (r.status, r.body)


def test_a_primary_that_is_down_gives_503_with_retry_after_and_nothing_is_applied(env):
    a, b = pair(env)
    before = a.sql("SELECT count(*) FROM events")
    a.stop()
    r = b.post("/api/publish", {"topic": "room:fw", "type": "note", "data": {}}, headers=b.auth("root", "admin"))
    assert r.status == 503 and r.json()["error"]["code"] == "primary_unavailable", (r.status, r.body)
    assert r.header("Retry-After") == "2", r.headers
    assert a.sql("SELECT count(*) FROM events") == before
    # the edge's own reads go on
    assert b.get("/api/health").status == 200


def test_many_writes_at_once_through_an_edge_each_get_their_own_answer(env):
    """pulse-batch sends the requests of one batch to the primary together
    (a pool of kept-alive connections): each client still gets the answer
    to its own request, good or bad, and each good one is applied once."""
    import threading
    a, b = pair(env)
    adm = b.auth("root", "admin")
    answers, lock = {}, threading.Lock()

    def client(k):
        for i in range(6):
            n = k * 100 + i
            body = {"topic": "room:many", "type": "note", "data": {"n": n}} if i != 3 else {"topic": "room:many"}
            r = b.post("/api/publish", body, headers=adm)
            with lock:
                answers[n] = (r.status, r.json())

    threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 16 * 6, len(answers)
    good = {n: body["id"] for n, (st, body) in answers.items() if n % 100 != 3}
    assert all(answers[n][0] == 202 for n in good), [answers[n] for n in good if answers[n][0] != 202][:3]
    assert all(answers[n][0] == 400 and answers[n][1]["error"]["code"] == "invalid_type"
               for n in answers if n % 100 == 3), [answers[n] for n in answers if n % 100 == 3][:3]
    assert len(set(good.values())) == len(good)
    rows = a.sql("SELECT id, json_extract(data, '$.n') FROM events WHERE topic = 'room:many'")
    assert sorted(rows) == sorted((i, n) for n, i in good.items()), (len(rows), len(good))


def test_an_edge_answers_what_the_primary_answers_to_any_request_shape(env):
    """Found by a review: HEAD, ids "." and "..", an empty Authorization and
    a GET with a body were each refused 403 bad_forward (the signature did
    not cover what was sent) or answered otherwise than the primary; the
    edge doubled Cache-Control (and nginx's nosniff); its 503 lost CORS."""
    redis = env.redis()
    cors = dict(SLOW_POLL, PULSE_CORS_ORIGINS="*")
    a = env.instance(name="primary", redis=redis, env=cors)
    b = env.instance(name="edge", redis=redis, env=dict(cors, PULSE_ROLE="edge", PULSE_FORWARD_TIMEOUT_S="5",
                                                        PULSE_PRIMARY_URL="http://127.0.0.1:%d/" % a.port))
    auth = {"Authorization": "Bearer " + token("carol")}
    for sid in ("..", "."):
        r = http(a.port, "POST", "/api/chat/sessions", {"id": sid}, headers=auth)
        assert r.status == 201, (r.status, r.body)
    cases = [("HEAD", "/api/chat/sessions", auth, None),
             ("GET", "/api/chat/sessions/..", auth, None),
             ("GET", "/api/chat/sessions/../messages", auth, None),
             ("GET", "/api/chat/sessions/./messages", auth, None),
             ("GET", "/api/live/rooms/nope", {"Authorization": ""}, None),
             ("GET", "/api/chat/sessions", auth, b"{}")]
    for method, path, hdrs, body in cases:
        ra, rb = http(a.port, method, path, raw=body, headers=hdrs), http(b.port, method, path, raw=body, headers=hdrs)
        assert (rb.status, rb.body) == (ra.status, ra.body), (method, path, ra.status, ra.body[:200], rb.status,
                                                              rb.body[:200])
    adm = {"Authorization": "Bearer " + token("root", "admin"), "Origin": "http://x.example"}
    pub = {"topic": "room:h", "type": "note", "data": {}}
    ra, rb = http(a.port, "POST", "/api/publish", pub, headers=adm), http(b.port, "POST", "/api/publish", pub, headers=adm)
    assert ra.status == rb.status == 202, (ra.status, ra.body, rb.status, rb.body)
    names = lambda r: sorted(k for k, _ in r.header_list if k not in ("date", "pulse-event-id"))
    assert names(rb) == names(ra), (ra.header_list, rb.header_list)
    # a write the primary cannot keep its answer for is not applied: 503, CORS kept
    before = a.sql("SELECT count(*) FROM events")
    a.sql("CREATE TRIGGER refuse_answers BEFORE INSERT ON forward_answers BEGIN SELECT RAISE(ABORT, 'no'); END")
    r = http(b.port, "POST", "/api/publish", pub, headers=adm)
    assert r.status == 503 and r.header("access-control-allow-origin"), (r.status, r.header_list, r.body)
    assert a.sql("SELECT count(*) FROM events") == before
    a.stop()
    r = http(b.port, "POST", "/api/publish", pub, headers=adm)
    assert r.status == 503 and r.header("retry-after") == "2", (r.status, r.header_list, r.body)
    assert r.header("access-control-allow-origin"), r.header_list
