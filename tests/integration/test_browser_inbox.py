"""The agents' CRM inbox (www/inbox.html) in a real browser: Debian's headless Chromium,
driven by tests/browser/inbox_page.js, while Facebook deliveries arrive signed as Facebook
signs them. The page must show each customer message as it arrives, with no reload."""
import hashlib
import hmac
import json
import os
import time

from browser_helper import BROWSER_DIR, Browser, assert_never_parses_html
from harness import http, token
from platform_standin import Platforms

FB_SECRET = "fb-app-secret"


class InboxBrowser(Browser):
    script = os.path.join(BROWSER_DIR, "inbox_page.js")


def facebook(a, sender, mid, text):
    receipt(a, {"sender": {"id": sender}, "recipient": {"id": "page-1"}, "timestamp": 1795000000000,
                "message": {"mid": mid, "text": text}})


def receipt(a, item):
    """One messaging item (a message, a delivery, a read), signed as Facebook signs."""
    raw = json.dumps({"object": "page", "entry": [{"id": "page-1", "messaging": [item]}]},
                     ensure_ascii=False).encode()
    sig = "sha256=" + hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    r = http(a.port, "POST", "/api/webhooks/facebook", raw=raw, headers={"X-Hub-Signature-256": sig})
    assert r.status == 200 and r.body == "EVENT_RECEIVED", r.body


def test_browser_inbox_shows_customer_messages_live_and_answers(env):
    p = Platforms({"facebook": "fb-page-token"}).start()
    a = env.instance(env={"FB_APP_SECRET": FB_SECRET, "FB_GRAPH_URL": p.url + "/fb/v19.0",
                          "FB_PAGE_TOKEN": "fb-page-token"})
    agent = token("agent-7", "agent", "Agent Bảy")
    shot = os.path.join(env.tmp, "inbox.png")
    b = InboxBrowser(env.tmp, url="http://127.0.0.1:%d/inbox.html" % a.port, jwt=agent, screenshot=shot)
    try:
        ready = b.expect("ready", 45)
        assert ready["state"]["convs"] == [] and ready["state"]["error"] is None, ready
        facebook(a, "111", "m_1", "Xin chào <b>shop</b>")
        b.send(json.dumps({"wait_conv": "Facebook user 111"}))
        st = b.expect("wait_conv", 20)["state"]
        assert st["thread"] == "Facebook user 111 · facebook" and st["badges"] == ["OPEN"], st
        assert st["customers"] == ["Facebook user 111"], st
        b.send(json.dumps({"wait_text": "Xin chào <b>shop</b>"}))   # shown as text, never parsed
        b.expect("wait_text", 20)
        b.send(json.dumps({"reply": "Dạ shop chào bạn"}))
        st = b.expect("reply", 20)["state"]
        conv = a.get("/api/crm/conversations", headers={"Authorization": "Bearer " + agent}).json()["conversations"][0]
        msgs = a.get("/api/crm/conversations/%s/messages" % conv["id"],
                     headers={"Authorization": "Bearer " + agent}).json()["messages"]
        assert [(m["sender"], m["content"]) for m in msgs] == [("customer", "Xin chào <b>shop</b>"),
                                                              ("agent", "Dạ shop chào bạn")]
        assert msgs[1]["agentId"] == "agent-7"
        # the answer goes to Facebook (the stand-in), then Facebook says it was read: the
        # page shows each status as it changes
        b.send(json.dumps({"wait_status": "sent"}))
        assert b.expect("wait_status", 20)["state"]["statuses"] == ["sent"]
        assert [r["accepted"] for r in p.of("facebook")] == [True]
        receipt(a, {"sender": {"id": "111"}, "recipient": {"id": "page-1"},
                    "read": {"watermark": int(time.time() * 1000) + 1000}})
        b.send(json.dumps({"wait_status": "read"}))
        assert b.expect("wait_status", 20)["state"]["statuses"] == ["read"]
        # the customer writes again while the thread is open: it appears without a reload
        facebook(a, "111", "m_2", "Còn hàng không?")
        b.send(json.dumps({"wait_text": "Còn hàng không?"}))
        st = b.expect("wait_text", 20)
        assert len(st["state"]["messages"]) == 3, st
        b.send(json.dumps({"status": "CLOSED"}))
        st = b.expect("status", 20)
        assert a.get("/api/crm/conversations?status=CLOSED",
                     headers={"Authorization": "Bearer " + agent}).json()["conversations"][0]["id"] == conv["id"]
        assert st["state"]["marker"] == "same-page" and st["navigations"] == 1, st
        assert st["page_errors"] == [] and st["state"]["conn"] == "live", st
        b.end_with_screenshot(shot)
    finally:
        b.close()
        p.stop()


def test_browser_inbox_status_answer_landing_after_a_reopen_does_not_show_it_closed(env):
    """The agent closes a conversation and the customer writes again before the PATCH's answer
    reaches the page: the conversation is OPEN again (its event came first), and the answer,
    which reflects an older position, must not turn the list back to CLOSED."""
    a = env.instance(env={"FB_APP_SECRET": FB_SECRET})
    agent = token("agent-8", "agent", "Agent Tám")
    b = InboxBrowser(env.tmp, url="http://127.0.0.1:%d/inbox.html" % a.port, jwt=agent)
    try:
        b.expect("ready", 45)
        facebook(a, "222", "m_a", "first")
        b.send(json.dumps({"wait_conv": "Facebook user 222"}))
        b.expect("wait_conv", 20)
        b.send(json.dumps({"status_held": "CLOSED"}))
        b.expect("held", 20)
        facebook(a, "222", "m_b", "one more thing")      # reopens it
        b.send("go")
        st = b.expect("status_held", 20)["state"]
        conv = a.get("/api/crm/conversations", headers={"Authorization": "Bearer " + agent}).json()["conversations"][0]
        assert conv["status"] == "OPEN", conv
        assert st["badges"] == ["OPEN"], st
    finally:
        b.close()


def test_inbox_page_never_parses_html(env):
    assert_never_parses_html("inbox.js")
