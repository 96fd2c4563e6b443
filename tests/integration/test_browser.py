"""The top-up page in a real browser: Debian's headless Chromium, driven by
playwright-core from tests/browser/topup_page.js, against a real instance
(tests/browser_helper.py). The Node script prints one JSON line per
observation and waits on stdin while this side posts the PayOS webhook, so
the page stays open, untouched, while the payment is confirmed.
"""
import os

from browser_helper import TopupBrowser, assert_never_parses_html, pay_while_watching
from harness import q, topup

SCREENSHOT = "/tmp/topup-paid.png"


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
