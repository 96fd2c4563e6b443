"""AI chat answers from an OpenAI-compatible upstream (PULSE_LLM_URL), here
our scripted stand-in (tests/llm_standin.py), which checks what it gets as
the real service does and can stall, fail, send garbage, drop mid-stream or
send 10 MB: each ends the answer as chat.error with the text so far, no
answer stays streaming, no process dies; a cancel closes the upstream
connection within a second."""
import json
import time

from harness import token
from llm_standin import Standin

KEY = "sk-test-pulse"
SCRIPT = {
    "default": "hello",
    "answers": {
        "hello": {"deltas": ["Xin ", "chào", ", ", "Lan", "!"], "delay_ms": 5,
                  "usage": {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}},
        "slow": {"deltas": ["w%d " % i for i in range(200)], "delay_ms": 50},
        "stall": {"mode": "stall", "deltas": ["before ", "the stall"]},
        "keepalive": {"mode": "keepalive", "deltas": ["before ", "the comments"]},
        "fail": {"mode": "fail", "status": 500, "error": "boom from upstream"},
        "garbage": {"mode": "garbage", "deltas": ["good "], "garbage": "data: {not json"},
        "drop": {"mode": "drop", "deltas": ["cut ", "short"]},
        "huge": {"mode": "huge", "huge_bytes": 10000000, "chunk": 4000},
        "one_huge": {"mode": "huge", "huge_bytes": 10000000, "chunk": 10000000},  # one 10 MB line
        # text that JSON escapes six times over (\u0001), with two-byte
        # characters to cut between: the answer's last event must still fit
        # PULSE_MAX_EVENT_BYTES
        "control": {"deltas": ["\u0001" * 999 + "\u00e9"] * 60},
        "long_error": {"mode": "garbage", "deltas": ["so far "],
                       "garbage": "data: " + json.dumps({"error": {"message": "E" * 100000}})},
        "long_finish": {"deltas": ["ok"], "finish_reason": "r" * 100000, "usage": {"note": "u" * 100000}},
        "wide_usage": {"deltas": ["small"], "usage": {"note": "u" * 2000}},
    },
}
ENDS = ("chat.done", "chat.error", "chat.cancelled")


def bearer(sub="lan"):
    return {"Authorization": "Bearer " + token(sub)}


def upstream(env, standin, **extra):
    e = {"PULSE_LLM_URL": standin.url, "PULSE_LLM_API_KEY": KEY, "PULSE_LLM_MODEL": "pulse-test-model",
         "PULSE_LLM_TIMEOUT_S": "1", "PULSE_LLM_MAX_BYTES": "65536"}
    e.update(extra)
    return env.instance(env=e)


def standin():
    return Standin(SCRIPT, key=KEY).start()


def ask(a, text, sid=None):
    """Posts text in session sid (a new one when None) and follows the answer
    to its end: (sid, answer id, the events of the answer)."""
    if sid is None:
        sid = a.post("/api/chat/sessions", {}, headers=bearer()).json()["id"]
    pos = a.get("/api/chat/sessions/%s/messages" % sid, headers=bearer()).header("Pulse-Event-Id")
    r = a.post("/api/chat/sessions/%s/messages" % sid, {"message": text}, headers=bearer())
    assert r.status == 202, r.body
    am = r.json()["assistantMessage"]["id"]
    s = a.sse("/api/events/stream?topic=chat:%s&access_token=%s" % (sid, token("lan")),
              headers={"Last-Event-ID": pos})
    evs = []
    while not evs or evs[-1].get("event") not in ENDS:
        e = s.next_event(20)
        if e["json"]["data"].get("messageId", e["json"]["data"].get("id")) == am:
            evs.append(e)
    s.close()
    return sid, am, evs


def text_of(evs):
    return "".join(e["json"]["data"]["delta"] for e in evs if e.get("event") == "chat.delta")


def stored(a, sid):
    return a.get("/api/chat/sessions/%s/messages" % sid, headers=bearer()).json()["messages"]


def test_the_answer_comes_from_the_upstream_with_the_sessions_history(env):
    s = standin()
    try:
        a = upstream(env, s)
        sid, am, evs = ask(a, "hello")
        done = evs[-1]["json"]["data"]
        assert evs[-1]["event"] == "chat.done" and done["content"] == "Xin chào, Lan!" == text_of(evs)
        assert done["finishReason"] == "stop"
        assert done["usage"] == {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}
        assert done["audit"]["model"] == "pulse-test-model"
        body = s.requests[-1]["body"]
        assert body["model"] == "pulse-test-model" and body["stream"] is True
        assert body["messages"] == [{"role": "user", "content": "hello"}]
        # the second question carries the first exchange
        ask(a, "hello", sid)
        assert s.requests[-1]["body"]["messages"] == [
            {"role": "user", "content": "hello"}, {"role": "assistant", "content": "Xin chào, Lan!"},
            {"role": "user", "content": "hello"}]
        assert [m["status"] for m in stored(a, sid)] == ["complete"] * 4
    finally:
        s.stop()


def test_a_url_with_a_query_keeps_it_after_the_path(env):
    # Azure-style: {base}/chat/completions?api-version=..., never ...?api-version=.../chat/completions
    s = Standin(SCRIPT, key=KEY, query="api-version=2024-06-01").start()
    try:
        a = upstream(env, s)
        assert s.url.endswith("/v1/?api-version=2024-06-01")
        sid, am, evs = ask(a, "hello")
        assert evs[-1]["event"] == "chat.done", evs[-1]
        assert s.requests[-1]["path"] == "/v1/chat/completions?api-version=2024-06-01"
    finally:
        s.stop()


def test_every_upstream_failure_ends_the_answer_with_the_text_so_far(env):
    s = standin()
    try:
        a = upstream(env, s)
        batch = a.pids(b"pulse-batch")
        want = {"stall": ("upstream_timeout", "before the stall"), "fail": ("upstream_http", ""),
                "garbage": ("upstream_malformed", "good "), "drop": ("upstream_truncated", "cut short"),
                "huge": ("upstream_too_large", None), "one_huge": ("upstream_too_large", ""),
                # comments keep the connection busy, not the answer going
                "keepalive": ("upstream_timeout", "before the comments")}
        for name, (code, kept) in sorted(want.items()):
            sid, am, evs = ask(a, name)
            end = evs[-1]["json"]["data"]
            assert evs[-1]["event"] == "chat.error", (name, evs[-1])
            assert end["code"] == code, (name, end["code"], end["message"])
            assert end["content"] == text_of(evs) == stored(a, sid)[-1]["content"], name
            if kept is not None:
                assert end["content"] == kept, (name, end["content"][:80])
            if name == "fail":
                assert "500" in end["message"] and "boom from upstream" in end["message"]
            if name == "huge":                            # cut at PULSE_LLM_MAX_BYTES, never buffered whole
                assert 0 < len(end["content"].encode()) <= 65536
            assert stored(a, sid)[-1]["status"] == "error"
        assert a.pids(b"pulse-batch") == batch          # nothing crashed
    finally:
        s.stop()


def test_a_cancel_closes_the_upstream_within_a_second(env):
    s = standin()
    try:
        a = upstream(env, s, PULSE_LLM_TIMEOUT_S="30")
        sid = a.post("/api/chat/sessions", {}, headers=bearer()).json()["id"]
        st = a.sse("/api/events/stream?topic=chat:%s&access_token=%s" % (sid, token("lan")))
        am = a.post("/api/chat/sessions/%s/messages" % sid, {"message": "slow"}, headers=bearer()).json()
        am = am["assistantMessage"]["id"]
        [st.next_event(10) for _ in range(5)]            # two messages, three deltas
        n = len(s.requests) - 1
        t0 = time.monotonic()
        r = a.post("/api/chat/sessions/%s/messages/%s/cancel" % (sid, am), {}, headers=bearer())
        assert r.status == 200 and r.json()["status"] == "cancelled"
        rec = s.wait_ended(n, timeout=5)
        assert rec is not None and rec["disconnected"] is not None, "the upstream connection was never closed"
        assert rec["disconnected"] - t0 < 1.0, rec["disconnected"] - t0
        assert not rec.get("completed")
    finally:
        s.stop()


def test_an_unreachable_or_refusing_upstream(env):
    s = standin()
    try:
        port = s._server.server_address[1]
        s.stop()                                          # nothing listens there now
        a = env.instance(env={"PULSE_LLM_URL": "http://127.0.0.1:%d/v1" % port, "PULSE_LLM_TIMEOUT_S": "2"})
        sid, am, evs = ask(a, "hello")
        assert evs[-1]["event"] == "chat.error" and evs[-1]["json"]["data"]["code"] == "upstream_refused"
        s2 = standin()
        try:
            b = env.instance(name="b", env={"PULSE_LLM_URL": s2.url, "PULSE_LLM_API_KEY": "sk-wrong"})
            sid, am, evs = ask(b, "hello")
            end = evs[-1]["json"]["data"]
            assert end["code"] == "upstream_http" and "401" in end["message"]
            assert s2.requests and s2.requests[-1]["status"] == 401
        finally:
            s2.stop()
    finally:
        s.stop()


def test_the_history_sent_is_bounded(env):
    s = standin()
    try:
        a = upstream(env, s, PULSE_LLM_HISTORY="3")
        sid = None
        for _ in range(3):
            sid, am, evs = ask(a, "hello", sid)
            assert evs[-1]["event"] == "chat.done"
        # five earlier messages and the question: the last three go
        assert s.requests[-1]["body"]["messages"] == [
            {"role": "user", "content": "hello"}, {"role": "assistant", "content": "Xin chào, Lan!"},
            {"role": "user", "content": "hello"}]
        assert len(s.requests[1]["body"]["messages"]) == 3
    finally:
        s.stop()


def test_what_the_upstream_sends_never_makes_an_event_too_large_to_log(env):
    """The answer's last event carries its whole text: text, an error
    message, a finish reason or usage too long for PULSE_MAX_EVENT_BYTES
    used to have that event refused and tried again forever (the answer
    stuck streaming, the session taking no message, the generator spinning)."""
    s = standin()
    try:
        a = upstream(env, s, PULSE_MAX_EVENT_BYTES="65536")
        batch = a.pids(b"pulse-batch")
        sid, am, evs = ask(a, "control")
        end = evs[-1]["json"]["data"]
        assert evs[-1]["event"] == "chat.error" and end["code"] == "upstream_too_large", end["code"]
        assert "PULSE_MAX_EVENT_BYTES" in end["message"]
        assert end["content"] == text_of(evs) == stored(a, sid)[-1]["content"]
        assert set(end["content"]) == {"\u0001", "\u00e9"}, end["content"][:20]
        # what fits is kept: the event as stored (JSON escapes \u0001 in six
        # bytes, as SQLite does) is the limit less the slack for the rest
        size = len(json.dumps(end, ensure_ascii=False, separators=(",", ":")).encode())
        assert 50000 < size <= 65536, size
        assert stored(a, sid)[-1]["status"] == "error"
        # the session takes the next message, whose answer comes whole
        sid, am, evs = ask(a, "hello", sid)
        assert evs[-1]["event"] == "chat.done" and evs[-1]["json"]["data"]["content"] == "Xin chào, Lan!"

        sid, am, evs = ask(a, "long_error")
        end = evs[-1]["json"]["data"]
        assert evs[-1]["event"] == "chat.error" and end["code"] == "upstream_http", end["code"]
        assert end["content"] == "so far " and "EEEE" in end["message"] and len(end["message"]) < 1000

        sid, am, evs = ask(a, "long_finish")
        end = evs[-1]["json"]["data"]
        assert evs[-1]["event"] == "chat.done" and end["content"] == "ok"
        assert end["finishReason"] == "r" * 64 and end["usage"] is None
        assert [m["status"] for m in stored(a, sid)] == ["complete", "complete"]
        assert a.pids(b"pulse-batch") == batch
    finally:
        s.stop()


def test_an_end_event_the_log_refuses_ends_the_answer_with_a_short_error(env):
    # 1,024 bytes leave no room for a 2 KB usage object in chat.done: the
    # answer ends as chat.error event_refused with its text, and the next
    # message of the session is answered
    s = standin()
    try:
        a = upstream(env, s, PULSE_MAX_EVENT_BYTES="1024")
        sid, am, evs = ask(a, "wide_usage")
        end = evs[-1]["json"]["data"]
        assert evs[-1]["event"] == "chat.error" and end["code"] == "event_refused", end
        assert end["content"] == "small" == text_of(evs) == stored(a, sid)[-1]["content"]
        assert stored(a, sid)[-1]["status"] == "error"
        sid, am, evs = ask(a, "hello", sid)
        assert evs[-1]["event"] == "chat.done", evs[-1]
    finally:
        s.stop()
