"""Findings of a security review of a running instance, each reproduced
against the real web server and processes: the Authorization scheme's case,
text that is not UTF-8, PayOS amounts written as reals, URLs pages put in
src/href, chat session ids claimed by someone else first, tokens used before
their nbf, and orders for products a room does not have."""
import base64
import hashlib
import hmac
import json
import time

from harness import JWT_SECRET, PAYOS_KEY, WEBHOOK_SECRET, http, token, topup, wait_for

FB_SECRET, ZALO_SECRET, TIKTOK_SECRET = "fb-app-secret", "zalo-oa-secret", "tiktok-app-secret"
SECRETS = {"FB_APP_SECRET": FB_SECRET, "ZALO_OA_SECRET": ZALO_SECRET, "TIKTOK_APP_SECRET": TIKTOK_SECRET}


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt(claims, secret=JWT_SECRET):
    """An HS256 token whose payload is exactly the bytes given (or a dict's
    JSON): a test can put bytes in it that no JSON encoder would write."""
    payload = (claims if isinstance(claims, bytes) else claims.encode() if isinstance(claims, str) else
               json.dumps(claims).encode())
    head = b64(b'{"alg":"HS256","typ":"JWT"}') + "." + b64(payload)
    return head + "." + b64(hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest())


def bearer(sub, role="viewer"):
    return {"Authorization": "Bearer " + token(sub, role)}


def err(r):
    return r.json()["error"]["code"]


def raw_texts(a, table):
    """Every text value of a table, as the bytes SQLite holds."""
    cols = [r[1] for r in a.sql("PRAGMA table_info(%s)" % table)]
    out = []
    for c in cols:
        out += [r[0] for r in a.sql("SELECT CAST(%s AS BLOB) FROM %s WHERE typeof(%s) = 'text'" % (c, table, c))]
    return out


def assert_all_utf8(a):
    """Nothing in the database is text that is not UTF-8."""
    tables = [r[0] for r in a.sql("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for t in tables:
        for v in raw_texts(a, t):
            v.decode("utf-8")  # raises on a byte that is not UTF-8 (or a surrogate)


def make_room(a, owner="shop1", **fields):
    body = {"title": "Sale", "description": "d"}
    body.update(fields)
    return a.post("/api/live/rooms", body, headers=bearer(owner, "owner"))


def product(pid="sku-1", **kw):
    p = {"productId": pid, "productName": "Áo " + pid, "productImageUrl": "https://cdn.example.com/%s.jpg" % pid,
         "originalPrice": 299000, "livePrice": 149000}
    p.update(kw)
    return p


def signed_order(a, raw):
    raw = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    sig = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return http(a.port, "POST", "/api/live/orders", raw=raw, headers={"X-Pulse-Signature": sig})


def fb_post(a, raw):
    sig = "sha256=" + hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return http(a.port, "POST", "/api/webhooks/facebook", raw=raw, headers={"X-Hub-Signature-256": sig})


def fb_raw(mid, text_json):
    """A Facebook delivery whose message text is the raw JSON string given
    (quotes included), as bytes."""
    return (b'{"object":"page","entry":[{"id":"page-1","time":1795000000000,"messaging":[{"sender":{"id":"111"},'
            b'"recipient":{"id":"page-1"},"timestamp":1795000000000,"message":{"mid":"' + mid.encode() +
            b'","text":' + text_json + b'}}]}]}')


def zalo_post(a, raw, app_id="360846524940903967", ts="1795000000123"):
    mac = "mac=" + hashlib.sha256(app_id.encode() + raw + ts.encode() + ZALO_SECRET.encode()).hexdigest()
    return http(a.port, "POST", "/api/webhooks/zalo", raw=raw, headers={"X-ZEvent-Signature": mac})


def tiktok_post(a, raw):
    t = int(time.time())
    sig = hmac.new(TIKTOK_SECRET.encode(), str(t).encode() + b"." + raw, hashlib.sha256).hexdigest()
    return http(a.port, "POST", "/api/webhooks/tiktok", raw=raw, headers={"Tiktok-Signature": "t=%d,s=%s" % (t, sig)})


def js_number(v):
    """A number as JavaScript prints it (what PayOS signs): 50000.0 is "50000"."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def payos_raw(order_code, amount_json, code="00", reference="REF"):
    """A signed PayOS body whose data.amount is written exactly as amount_json,
    signed the way PayOS's JavaScript would sign that number."""
    data = {"orderCode": order_code, "amount": "@AMOUNT@", "description": "topup", "accountNumber": "12345678",
            "reference": reference, "transactionDateTime": "2026-11-23 08:00:00", "currency": "VND",
            "paymentLinkId": "abc", "code": code, "desc": "Thành công"}
    value = json.loads(amount_json)
    text = "&".join("%s=%s" % (k, js_number(value) if k == "amount" else data[k]) for k in sorted(data))
    sig = hmac.new(PAYOS_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()
    body = json.dumps({"code": "00", "desc": "success", "success": True, "data": data, "signature": sig},
                      ensure_ascii=False)
    return body.replace('"@AMOUNT@"', amount_json).encode()


# ------------------------------------------------------------- i. bearer case

def test_the_bearer_scheme_is_case_insensitive(env):
    a = env.instance()
    t = token("lan", "agent")
    for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
        h = {"Authorization": scheme + " " + t}
        r = a.get("/api/wallet", headers=h)  # the request pool (ctx_auth)
        assert r.status == 200 and r.json()["user_id"] == "lan", (scheme, r.status, r.body)
        # the stream responder reads the header on its own
        s = a.sse("/api/events/stream?topic=crm", headers=h)
        assert s.status == 200, (scheme, s.status)
        s.close()
    adm = {"Authorization": "bearer " + token("root", "admin")}  # the batching responder
    r = a.post("/api/publish", {"topic": "news", "type": "t", "data": {}}, headers=adm)
    assert r.status == 202, r.body
    # other schemes are still refused, on both sides
    for h in ({"Authorization": "Basic dTpw"}, {"Authorization": "Bearer"}, {"Authorization": "Bearerx " + t}):
        r = a.get("/api/wallet", headers=h)
        assert r.status == 401 and err(r) == "unauthorized", (h, r.body)
        s = a.sse("/api/events/stream?topic=crm", headers=h)
        assert s.status == 401, (h, s.status)
        s.close()


# ------------------------------------------------------------- j. UTF-8

BAD_TEXTS = [b'"caf\xe9"', b'"\xff\xfe"', b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"ab\xe2\x82"',
             b'"\\ud800"', b'"x\\udc00y"', b'"\\ud83d\\u0041"']


def test_a_signed_facebook_message_that_is_not_utf8_is_skipped_and_stores_nothing(env):
    # a Facebook batch skips a malformed item rather than refuse the batch
    # (a refusal would be redelivered with its good messages until Facebook
    # gives up): text that is not Unicode is such an item, logged, not stored
    # (test_fb_batch_unicode: its neighbours in the batch are stored)
    a = env.instance(env=SECRETS)
    before = a.snapshot()
    s = a.sse("/api/events/stream?topic=crm&access_token=" + token("agent1", "agent"))
    for i, text in enumerate(BAD_TEXTS):
        r = fb_post(a, fb_raw("m_bad%d" % i, text))
        assert r.status == 200 and r.body == "EVENT_RECEIVED", (text, r.status, r.body)
        wait_for(lambda: "skipped message m_bad%d: its text is not Unicode" % i in a.log_text(),
                 what="the log line for m_bad%d" % i)
    assert a.snapshot() == before
    s.no_event()
    # the same delivery in UTF-8 (raw, or escaped pairs) is stored as sent
    r = fb_post(a, fb_raw("m_good", '"Xin chào 😀 \\ud83d\\ude00"'.encode()))
    assert r.status == 200 and r.body == "EVENT_RECEIVED"
    ev = [e for e in s.events(3) if e["event"] == "new_message"][0]
    assert ev["json"]["data"]["content"] == "Xin chào 😀 😀"
    assert a.sql("SELECT content FROM crm_messages")[0][0] == "Xin chào 😀 😀"
    assert_all_utf8(a)


def test_every_inbound_json_text_must_be_utf8(env):
    a = env.instance(env=SECRETS)
    tx = topup(a, "payer", 50000)
    rid = make_room(a).json()["id"]
    assert a.post("/api/live/rooms/%s/products" % rid, product(), headers=bearer("shop1", "owner")).status == 201
    agent, adm, owner, viewer = (bearer("agent1", "agent"), bearer("root", "admin"), bearer("shop1", "owner"),
                                 bearer("lan"))
    before = a.snapshot()
    for text in BAD_TEXTS:
        cases = [
            ("/api/publish", b'{"topic":"news","type":"t","data":{"x":' + text + b'}}', adm),
            ("/api/publish", b'{"events":[{"topic":"news","type":"t","data":{' + text + b':1}}]}', adm),
            ("/api/crm/customers", b'{"name":' + text + b'}', agent),
            ("/api/live/rooms", b'{"title":' + text + b'}', owner),
            ("/api/live/rooms/%s/products" % rid, json.dumps(product("sku-2")).encode().replace(
                b'"productName": "\\u00c1o sku-2"', b'"productName": ' + text), owner),
            ("/api/live/rooms/%s/chat" % rid, b'{"message":' + text + b'}', viewer),
            ("/api/chat/sessions", b'{"id":"ok","note":' + text + b'}', viewer),
            ("/api/topup/init", b'{"amount":5000,"description":' + text + b'}', viewer),
        ]
        for path, raw, h in cases:
            r = http(a.port, "POST", path, raw=raw, headers=h)
            assert r.status == 400 and err(r) == "invalid_utf8", (path, raw, r.status, r.body)
        # signed deliveries: the signature holds, the text does not
        payos = payos_raw(tx["order_code"], "50000").replace(b'"topup"', text)
        r = http(a.port, "POST", "/api/payos/webhook", raw=payos)
        assert r.status == 400 and err(r) == "invalid_utf8", (text, r.body)
        order = (b'{"orderId":"o-1","roomId":"' + rid.encode() + b'","userId":"lan","username":' + text +
                 b',"productId":"sku-1","productName":"x","amount":1}')
        r = signed_order(a, order)
        assert r.status == 400 and err(r) == "invalid_utf8", (text, r.body)
        zalo = (b'{"app_id":"360846524940903967","timestamp":"1795000000123","event_name":"user_send_text",'
                b'"sender":{"id":"9"},"recipient":{"id":"oa-1"},"message":{"msg_id":"z1","text":' + text + b'}}')
        r = zalo_post(a, zalo)
        assert r.status == 400 and err(r) == "invalid_utf8", (text, r.body)
        tiktok = (b'{"event":"im_receive_msg","user_openid":"7","create_time":1795000000,'
                  b'"content":{"business_id":"shop-1","message_id":"t1","text":' + text + b'}}')
        r = tiktok_post(a, tiktok)
        assert r.status == 400 and err(r) == "invalid_utf8", (text, r.body)
    # TikTok's content as a string holding JSON: the inner text is checked too
    inner = json.dumps(json.dumps({"business_id": "shop-1", "message_id": "t2", "text": "\ud800"}))
    r = tiktok_post(a, ('{"event":"im_receive_msg","user_openid":"7","content":%s}' % inner).encode())
    assert r.status == 400 and err(r) == "invalid_utf8", r.body
    # a PATCH as well as a POST
    cid = http(a.port, "POST", "/api/crm/customers", {"name": "A"}, headers=agent).json()["id"]
    snap = a.snapshot()
    r = http(a.port, "PATCH", "/api/crm/customers/" + cid, raw=b'{"notes":"\xff"}', headers=agent)
    assert r.status == 400 and err(r) == "invalid_utf8", r.body
    assert a.snapshot() == snap
    http(a.port, "DELETE", "/api/crm/customers/" + cid, headers=agent)
    after = a.snapshot()
    # nothing was stored but the customer made and deleted on purpose (and its events)
    for t in before:
        if t not in ("crm_customers", "events", "meta"):
            assert after[t] == before[t], t
    assert a.sql("SELECT status FROM topups WHERE tx_ref = ?", (tx["tx_ref"],))[0][0] == "PENDING"
    assert a.sql("SELECT count(*) FROM live_orders")[0][0] == 0
    assert_all_utf8(a)


def test_token_claims_that_are_not_utf8_or_hold_a_nul_are_refused(env):
    a = env.instance()
    rid = make_room(a).json()["id"]
    exp = int(time.time()) + 600
    before = a.snapshot()
    # "\u0000": SQLite 3.40 ends the decoded string there, so "alice\u0000x"
    # acted as alice (her wallet, her rooms' stream keys)
    for name in (b'"Lan\xff"', b'"\xc3"', b'"\xed\xa0\x80"', b'"\\ud800"', b'"a\\udfffb"', b'"lan\\u0000x"'):
        for claims in (b'{"sub":"lan","name":' + name + b',"exp":%d}' % exp,
                       b'{"sub":' + name + b',"exp":%d}' % exp,
                       b'{"sub":"lan","picture":' + name + b',"exp":%d}' % exp):
            h = {"Authorization": "Bearer " + jwt(claims)}
            r = a.post("/api/live/rooms/%s/chat" % rid, {"message": "hi"}, headers=h)
            assert r.status == 401 and err(r) == "invalid_token", (claims, r.status, r.body)
            s = a.sse("/api/events/stream?topic=crm", headers=h)
            assert s.status == 401, claims
            s.close()
    # the same in the header: "HS256\u0000x" is not HS256
    head = b64(b'{"alg":"HS256\\u0000x","typ":"JWT"}') + "." + b64(b'{"sub":"lan","exp":%d}' % exp)
    tok = head + "." + b64(hmac.new(JWT_SECRET.encode(), head.encode(), hashlib.sha256).digest())
    r = a.post("/api/live/rooms/%s/chat" % rid, {"message": "hi"}, headers={"Authorization": "Bearer " + tok})
    assert r.status == 401 and err(r) == "invalid_token", (r.status, r.body)
    assert a.snapshot() == before
    # a name in UTF-8, raw or as an escaped pair, is stored and echoed as it is
    h = {"Authorization": "Bearer " + jwt('{"sub":"lan","name":"Lân \\ud83d\\ude00","exp":%d}' % exp)}
    r = a.post("/api/live/rooms/%s/chat" % rid, {"message": "hi"}, headers=h)
    assert r.status == 201 and r.json()["username"] == "Lân 😀", r.body
    assert_all_utf8(a)


def refused(a, r, code, what):
    """400 with the error code. (lighttpd refuses a URL that is not UTF-8
    once decoded before Pulse sees it, with its own HTML 400; nginx passes
    it on.)"""
    assert r.status == 400, (what, r.status, r.body)
    if "json" in (r.header("Content-Type") or ""):
        assert err(r) == code, (what, r.body)
    else:
        assert a.web == "lighttpd", (what, r.body)


def test_query_and_form_values_that_are_not_utf8_are_refused(env):
    a = env.instance()
    rid = make_room(a).json()["id"]
    key = make_room(a).json()["streamKey"]
    before = a.snapshot()
    for v in ("%ff", "%c0%af", "%ed%a0%80", "ab%e2%82", "%f4%90%80%80"):
        refused(a, a.post("/api/live/rooms/%s/join?viewerId=guest-%s" % (rid, v), {}), "bad_request", v)
        refused(a, a.get("/api/live/rooms?status=LIVE%s" % v), "bad_request", v)
        refused(a, a.get("/api/webhooks/facebook?hub.mode=subscribe&hub.verify_token=x&hub.challenge=" + v),
                "bad_request", v)
        refused(a, a.get("/api/events?since=0&topic=room:x" + v), "bad_request", v)
        s = a.sse("/api/events/stream?topic=room:x" + v)
        assert s.status == 400, v
        s.close()
        # the RTMP callbacks' form fields: nginx-rtmp refuses the publisher on a 4xx
        form = ("app=live&flashver=FMLE%%2F3.0&tcurl=rtmp%%3A%%2F%%2Fx%%2Flive&pageurl=%s&call=publish&name=%s"
                % (v, key))
        r = http(a.port, "POST", "/api/live/rtmp/on_publish", raw=form.encode(),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 403 and err(r) == "forbidden" and "UTF-8" in r.json()["error"]["message"], (v, r.body)
        r = http(a.port, "POST", "/api/live/rtmp/on_publish_done", raw=form.encode(),
                 headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 400 and err(r) == "bad_request", (v, r.body)
    assert a.snapshot() == before
    # values in UTF-8 are fine
    assert a.get("/api/live/rooms?limit=5&x=%C3%A9").status == 200


# ------------------------------------------------------------- k. PayOS amounts

def test_a_payos_amount_written_as_a_real_number_matches(env):
    a = env.instance()
    tx = topup(a, "payer", 50000)
    r = http(a.port, "POST", "/api/payos/webhook", raw=payos_raw(tx["order_code"], "50000.0"))
    assert r.status == 200 and r.json()["status"] == "PAID", r.body
    assert a.get("/api/wallet", headers=bearer("payer")).json()["balance"] == 50000
    # 5e4 is the same number; once paid, a redelivery changes nothing
    r = http(a.port, "POST", "/api/payos/webhook", raw=payos_raw(tx["order_code"], "5e4"))
    assert r.status == 200 and r.json()["status"] == "PAID"
    assert a.get("/api/wallet", headers=bearer("payer")).json()["balance"] == 50000
    # a number that is not the amount is a mismatch
    tx2 = topup(a, "payer", 50000)
    r = http(a.port, "POST", "/api/payos/webhook", raw=payos_raw(tx2["order_code"], "50000.5"))
    assert r.status == 200 and r.json()["status"] == "FAILED", r.body
    assert a.get("/api/wallet", headers=bearer("payer")).json()["balance"] == 50000
    wait_for(lambda: "topup %s: paid amount 50000.5 differs from 50000; marked FAILED" % tx2["tx_ref"]
             in a.log_text(), what="the log line for the mismatch")


def test_a_mismatched_delivery_for_a_paid_transaction_logs_that_nothing_changed(env):
    a = env.instance()
    tx = topup(a, "payer", 50000)
    r = http(a.port, "POST", "/api/payos/webhook", raw=payos_raw(tx["order_code"], "50000"))
    assert r.json()["status"] == "PAID"
    r = http(a.port, "POST", "/api/payos/webhook", raw=payos_raw(tx["order_code"], "1", reference="R2"))
    assert r.status == 200 and r.json()["status"] == "PAID", r.body
    assert a.sql("SELECT status FROM topups WHERE tx_ref = ?", (tx["tx_ref"],))[0][0] == "PAID"
    wait_for(lambda: "topup %s: a delivery paying 1 (not 50000) changed nothing: the transaction was already PAID"
             % tx["tx_ref"] in a.log_text(), what="the log line")
    assert "marked FAILED" not in a.log_text()


# ------------------------------------------------------------- l. URLs

BAD_URLS = ["javascript:alert(1)", "JAVASCRIPT:alert(document.cookie)", " javascript:alert(1)",
            "data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=", "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox", "//evil.example/x.jpg", "/img/x.jpg", "x.jpg", "ftp://example.com/a.jpg",
            "https://", "https:///x", "https://a/b c", "https://a/\"onerror=\"alert(1)", "https://a/<svg>",
            "https://example.com/" + "x" * 2100]


def test_url_fields_accept_only_absolute_http_urls(env):
    a = env.instance()
    owner = bearer("shop1", "owner")
    good = make_room(a, thumbnailUrl="https://cdn.example.com/t.jpg")
    assert good.status == 201 and good.json()["thumbnailUrl"] == "https://cdn.example.com/t.jpg"
    rid = good.json()["id"]
    assert make_room(a, thumbnailUrl="").status == 201  # no thumbnail at all
    assert make_room(a, thumbnailUrl="HTTP://Example.com:8080/a.png?x=1#y").status == 201
    before = a.snapshot()
    for url in BAD_URLS:
        r = make_room(a, thumbnailUrl=url)
        assert r.status == 400 and err(r) == "invalid_thumbnailUrl", (url, r.status, r.body)
        r = a.post("/api/live/rooms/%s/products" % rid, product("sku-9", productImageUrl=url), headers=owner)
        assert r.status == 400 and err(r) == "invalid_productImageUrl", (url, r.status, r.body)
    assert a.snapshot() == before
    r = a.post("/api/live/rooms/%s/products" % rid, product("sku-9", productImageUrl="http://img.example/9.png"),
               headers=owner)
    assert r.status == 201 and r.json()["productImageUrl"] == "http://img.example/9.png"


def test_a_chat_avatar_comes_from_a_picture_claim_that_is_an_http_url(env):
    a = env.instance()
    rid = make_room(a).json()["id"]
    exp = int(time.time()) + 600
    s = a.sse("/api/live/rooms/%s/stream" % rid)
    h = {"Authorization": "Bearer " + jwt({"sub": "lan", "name": "Lan", "exp": exp,
                                           "picture": "https://cdn.example.com/lan.png"})}
    r = a.post("/api/live/rooms/%s/chat" % rid, {"message": "hi"}, headers=h)
    assert r.status == 201 and r.json()["avatarUrl"] == "https://cdn.example.com/lan.png", r.body
    assert s.next_event()["json"]["data"]["avatarUrl"] == "https://cdn.example.com/lan.png"
    r = a.post("/api/live/rooms/%s/chat" % rid, {"message": "no picture"}, headers=bearer("binh"))
    assert r.status == 201 and r.json()["avatarUrl"] is None
    before = a.snapshot()
    for url in BAD_URLS:
        h = {"Authorization": "Bearer " + jwt({"sub": "mai", "exp": exp, "picture": url})}
        r = a.post("/api/live/rooms/%s/chat" % rid, {"message": "hi"}, headers=h)
        assert r.status == 400 and err(r) == "invalid_picture", (url, r.status, r.body)
    assert a.snapshot() == before
    hist = a.get("/api/live/rooms/%s/chat" % rid).json()["messages"]
    assert [m["avatarUrl"] for m in hist] == ["https://cdn.example.com/lan.png", None]


# ------------------------------------------------------------- p. chat session ids

def test_a_claimed_chat_session_id_stays_its_owners(env):
    """API.md: {"id"} -> 201 claimed / 200 already yours / 409. Claiming an
    id someone else holds gives nothing of theirs: no session, no stream."""
    a = env.instance()

    def claim(sub, body):
        return http(a.port, "POST", "/api/chat/sessions", body, headers=bearer(sub))

    mine = claim("lan", {"id": "sess-123"})
    assert mine.status == 201 and mine.json()["id"] == "sess-123", mine.body
    r = a.post("/api/chat/sessions/sess-123/messages", {"message": "xin chào"}, headers=bearer("lan"))
    assert r.status == 202, r.body
    # another user naming it gets 409; another case is another id; no trimming
    taken = claim("mallory", {"id": "sess-123"})
    assert taken.status == 409 and err(taken) == "session_taken"
    other = claim("mallory", {"id": "SESS-123"})
    assert other.status == 201 and other.json()["id"] == "SESS-123" and other.json()["ownerId"] == "mallory"
    assert claim("mallory", {"id": " sess-123"}).status == 400
    # nothing of lan's is readable, postable or streamable by mallory
    assert http(a.port, "GET", "/api/chat/sessions/sess-123", headers=bearer("mallory")).status == 403
    assert http(a.port, "GET", "/api/chat/sessions/sess-123/messages", headers=bearer("mallory")).status == 403
    assert a.post("/api/chat/sessions/sess-123/messages", {"message": "hi"},
                  headers=bearer("mallory")).status == 403
    s = a.sse("/api/events/stream?topic=chat:sess-123&access_token=%s" % token("mallory"))
    assert s.status == 403
    s.close()
    assert a.get("/api/events?topic=chat:sess-123&since=0", headers=bearer("mallory")).status == 403
    assert a.sql("SELECT owner_id FROM chat_sessions WHERE id = 'sess-123'") == [("lan",)]
    # lan's own claim again: the same session
    again = claim("lan", {"id": "sess-123"})
    assert again.status == 200 and again.json() == mine.json()
    # {} still gets a fresh random id
    fresh = claim("lan", {})
    assert fresh.status == 201 and fresh.json()["id"].startswith("s_") and len(fresh.json()["id"]) == 34
    assert a.sql("SELECT count(*) FROM chat_sessions")[0][0] == 3


# ------------------------------------------------------------- q. nbf, orders for products not on the live

def test_a_token_is_refused_before_its_nbf(env):
    a = env.instance()
    now = int(time.time())
    later = jwt({"sub": "lan", "exp": now + 7200, "nbf": now + 3600})
    r = a.get("/api/wallet", headers={"Authorization": "Bearer " + later})
    assert r.status == 401 and err(r) == "invalid_token" and "nbf" in r.json()["error"]["message"], r.body
    s = a.sse("/api/events/stream?topic=crm&access_token=" + jwt({"sub": "a", "role": "agent", "exp": now + 7200,
                                                                  "nbf": now + 3600}))
    assert s.status == 401
    s.close()
    r = a.get("/api/wallet", headers={"Authorization": "Bearer " + jwt({"sub": "lan", "exp": now + 600,
                                                                        "nbf": "soon"})})
    assert r.status == 401 and err(r) == "invalid_token", r.body
    # within the documented 60 s of leeway, or already past: valid
    for nbf in (now + 30, now, now - 3600):
        r = a.get("/api/wallet", headers={"Authorization": "Bearer " + jwt({"sub": "lan", "exp": now + 600,
                                                                            "nbf": nbf})})
        assert r.status == 200, (nbf, r.body)


def test_an_order_for_a_product_no_longer_on_the_live_counts_in_the_rooms_totals(env):
    """Seed 001: a sale the order service reports counts in the room's
    totals and is announced, whether or not its product is still on the
    live (the owner may remove it after the sale); only a product the room
    has gets its soldCount raised. It used to be refused (404), so such a
    sale was never counted, however often delivered."""
    a = env.instance()
    owner = bearer("shop1", "owner")
    rid = make_room(a).json()["id"]
    assert a.post("/api/live/rooms/%s/products" % rid, product("sku-1"), headers=owner).status == 201
    gone = a.post("/api/live/rooms/%s/products" % rid, product("sku-2"), headers=owner).json()["id"]
    assert http(a.port, "DELETE", "/api/live/rooms/%s/products/%s" % (rid, gone), headers=owner).status == 200
    s = a.sse("/api/live/rooms/%s/stream" % rid)
    order = {"orderId": "o-1", "roomId": rid, "userId": "lan", "username": "Lan", "productId": "sku-2",
             "productName": "Áo thun", "amount": 149000}
    r = signed_order(a, order)
    assert r.status == 200 and r.json() == {"ok": True, "duplicate": False}, r.body
    ev = s.next_event()
    while ev.get("event") != "order":
        ev = s.next_event()
    assert ev["json"]["data"] == {"orderId": "o-1", "username": "Lan", "productName": "Áo thun", "amount": 149000,
                          "message": "Lan vừa mua Áo thun"}, ev
    room = a.get("/api/live/rooms/" + rid).json()
    assert room["totalOrders"] == 1 and room["totalRevenue"] == 149000, room
    sold = {p["productId"]: p["soldCount"] for p in a.get("/api/live/rooms/%s/products" % rid).json()["products"]}
    assert sold == {"sku-1": 0}, sold
    # delivered again: once
    before = a.snapshot()
    r = signed_order(a, order)
    assert r.status == 200 and r.json() == {"ok": True, "duplicate": True}, r.body
    assert a.snapshot() == before
    # a product on the live counts in its soldCount too
    r = signed_order(a, dict(order, orderId="o-2", productId="sku-1"))
    assert r.status == 200, r.body
    room = a.get("/api/live/rooms/" + rid).json()
    assert room["totalOrders"] == 2 and room["totalRevenue"] == 298000, room
    sold = {p["productId"]: p["soldCount"] for p in a.get("/api/live/rooms/%s/products" % rid).json()["products"]}
    assert sold == {"sku-1": 1}, sold
