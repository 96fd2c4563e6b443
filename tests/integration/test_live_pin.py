"""A room's owner pins one chat message (PUT /api/live/rooms/{id}/chat/{cid}/pin):
what a viewer reading the chat or following room:{id} sees, and who may not."""
from harness import http, token


def bearer(sub, role):
    return {"Authorization": "Bearer " + token(sub, role)}


def make_room(a, owner="shop1"):
    r = a.post("/api/live/rooms", {"title": "Pin sale"}, headers=bearer(owner, "owner"))
    assert r.status == 201, r.body
    return r.json()["id"]


def say(a, rid, who, text):
    r = a.post("/api/live/rooms/%s/chat" % rid, {"message": text}, headers=bearer(who, "viewer"))
    assert r.status == 201, r.body
    assert r.json()["isPinned"] is False, r.body
    return r.json()


def pin(a, rid, cid, who=("shop1", "owner")):
    return http(a.port, "PUT", "/api/live/rooms/%s/chat/%s/pin" % (rid, cid), headers=bearer(*who))


def chat(a, rid, limit=100):
    return a.get("/api/live/rooms/%s/chat?limit=%d" % (rid, limit)).json()


def pinned_ids(a, rid):
    return [m["id"] for m in chat(a, rid)["messages"] if m["isPinned"]]


def next_of(s, kind):
    while True:
        ev = s.next_event(10)
        if ev["event"] == kind:
            return ev["json"]["data"]


def test_pinning_another_message_unpins_the_first(env):
    a = env.instance()
    rid = make_room(a)
    m1, m2 = say(a, rid, "lan", "Còn size L không?"), say(a, rid, "vy", "<b>Giao</b> trong ngày nhé")
    assert chat(a, rid)["pinned"] is None
    s = a.sse("/api/live/rooms/%s/stream" % rid)

    r = pin(a, rid, m1["id"])
    assert r.status == 200, r.body
    assert r.json() == dict(m1, isPinned=True, unpinnedId=None), r.body
    assert next_of(s, "chat_pinned") == r.json()
    assert pinned_ids(a, rid) == [m1["id"]] and chat(a, rid)["pinned"] == dict(m1, isPinned=True)

    # the second pin takes the first one's place, in one change: one event says both
    r = pin(a, rid, m2["id"])
    assert r.status == 200 and r.json() == dict(m2, isPinned=True, unpinnedId=m1["id"]), r.body
    assert next_of(s, "chat_pinned") == r.json()
    assert pinned_ids(a, rid) == [m2["id"]]

    # pinning the pinned message again changes nothing and says nothing
    before = a.snapshot()
    r = pin(a, rid, m2["id"])
    assert r.status == 200 and r.json()["id"] == m2["id"] and r.json()["isPinned"] is True, r.body
    assert a.snapshot() == before and s.no_event(0.5)

    # a viewer who arrives later sees the pin even when newer messages pushed it out of the page
    for i in range(3):
        say(a, rid, "u%d" % i, "m%d" % i)
    page = chat(a, rid, limit=2)
    assert [m["message"] for m in page["messages"]] == ["m1", "m2"]
    assert page["pinned"] == dict(m2, isPinned=True)
    # the pin stays when the room ends, and cannot move any more
    assert http(a.port, "PUT", "/api/live/rooms/%s/end" % rid, headers=bearer("shop1", "owner")).status == 200
    r = pin(a, rid, m1["id"])
    assert r.status == 409 and r.json()["error"]["code"] == "room_ended", r.body
    assert chat(a, rid)["pinned"]["id"] == m2["id"]
    s.close()


def test_only_the_rooms_owner_pins_a_message_of_that_room(env):
    a = env.instance()
    rid, other_room = make_room(a), make_room(a, "shop2")
    m = say(a, rid, "lan", "hello")
    elsewhere = say(a, other_room, "lan", "in the other room")
    s = a.sse("/api/live/rooms/%s/stream" % rid)
    before = a.snapshot()
    cases = [
        (m["id"], ("shop2", "owner"), 403, "forbidden"),          # another shop's owner
        (m["id"], ("lan", "viewer"), 403, "forbidden"),           # the author, a viewer
        (99999, ("shop1", "owner"), 404, "chat_not_found"),
        (elsewhere["id"], ("shop1", "owner"), 404, "chat_not_found"),   # a message of another room
        ("0%d" % m["id"], ("shop1", "owner"), 404, "chat_not_found"),   # SQLite would read it as the id
        ("%de0" % m["id"], ("shop1", "owner"), 404, "chat_not_found"),
        ("abc", ("shop1", "owner"), 404, "chat_not_found"),
        ("99999999999999999999", ("shop1", "owner"), 404, "chat_not_found"),
    ]
    for cid, who, status, code in cases:
        r = pin(a, rid, cid, who)
        assert r.status == status and r.json()["error"]["code"] == code, (cid, who, r.status, r.body)
    r = http(a.port, "PUT", "/api/live/rooms/%s/chat/%s/pin" % (rid, m["id"]))
    assert r.status == 401, r.body
    r = pin(a, "nope", m["id"])
    assert r.status == 404 and r.json()["error"]["code"] == "room_not_found", r.body
    r = http(a.port, "GET", "/api/live/rooms/%s/chat/%s/pin" % (rid, m["id"]), headers=bearer("shop1", "owner"))
    assert r.status == 405 and "PUT" in r.header("Allow"), r.body
    assert a.snapshot() == before and s.no_event(0.3)
    # an admin may, as for the room's other changes
    r = pin(a, rid, m["id"], ("root", "admin"))
    assert r.status == 200 and r.json()["isPinned"] is True, r.body
    s.close()
