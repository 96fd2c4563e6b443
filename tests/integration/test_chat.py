"""Chat sessions (seed 004): an AI chat streams its answer as events on
chat:{session}; the user who claimed the session, and admins, may read it."""
import json

from harness import http, token


def bearer(sub, role="viewer"):
    return {"Authorization": "Bearer " + token(sub, role)}


def claim(a, sub, body=None):
    return http(a.port, "POST", "/api/chat/sessions", body if body is not None else {}, headers=bearer(sub))


def publish(a, topic, chunk, done=False):
    r = a.post("/api/publish", {"topic": topic, "type": "chunk", "data": {"content": chunk, "is_complete": done}},
               headers=bearer("ai-service", "admin"))
    assert r.status == 202, r.body
    return r.json()["id"]


def test_only_the_sessions_owner_streams_its_answer(env):
    a = env.instance()
    r = claim(a, "lan")
    assert r.status == 201, r.body
    sess = r.json()
    assert sess["ownerId"] == "lan" and sess["topic"] == "chat:" + sess["id"] and len(sess["id"]) >= 32
    topic = sess["topic"]
    s = a.sse("/api/events/stream?topic=%s&access_token=%s" % (topic, token("lan")))
    assert s.status == 200
    ids = [publish(a, topic, w) for w in ("Xin", " chào", "!")] + [publish(a, topic, "", done=True)]
    evs = s.events(4)
    assert [int(e["id"]) for e in evs] == ids
    assert "".join(e["json"]["data"]["content"] for e in evs) == "Xin chào!"
    # a reload resumes where it left off: no gap, no duplicate
    s2 = a.sse("/api/events/stream?topic=" + topic, headers={"Last-Event-ID": str(ids[1]),
                                                             "Authorization": "Bearer " + token("lan")})
    assert [int(e["id"]) for e in s2.events(2)] == ids[2:]
    poll = a.get("/api/events?topic=%s&since=0" % topic, headers=bearer("lan"))
    assert poll.status == 200 and [e["id"] for e in poll.json()["events"]] == ids
    # anyone else: refused, whichever way they ask
    assert a.sse("/api/events/stream?topic=%s&access_token=%s" % (topic, token("binh"))).status == 403
    assert a.sse("/api/events/stream?topic=" + topic).status == 401
    assert a.get("/api/events?topic=%s&since=0" % topic, headers=bearer("binh")).status == 403
    assert a.get("/api/events?topic=%s&since=0" % topic, headers=bearer("binh", "agent")).status == 403
    assert a.get("/api/events?topic=%s&since=0" % topic, headers=bearer("root", "admin")).status == 200
    # a session nobody claimed is nobody's
    assert a.get("/api/events?topic=chat:nobody&since=0", headers=bearer("lan")).status == 403


def test_claiming_a_client_chosen_session_id(env):
    a = env.instance()
    r = claim(a, "lan", {"id": "sess-123"})
    assert r.status == 201 and r.json()["id"] == "sess-123" and r.json()["topic"] == "chat:sess-123", r.body
    assert r.json()["ownerId"] == "lan"
    again = claim(a, "lan", {"id": "sess-123"})
    assert again.status == 200 and again.json() == r.json()
    # someone else naming it: 409, and it stays lan's
    taken = claim(a, "binh", {"id": "sess-123"})
    assert taken.status == 409 and taken.json()["error"]["code"] == "session_taken"
    assert http(a.port, "GET", "/api/chat/sessions/sess-123", headers=bearer("lan")).json() == r.json()
    assert http(a.port, "GET", "/api/chat/sessions/sess-123", headers=bearer("binh")).status == 403
    assert http(a.port, "GET", "/api/chat/sessions/sess-123", headers=bearer("root", "admin")).status == 200
    assert http(a.port, "GET", "/api/chat/sessions/sess-999", headers=bearer("lan")).status == 404
    for body, status, code in [({"id": "bad id"}, 400, "invalid_id"), ({"id": "x" * 124}, 400, "invalid_id"),
                               ({"id": 5}, 400, "invalid_id"), ([1], 400, "invalid_json")]:
        r = claim(a, "lan", body)
        assert r.status == status and r.json()["error"]["code"] == code, (body, r.body)
    assert http(a.port, "POST", "/api/chat/sessions", {}).status == 401
    longest = claim(a, "lan", {"id": "y" * 123})
    assert longest.status == 201 and longest.json()["topic"] == "chat:" + "y" * 123
    fresh = claim(a, "lan", {})
    assert fresh.status == 201 and fresh.json()["id"].startswith("s_") and len(fresh.json()["id"]) == 34
    assert a.sql("SELECT count(*) FROM chat_sessions")[0][0] == 3
    # newest first, in the order claimed (all within a second or two)
    listed = http(a.port, "GET", "/api/chat/sessions", headers=bearer("lan")).json()["sessions"]
    assert [s["id"] for s in listed] == [fresh.json()["id"], "y" * 123, "sess-123"]
    assert http(a.port, "GET", "/api/chat/sessions", headers=bearer("binh")).json()["sessions"] == []
    assert json.loads(a.get("/api/health").body)["status"] == "ok"


def test_an_admin_naming_someone_elses_session_is_told_it_is_taken(env):
    """200 says "already yours": an admin who names lan's session gets 409
    as anyone else does (they may still read it), and it stays lan's."""
    a = env.instance()
    assert claim(a, "lan", {"id": "sess-lan"}).status == 201
    r = http(a.port, "POST", "/api/chat/sessions", {"id": "sess-lan"}, headers=bearer("root", "admin"))
    assert r.status == 409 and r.json()["error"]["code"] == "session_taken", (r.status, r.body)
    r = http(a.port, "GET", "/api/chat/sessions/sess-lan", headers=bearer("root", "admin"))
    assert r.status == 200 and r.json()["ownerId"] == "lan"
    mine = http(a.port, "POST", "/api/chat/sessions", {"id": "sess-root"}, headers=bearer("root", "admin"))
    assert mine.status == 201 and mine.json()["ownerId"] == "root"
    again = http(a.port, "POST", "/api/chat/sessions", {"id": "sess-root"}, headers=bearer("root", "admin"))
    assert again.status == 200 and again.json() == mine.json()
