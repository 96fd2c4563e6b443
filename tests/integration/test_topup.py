"""Top-up payments end to end (seed 000), through lighttpd and real processes."""
import sqlite3
import threading

from harness import payos_body, q, topup, wait_for


def test_topup_paid_event_reaches_stream_from_webhook_in_other_process(env):
    a = env.instance()
    tx = topup(a, "alice", 25000)
    assert tx["status"] == "PENDING" and tx["amount"] == 25000
    # codes start above PayOS's test order 123, so its sample webhook can never settle a real one
    assert tx["order_code"] > 100000
    s = a.sse("/api/topup/stream?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]))
    assert s.status == 200 and s.headers["content-type"].startswith("text/event-stream")
    assert s.headers["cache-control"] == "no-cache" and s.headers["x-accel-buffering"] == "no"
    # the webhook is served by a request responder, the stream by the stream responder
    r = a.post("/api/payos/webhook", payos_body(tx["order_code"], 25000))
    assert r.status == 200 and r.json()["status"] == "PAID", r.body
    ev = s.next_event(10)
    assert ev["event"] == "topup.status" and int(ev["id"]) == ev["json"]["id"]
    assert ev["json"]["topic"] == "topup:" + tx["tx_ref"]
    data = ev["json"]["data"]
    assert data["status"] == "PAID" and data["amount"] == 25000 and data["paid_at"]
    assert s.retry is not None and "pulse stream open" in s.comments
    status = a.get("/api/topup/status?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"])).json()
    assert status == data
    assert a.get("/api/wallet", headers=a.auth("alice")).json() == {"user_id": "alice", "balance": 25000}
    s.close()


def test_generic_stream_and_owner_jwt(env):
    a = env.instance()
    tx = topup(a, "bob", 1000)
    s = a.sse("/api/events/stream?topic=%s&access_token=%s" % (q("topup:" + tx["tx_ref"]),
                                                                a.auth("bob")["Authorization"][7:]))
    assert s.status == 200
    a.post("/api/payos/webhook", payos_body(tx["order_code"], 1000))
    assert s.next_event()["json"]["data"]["status"] == "PAID"
    # another user may not read bob's transaction
    other = a.sse("/api/topup/stream?tx_ref=" + tx["tx_ref"], headers=a.auth("eve"))
    assert other.status == 403
    assert a.get("/api/topup/status?tx_ref=" + tx["tx_ref"], headers=a.auth("eve")).status == 403
    assert a.get("/api/topup/status?tx_ref=" + tx["tx_ref"], headers=a.auth("bob")).status == 200
    assert a.get("/api/topup/status?tx_ref=" + tx["tx_ref"]).status == 401


def test_amount_mismatch_marks_failed_with_event_and_no_credit(env):
    a = env.instance()
    tx = topup(a, "carol", 5000)
    s = a.sse("/api/topup/stream?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]))
    r = a.post("/api/payos/webhook", payos_body(tx["order_code"], 4000))
    assert r.status == 200
    assert s.next_event()["json"]["data"]["status"] == "FAILED"
    assert a.get("/api/wallet", headers=a.auth("carol")).json()["balance"] == 0
    # a later delivery of the full amount is the truth about the money: PAID,
    # credited once however often PayOS repeats it
    for _ in range(2):
        r = a.post("/api/payos/webhook", payos_body(tx["order_code"], 5000, reference="REF2"))
        assert r.status == 200 and r.json()["status"] == "PAID", r.body
    assert s.next_event()["json"]["data"]["status"] == "PAID"
    assert a.get("/api/wallet", headers=a.auth("carol")).json()["balance"] == 5000
    # and a short payment after that changes nothing
    assert a.post("/api/payos/webhook", payos_body(tx["order_code"], 10)).json()["status"] == "PAID"
    assert a.get("/api/wallet", headers=a.auth("carol")).json()["balance"] == 5000


def test_a_payment_in_another_currency_is_not_credited_as_vnd(env):
    a = env.instance()
    tx = topup(a, "erin", 5000)
    for currency in ("USD", 5000):
        body = payos_body(tx["order_code"], 5000, currency=currency)
        r = a.post("/api/payos/webhook", body)
        assert r.status == 200 and r.json()["status"] == "FAILED", (currency, r.body)
        assert a.get("/api/wallet", headers=a.auth("erin")).json()["balance"] == 0
    wait_for(lambda: "in currency USD" in a.log_text(), what="the log line naming the currency")
    r = a.post("/api/payos/webhook", payos_body(tx["order_code"], 5000))
    assert r.status == 200 and r.json()["status"] == "PAID", r.body
    assert a.get("/api/wallet", headers=a.auth("erin")).json()["balance"] == 5000


def test_failed_payment_code_then_success_is_credited_once(env):
    a = env.instance()
    tx = topup(a, "dora", 7000)
    r = a.post("/api/payos/webhook", payos_body(tx["order_code"], 7000, code="01"))
    assert r.status == 200 and r.json()["status"] == "FAILED", r.body
    r = a.post("/api/payos/webhook", payos_body(tx["order_code"], 7000))
    assert r.status == 200 and r.json()["status"] == "PAID", r.body
    assert a.get("/api/wallet", headers=a.auth("dora")).json()["balance"] == 7000
    status = a.get("/api/topup/status?tx_ref=" + tx["tx_ref"], headers=a.auth("dora")).json()
    assert status["status"] == "PAID" and status["paid_at"]


def test_status_of_unknown_transaction_is_404_for_admin_too(env):
    a = env.instance()
    before = a.snapshot()
    for who in (a.auth("root", role="admin"), a.auth("alice")):
        r = a.get("/api/topup/status?tx_ref=TXnosuch", headers=who)
        assert r.status == 404 and r.json()["error"]["code"] == "unknown_transaction", (r.status, r.body)
    assert a.snapshot() == before


def test_unknown_order_code_is_ignored(env):
    a = env.instance()
    before = a.snapshot()
    r = a.post("/api/payos/webhook", payos_body(123, 3000))
    assert r.status == 200 and r.json() == {"success": True, "ignored": True}
    assert a.snapshot() == before


def test_hundred_replays_and_concurrent_deliveries_credit_once(env):
    a = env.instance(workers=4)
    tx = topup(a, "dave", 7000)
    body = payos_body(tx["order_code"], 7000)
    s = a.sse("/api/topup/stream?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]))
    results = []

    def deliver(n):
        for _ in range(n):
            results.append(a.post("/api/payos/webhook", body).status)

    threads = [threading.Thread(target=deliver, args=(25,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 100
    assert a.get("/api/wallet", headers=a.auth("dave")).json()["balance"] == 7000
    assert a.sql("SELECT count(*) FROM wallet_credits") == [(1,)]
    events = a.get("/api/events?topic=%s&token=%s&since=0" % (q("topup:" + tx["tx_ref"]), tx["stream_token"])).json()
    assert len(events["events"]) == 1
    assert s.next_event()["json"]["data"]["status"] == "PAID"
    assert s.no_event(1.0)


def test_payos_official_vector_verifies_through_http(env):
    """The vector from PayOS's docs page, sent as the webhook with that key."""
    key = "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675"
    a = env.instance(env={"PAYOS_CHECKSUM_KEY": key})
    body = ('{"code":"00","desc":"success","success":true,"data":{"orderCode":123,"amount":3000,'
            '"description":"VQRIO123","accountNumber":"12345678","reference":"TF230204212323",'
            '"transactionDateTime":"2023-02-04 18:25:00","currency":"VND",'
            '"paymentLinkId":"124c33293c43417ab7879e14c8d9eb18","code":"00","desc":"Thành công",'
            '"counterAccountBankId":"","counterAccountBankName":"","counterAccountName":"",'
            '"counterAccountNumber":"","virtualAccountName":"","virtualAccountNumber":""},'
            '"signature":"412e915d2871504ed31be63c8f62a149a4410d34c4c42affc9006ef9917eaa03"}')
    r = a.post("/api/payos/webhook", raw=body.encode())
    assert r.status == 200 and r.json()["ignored"] is True, r.body
    r = a.post("/api/payos/webhook", raw=body.replace('"amount":3000', '"amount":3001').encode())
    assert r.status == 401


def test_a_database_error_is_503_never_unknown_order_or_transaction(env):
    # PayOS stops retrying on a 2xx: a lookup that fails must not read as
    # "no such order". The fault: every read of topups raises an error.
    a = env.instance()
    tx = topup(a, "dave", 7000)
    con = sqlite3.connect(a.db, timeout=10)
    try:
        with con:
            con.execute("ALTER TABLE topups RENAME TO topups_real")
            con.execute("CREATE VIEW topups AS SELECT * FROM topups_real "
                        "WHERE abs(-9223372036854775808) IS NOT NULL")  # integer overflow when read
    finally:
        con.close()
    before = a.snapshot()
    r = a.post("/api/payos/webhook", payos_body(tx["order_code"], 7000))
    assert r.status == 503 and r.json()["error"]["code"] == "unavailable", r.body
    r = a.get("/api/topup/status?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]))
    assert r.status == 503, r.body
    assert a.snapshot() == before
    assert a.sql("SELECT status FROM topups_real")[0][0] == "PENDING"
