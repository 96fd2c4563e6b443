"""The top-up page in headless Chromium when streaming fails the ways proxies
make it fail, each with the payment confirmed in the gap between the page's
state read and its first poll: refused from the start, a stream that opens
then dies, a stream that never opens (a buffering proxy). The page must fall
back to polling from the position its state was read at (Pulse-Event-Id)
and show PAID, with no reload (tests/browser/topup_page.js, mode "gap")."""
import os
import signal

from browser_helper import TopupBrowser
from harness import payos_body, topup


def pay_in_the_gap(env, inst, stream):
    tx = topup(inst, "gap-user", 9000)
    url = "http://127.0.0.1:%d/topup.html?tx_ref=%s&token=%s" % (inst.port, tx["tx_ref"], tx["stream_token"])
    b = TopupBrowser(env.tmp, mode="gap", stream=stream, url=url, conn="polling", paid_timeout_ms=30000)
    try:
        if stream == "die":
            b.expect("stream-open", 45)
            os.kill(inst.stream_pid(), signal.SIGKILL)
        gap = b.expect("gap", 60)
        assert gap["status_read"] and gap["stream_requests"] >= 1, gap
        # the page has read PENDING and has not polled yet: the payment lands now
        r = inst.post("/api/payos/webhook", payos_body(tx["order_code"], 9000))
        assert r.status == 200 and r.json()["status"] == "PAID", r.body
        b.send("go")
        paid = b.expect("paid", 45)
        st = paid["state"]
        assert st["status"] == "PAID" and st["conn"] == "polling" and st["paid_at"] not in ("", "—"), st
        seen = [s["status"] for s in st["seen"]]
        assert "PENDING" in seen and seen[-1] == "PAID", st["seen"]
        assert paid["navigations"] == 1, paid   # no reload
        assert paid["page_errors"] == [], paid["page_errors"]
        b.expect("done", 20)
    finally:
        b.close()


def test_browser_topup_page_with_every_stream_refused_sees_a_payment_made_before_its_first_poll(env):
    pay_in_the_gap(env, env.instance(), "abort")


def test_browser_topup_page_whose_stream_opens_then_dies_sees_a_payment_made_in_the_gap(env):
    pay_in_the_gap(env, env.instance(), "die")


def test_browser_topup_page_whose_stream_never_opens_sees_a_payment_made_in_the_gap(env):
    pay_in_the_gap(env, env.instance(), "hang")
