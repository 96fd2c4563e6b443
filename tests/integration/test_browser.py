"""The top-up page in a real browser: Debian's headless Chromium, driven by
playwright-core from tests/browser/topup_page.js, against a real instance
(tests/browser_helper.py). The Node script prints one JSON line per
observation and waits on stdin while this side posts the PayOS webhook, so
the page stays open, untouched, while the payment is confirmed.
"""
import os
import time

from browser_helper import TopupBrowser, assert_never_parses_html
from harness import payos_body, q, topup

SCREENSHOT = "/tmp/topup-paid.png"


def vnd(n):
    return "{:,}".format(n)


def pay_while_watching(env, inst, conn, amount, screenshot=None):
    """Opens the page for a fresh top-up, waits for `conn` + PENDING, pays, waits for PAID."""
    tx = topup(inst, "alice", amount)
    url = "http://127.0.0.1:%d%s/topup.html?tx_ref=%s&token=%s" % (inst.port, inst.prefix, tx["tx_ref"],
                                                                   tx["stream_token"])
    b = TopupBrowser(env.tmp, mode="topup", url=url, conn=conn, amount_text=vnd(amount), paid_timeout_ms=10000,
                     screenshot=screenshot)
    try:
        ready = b.expect("ready", 45)
        st = ready["state"]
        assert st["tx_ref"] == tx["tx_ref"] and st["order_code"] == str(tx["order_code"]), st
        assert st["paid_at"] == "—" and st["error"] is None, st
        t0 = time.time()
        r = inst.post("/api/payos/webhook", payos_body(tx["order_code"], amount))
        assert r.status == 200 and r.json()["status"] == "PAID", r.body
        b.send("paid")
        paid = b.expect("paid", 20)
        took = time.time() - t0
        st = paid["state"]
        assert st["status"] == "PAID" and st["status_class"] == "badge badge-paid", st
        assert st["amount"] == vnd(amount) and st["paid_at"] not in ("", "—"), st
        assert st["conn"] == conn, st
        # no reload, no navigation: the same document saw PENDING turn into PAID
        assert st["marker"] == "same-page" and paid["navigations"] == 1, paid
        seen = [s["status"] for s in st["seen"]]
        assert "PENDING" in seen and seen[-1] == "PAID" and seen.index("PENDING") < len(seen) - 1, st["seen"]
        assert paid["page_errors"] == [], paid["page_errors"]
        assert took < 10, took
        server = inst.get("/api/topup/status?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"])).json()
        assert st["paid_at"] == server["paid_at"], (st, server)
        b.expect("done", 20)
        return st
    finally:
        b.close()


def test_browser_topup_page_under_a_prefix_turns_paid_live(env):
    """Pulse in a sub-folder (/pulse/): the page, pulse.js and the API it reads and
    streams are all found there (relative URLs), and the webhook's payment arrives live."""
    a = env.instance(prefix="/pulse", env={"PULSE_BASE_PATH": "/pulse"})
    st = pay_while_watching(env, a, "live", 12000)
    assert "polling" not in [s["conn"] for s in st["seen"]], st["seen"]


def test_browser_topup_page_turns_paid_live(env):
    a = env.instance()
    st = pay_while_watching(env, a, "live", 25000, screenshot=SCREENSHOT)
    assert [s["conn"] for s in st["seen"]][-1] == "live"
    assert "polling" not in [s["conn"] for s in st["seen"]], st["seen"]
    assert os.path.getsize(SCREENSHOT) > 1000


def test_browser_topup_page_falls_back_to_polling_when_streams_are_full(env):
    a = env.instance(env={"PULSE_MAX_CONNECTIONS": "1"})
    other = topup(a, "bob", 1000)
    path = "/api/topup/stream?tx_ref=%s&token=%s" % (other["tx_ref"], other["stream_token"])
    hog = a.sse(path)                                    # takes the one stream slot
    try:
        assert hog.status == 200, hog.status
        probe = a.sse(path)
        assert probe.status == 503, probe.status
        probe.close()
        st = pay_while_watching(env, a, "polling", 7000)
        assert "live" not in [s["conn"] for s in st["seen"]], st["seen"]
    finally:
        hog.close()


def test_browser_topup_page_shows_hostile_text_as_text(env):
    assert_never_parses_html("topup.js", "page.js", "pulse.js")
    a = env.instance()
    evil = '<img src=x onerror="window.__xss=1"><b>x</b>'
    url = "http://127.0.0.1:%d/topup.html?tx_ref=%s&token=t" % (a.port, q(evil))
    b = TopupBrowser(env.tmp, mode="xss", url=url)
    try:
        r = b.expect("xss", 45)
        assert r["tx_ref"] == evil, r
        assert r["injected"] == 0 and r["xss"] is None and r["page_errors"] == [], r
        assert "invalid transaction reference" in r["error"] and r["conn"] == "offline", r
        b.expect("done", 20)
    finally:
        b.close()
