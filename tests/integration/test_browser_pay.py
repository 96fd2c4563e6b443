"""The top-up page's QR and pay button in a real browser (Debian's headless
Chromium, tests/browser/topup_pay.js), one browser for both: without PayOS
credentials, the dev checkout's pay button settles the top-up by a webhook
signed as PayOS signs; with PayOS (our stand-in), the page PayOS's return
redirect lands on shows PayOS's QR and checkout link and what the server
says, not what the redirect's query string says. The same again with Pulse
installed in a sub-folder (/pulse/): the page's URL, the dev checkout's and
PayOS's return URL carry the prefix."""
import os

from browser_helper import TopupPayBrowser, assert_never_parses_html, ensure_qr_library
from harness import PAYOS_KEY, payos_body, topup
from payos_standin import PayosStandin

CLIENT, API_KEY = "test-client-id", "test-api-key"
SCREENSHOT = "/tmp/topup-pay.png"


def test_browser_dev_checkout_pays_and_payos_return_shows_the_server_truth(env):
    dev_checkout_and_payos_return(env, "")


def test_browser_dev_checkout_and_payos_return_under_a_prefix(env):
    dev_checkout_and_payos_return(env, "/pulse", {"PULSE_BASE_PATH": "/pulse"})


def dev_checkout_and_payos_return(env, prefix, prefix_env=None):
    assert_never_parses_html("topup.js")
    ensure_qr_library()
    s = PayosStandin(CLIENT, API_KEY, PAYOS_KEY).start()
    b = None
    try:
        # without credentials: the dev checkout, paid from the page
        a = env.instance(prefix=prefix, env=prefix_env)
        tx = topup(a, "alice", 30000)
        assert tx["checkout_url"].startswith(prefix + "/topup.html?"), tx
        url = "http://127.0.0.1:%d%s" % (a.port, tx["checkout_url"])
        b = TopupPayBrowser(env.tmp, url=url)
        st = b.expect("ready", 45)["state"]
        assert st["pay"] and st["pay_dev"] and not st["pay_link"] and not st["returned"], st
        assert st["qr_text"] == url and st["qr_size"] > 100 and 0 < st["qr_dark"] < st["qr_size"] ** 2, st
        b.send('{"click": "pay-dev"}')
        b.expect("clicked", 10)
        b.send('{"wait": "PAID"}')
        r = b.expect("status", 20)
        st = r["state"]
        assert st["status"] == "PAID" and st["paid_at"] not in ("", "—") and not st["pay"], st
        assert r["page_errors"] == [] and r["navigations"] == 1, r
        assert a.get("/api/wallet", headers=a.auth("alice")).json()["balance"] == 30000

        # with PayOS: the page its return redirect lands on
        p = env.instance(prefix=prefix, env=dict(prefix_env or {}, PAYOS_API_URL=s.url, PAYOS_CLIENT_ID=CLIENT,
                                                 PAYOS_API_KEY=API_KEY))
        # the page's origin comes from the Host the payer's browser used
        headers = dict(p.auth("bob"), Host="127.0.0.1:%d" % p.port)
        r = p.post("/api/topup/init", {"amount": 20000, "description": "nap tien"}, headers=headers)
        assert r.status == 201, r.body
        tx = r.json()
        link = s.links[tx["payment_link_id"]]
        assert link["returnUrl"].startswith("http://127.0.0.1:%d%s/topup.html?" % (p.port, prefix)), link
        assert link["cancelUrl"] == link["returnUrl"], link
        # PayOS sends the payer back to returnUrl with its own query: it claims PAID, the
        # server has not been told (no webhook yet): the page shows PENDING.
        url = link["returnUrl"] + "&code=00&id=%s&cancel=false&status=PAID&orderCode=%d" % (link["id"],
                                                                                             tx["order_code"])
        b.send('{"goto": "%s"}' % url)
        st = b.expect("ready", 20)["state"]
        assert st["status"] == "PENDING" and st["returned"], st
        assert st["pay_link"] and st["pay_link_href"] == tx["checkout_url"] and not st["pay_dev"], st
        assert st["qr_text"] == tx["qr_code"] and st["qr_dark"] > 0, st
        b.send('{"shot": "%s"}' % SCREENSHOT)
        b.expect("shot", 20)
        assert os.path.getsize(SCREENSHOT) > 1000
        r = p.post("/api/payos/webhook", payos_body(tx["order_code"], 20000, paymentLinkId=link["id"]))
        assert r.status == 200 and r.json()["status"] == "PAID", r.body
        b.send('{"wait": "PAID"}')
        r = b.expect("status", 20)
        assert r["state"]["status"] == "PAID" and not r["state"]["pay"] and r["page_errors"] == [], r
        b.send("end")
        b.expect("done", 20)
    finally:
        if b is not None:
            b.close()
        s.stop()
