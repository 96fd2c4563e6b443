"""A top-up whose PayOS webhook never came (seed 000, issue 16): once it has
been PENDING for PAYOS_RECONCILE_S, pulse-batch asks PayOS (our stand-in of
GET /v2/payment-requests/{orderCode}, tests/platform_standin.py, which
checks x-client-id and x-api-key and signs its data as PayOS does). PAID
settles it through the webhook's own path, credited exactly once whichever
of the two comes first; CANCELLED or EXPIRED cancels it; errors, an
unsigned answer and a still-pending payment are asked about again later."""
import time

from harness import PAYOS_KEY, http, payos_body, topup, wait_for
from platform_standin import Platforms

TOKENS = {"payos_client": "client-id-1", "payos_key": "api-key-1", "payos_checksum": PAYOS_KEY}


def setup(env, **extra):
    p = Platforms(TOKENS).start()
    env.started.append(p)  # stopped with the instance
    e = {"PAYOS_API_URL": p.url + "/payos", "PAYOS_CLIENT_ID": TOKENS["payos_client"],
         "PAYOS_API_KEY": TOKENS["payos_key"], "PAYOS_RECONCILE_S": "1", "PULSE_SEND_TIMEOUT_S": "1",
         "PULSE_SEND_RETRY_MS": "100"}
    e.update(extra)
    return p, env.instance(env=e)


def status(a, t):
    return a.get("/api/topup/status?tx_ref=%s&token=%s" % (t["tx_ref"], t["stream_token"])).json()["status"]


def wallet(a, user):
    return a.get("/api/wallet", headers=a.auth(user)).json()["balance"]


def events(a, t, user):
    r = a.get("/api/events?topic=topup:%s&since=0" % t["tx_ref"], headers=a.auth(user))
    assert r.status == 200, r.body
    return [e for e in r.json()["events"] if e["type"] == "topup.status"]


def asked(p, t):
    return [r for r in p.of("payos") if r["path"] == "/v2/payment-requests/%d" % t["order_code"]]


def webhook(a, t, amount):
    return http(a.port, "POST", "/api/payos/webhook", payos_body(t["order_code"], amount))


def test_a_lost_webhook_is_settled_by_asking_payos_once(env):
    p, a = setup(env)
    t = topup(a, "u1", 5000)
    p.orders[str(t["order_code"])] = {"status": "PAID", "amount": 5000}
    # another whose webhook comes at once: nothing is left to ask about
    w = topup(a, "u2", 7000)
    p.orders[str(w["order_code"])] = {"status": "PAID", "amount": 7000}
    assert webhook(a, w, 7000).json() == {"success": True, "status": "PAID"}
    wait_for(lambda: status(a, t) == "PAID", timeout=15, what="the top-up settled by reconciliation")
    assert wallet(a, "u1") == 5000
    evs = events(a, t, "u1")
    assert [e["data"]["status"] for e in evs] == ["PAID"] and evs[0]["data"]["paid_at"]
    req = asked(p, t)
    assert len(req) == 1 and req[0]["accepted"] and req[0]["method"] == "GET"
    assert req[0]["headers"]["x-client-id"] == "client-id-1" and req[0]["headers"]["x-api-key"] == "api-key-1"
    # the webhook arrives after all: 200, no second credit, no second event
    r = webhook(a, t, 5000)
    assert r.status == 200 and r.json() == {"success": True, "status": "PAID"}, r.body
    time.sleep(1.5)
    assert wallet(a, "u1") == 5000 and len(events(a, t, "u1")) == 1 and len(asked(p, t)) == 1
    assert a.sql("SELECT count(*) FROM wallet_credits") == [(2,)]
    assert asked(p, w) == [] and wallet(a, "u2") == 7000 and len(events(a, w, "u2")) == 1


def test_cancelled_expired_pending_and_unsigned_answers(env):
    p, a = setup(env)
    cancelled, expired, waiting, unsigned, unknown = (topup(a, "u3", 1000 + i) for i in range(5))
    p.orders[str(cancelled["order_code"])] = {"status": "CANCELLED", "amount": 1000}
    p.orders[str(expired["order_code"])] = {"status": "EXPIRED", "amount": 1001}
    p.orders[str(waiting["order_code"])] = {"status": "PENDING", "amount": 1002}
    p.orders[str(unsigned["order_code"])] = {"status": "PAID", "amount": 1003, "bad_signature": True}
    wait_for(lambda: status(a, cancelled) == "CANCELLED" and status(a, expired) == "CANCELLED", timeout=15,
             what="cancelled and expired top-ups")
    assert [e["data"]["status"] for e in events(a, cancelled, "u3")] == ["CANCELLED"]
    # still pending, signed with another key, or unknown to PayOS: asked again later, nothing moves
    wait_for(lambda: all(len(asked(p, t)) >= 2 for t in (waiting, unsigned, unknown)), timeout=15,
             what="pending, unsigned and unknown orders asked about again")
    assert status(a, waiting) == status(a, unsigned) == status(a, unknown) == "PENDING"
    assert wallet(a, "u3") == 0 and events(a, unsigned, "u3") == []


def test_errors_are_asked_again_after_a_wait(env):
    p, a = setup(env)
    t = topup(a, "u5", 4000)
    p.orders[str(t["order_code"])] = {"status": "PAID", "amount": 4000}
    p.plan("payos", [{"status": 502, "json": {"code": "502", "desc": "Bad gateway"}}, "stall", "drop"])
    wait_for(lambda: status(a, t) == "PAID", timeout=20, what="the top-up settled after errors")
    req = asked(p, t)
    assert [r["accepted"] for r in req] == [False, False, False, True]
    assert req[2]["t"] - req[1]["t"] >= 0.9  # the stall ended by the timeout (1 s)
    assert wallet(a, "u5") == 4000 and len(events(a, t, "u5")) == 1


def test_without_credentials_nothing_is_asked(env):
    p, a = setup(env, PAYOS_CLIENT_ID="", PAYOS_API_KEY="")
    t = topup(a, "u4", 3000)
    p.orders[str(t["order_code"])] = {"status": "PAID", "amount": 3000}
    time.sleep(2.5)
    assert p.of("payos") == [] and status(a, t) == "PENDING"
