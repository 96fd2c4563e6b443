"""The AI chat page (www/chat.html) in a real browser: Debian's headless Chromium, driven by
tests/browser/chat_page.js, against a real instance whose built-in demo model writes its
answer word by word. What a user sees: the answer streams in, Stop keeps the text so far,
a reload mid-answer shows the text so far at once and goes on to exactly the final text,
by stream and by polling alike, and someone else's chat is refused."""
import json
import os

from browser_helper import BROWSER_DIR, Browser, assert_never_parses_html
from harness import token

SCREENSHOT = "/tmp/chat-page.png"
DEMO = {"PULSE_LLM_DEMO_MS": "60"}        # about 5 s for the demo's answer
ANSWER_START = "Hello! I am Pulse's demo model"


class ChatBrowser(Browser):
    script = os.path.join(BROWSER_DIR, "chat_page.js")

    def do(self, timeout=30, **cmd):
        self.send(json.dumps(cmd))
        msg = self.expect(list(cmd)[0], timeout)
        assert msg["page_errors"] == [], msg["page_errors"]
        return msg

    def ok(self, **cmd):
        msg = self.do(**cmd)
        assert msg["ok"], (cmd, msg["state"])
        return msg["state"]

    def last_is(self, status, length=0, timeout=20000):
        return self.ok(wait="last", status=status, min=length, timeout=timeout)


def assert_no_csp_violation(b):
    csp = [m for m in b.console if "Content Security Policy" in m.get("text", "")]
    assert csp == [], csp


def bearer(jwt):
    return {"Authorization": "Bearer " + jwt}


def server_history(a, sid, jwt):
    r = a.get("/api/chat/sessions/%s/messages" % sid, headers=bearer(jwt))
    assert r.status == 200, r.body
    return r.json()["messages"]


def texts(seen, mid):
    """The successive texts the page showed for answer mid (a change of status alone skipped)."""
    out = []
    for s in seen:
        if mid in s["a"] and (not out or out[-1] != s["a"][mid][1]):
            out.append(s["a"][mid][1])
    return out


def assert_grows_to(shown, final):
    """Each text the page showed is the one before it plus more: no gap, no repeat."""
    assert shown and shown[-1] == final, (shown[-3:], final)
    for before, after in zip(shown, shown[1:]):
        assert after.startswith(before) and len(after) > len(before), (before, after)


def open_chat(env, a, jwt, block_stream=False, screenshot=None):
    """A browser signed in as jwt with a new chat open, following it (live or by polling)."""
    b = ChatBrowser(env.tmp, url="http://127.0.0.1:%d/chat.html" % a.port, block_stream=block_stream,
                    screenshot=screenshot)
    st = b.expect("ready", 45)["state"]
    assert not st["app"] and st["whoami"] == "Not signed in: paste your access token.", st
    st = b.ok(sign_in=jwt)
    assert st["sessions"] == [] and not st["conversation"] and st["error"] is None, st
    st = b.ok(new=True)
    sid = st["session"]
    assert st["sessions"] == [sid] and st["selected"] == [sid] and st["messages"] == [], st
    want = "polling" if block_stream else "live"
    b.ok(wait="conn", conn=want)
    return b, sid


def reload_mid_answer(b, a, sid, jwt, question, conn, steps):
    """Reloads while the answer is being written: the history shows its text so far at once,
    the rest follows, and the page ends on exactly the answer the server kept."""
    st = b.ok(send=question)
    assert st["send_error"] is None, st
    b.last_is("streaming", 60)
    st = b.do(reload=True)["state"]
    st = b.ok(wait="answers")
    assert st["session"] == sid and st["selected"] == [sid], st
    st = b.last_is("complete", timeout=30000)
    assert st["conn"] == conn and st["error"] is None and not st["stop"], st
    mid = st["messages"][-1]["id"]
    kept = server_history(a, sid, jwt)
    assert [(m["id"], m["role"], m["content"]) for m in kept] == \
        [(m["id"], m["role"], m["text"]) for m in st["messages"]], (kept, st["messages"])
    assert kept[-1]["status"] == "complete"
    shown = texts(st["seen"], mid)
    # at once: the first time the reloaded page shows the answer, it holds the text so far
    first = next(s["a"][mid] for s in st["seen"] if mid in s["a"])
    assert first[0] == "streaming" and len(first[1]) >= 60, first
    assert len(shown) >= steps, shown              # then it grew, in steps, to the end
    assert_grows_to(shown, kept[-1]["content"])
    return kept[-1]["content"]


def test_browser_chat_streams_an_answer_stops_one_and_resumes_after_a_reload(env):
    a = env.instance(env=DEMO)
    lan = token("lan", "viewer", "Lan")
    b, sid = open_chat(env, a, lan, screenshot=SCREENSHOT)
    try:
        assert [s["id"] for s in a.get("/api/chat/sessions", headers=bearer(lan)).json()["sessions"]] == [sid]

        # the answer streams in: the text grows word by word, then is complete
        question = "Xin chào <b>AI</b>! <img src=x>"
        st = b.ok(send=question)
        assert st["messages"][0]["role"] == "user" and st["messages"][0]["text"] == question, st
        st = b.last_is("streaming", 1)
        assert st["stop"], st                               # Stop shows while it is written
        st = b.last_is("complete", timeout=30000)
        assert not st["stop"] and st["injected"] == 0, st   # the question stayed text
        mid = st["messages"][-1]["id"]
        final = server_history(a, sid, lan)[-1]
        assert final["id"] == mid and final["status"] == "complete", final
        assert st["messages"][-1]["text"] == final["content"] and final["content"].startswith(ANSWER_START)
        shown = texts(st["seen"], mid)
        assert len(shown) >= 5, shown                       # it grew as the deltas came
        assert_grows_to(shown, final["content"])

        # one answer at a time: a message sent meanwhile is refused, and the page says so
        b.ok(send="Kể cho tôi nghe một câu chuyện")
        b.last_is("streaming", 30)
        st = b.ok(send="Còn nữa không?")
        assert "Wait for the answer to finish" in (st["send_error"] or ""), st
        assert "Còn nữa không?" not in [m["content"] for m in server_history(a, sid, lan)]

        # Stop: the answer ends where it was, its text kept, and grows no more
        st = b.do(stop=True)["state"]
        st = b.last_is("cancelled", 1)
        mid = st["messages"][-1]["id"]
        stopped = st["messages"][-1]
        assert stopped["note"] == "Stopped." and not st["stop"], st
        kept = server_history(a, sid, lan)[-1]
        assert (kept["id"], kept["status"], kept["content"]) == (mid, "cancelled", stopped["text"]), kept
        assert len(kept["content"]) < len(final["content"]), kept
        later = b.do(wait="nothing", timeout=1500)["state"]     # 1.5 s on, nothing has changed
        assert later["messages"][-1] == stopped, later["messages"][-1]
        assert texts(later["seen"], mid)[-1] == stopped["text"]

        # a reload in the middle of an answer shows the text so far at once, then the rest
        assert reload_mid_answer(b, a, sid, lan, "Thêm một câu nữa nhé", "live", 3) == final["content"]
        st = b.ok(send="Và câu cuối")                         # the session is free again
        assert st["send_error"] is None, st
        b.last_is("streaming", 40)
        assert_no_csp_violation(b)
        b.end_with_screenshot(SCREENSHOT)
    finally:
        b.close()


def test_browser_chat_works_by_polling_when_streams_are_refused(env):
    a = env.instance(env=DEMO)
    minh = token("minh", "viewer", "Minh")
    b, sid = open_chat(env, a, minh, block_stream=True)
    try:
        st = b.ok(send="Xin chào")
        st = b.last_is("complete", timeout=30000)
        assert st["conn"] == "polling", st
        final = server_history(a, sid, minh)[-1]
        assert st["messages"][-1]["text"] == final["content"] and final["content"].startswith(ANSWER_START)
        assert_grows_to(texts(st["seen"], final["id"]), final["content"])
        assert reload_mid_answer(b, a, sid, minh, "Nói tiếp đi", "polling", 2) == final["content"]
        assert_no_csp_violation(b)
    finally:
        b.close()


def test_browser_chat_refuses_someone_elses_chat_and_says_when_to_try_again(env):
    a = env.instance(env={"PULSE_LLM_DEMO_MS": "5", "PULSE_CHAT_MESSAGE_RATE": "1"})
    r = a.post("/api/chat/sessions", {}, headers=bearer(token("lan")))
    assert r.status == 201, r.body
    sid = r.json()["id"]
    b = ChatBrowser(env.tmp, url="http://127.0.0.1:%d/chat.html?session=%s" % (a.port, sid))
    try:
        b.expect("ready", 45)
        b.ok(sign_in=token("binh", "viewer", "Bình"))
        st = b.ok(wait="error")
        assert st["error"] == "This chat belongs to someone else.", st
        assert not st["conversation"] and st["messages"] == [] and st["conn"] is None and st["sessions"] == [], st
        # its owner opens the same link: the chat is theirs; past the message rate the page says when to retry
        st = b.ok(sign_in=token("lan", "viewer", "Lan"))
        st = b.ok(wait="conn", conn="live")
        assert st["error"] is None and st["conversation"] and st["selected"] == [sid], st
        b.ok(send="Xin chào")
        b.last_is("complete")
        st = b.ok(send="Thêm nữa")
        assert st["send_error"].startswith("You are sending too many messages. Try again in "), st
        assert len(server_history(a, sid, token("lan"))) == 2
    finally:
        b.close()


def test_chat_page_never_parses_html(env):
    assert_never_parses_html("chat.js")
