"""HEAD wherever GET is (RFC 9110): the same status and headers, no body,
nothing changed. Before, every GET endpoint answered HEAD 405 and its
Allow left HEAD out."""
from harness import http, token


def bearer(sub, role="viewer"):
    return {"Authorization": "Bearer " + token(sub, role)}


def test_head_answers_as_get_without_a_body(env):
    a = env.instance()
    owner = bearer("shop1", "owner")
    rid = a.post("/api/live/rooms", {"title": "Sale", "description": "d"}, headers=owner).json()["id"]
    h = http(a.port, "HEAD", "/api/health")  # (a health check counts itself, as GET's does)
    assert h.status == 200 and h.body == "" and h.header("content-type").startswith("application/json")
    before = a.snapshot()
    for path, headers in (("/api/live/rooms", {}), ("/api/live/rooms/%s" % rid, owner),
                          ("/api/wallet", bearer("u1")), ("/api/events?topic=room:%s&since=0" % rid, {})):
        got = a.get(path, headers=headers)
        head = http(a.port, "HEAD", path, headers=headers)
        assert got.status == 200 and head.status == 200, (path, got.status, head.status, head.body)
        assert head.body == "", (path, head.body[:200])
        assert head.header("content-type") == got.header("content-type"), path
        assert head.header("pulse-event-id") == got.header("pulse-event-id"), path
    # the checks of GET hold: no token, no wallet
    assert http(a.port, "HEAD", "/api/wallet").status == 401
    assert http(a.port, "HEAD", "/api/nowhere").status == 404
    # a path without GET refuses HEAD too; one with GET lists HEAD beside it
    r = http(a.port, "HEAD", "/api/publish", headers=bearer("root", "admin"))
    assert r.status == 405 and r.header("allow") == "POST" and r.body == "", (r.status, r.header("allow"))
    r = http(a.port, "DELETE", "/api/wallet", headers=bearer("u1"))
    assert r.status == 405 and r.header("allow") == "GET, HEAD", (r.status, r.header("allow"))
    assert a.snapshot() == before
