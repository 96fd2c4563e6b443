"""The live-commerce pages in a real browser: Debian's headless Chromium, driven by
playwright-core from tests/browser/live_page.js, against a real instance.

The viewer page (/live.html?room=ID) stays open, untouched, while this side changes the
room through the API the way the shop owner, other viewers and the order service would:
each change must show up on the page by itself, through the stream (or polling), and
hostile text must stay text. The owner console (/owner.html) is driven through its forms.
Needs what tests/browser_helper.py needs (node, npm, /usr/bin/chromium).
"""
import hashlib
import hmac
import json
import os
import re
import time

from browser_helper import BROWSER_DIR, Browser, assert_never_parses_html
from harness import WEBHOOK_SECRET, http, token, wait_for

SCRIPT = os.path.join(BROWSER_DIR, "live_page.js")
SCREENSHOT = "/tmp/live-room.png"


class LiveBrowser(Browser):
    """One run of live_page.js (the protocol of browser_helper.Browser)."""

    script = SCRIPT

    def wait(self, what, timeout=20, **cmd):
        cmd["wait"] = what
        self.send(json.dumps(cmd))
        msg = self.expect(what, timeout)
        assert msg["page_errors"] == [], msg["page_errors"]
        return msg["state"]


def put(inst, path, jwt, body=None):
    return http(inst.port, "PUT", path, body, headers={"Authorization": "Bearer " + jwt})


def delete(inst, path, jwt):
    return http(inst.port, "DELETE", path, headers={"Authorization": "Bearer " + jwt})


def post(inst, path, jwt, body):
    return inst.post(path, body, headers={"Authorization": "Bearer " + jwt})


def signed_order(inst, body):
    raw = json.dumps(body, ensure_ascii=False).encode()
    sig = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return inst.post("/api/live/orders", raw=raw, headers={"X-Pulse-Signature": sig})


def rtmp_publish(inst, key):
    """OBS starts publishing with this stream key: nginx-rtmp's on_publish, as it sends it."""
    form = "app=live&flashver=FMLE/3.0&swfurl=&tcurl=rtmp://127.0.0.1:1935/live&pageurl=&addr=127.0.0.1" \
           "&clientid=7&call=publish&name=%s&type=live" % key
    return inst.post("/api/live/rtmp/on_publish", form, headers={"Content-Type": "application/x-www-form-urlencoded"})


def make_room(inst, owner_jwt, title):
    # images that do not exist, as absolute URLs (the only kind Pulse accepts)
    missing = "http://127.0.0.1:%d/no-such-%%s.jpg" % inst.port
    r = post(inst, "/api/live/rooms", owner_jwt, {"title": title, "description": "Giảm giá 50% cả phiên live",
                                                  "thumbnailUrl": missing % "thumbnail"})
    assert r.status == 201, (r.status, r.body)
    room = r.json()
    assert room["status"] == "PENDING" and room["streamKey"], room
    products = []
    for i, (name, orig, live) in enumerate([("Áo thun nam", 299000, 149000), ("Quần jean <b>nữ</b>", 500000, 400000)]):
        r = post(inst, "/api/live/rooms/%s/products" % room["id"], owner_jwt, {
            "productId": "sku-%d" % (i + 1), "productName": name, "productImageUrl": missing % "image",
            "originalPrice": orig, "livePrice": live, "quantityLimit": 2, "stockAvailable": 100,
            "displayOrder": i + 1})
        assert r.status == 201, (r.status, r.body)
        products.append(r.json())
    return room, products


def watch_room(env, inst, conn, guest=False, screenshot=None):
    """A viewer (with a token, or a guest without one) keeps /live.html?room=ID open while
    the room goes through its whole life; every change must appear on the page by itself."""
    owner = token("shop-1", "owner", "Shop Một")
    room, products = make_room(inst, owner, "Flash sale cuối năm")
    rid = room["id"]
    viewer = token("vy", "viewer", "Vy")
    url = "http://127.0.0.1:%d/live.html?room=%s%s" % (inst.port, rid, "&transport=poll" if conn == "polling" else "")
    b = LiveBrowser(env.tmp, mode="viewer", url=url, jwt=None if guest else viewer, conn=conn, status="PENDING",
                    products=2, screenshot=screenshot, presence_ms=500)
    try:
        st = b.expect("ready", 45)["state"]
        assert st["title"] == "Flash sale cuối năm" and st["status_class"] == "badge badge-pending", st
        assert [p["id"] for p in st["products"]] == [str(p["id"]) for p in products], st
        assert st["featured_id"] is None and not any(p["featured"] for p in st["products"]), st
        # the HTML in a product name is text, prices are formatted, the discount shown
        assert "Quần jean <b>nữ</b>" in st["products"][1]["text"] and st["injected"] == 0, st
        assert "149,000" in st["products"][0]["text"] and "-50%" in st["products"][0]["text"], st
        # the page joined the room: the server counts this viewer
        assert st["viewer_count"] >= 1 and st["error"] is None, st
        assert inst.get("/api/live/rooms/%s" % rid).json()["viewerCount"] >= 1

        # the owner highlights the second product: the page moves the highlight by itself
        r = put(inst, "/api/live/rooms/%s/products/%s/feature" % (rid, products[1]["id"]), owner)
        assert r.status in (200, 204), (r.status, r.body)
        st = b.wait("featured", id=str(products[1]["id"]))
        assert "Quần jean <b>nữ</b>" in st["featured_text"] and "-20%" in st["featured_text"], st
        r = put(inst, "/api/live/rooms/%s/products/%s/feature" % (rid, products[0]["id"]), owner)
        assert r.status in (200, 204), (r.status, r.body)
        st = b.wait("featured", id=str(products[0]["id"]))
        assert [p["featured"] for p in st["products"]] == [True, False], st

        # the room goes to WAITING_STREAM, then LIVE when OBS starts publishing
        r = put(inst, "/api/live/rooms/%s/start" % rid, owner)
        assert r.status == 200, (r.status, r.body)
        b.wait("status", status="WAITING_STREAM")
        r = rtmp_publish(inst, room["streamKey"])
        assert 200 <= r.status < 300, (r.status, r.body)
        st = b.wait("status", status="LIVE")
        assert st["status_class"] == "badge badge-live", st

        # another viewer's hostile chat message arrives as text
        evil = '<img src=x onerror="window.__xss=1"><b>mua ngay</b>'
        r = post(inst, "/api/live/rooms/%s/chat" % rid, token("lan", "viewer", "Lan"), {"message": evil})
        assert r.status == 201, (r.status, r.body)
        st = b.wait("chat", text=evil)
        assert st["injected"] == 0 and st["xss"] is None, st

        hello = "Xin chào shop! Còn size L không?"
        if guest:
            # a guest watches but cannot chat: the page says how, and nothing is sent
            st = b.wait("send_error", text=hello)
            assert "access token" in st["chat_error"], st
            msgs = inst.get("/api/live/rooms/%s/chat?limit=100" % rid).json()["messages"]
            assert [m["message"] for m in msgs] == [evil], msgs
        else:
            # this viewer chats from the page
            st = b.wait("send", text=hello)
            assert st["chat_error"] is None, st
            assert [m["text"] for m in st["chat"]].count(hello) == 1, st["chat"]   # reply and event: shown once
            msgs = inst.get("/api/live/rooms/%s/chat?limit=100" % rid).json()["messages"]
            assert [(m["username"], m["message"]) for m in msgs][-2:] == [("Lan", evil), ("Vy", hello)], msgs

        # the owner pins the hostile message: it shows above the chat, still as text; pinning
        # another moves the pin, by itself, on the page
        chat_id = {m["message"]: m["id"] for m in inst.get("/api/live/rooms/%s/chat" % rid).json()["messages"]}
        r = put(inst, "/api/live/rooms/%s/chat/%s/pin" % (rid, chat_id[evil]), owner)
        assert r.status == 200, (r.status, r.body)
        st = b.wait("pinned", text=evil)
        assert st["pinned"]["user"] == "Lan:" and st["chat_pinned"] == [evil] and st["injected"] == 0, st
        deal = "Chốt đơn: 2 áo size L"
        r = post(inst, "/api/live/rooms/%s/chat" % rid, token("lan", "viewer", "Lan"), {"message": deal})
        assert r.status == 201, (r.status, r.body)
        r = put(inst, "/api/live/rooms/%s/chat/%s/pin" % (rid, r.json()["id"]), owner)
        assert r.status == 200 and r.json()["unpinnedId"] == chat_id[evil], (r.status, r.body)
        st = b.wait("pinned", text=deal)
        assert st["chat_pinned"] == [deal], st

        # an order from the order service pops a toast
        order = {"orderId": "ord-%s-1" % rid, "roomId": rid, "userId": "lan", "username": "Lan",
                 "productId": products[0]["productId"], "productName": products[0]["productName"], "amount": 149000}
        r = signed_order(inst, order)
        assert r.status == 200, (r.status, r.body)
        st = b.wait("toast", text="Lan bought Áo thun nam")
        assert any("149,000" in t for t in st["toasts"]), st
        # re-joining every 0.5 s kept this page one viewer (a guest keeps its viewerId)
        assert st["viewer_count"] == 1 and st["viewer_peak"] == 1, st
        server = inst.get("/api/live/rooms/%s" % rid).json()
        assert server["viewerCount"] == 1 and server["peakViewers"] == 1, server

        # the owner ends the live: the badge flips and chat closes
        r = put(inst, "/api/live/rooms/%s/end" % rid, owner)
        assert r.status == 200, (r.status, r.body)
        st = b.wait("status", status="ENDED")
        assert st["status_class"] == "badge badge-ended" and st["chat_disabled"], st
        r = post(inst, "/api/live/rooms/%s/chat" % rid, viewer, {"message": "còn không?"})
        assert r.status == 409, (r.status, r.body)

        # no reload: the same document saw every state, on the expected transport throughout
        assert st["marker"] == "same-page" and st["error"] is None, st
        seen = [s["status"] for s in st["seen"]]
        order_seen = [s for i, s in enumerate(seen) if s in ("PENDING", "WAITING_STREAM", "LIVE", "ENDED")
                      and (i == 0 or seen[i - 1] != s)]
        assert order_seen == ["PENDING", "WAITING_STREAM", "LIVE", "ENDED"], seen
        conns = [s["conn"] for s in st["seen"] if s["conn"] not in ("connecting",)]
        assert set(conns) == {conn}, st["seen"]
        # an ENDED room counts no viewers: the page shows none, the peak kept
        assert st["viewer_count"] == 0 and st["viewer_peak"] == 1, st
        server = inst.get("/api/live/rooms/%s" % rid).json()
        assert server["viewerCount"] == 0 and server["peakViewers"] == 1, server
        # the page's presence (within its 60 s TTL) goes at once when it leaves
        rows = lambda: inst.sql("SELECT count(*) FROM live_viewers WHERE room_id = ?", (rid,))[0][0]
        assert rows() == 1
        b.send(json.dumps({"wait": "away"}))
        assert b.expect("away", 20)["page_errors"] == []
        wait_for(lambda: rows() == 0, timeout=5, what="the page's leave on pagehide")
        b.send("quit")
        b.expect("done", 20)
        return st
    finally:
        b.close()


# The page re-joins every 0.5 s here instead of every 30 s (presence_ms): the
# server's per-viewer limit on joins and leaves is raised to match, as it
# would be for a page that really re-joined that often, so that the page's
# leave on pagehide, right after a re-join, is not refused.
FAST_PRESENCE = {"PULSE_JOIN_RATE": "10"}


def test_browser_live_room_updates_live(env):
    a = env.instance(env=FAST_PRESENCE)
    watch_room(env, a, "live", screenshot=SCREENSHOT)
    assert os.path.getsize(SCREENSHOT) > 1000


def test_browser_live_room_works_by_polling_for_a_guest(env):
    watch_room(env, env.instance(env=FAST_PRESENCE), "polling", guest=True)


def test_browser_live_page_keeps_its_viewer_counted_under_a_short_presence_ttl(env):
    # PULSE_PRESENCE_TTL_S may be as short as 5 s; the page re-joined every 30 s whatever it
    # was, so a viewer watching the whole time stopped counting 5 s after each join and every
    # page showed the room emptying. The page now re-joins well within the TTL the join
    # answer states (no presence_ms here: the page's own period).
    a = env.instance(env={"PULSE_PRESENCE_TTL_S": "5"})
    owner = token("shop-1", "owner", "Shop Một")
    room, _ = make_room(a, owner, "TTL ngắn")
    rid = room["id"]
    url = "http://127.0.0.1:%d/live.html?room=%s" % (a.port, rid)
    b = LiveBrowser(env.tmp, mode="viewer", url=url, jwt=token("vy", "viewer", "Vy"), conn="live",
                    status="PENDING", products=2)
    try:
        b.expect("ready", 45)
        counts = []
        end = time.time() + 8  # the TTL and then some: the page re-joins at 2.5 s
        while time.time() < end:
            counts.append(a.get("/api/live/rooms/%s" % rid).json()["viewerCount"])
            time.sleep(0.5)
        assert counts and all(n == 1 for n in counts), counts
    finally:
        b.close()


def test_browser_owner_console_creates_a_room_and_starts_it(env):
    a = env.instance()
    owner = token("shop-2", "owner", "Shop Hai")
    product = {"productId": "sku-9", "productName": "Nón lá <i>xịn</i>", "productImageUrl": "",
               "originalPrice": 200000, "livePrice": 150000, "quantityLimit": 1, "stockAvailable": 5,
               "displayOrder": 1}
    b = LiveBrowser(env.tmp, mode="owner", url="http://127.0.0.1:%d/owner.html" % a.port, jwt=owner,
                    room={"title": "Phiên live <b>đầu tiên</b>", "description": "Hàng mới về",
                          "thumbnailUrl": "https://example.invalid/t.jpg"}, product=product)
    try:
        created = b.expect("created", 45)
        rid = created["room_id"]
        assert created["title"] == "Phiên live <b>đầu tiên</b>", created
        assert created["rtmp_url"] == "rtmp://127.0.0.1:1935/live", created
        assert rid in created["my_rooms"], created
        server = a.get("/api/live/rooms/%s" % rid).json()
        assert server["shopOwnerId"] == "shop-2" and server["title"] == created["title"], server
        assert "streamKey" not in server, server                      # public view: no key
        # the page shows its owner the room's stream key: the one the API gives the owner, and no one else
        key = created["stream_key"]
        assert len(key) >= 16 and re.match(r"^[A-Za-z0-9_.:-]+$", key), created
        r = http(a.port, "GET", "/api/live/rooms/%s" % rid, headers={"Authorization": "Bearer " + owner})
        assert r.status == 200 and r.json()["streamKey"] == key, (r.status, r.body, created)
        other = token("shop-3", "owner", "Shop Ba")
        r = http(a.port, "GET", "/api/live/rooms/%s" % rid, headers={"Authorization": "Bearer " + other})
        assert r.status == 200 and "streamKey" not in r.json(), r.body

        started = b.expect("started", 30)
        assert started["page_errors"] == [], started
        assert started["status"] == "WAITING_STREAM", started
        assert a.get("/api/live/rooms/%s" % rid).json()["status"] == "WAITING_STREAM"
        prods = a.get("/api/live/rooms/%s/products" % rid).json()["products"]
        assert len(prods) == 1 and prods[0]["isFeatured"] and prods[0]["productName"] == product["productName"], prods
        assert prods[0]["livePrice"] == 150000 and round(prods[0]["discountPercent"]) == 25, prods
        assert [p["id"] for p in started["products"]] == [str(prods[0]["id"])] and started["products"][0]["featured"]
        assert "Nón lá <i>xịn</i>" in started["products"][0]["text"], started
        # OBS set up with the key the page showed takes the room live
        r = rtmp_publish(a, key)
        assert 200 <= r.status < 300, (r.status, r.body)
        assert a.get("/api/live/rooms/%s" % rid).json()["status"] == "LIVE"

        # viewers chat; the owner pins one message from the console, then another
        first, second = "Shop ơi còn <b>màu đỏ</b> không?", "Cho mình 2 cái nhé"
        for who, text in (("lan", first), ("vy", second)):
            r = post(a, "/api/live/rooms/%s/chat" % rid, token(who, "viewer", who.title()), {"message": text})
            assert r.status == 201, (r.status, r.body)
        for text, other in ((first, second), (second, first)):
            b.send(json.dumps({"wait": "pin", "text": text}))
            st = b.expect("pin", 20)
            assert st["page_errors"] == [] and st["pinned"] == text and st["chat_error"] == "", st
            assert {m["text"]: m["pinned"] for m in st["chat"]} == {text: True, other: False}, st
            server = a.get("/api/live/rooms/%s/chat" % rid).json()
            assert server["pinned"]["message"] == text, server
            assert [m["message"] for m in server["messages"] if m["isPinned"]] == [text], server
        b.send("end")
        b.expect("done", 20)
    finally:
        b.close()


def test_live_pages_never_parse_html(env):
    assert_never_parses_html("live.js", "live_video.js", "commerce.js", "owner.js", "page.js")
