"""Pulse installed in a sub-folder of a site (https://example.com/pulse/), behind
the suite's web server (lighttpd or nginx, --web): the pages at /pulse/, the API
at /pulse/api/... reaching the FastCGI processes with REQUEST_URI as the browser
sent it (harness.prefixed_configs). With PULSE_BASE_PATH=/pulse every responder
(pulse-api, pulse-batch, pulse-stream) routes under the prefix, writes its own
URLs with it, and a path outside it is a 404. Without it, a SCRIPT_NAME naming a
script in the folder (what Apache's mod_rewrite to /pulse/pulse.fcgi sends) finds
the prefix by itself (test_prefix_nginx.py)."""
import json

from harness import PAYOS_KEY, SSE, http, payos_body, publish, q, topup
from payos_standin import PayosStandin

CLIENT, API_KEY = "test-client-id", "test-api-key"

PREFIX = "/pulse"


def prefixed(env, env_extra=None, **kw):
    a = env.instance(prefix=PREFIX, env=dict(env_extra or {}, PULSE_BASE_PATH=PREFIX), **kw)
    assert a.url("/api/health") == "/pulse/api/health"
    return a


def not_found(r):
    assert r.status == 404, (r.status, r.body)
    assert r.json()["error"]["code"] == "not_found", r.body


def test_prefix_topup_stream_polling_and_urls(env):
    a = prefixed(env)
    r = http(a.port, "GET", "/pulse/api/health")
    assert r.status == 200 and r.json()["db"] == "ok", r.body
    # the pages are in the folder, with their CSP; nothing is at the site's root
    page = http(a.port, "GET", "/pulse/topup.html")
    assert page.status == 200 and "<title>" in page.body, page.status
    assert "default-src 'self'" in page.header("content-security-policy"), page.headers
    assert 'src="pulse.js"' in page.body and 'src="/' not in page.body and 'href="/' not in page.body
    assert http(a.port, "GET", "/pulse/").status == 200
    not_found(http(a.port, "GET", "/topup.html"))
    for path in ("/api/health", "/pulsar/api/health", "/api/events/stream?topic=room:a"):
        not_found(http(a.port, "GET", path))

    # a top-up: the URLs the server writes are under the prefix
    tx = topup(a, "alice", 7000)
    token = tx["stream_token"]
    assert tx["stream_url"] == "/pulse/api/topup/stream?tx_ref=%s&token=%s" % (tx["tx_ref"], token), tx
    assert tx["status_url"] == "/pulse/api/topup/status?tx_ref=%s&token=%s" % (tx["tx_ref"], token), tx
    assert tx["checkout_url"] == "/pulse/topup.html?tx_ref=%s&token=%s" % (tx["tx_ref"], token), tx
    assert http(a.port, "GET", tx["checkout_url"]).status == 200
    status = http(a.port, "GET", tx["status_url"])
    assert status.status == 200 and status.json()["status"] == "PENDING", status.body
    assert status.json()["checkout_url"] == tx["checkout_url"], status.body

    # a held stream (pulse-stream) sees the webhook (pulse-batch) settle it
    s = SSE(a.port, tx["stream_url"])
    try:
        assert s.status == 200, s.status
        r = http(a.port, "POST", "/pulse/api/payos/webhook", payos_body(tx["order_code"], 7000))
        assert r.status == 200 and r.json()["status"] == "PAID", r.body
        ev = s.next_event(5)
        assert ev["event"] == "topup.status" and ev["json"]["data"]["status"] == "PAID", ev
    finally:
        s.close()
    assert http(a.port, "GET", tx["status_url"]).json()["status"] == "PAID"
    wallet = http(a.port, "GET", "/pulse/api/wallet", headers=a.auth("alice"))
    assert wallet.status == 200 and wallet.json()["balance"] == 7000, wallet.body

    # polling sees the same event
    r = http(a.port, "GET", "/pulse/api/events?topic=%s&token=%s&since=0" % (q("topup:" + tx["tx_ref"]), token))
    assert r.status == 200 and [e["data"]["status"] for e in r.json()["events"]] == ["PAID"], r.body

    # the generic stream and a publish (pulse-batch) under the prefix; outside it, 404
    s = SSE(a.port, "/pulse/api/events/stream?topic=room:p")
    try:
        assert s.status == 200, s.status
        ids = publish(a, "room:p", 2)
        assert [int(e["id"]) for e in s.events(2, 5)] == ids
    finally:
        s.close()
    adm = a.auth("root", "admin")
    not_found(http(a.port, "POST", "/api/publish", {"topic": "room:p", "type": "note", "data": {}}, headers=adm))
    assert json.loads(http(a.port, "GET", "/pulse/api/events?topic=room:p&since=0").body)["last_id"] == ids[-1]


def test_prefix_in_payos_return_urls(env):
    """PayOS sends the payer back to {PULSE_PUBLIC_URL}{prefix}/topup.html when
    PULSE_PUBLIC_URL is an origin, to {PULSE_PUBLIC_URL}/topup.html when it names the
    pages' folder itself."""
    s = PayosStandin(CLIENT, API_KEY, PAYOS_KEY).start()
    try:
        for public, want in (("https://shop.example.com/", "https://shop.example.com/pulse/topup.html"),
                             ("https://shop.example.com/pay/", "https://shop.example.com/pay/topup.html")):
            a = prefixed(env, env_extra={"PAYOS_API_URL": s.url, "PAYOS_CLIENT_ID": CLIENT, "PAYOS_API_KEY": API_KEY,
                                         "PULSE_PUBLIC_URL": public})
            tx = topup(a, "carol", 2000)
            page = "%s?tx_ref=%s&token=%s" % (want, tx["tx_ref"], tx["stream_token"])
            sent = s.requests[-1]["body"]
            assert sent["returnUrl"] == page and sent["cancelUrl"] == page, sent
            assert tx["status_url"].startswith("/pulse/api/topup/status?"), tx
    finally:
        s.stop()
