"""Bounds on what one request can make the log carry: products per room
(each change emits the whole list), the size of one event (every
producer), and the bytes of one poll page (an anonymous poll once
returned 348 MB)."""
import json

from harness import http, token

POLL_MAX_BYTES = 1024 * 1024  # README: a poll page stops growing past 1 MiB


def _owner(sub="shop1"):
    return {"Authorization": "Bearer " + token(sub, "owner")}


def _room(a, owner="shop1"):
    r = a.post("/api/live/rooms", {"title": "sale"}, headers=_owner(owner))
    assert r.status == 201, r.body
    return r.json()["id"]


def _product(pid, name="Ao thun", image=None):
    return {"productId": pid, "productName": name, "productImageUrl": image or "https://x/%s.jpg" % pid,
            "originalPrice": 200000, "livePrice": 150000}


def _events(a, topic):
    r = a.get("/api/events?topic=%s&since=0&limit=1000" % topic)
    assert r.status == 200, r.body
    return r.json()["events"]


def test_products_per_room_are_bounded_by_default(env):
    a = env.instance()
    rid = _room(a)
    for i in range(100):  # PULSE_MAX_PRODUCTS' default
        r = a.post("/api/live/rooms/%s/products" % rid, _product("sku-%d" % i), headers=_owner())
        assert r.status == 201, (i, r.status, r.body)
    before = _events(a, "room:" + rid)
    r = a.post("/api/live/rooms/%s/products" % rid, _product("sku-100"), headers=_owner())
    assert r.status == 409 and r.json()["error"]["code"] == "too_many_products", (r.status, r.body)
    # nothing changed: no product, no event
    assert len(a.get("/api/live/rooms/%s/products" % rid).json()["products"]) == 100
    assert _events(a, "room:" + rid) == before
    # a product removed makes room for another
    pid = a.get("/api/live/rooms/%s/products" % rid).json()["products"][0]["id"]
    r = http(a.port, "DELETE", "/api/live/rooms/%s/products/%s" % (rid, pid), headers=_owner())
    assert r.status == 200, r.body
    assert a.post("/api/live/rooms/%s/products" % rid, _product("sku-100"), headers=_owner()).status == 201


def test_products_per_room_follow_the_setting(env):
    a = env.instance(env={"PULSE_MAX_PRODUCTS": "3"})
    rid = _room(a)
    for i in range(3):
        assert a.post("/api/live/rooms/%s/products" % rid, _product("p%d" % i), headers=_owner()).status == 201
    r = a.post("/api/live/rooms/%s/products" % rid, _product("p3"), headers=_owner())
    assert r.status == 409 and r.json()["error"]["code"] == "too_many_products", r.body


def test_an_event_over_the_size_bound_is_refused_by_every_producer(env):
    a = env.instance(env={"PULSE_MAX_EVENT_BYTES": "4096"})
    adm = {"Authorization": "Bearer " + token("root", "admin")}
    ok = a.post("/api/publish", {"topic": "room:big", "type": "note", "data": {"s": "x" * 3000}}, headers=adm)
    assert ok.status == 202, ok.body
    r = a.post("/api/publish", {"topic": "room:big", "type": "note", "data": {"s": "x" * 5000}}, headers=adm)
    assert r.status == 413 and r.json()["error"]["code"] == "event_too_large", (r.status, r.body)
    assert [e["id"] for e in _events(a, "room:big")] == [ok.json()["id"]]
    # a handler's own event: the product list outgrows 4 KiB by the third
    # product of ~1.7 KB (the longest name and a long image URL), which is
    # then not added
    rid = _room(a)
    added = 0
    for i in range(10):
        r = a.post("/api/live/rooms/%s/products" % rid,
                   _product("p%d" % i, "\u1ec7" * 200, "https://x/" + "a" * 1000), headers=_owner())
        if r.status != 201:
            assert r.status == 413 and r.json()["error"]["code"] == "event_too_large", (r.status, r.body)
            break
        added += 1
    assert 1 <= added < 10
    assert len(a.get("/api/live/rooms/%s/products" % rid).json()["products"]) == added
    assert all(len(json.dumps(e["data"], ensure_ascii=False, separators=(",", ":")).encode()) <= 4096
               for e in _events(a, "room:" + rid))


def test_a_poll_page_is_bounded_in_bytes_and_continues_without_gaps(env):
    a = env.instance()
    adm = {"Authorization": "Bearer " + token("root", "admin")}
    ids = []
    for i in range(40):  # 40 events of 60 KB: 2.4 MB in all
        r = a.post("/api/publish", {"topic": "room:pages", "type": "note", "data": {"i": i, "s": "y" * 60000}},
                   headers=adm)
        assert r.status == 202, r.body
        ids.append(r.json()["id"])
    seen, since, pages = [], 0, 0
    while len(seen) < len(ids) and pages < 20:
        r = a.get("/api/events?topic=room:pages&since=%d&limit=1000" % since)
        assert r.status == 200, r.body
        page = r.json()
        assert page["events"], page["last_id"]
        assert len(r.body) <= POLL_MAX_BYTES + 61000, len(r.body)  # over the budget by one event at most
        assert page["last_id"] == page["events"][-1]["id"]  # the client continues from the last one it got
        seen += [e["id"] for e in page["events"]]
        since = page["last_id"]
        pages += 1
    assert seen == ids  # no gap, no duplicate
    assert pages >= 3
    # the last page: nothing more, last_id stays
    r = a.get("/api/events?topic=room:pages&since=%d" % since).json()
    assert r["events"] == [] and r["last_id"] >= ids[-1]
