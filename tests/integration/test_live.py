"""Live-commerce rooms (seed 001) through lighttpd with real processes."""
import hashlib
import hmac
import json
import time
import threading

import harness
from harness import http, q, token

WS = harness.WEBHOOK_SECRET


def bearer(sub, role):
    return {"Authorization": "Bearer " + token(sub, role)}


def make_room(a, owner="shop1", title="Ao thun sale"):
    r = a.post("/api/live/rooms", {"title": title, "description": "flash sale", "thumbnailUrl": "https://x/t.jpg"},
               headers=bearer(owner, "owner"))
    assert r.status == 201, r.body
    return r.json()


def product(pid="sku-1", orig=299000, live=149000, **kw):
    p = {"productId": pid, "productName": "Áo thun " + pid, "productImageUrl": "https://x/%s.jpg" % pid,
         "originalPrice": orig, "livePrice": live, "quantityLimit": 50, "stockAvailable": 100, "displayOrder": 1}
    p.update(kw)
    return p


def signed_order(a, body, secret=WS):
    raw = json.dumps(body).encode()
    sig = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return http(a.port, "POST", "/api/live/orders", raw=raw, headers={"X-Pulse-Signature": sig})


def put(a, path, headers=None):
    return http(a.port, "PUT", path, headers=headers)


def test_room_lifecycle_seen_by_an_sse_client(env):
    a = env.instance()
    owner = bearer("shop1", "owner")
    room = make_room(a)
    rid = room["id"]
    assert room["status"] == "PENDING" and room["shopOwnerId"] == "shop1" and len(room["streamKey"]) >= 32
    assert room["viewerCount"] == 0 and room["startedAt"] is None
    s = a.sse("/api/live/rooms/%s/stream" % rid)
    assert put(a, "/api/live/rooms/%s/start" % rid, owner).json()["status"] == "WAITING_STREAM"
    r = a.post("/api/live/rooms/%s/products" % rid, product("sku-1"), headers=owner)
    assert r.status == 201 and r.json()["discountPercent"] == 50.17 and r.json()["soldCount"] == 0
    p1 = r.json()
    p2 = a.post("/api/live/rooms/%s/products" % rid, product("sku-2", 100000, 80000), headers=owner).json()
    assert put(a, "/api/live/rooms/%s/products/%s/feature" % (rid, p2["id"]), owner).status == 200
    join = a.post("/api/live/rooms/%s/join" % rid, {}, headers=bearer("v1", "viewer")).json()
    assert join["count"] == 1 and join["peak"] == 1
    chat = a.post("/api/live/rooms/%s/chat" % rid, {"message": "<b>hi</b> shop"}, headers=bearer("v1", "viewer"))
    assert chat.status == 201 and chat.json()["message"] == "<b>hi</b> shop" and chat.json()["type"] == "CHAT"
    order = {"orderId": "o-1", "roomId": rid, "userId": "v1", "username": "Nguyen Van A", "productId": "sku-1",
             "productName": "Áo thun sku-1", "amount": 149000}
    assert signed_order(a, order).status == 200
    assert a.post("/api/live/rooms/%s/leave" % rid, {}, headers=bearer("v1", "viewer")).json()["count"] == 0
    assert put(a, "/api/live/rooms/%s/end" % rid, owner).json()["status"] == "ENDED"
    seen = []
    while True:
        ev = s.next_event(10)
        seen.append(ev)
        if ev["event"] == "status" and ev["json"]["data"]["status"] == "ENDED":
            break
    kinds = [e["event"] for e in seen]
    assert kinds == ["status", "product", "product", "product", "viewers", "chat", "order", "product", "status",
                     "viewers", "status"], kinds
    assert seen[0]["json"]["data"]["status"] == "WAITING_STREAM"
    assert "streamKey" not in seen[0]["json"]["data"]
    featured = [p for p in seen[3]["json"]["data"]["products"] if p["isFeatured"]]
    assert [p["id"] for p in featured] == [p2["id"]]
    assert seen[5]["json"]["data"]["message"] == "<b>hi</b> shop"
    assert seen[6]["json"]["data"] == {"orderId": "o-1", "username": "Nguyen Van A", "productName": "Áo thun sku-1",
                                       "amount": 149000, "message": "Nguyen Van A vừa mua Áo thun sku-1"}
    sold = {p["productId"]: p["soldCount"] for p in seen[7]["json"]["data"]["products"]}
    assert sold == {"sku-1": 1, "sku-2": 0}
    final = a.get("/api/live/rooms/" + rid).json()
    assert final["totalOrders"] == 1 and final["totalRevenue"] == 149000 and final["peakViewers"] == 1
    assert final["endedAt"] and "streamKey" not in final
    assert a.get("/api/live/rooms/" + rid, headers=owner).json()["streamKey"] == room["streamKey"]
    # illegal moves
    assert put(a, "/api/live/rooms/%s/start" % rid, owner).status == 409
    assert put(a, "/api/live/rooms/%s/end" % rid, owner).status == 409
    assert a.post("/api/live/rooms/%s/chat" % rid, {"message": "late"}, headers=bearer("v1", "viewer")).status == 409
    assert p1["id"] != p2["id"]
    # the ended room's products are its record: no add, delete or feature;
    # an order placed during the live and reported late still counts
    before = a.get("/api/live/rooms/%s/products" % rid).json()
    for method, path, body in (("POST", "/products", product("sku-3")), ("DELETE", "/products/" + p1["id"], None),
                               ("PUT", "/products/%s/feature" % p1["id"], None)):
        r = http(a.port, method, "/api/live/rooms/%s%s" % (rid, path), body, headers=owner)
        assert r.status == 409 and r.json()["error"]["code"] == "room_ended", (method, path, r.status, r.body)
    assert a.get("/api/live/rooms/%s/products" % rid).json() == before
    late = dict(order, orderId="o-2")
    assert signed_order(a, late).status == 200
    assert a.get("/api/live/rooms/" + rid).json()["totalOrders"] == 2


def test_lists_and_history(env):
    a = env.instance()
    r1, r2 = make_room(a, "shopA", "A"), make_room(a, "shopB", "B")
    put(a, "/api/live/rooms/%s/start" % r1["id"], bearer("shopA", "owner"))
    rooms = a.get("/api/live/rooms").json()["rooms"]
    assert {r["id"] for r in rooms} == {r1["id"], r2["id"]} and all("streamKey" not in r for r in rooms)
    waiting = a.get("/api/live/rooms?status=WAITING_STREAM").json()["rooms"]
    assert [r["id"] for r in waiting] == [r1["id"]]
    assert a.get("/api/live/rooms?status=LIVE").json() == {"rooms": []}
    page1 = a.get("/api/live/rooms?limit=1").json()["rooms"]
    page2 = a.get("/api/live/rooms?limit=1&offset=1").json()["rooms"]
    assert len(page1) == len(page2) == 1 and page1[0]["id"] != page2[0]["id"]
    assert a.get("/api/live/rooms?limit=0").status == 400
    mine = a.get("/api/live/rooms", headers=bearer("shopA", "owner")).json()["rooms"]
    assert [("streamKey" in r) for r in sorted(mine, key=lambda r: r["title"])] == [True, False]
    # the key (publish to the room, end it) goes to the shop owner's role only,
    # as every write to the room does: a viewer's token with the same sub gets none
    for who in (bearer("shopA", "viewer"), bearer("shopA", "admin")):
        assert all("streamKey" not in r for r in a.get("/api/live/rooms", headers=who).json()["rooms"])
        assert "streamKey" not in a.get("/api/live/rooms/" + r1["id"], headers=who).json()
    for i in range(8):
        a.post("/api/live/rooms/%s/chat" % r1["id"], {"message": "m%d" % i}, headers=bearer("u%d" % i, "viewer"))
    h = a.get("/api/live/rooms/%s/chat?limit=3" % r1["id"]).json()["messages"]
    assert [m["message"] for m in h] == ["m5", "m6", "m7"]
    assert len(a.get("/api/live/rooms/%s/chat" % r1["id"]).json()["messages"]) == 8


def test_authorization_matrix(env):
    a = env.instance()
    room = make_room(a, "shop1")
    rid = room["id"]
    p = a.post("/api/live/rooms/%s/products" % rid, product(), headers=bearer("shop1", "owner")).json()
    other, viewer, admin = bearer("shop2", "owner"), bearer("v", "viewer"), bearer("root", "admin")
    owner_only = [
        ("PUT", "/api/live/rooms/%s/start" % rid, None),
        ("PUT", "/api/live/rooms/%s/end" % rid, None),
        ("POST", "/api/live/rooms/%s/products" % rid, product("sku-9")),
        ("DELETE", "/api/live/rooms/%s/products/%s" % (rid, p["id"]), None),
        ("PUT", "/api/live/rooms/%s/products/%s/feature" % (rid, p["id"]), None),
    ]
    before = a.snapshot()
    for method, path, body in owner_only:
        for who, status in ((other, 403), (viewer, 403), ({}, 401)):
            r = http(a.port, method, path, body, headers=who)
            assert r.status == status, (method, path, who, r.status, r.body)
    assert a.post("/api/live/rooms", {"title": "x"}, headers=viewer).status == 403
    assert a.post("/api/live/rooms", {"title": "x"}).status == 401
    assert a.post("/api/live/rooms/%s/chat" % rid, {"message": "hi"}).status == 401
    assert a.snapshot() == before
    # public reads, guest presence
    assert a.get("/api/live/rooms").status == 200
    assert a.get("/api/live/rooms/" + rid).status == 200
    assert a.get("/api/live/rooms/%s/products" % rid).status == 200
    assert a.get("/api/live/rooms/%s/chat" % rid).status == 200
    g = a.post("/api/live/rooms/%s/join" % rid, {})
    assert g.status == 200 and g.json()["viewerId"].startswith("guest-") and g.json()["count"] == 1
    again = a.post("/api/live/rooms/%s/join?viewerId=%s" % (rid, g.json()["viewerId"]), {})
    assert again.json()["count"] == 1
    # the owner and an admin may
    assert put(a, "/api/live/rooms/%s/products/%s/feature" % (rid, p["id"]), bearer("shop1", "owner")).status == 200
    assert put(a, "/api/live/rooms/%s/start" % rid, admin).status == 200


def test_chat_rate_limit_across_processes(env):
    a = env.instance(workers=4)
    rid = make_room(a)["id"]
    h = bearer("spammer", "viewer")
    results, lock = [], threading.Lock()

    def post(n):
        for i in range(n):
            r = a.post("/api/live/rooms/%s/chat" % rid, {"message": "spam"}, headers=h)
            with lock:
                results.append((r.status, r.header("retry-after")))

    threads = [threading.Thread(target=post, args=(5,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [s for s, _ in results if s == 201]
    limited = [ra for s, ra in results if s == 429]
    assert len(ok) + len(limited) == 20 and limited and all(ra == "1" for ra in limited)
    stored = a.sql("SELECT count(*) FROM live_chat WHERE user_id='spammer'")[0][0]
    assert stored == len(ok)
    # no second in the log holds more than 5 of the user's messages
    per_window = a.sql("SELECT max(n) FROM (SELECT (SELECT count(*) FROM live_chat c2 WHERE c2.user_id=c.user_id"
                       " AND c2.created_ms > c.created_ms - 1000 AND c2.created_ms <= c.created_ms) AS n"
                       " FROM live_chat c WHERE user_id='spammer')")[0][0]
    assert per_window <= 5
    # another user is unaffected
    assert a.post("/api/live/rooms/%s/chat" % rid, {"message": "hi"}, headers=bearer("calm", "viewer")).status == 201


def test_order_idempotence_and_signature(env):
    a = env.instance()
    owner = bearer("shop1", "owner")
    rid = make_room(a)["id"]
    a.post("/api/live/rooms/%s/products" % rid, product("sku-1"), headers=owner)
    s = a.sse("/api/live/rooms/%s/stream" % rid)
    order = {"orderId": "ord-77", "roomId": rid, "userId": "u1", "username": "Lan", "productId": "sku-1",
             "productName": "Áo", "amount": 149000}
    first = signed_order(a, order)
    assert first.status == 200 and first.json()["duplicate"] is False
    snap = a.snapshot()
    again = signed_order(a, order)
    assert again.status == 200 and again.json()["duplicate"] is True
    assert a.snapshot() == snap
    assert signed_order(a, dict(order, orderId="ord-78"), secret="forged").status == 401
    r = http(a.port, "POST", "/api/live/orders", raw=json.dumps(order).encode())
    assert r.status == 401
    assert a.snapshot() == snap
    kinds = [s.next_event()["event"] for _ in range(3)]
    assert kinds == ["order", "product", "status"]
    assert s.no_event(0.5)
    room = a.get("/api/live/rooms/" + rid).json()
    assert room["totalOrders"] == 1 and room["totalRevenue"] == 149000


def test_viewer_presence_expires(env):
    a = env.instance(env={"PULSE_PRESENCE_TTL_S": "5"})
    rid = make_room(a)["id"]
    for v in ("a", "b", "c"):
        a.post("/api/live/rooms/%s/join" % rid, {}, headers=bearer(v, "viewer"))
    assert a.get("/api/live/rooms/" + rid).json()["viewerCount"] == 3
    left = a.post("/api/live/rooms/%s/leave" % rid, {}, headers=bearer("a", "viewer")).json()
    assert left["count"] == 2 and left["expiresIn"] is None, left
    a.post("/api/live/rooms/%s/leave" % rid, {}, headers=bearer("a", "viewer"))
    room = a.get("/api/live/rooms/" + rid).json()
    assert room["viewerCount"] == 2 and room["peakViewers"] == 3
    # b and c vanish without leaving: after the TTL they no longer count
    harness.wait_for(lambda: a.get("/api/live/rooms/" + rid).json()["viewerCount"] == 0, timeout=12,
                     interval=0.5, what="presence to expire")
    j = a.post("/api/live/rooms/%s/join" % rid, {}, headers=bearer("d", "viewer")).json()
    # expiresIn: the TTL, so a page re-joins within it whatever PULSE_PRESENCE_TTL_S is
    assert j == {"count": 1, "peak": 3, "viewerId": "u:d", "expiresIn": 5}
    # a guest cannot remove or refresh a user's presence by naming it
    bad = a.post("/api/live/rooms/%s/leave?viewerId=u:d" % rid, {})
    assert bad.status == 400 and a.get("/api/live/rooms/" + rid).json()["viewerCount"] == 1


def test_an_ended_room_counts_no_viewers(env):
    """An ENDED room counted the viewers still on its page until their joins
    expired, so the status event announcing the end, and every read within
    the TTL, showed them watching a live that was over. An ENDED room now
    counts none (by the owner's end or the encoder stopping); the peak stays."""
    for how in ("owner", "encoder"):
        a = env.instance()
        owner = bearer("shop1", "owner")
        room = make_room(a)
        rid = room["id"]
        assert put(a, "/api/live/rooms/%s/start" % rid, owner).status == 200
        s = a.sse("/api/live/rooms/%s/stream" % rid)
        for v in ("v1", "v2"):
            assert a.post("/api/live/rooms/%s/join" % rid, {}, headers=bearer(v, "viewer")).status == 200
        assert a.get("/api/live/rooms/" + rid).json()["viewerCount"] == 2
        if how == "owner":
            assert put(a, "/api/live/rooms/%s/end" % rid, owner).json()["viewerCount"] == 0
        else:
            r = http(a.port, "POST", "/api/live/rtmp/on_publish_done",
                     raw=("app=live&call=publish_done&name=%s&type=live" % room["streamKey"]).encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert r.status == 200, r.body
        ev = s.next_event()
        while not (ev["event"] == "status" and ev["json"]["data"]["status"] == "ENDED"):
            ev = s.next_event()
        d = ev["json"]["data"]
        assert (d["viewerCount"], d["peakViewers"]) == (0, 2), (how, d)
        room = a.get("/api/live/rooms/" + rid).json()
        assert (room["status"], room["viewerCount"], room["peakViewers"]) == ("ENDED", 0, 2), (how, room)
        a.stop()


def test_a_viewer_with_two_tabs_stays_counted_when_one_of_them_leaves(env):
    """Found by a seeds audit: alice watching in two tabs closes one; its
    leave removed her presence while the other tab still watched, and the
    count showed 0 until that tab's next re-join. Each page now joins and
    leaves with its own `tab`; a viewer still counts once."""
    a = env.instance(env={"PULSE_JOIN_RATE": "100", "PULSE_JOIN_ADDR_RATE": "1000"})
    rid = make_room(a)["id"]
    s = a.sse("/api/live/rooms/%s/stream" % rid)
    alice = bearer("alice", "viewer")

    def presence(action, tab=None, who=alice):
        q = "" if tab is None else "?tab=" + tab
        r = a.post("/api/live/rooms/%s/%s%s" % (rid, action, q), {}, headers=who)
        assert r.status == 200, (action, tab, r.status, r.body)
        return r.json()

    def viewers():
        ev = s.next_event()
        assert ev["event"] == "viewers", ev
        return ev["json"]["data"]["count"]

    j = presence("join", "t1")
    assert (j["count"], j["viewerId"]) == (1, "u:alice"), j
    assert viewers() == 1
    assert presence("join", "t2")["count"] == 1
    assert presence("join", None, bearer("bob", "viewer"))["count"] == 2
    assert viewers() == 2
    # one tab leaves: alice is still watching in the other
    assert presence("leave", "t1")["count"] == 2
    assert a.get("/api/live/rooms/" + rid).json()["viewerCount"] == 2
    s.no_event()
    assert presence("leave", "t2")["count"] == 1
    assert viewers() == 1
    # a join without a tab and one with it: the same viewer, once
    assert presence("join")["count"] == 2
    assert presence("join", "t3")["count"] == 2
    assert presence("leave", "t3")["count"] == 2
    assert presence("leave")["count"] == 1
    # a tab that is not 1-64 of [A-Za-z0-9_-]: 400, nothing changes
    before = a.snapshot()
    for bad in ("", "a:b", "x" * 65, "a%20b", "%C3%A9", "t1/x"):
        r = a.post("/api/live/rooms/%s/join?tab=%s" % (rid, bad), {}, headers=alice)
        assert r.status == 400 and r.json()["error"]["code"] == "invalid_tab", (bad, r.status, r.body)
    assert a.snapshot() == before
    assert presence("join", "x" * 64)["count"] == 2
    # made-up tab names cannot pile up rows: at most 16 a token in a room, the oldest go
    for i in range(40):
        assert presence("join", "m%d" % i)["count"] == 2
    rows = a.sql("SELECT count(*) FROM live_viewers WHERE room_id = ? AND viewer_id LIKE 'u:alice' || char(31) || '%'", (rid,))[0][0]
    assert rows == 16, rows
    assert a.sql("SELECT count(*) FROM live_viewers WHERE room_id = ? AND viewer_id = 'u:alice' || char(31) || 'm39'", (rid,))[0][0] == 1
    assert presence("leave", "m39")["count"] == 2   # the other tabs still hold alice


def test_a_viewer_who_expires_is_announced_at_the_next_join(env):
    # b's presence runs out while a stays: a's next re-join must tell the
    # stream the count fell, or every page keeps showing 2
    a = env.instance(env={"PULSE_PRESENCE_TTL_S": "5"})
    rid = make_room(a)["id"]
    s = a.sse("/api/live/rooms/%s/stream" % rid)
    a.post("/api/live/rooms/%s/join" % rid, {}, headers=bearer("b", "viewer"))
    assert s.next_event()["json"]["data"]["count"] == 1
    time.sleep(2.5)
    a.post("/api/live/rooms/%s/join" % rid, {}, headers=bearer("a", "viewer"))
    assert s.next_event()["json"]["data"]["count"] == 2
    harness.wait_for(lambda: a.get("/api/live/rooms/" + rid).json()["viewerCount"] == 1, timeout=12,
                     interval=0.25, what="b's presence to expire")
    j = a.post("/api/live/rooms/%s/join" % rid, {}, headers=bearer("a", "viewer")).json()
    assert j["count"] == 1
    ev = s.next_event(5)
    assert ev["event"] == "viewers" and ev["json"]["data"]["count"] == 1, ev


def test_live_bad_input_table(env):
    a = env.instance()
    owner = bearer("shop1", "owner")
    rid = make_room(a)["id"]
    pid = a.post("/api/live/rooms/%s/products" % rid, product(), headers=owner).json()["id"]
    base = "/api/live/rooms/" + rid
    cases = [
        ("POST", "/api/live/rooms", {"title": ""}, owner, 400, "invalid_title"),
        ("POST", "/api/live/rooms", {"title": "x" * 201}, owner, 400, "invalid_title"),
        ("POST", "/api/live/rooms", {"title": 5}, owner, 400, "invalid_title"),
        ("POST", "/api/live/rooms", {"title": "ok", "description": ["x"]}, owner, 400, "invalid_description"),
        ("POST", "/api/live/rooms", "[]", owner, 400, "invalid_json"),
        ("GET", "/api/live/rooms?status=BOGUS", None, {}, 400, "invalid_status"),
        ("GET", "/api/live/rooms/" + q("a b"), None, {}, 400, "invalid_id"),
        ("GET", "/api/live/rooms/nope", None, {}, 404, "room_not_found"),
        ("PUT", "/api/live/rooms/nope/start", None, owner, 404, "room_not_found"),
        ("POST", base + "/products", product(live=300000), owner, 400, "invalid_livePrice"),
        ("POST", base + "/products", product(orig=0), owner, 400, "invalid_originalPrice"),
        ("POST", base + "/products", product(live=-1), owner, 400, "invalid_livePrice"),
        ("POST", base + "/products", product(quantityLimit=0), owner, 400, "invalid_quantityLimit"),
        ("POST", base + "/products", product(quantityLimit=500, stockAvailable=10), owner, 400,
         "invalid_quantityLimit"),
        ("POST", base + "/products", product(pid="bad id"), owner, 400, "invalid_productId"),
        ("POST", base + "/products", product(pid="sku-1"), owner, 409, "duplicate_product"),
        ("POST", base + "/products", {"productId": "x"}, owner, 400, "invalid_productName"),
        ("DELETE", base + "/products/nope", None, owner, 404, "product_not_found"),
        ("PUT", base + "/products/nope/feature", None, owner, 404, "product_not_found"),
        ("PUT", base + "/products/%s/feature" % pid, None, {}, 401, "unauthorized"),
        ("GET", base + "/products/%s" % pid, None, {}, 405, "method_not_allowed"),
        ("POST", base + "/chat", {"message": ""}, bearer("v", "viewer"), 400, "invalid_message"),
        ("POST", base + "/chat", {"message": "x" * 501}, bearer("v", "viewer"), 400, "invalid_message"),
        ("POST", base + "/chat", {"message": None}, bearer("v", "viewer"), 400, "invalid_message"),
        ("POST", base + "/chat", {"msg": "x"}, bearer("v", "viewer"), 400, "invalid_message"),
        # an escaped NUL would cut the text short (SQLite 3.40): refused, not stored cut
        ("POST", base + "/chat", {"message": "hi\u0000there"}, bearer("v", "viewer"), 400, "invalid_message"),
        ("POST", base + "/products", product(pid="sku-2\u0000x"), owner, 400, "invalid_productId"),
        ("GET", base + "/chat?limit=0", None, {}, 400, "invalid_limit"),
        ("GET", base + "/chat?limit=abc", None, {}, 400, "invalid_limit"),
        ("POST", base + "/join?viewerId=" + q("x y"), {}, {}, 400, "invalid_viewerId"),
        ("POST", "/api/live/rtmp/on_publish", "name=nokey&app=live", {}, 403, "forbidden"),
        ("POST", "/api/live/rtmp/on_publish", "", {}, 403, "forbidden"),
        ("POST", "/api/live/rtmp/on_publish", "name=%zz", {}, 403, "forbidden"),
        ("GET", "/api/live/rtmp/on_publish", None, {}, 405, "method_not_allowed"),
    ]
    before = a.snapshot()
    for method, path, body, headers, status, code in cases:
        raw = body.encode() if isinstance(body, str) else (json.dumps(body).encode() if body is not None else None)
        r = http(a.port, method, path, raw=raw, headers=headers)
        assert r.status == status, (method, path, body, r.status, r.body)
        assert r.json()["error"]["code"] == code, (path, body, r.body)
    assert a.snapshot() == before
    # 500 characters (not bytes) is the limit: Vietnamese text counts by character
    assert a.post(base + "/chat", {"message": "ệ" * 500}, headers=bearer("v", "viewer")).status == 201


def test_rtmp_callbacks_as_nginx_sends_them(env):
    """The form nginx-rtmp posts (HTTP/1.0, urlencoded, stream args appended raw)."""
    a = env.instance()
    room = make_room(a)
    rid, key = room["id"], room["streamKey"]
    form = "app=live&flashver=FMLE/3.0%20(compatible%3B%20FMSc/1.0)&swfurl=&tcurl=rtmp://127.0.0.1:1935/live" \
           "&pageurl=&addr=127.0.0.1&clientid=1&call=publish&name={name}&type=live{extra}"
    hdr = {"Content-Type": "application/x-www-form-urlencoded"}
    wrong = http(a.port, "POST", "/api/live/rtmp/on_publish", raw=form.format(name="sk_wrong", extra="").encode(),
                 headers=hdr)
    assert wrong.status == 403
    # name=<room>&key=<key>
    ok = http(a.port, "POST", "/api/live/rtmp/on_publish",
              raw=form.format(name=rid, extra="&key=" + key).encode(), headers=hdr)
    assert ok.status == 200 and a.get("/api/live/rooms/" + rid).json()["status"] == "LIVE"
    assert a.get("/api/live/rooms/" + rid).json()["startedAt"]
    # a second publisher with the same key while LIVE is refused
    assert http(a.port, "POST", "/api/live/rtmp/on_publish", raw=form.format(name=key, extra="").encode(),
                headers=hdr).status == 403
    done = http(a.port, "POST", "/api/live/rtmp/on_publish_done", raw=form.format(name=key, extra="").encode(),
                headers=hdr)
    assert done.status == 200 and a.get("/api/live/rooms/" + rid).json()["status"] == "ENDED"
    # an ENDED room's key is refused
    assert http(a.port, "POST", "/api/live/rtmp/on_publish", raw=form.format(name=key, extra="").encode(),
                headers=hdr).status == 403
    # key as name= works for another room; a mismatched room name does not
    r2 = make_room(a)
    bad = http(a.port, "POST", "/api/live/rtmp/on_publish",
               raw=form.format(name=rid, extra="&key=" + r2["streamKey"]).encode(), headers=hdr)
    assert bad.status == 403
    assert http(a.port, "POST", "/api/live/rtmp/on_publish", raw=form.format(name=r2["streamKey"], extra="").encode(),
                headers=hdr).status == 200
