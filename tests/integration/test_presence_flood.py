"""A flood of viewer joins from one client (security review, finding b).

POST /api/live/rooms/{id}/join needs no login, so a guest names itself: one
client used to count as thousands of viewers and push a `viewers` event per
request into the log. Now joins and leaves are rate limited per viewer and
per client address (REMOTE_ADDR, which both web servers pass), and one
address counts as at most PULSE_GUESTS_PER_ADDR guests in a room."""

import harness
from harness import at_once, token


def bearer(sub):
    return {"Authorization": "Bearer " + token(sub, "viewer")}


def make_room(a):
    r = a.post("/api/live/rooms", {"title": "flash sale"}, headers={"Authorization": "Bearer " + token("shop1", "owner")})
    assert r.status == 201, r.body
    return r.json()["id"]


def http_from(source, port, method, path, body=None, headers=None):
    """A request from another client address, as the web server sees it."""
    return harness.http(port, method, path, body, headers=headers, source=source)


def refused(r):
    """A 429 as API.md has it: an error body and Retry-After in whole seconds."""
    return (r.status == 429 and r.json()["error"]["code"] in ("rate_limited", "too_many_guests")
            and r.header("retry-after") is not None and int(r.header("retry-after")) >= 1)


def test_a_flood_of_joins_from_one_client_is_refused_and_counts_boundedly(env):
    a = env.instance()  # the defaults: 20 presence requests/s per address, 50 guests per address and room
    rid = make_room(a)
    s = a.sse("/api/live/rooms/%s/stream" % rid)
    results = [a.post("/api/live/rooms/%s/join" % rid, {}) for _ in range(300)]
    ok = [r for r in results if r.status == 200]
    assert all(refused(r) for r in results if r.status != 200), [(r.status, r.body) for r in results][-3:]
    assert 1 <= len(ok) <= 50 and len(results) - len(ok) >= 250
    room = a.get("/api/live/rooms/" + rid).json()
    assert room["viewerCount"] <= 50 and room["peakViewers"] <= 50, room
    assert room["viewerCount"] == len(ok)
    # one `viewers` event per admitted join at most: the log holds no more
    assert a.sql("SELECT count(*) FROM events WHERE topic = ?", ("room:" + rid,))[0][0] <= 1 + len(ok)
    kinds = [s.next_event()["event"] for _ in range(len(ok))]
    assert set(kinds) == {"viewers"}
    assert s.no_event(0.5)
    # another client is not held back by this one
    other = http_from("127.0.0.2", a.port, "POST", "/api/live/rooms/%s/join" % rid, {})
    assert other.status == 200 and other.json()["count"] == len(ok) + 1, other.body


def test_guests_per_address_and_room_are_bounded(env):
    a = env.instance(env={"PULSE_GUESTS_PER_ADDR": "3", "PULSE_JOIN_RATE": "1000", "PULSE_JOIN_ADDR_RATE": "1000"})
    rid, rid2 = make_room(a), make_room(a)
    path = "/api/live/rooms/%s/join" % rid
    guests = [a.post(path, {}).json()["viewerId"] for _ in range(3)]
    assert len(set(guests)) == 3
    before = a.snapshot()
    # a fourth guest, server-minted or self-named: refused, nothing changes
    for r in (a.post(path, {}), a.post(path + "?viewerId=guest-mine", {})):
        assert refused(r) and r.json()["error"]["code"] == "too_many_guests", r.body
        assert 1 <= int(r.header("retry-after")) <= 60
    assert a.snapshot() == before
    room = a.get("/api/live/rooms/" + rid).json()
    assert (room["viewerCount"], room["peakViewers"]) == (3, 3)
    # a guest already counted refreshes its presence
    r = a.post(path + "?viewerId=" + guests[0], {})
    assert r.status == 200 and r.json()["count"] == 3
    # a signed-in viewer is counted by its token, not by its address
    assert a.post(path, {}, headers=bearer("lan")).json()["count"] == 4
    # the bound is per room, and per address
    assert a.post("/api/live/rooms/%s/join" % rid2, {}).status == 200
    assert http_from("127.0.0.2", a.port, "POST", path, {}).json()["count"] == 5
    # a guest that leaves frees its slot
    assert a.post("/api/live/rooms/%s/leave?viewerId=%s" % (rid, guests[1]), {}).json()["count"] == 4
    r = a.post(path, {})
    assert r.status == 200 and r.json()["count"] == 5


def burst(n, fn):
    """fn(i) for i in 0..n-1 from 4 clients at once (as test_live's chat limit test does): the
    requests land within the same second even on a slow machine. The answers, in order."""
    out = [None] * n

    def run(k):
        for i in range(k, n, 4):
            out[i] = fn(i)

    at_once(run, [(k,) for k in range(4)])
    return out


def test_joins_are_rate_limited_per_viewer_and_per_address(env):
    a = env.instance(env={"PULSE_JOIN_RATE": "2", "PULSE_JOIN_ADDR_RATE": "5"}, workers=4)
    rid = make_room(a)
    path = "/api/live/rooms/%s/join" % rid
    # one signed-in viewer re-joining in a burst
    mine = burst(12, lambda i: a.post(path, {}, headers=bearer("busy")))
    assert any(r.status == 200 for r in mine)
    limited = [r for r in mine if r.status != 200]
    assert limited and all(refused(r) and r.json()["error"]["code"] == "rate_limited" and
                           r.header("retry-after") == "1" for r in limited), [r.body for r in mine]
    # leaving counts too: a join/leave loop cannot churn events
    leaves = burst(12, lambda i: a.post("/api/live/rooms/%s/leave" % rid, {}, headers=bearer("churn")))
    assert any(refused(r) for r in leaves)
    # many viewers behind one address share its budget
    crowd = burst(20, lambda i: a.post(path, {}, headers=bearer("v%d" % i)))
    assert any(refused(r) for r in crowd)
    # a viewer on another address is unaffected by all of that
    r = http_from("127.0.0.2", a.port, "POST", path, {}, headers=bearer("calm"))
    assert r.status == 200, r.body
    # nothing refused was counted: busy once, the admitted part of the crowd, calm
    crowd_ok = sum(1 for r in crowd if r.status == 200)
    assert a.get("/api/live/rooms/" + rid).json()["viewerCount"] == 1 + crowd_ok + 1
