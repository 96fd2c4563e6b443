"""PayOS payment links (issue 16): init asks PayOS (our scripted stand-in,
tests/payos_standin.py, which checks the credentials, the signature over
the five fields and the JSON as PayOS does) and answers its link; PayOS
down, stalled, failing or answering garbage leaves no transaction behind;
cancel cancels at PayOS first; without credentials a dev checkout settles
by a webhook signed as PayOS signs, and is refused when they are set."""
import sqlite3
import time
import urllib.parse

from harness import PAYOS_KEY, payos_body, payos_sign, topup
from payos_standin import PayosStandin

CLIENT, API_KEY = "test-client-id", "test-api-key"


def live(env, standin, **extra):
    e = {"PAYOS_API_URL": standin.url, "PAYOS_CLIENT_ID": CLIENT, "PAYOS_API_KEY": API_KEY, "PAYOS_TIMEOUT_S": "1"}
    e.update(extra)
    return env.instance(env=e)


def standin():
    return PayosStandin(CLIENT, API_KEY, PAYOS_KEY).start()


def events_of(inst, tx):
    r = inst.get("/api/events?topic=%s&token=%s&since=0" % (urllib.parse.quote("topup:" + tx["tx_ref"]),
                                                           tx["stream_token"]))
    return [e for e in r.json()["events"] if e["type"] == "topup.status"]


def test_init_with_credentials_answers_payos_link(env):
    s = standin()
    try:
        a = live(env, s)
        tx = topup(a, "alice", 25000)
        assert len(s.requests) == 1 and s.requests[0]["problems"] == [], s.requests
        sent = s.requests[0]["body"]
        assert s.requests[0]["path"] == "/v2/payment-requests"
        assert sent["orderCode"] == tx["order_code"] and sent["amount"] == 25000
        assert sent["description"] == "nap tien"
        page = "http://127.0.0.1/topup.html?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"])
        assert sent["returnUrl"] == page and sent["cancelUrl"] == page, sent
        link = s.links[tx["payment_link_id"]]
        assert tx["checkout_url"] == "https://pay.payos.vn/web/" + link["id"]
        assert tx["qr_code"].startswith("000201") and tx["status"] == "PENDING"
        st = a.get(tx["status_url"]).json()
        assert (st["checkout_url"], st["qr_code"], st["payment_link_id"]) == \
               (tx["checkout_url"], tx["qr_code"], tx["payment_link_id"])
        # the dev checkout is off once PayOS's credentials are set
        r = a.post("/api/topup/dev/webhook?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]), raw=b"")
        assert r.status == 403 and r.json()["error"]["code"] == "dev_checkout_off", r.body
        # PayOS's webhook settles it as before
        r = a.post("/api/payos/webhook", payos_body(tx["order_code"], 25000, paymentLinkId=link["id"]))
        assert r.status == 200 and r.json()["status"] == "PAID"
        # PULSE_PUBLIC_URL, when set, is the origin PayOS sends the payer back to
        b = live(env, s, PULSE_PUBLIC_URL="https://shop.example.com/")
        tx2 = topup(b, "bob", 1000)
        assert s.requests[-1]["body"]["returnUrl"] == "https://shop.example.com/topup.html?tx_ref=%s&token=%s" % (
            tx2["tx_ref"], tx2["stream_token"])
    finally:
        s.stop()


def test_payos_down_stalled_or_failing_is_503_and_leaves_nothing(env):
    s = standin()
    try:
        a = live(env, s)
        a.sql("SELECT 1")
        before = a.snapshot()
        for mode in ("stall", "5xx", "4xx", "refuse", "garbage", "badsig", "down"):
            s.mode = mode
            url = s.url if mode != "down" else "http://127.0.0.1:1"
            inst = a if mode != "down" else live(env, s, PAYOS_API_URL=url)
            if mode == "down":
                before = inst.snapshot()
            n = len(s.requests)
            t0 = time.time()
            r = inst.post("/api/topup/init", {"amount": 5000}, headers=inst.auth("carol"))
            took = time.time() - t0
            assert r.status == 503 and r.header("Retry-After") == "5", (mode, r.status, r.body)
            assert r.json()["error"]["code"] == "payos_unavailable", r.body
            assert took < 4, (mode, took)       # PAYOS_TIMEOUT_S=1 bounds the stall
            assert inst.snapshot() == before, mode   # no transaction, no event, no wallet change
            if mode != "down":
                assert len(s.requests) == n + 1, mode
                ret = urllib.parse.urlparse(s.requests[-1]["body"]["returnUrl"])
                q = urllib.parse.parse_qs(ret.query)
                r = inst.get("/api/topup/status?tx_ref=%s&token=%s" % (q["tx_ref"][0], q["token"][0]))
                assert r.status == 404, (mode, r.status, r.body)
        assert inst.get("/api/wallet", headers=inst.auth("carol")).json()["balance"] == 0
    finally:
        s.stop()


def test_cancel_cancels_at_payos_marks_cancelled_with_one_event(env):
    s = standin()
    try:
        a = live(env, s)
        tx = topup(a, "dave", 7000)
        sse = a.sse("/api/topup/stream?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]))
        path = "/api/topup/cancel?tx_ref=" + tx["tx_ref"]
        assert a.post(path, raw=b"").status == 401
        assert a.post(path, raw=b"", headers=a.auth("eve")).status == 403
        assert a.post("/api/topup/cancel?tx_ref=TXnone", raw=b"", headers=a.auth("dave")).status == 404
        # PayOS failing: nothing changes (the payer could still pay)
        s.mode = "5xx"
        r = a.post(path, raw=b"", headers=a.auth("dave"))
        assert r.status == 503 and r.header("Retry-After") == "5", r.body
        assert a.get(tx["status_url"]).json()["status"] == "PENDING"
        s.mode = "ok"
        r = a.post(path, raw=b"", headers=a.auth("dave"))
        assert r.status == 200 and r.json()["status"] == "CANCELLED", r.body
        cancels = [q for q in s.requests if q["path"].endswith("/cancel")]
        assert cancels[-1]["path"] == "/v2/payment-requests/%s/cancel" % tx["payment_link_id"]
        assert cancels[-1]["problems"] == [] and isinstance(cancels[-1]["body"]["cancellationReason"], str)
        assert s.links[tx["payment_link_id"]]["status"] == "CANCELLED"
        ev = sse.next_event(10)
        assert ev["event"] == "topup.status" and ev["json"]["data"]["status"] == "CANCELLED"
        assert ev["json"]["data"] == r.json()
        # again: the same answer, no second call to PayOS, no second event
        n = len(s.requests)
        r = a.post(path, raw=b"", headers=a.auth("dave"))
        assert r.status == 200 and r.json()["status"] == "CANCELLED" and len(s.requests) == n
        assert sse.no_event(1.0)
        assert len(events_of(a, tx)) == 1
        sse.close()
    finally:
        s.stop()


def test_cancel_once_paid_is_409_and_payment_after_cancel_is_credited(env):
    s = standin()
    try:
        a = live(env, s)
        tx = topup(a, "erin", 3000)
        assert a.post("/api/payos/webhook", payos_body(tx["order_code"], 3000)).json()["status"] == "PAID"
        n = len(s.requests)
        r = a.post("/api/topup/cancel?tx_ref=" + tx["tx_ref"], raw=b"", headers=a.auth("erin"))
        assert r.status == 409 and r.json()["error"]["code"] == "already_settled", r.body
        assert len(s.requests) == n        # PayOS not asked
        # FAILED (an amount that did not match) cannot be cancelled either
        tx2 = topup(a, "erin", 4000)
        a.post("/api/payos/webhook", payos_body(tx2["order_code"], 3999))
        assert a.post("/api/topup/cancel?tx_ref=" + tx2["tx_ref"], raw=b"", headers=a.auth("erin")).status == 409
        # PayOS reporting a payment after our cancel: the money arrived, the
        # payer is credited once (decision documented in sql/queries/topup.sql)
        tx3 = topup(a, "erin", 5000)
        assert a.post("/api/topup/cancel?tx_ref=" + tx3["tx_ref"], raw=b"", headers=a.auth("erin")).status == 200
        late = payos_body(tx3["order_code"], 4000)       # a wrong amount changes nothing
        assert a.post("/api/payos/webhook", late).json()["status"] == "CANCELLED"
        paid = payos_body(tx3["order_code"], 5000)
        for _ in range(2):
            r = a.post("/api/payos/webhook", paid)
            assert r.status == 200 and r.json()["status"] == "PAID", r.body
        assert a.get("/api/wallet", headers=a.auth("erin")).json()["balance"] == 3000 + 5000
        assert [e["data"]["status"] for e in events_of(a, tx3)] == ["CANCELLED", "PAID"]
    finally:
        s.stop()


def test_dev_checkout_without_credentials_settles_once(env):
    for checksum in (PAYOS_KEY, ""):     # "": the key is derived from PULSE_JWT_SECRET
        a = env.instance(env={"PAYOS_CHECKSUM_KEY": checksum})
        tx = topup(a, "lan", 12000)
        assert tx["checkout_url"] == "/topup.html?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"])
        assert tx["qr_code"] is None and tx["payment_link_id"] is None
        dev = "/api/topup/dev/webhook?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"])
        assert a.post("/api/topup/dev/webhook?tx_ref=" + tx["tx_ref"], raw=b"", headers=a.auth("eve")).status == 403
        r = a.post(dev, raw=b"")
        assert r.status == 200, r.body
        body = r.json()
        data = body["data"]
        assert data["orderCode"] == tx["order_code"] and data["amount"] == 12000 and data["code"] == "00"
        if checksum:
            assert body["signature"] == payos_sign(data, PAYOS_KEY)   # exactly as PayOS signs
        r = a.post("/api/payos/webhook", raw=r.body.encode())
        assert r.status == 200 and r.json()["status"] == "PAID", r.body
        assert a.post(dev, raw=b"").status == 409                     # paid: nothing more to sign
        assert a.post("/api/payos/webhook", body).json()["status"] == "PAID"   # a replay: no second credit
        assert a.get("/api/wallet", headers=a.auth("lan")).json()["balance"] == 12000
        assert len(events_of(a, tx)) == 1
        # a forged body is still refused
        body["data"]["amount"] = 1
        assert a.post("/api/payos/webhook", body).status == 401
        # cancel without PayOS: marked at once
        tx2 = topup(a, "lan", 1000)
        r = a.post("/api/topup/cancel?tx_ref=" + tx2["tx_ref"], raw=b"", headers=a.auth("lan"))
        assert r.status == 200 and r.json()["status"] == "CANCELLED"
        assert a.post("/api/topup/dev/webhook?tx_ref=%s&token=%s" % (tx2["tx_ref"], tx2["stream_token"]), raw=b"").status == 409


def test_a_link_whose_transaction_cannot_be_stored_is_cancelled_at_payos(env):
    s = standin()
    try:
        a = live(env, s)
        con = sqlite3.connect(a.db, timeout=10)
        try:
            with con:
                con.execute("CREATE TRIGGER refuse_topups BEFORE INSERT ON topups "
                            "BEGIN SELECT RAISE(ABORT, 'test: the disk is full'); END")
        finally:
            con.close()
        before = a.snapshot()
        r = a.post("/api/topup/init", {"amount": 5000}, headers=a.auth("gia"))
        assert r.status == 503 and r.header("Retry-After"), r.body
        assert a.snapshot() == before
        # PayOS made the link, nobody was shown it, and it is cancelled at once
        assert [q["path"].rsplit("/", 1)[-1] for q in s.requests] == ["payment-requests", "cancel"], s.requests
        (link,) = s.links.values()
        assert link["status"] == "CANCELLED" and link["cancellationReason"] == "not stored", link
    finally:
        s.stop()
