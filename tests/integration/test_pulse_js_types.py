"""www/pulse.js follows the event types a page names, not a list of its own.

An EventSource dispatches a named event only to listeners registered for that name; pulse.js
used to register a fixed list of every type the service emitted, so an event of any other
type (one an admin publishes, one a new feature adds) never reached a streaming page, while a
polling page got every type. Now the page names the types it handles (`on: {type: handler}`)
and both transports deliver exactly those: under Node with a scripted server and a stand-in
EventSource (tests/browser/pulse_unit.js), and against a real instance behind the web server
with the npm `eventsource` package as EventSource (tests/browser/pulse_follow.mjs)."""
import json
import os
import subprocess
import time

import harness
from browser_helper import BROWSER_DIR, Browser
from harness import token

UNIT = os.path.join(BROWSER_DIR, "pulse_unit.js")
FOLLOW = os.path.join(BROWSER_DIR, "pulse_follow.mjs")


def unit(scenario):
    out = subprocess.run(["node", UNIT, scenario], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_pulse_js_streams_exactly_the_types_the_page_names(env):
    r = unit("stream_types")
    # listeners for the page's types (whatever they are) and the stream's own reset: no list
    assert r["listened"] == ["extra", "note", "reset", "shop.sale"], r
    assert r["handled"] == [["note", 6], ["shop.sale", 8]], r
    assert r["on_event"] == [["note", 6], ["shop.sale", 8], ["extra", 9]], r
    assert r["state"] == "live", r


def test_pulse_js_polling_hands_the_page_only_the_types_it_names(env):
    r = unit("poll_types")
    assert r["handled"] == [["note", 6], ["chat", 8]] and r["on_event"] == r["handled"], r
    assert r["since"][:2] == [5, 8], r        # past the unfollowed event too


def test_pulse_js_refuses_a_subscription_that_names_no_type(env):
    errors = unit("no_types")["errors"]
    assert len(errors) == 3 and all(e and "opts.on" in e for e in errors), errors


class Follower(Browser):
    """tests/browser/pulse_follow.mjs: pulse.js following a topic (same protocol as the
    browser scripts: one JSON line per observation)."""

    script = FOLLOW


def follow_types(env, poll):
    inst = env.instance()
    topic = "demo:types-%s" % ("poll" if poll else "stream")
    f = Follower(env.tmp, base="http://127.0.0.1:%d" % inst.port, topic=topic, access_token=token("root", "admin"),
                 last_event_id=0, follow=["shop.sale", "note"], poll=poll)
    try:
        states = [f.expect("state", 30)["state"] for _ in range(2)]
        assert states == ["connecting", "polling" if poll else "live"], states
        adm = inst.auth("root", "admin")
        ids = {}
        for typ in ("shop.sale", "chat", "note"):           # chat: a type this page does not follow
            r = inst.post("/api/publish", {"topic": topic, "type": typ, "data": {"t": typ}}, headers=adm)
            assert r.status == 202, r.body
            ids[typ] = r.json()["id"]
        got = [f.expect("event", 20) for _ in range(2)]
        # in order, each once, the unfollowed chat event (published in between) left out
        assert [(m["type"], m["id"]) for m in got] == [("shop.sale", ids["shop.sale"]), ("note", ids["note"])], got
    finally:
        f.close()


def test_pulse_js_streams_a_type_it_has_never_heard_of(env):
    follow_types(env, poll=False)


def test_pulse_js_polls_the_types_the_page_names(env):
    follow_types(env, poll=True)


def open_streams(inst):
    for line in inst.get("/api/metrics").body.splitlines():
        if line.startswith("pulse_streams_open "):
            return int(float(line.split()[1]))
    raise AssertionError("no pulse_streams_open in /api/metrics")


def test_pulse_js_polls_while_its_page_is_hidden_and_streams_again_when_shown(env):
    """Found by a seeds audit: a browser holds at most six HTTP/1.1 connections to a site,
    and every open Pulse page held a stream, so a seventh tab never loaded. A page hidden for
    hiddenPollAfterMs now closes its stream and polls from the same position; shown again,
    it streams. Each event reaches it once, in order, across both switches (pulse.js in Node
    with the npm eventsource, against a real instance; the test sets the visibility)."""
    # (lighttpd notices a client gone at the next write: a heartbeat a second, so the
    # server's count of open streams shows the page's close within the test's waits)
    inst = env.instance(env={"PULSE_HEARTBEAT_S": "1"})
    topic = "demo:hidden"
    f = Follower(env.tmp, base="http://127.0.0.1:%d" % inst.port, topic=topic, access_token=token("root", "admin"),
                 last_event_id=0, follow=["note"], poll=False, hidden_ms=300)
    adm = inst.auth("root", "admin")

    def pub(n):
        r = inst.post("/api/publish", {"topic": topic, "type": "note", "data": {"n": n}}, headers=adm)
        assert r.status == 202, r.body
        return r.json()["id"]

    def streams_become(n, what):
        harness.wait_for(lambda: open_streams(inst) == n, timeout=10, interval=0.1, what=what)

    try:
        assert [f.expect("state", 30)["state"] for _ in range(2)] == ["connecting", "live"]
        streams_become(1, "the page's stream")
        ids = [pub(0)]
        got = [f.expect("event", 20)["id"]]
        # hidden and shown again within hidden_ms: the stream stays
        f.send("hide")
        f.send("show")
        assert [f.expect("visibility", 5)["state"] for _ in range(2)] == ["hidden", "visible"]
        time.sleep(0.6)
        assert open_streams(inst) == 1
        ids.append(pub(1))
        got.append(f.expect("event", 20)["id"])
        # hidden: its stream closes and it polls
        f.send("hide")
        assert f.expect("visibility", 5)["state"] == "hidden"
        assert f.expect("state", 10)["state"] == "polling"
        streams_become(0, "the hidden page's stream to close")
        ids += [pub(n) for n in (2, 3, 4)]
        got += [f.expect("event", 20)["id"] for _ in range(3)]
        time.sleep(1)
        assert open_streams(inst) == 0, "a hidden page opened a stream again"
        # shown: it streams again, from where it was
        f.send("show")
        assert f.expect("visibility", 5)["state"] == "visible"
        assert f.expect("state", 10)["state"] == "live"
        streams_become(1, "the shown page's stream")
        ids += [pub(n) for n in (5, 6)]
        got += [f.expect("event", 20)["id"] for _ in range(2)]
        assert got == ids, (got, ids)
        try:
            extra = f.expect("event", 1)
        except AssertionError:
            extra = None
        assert extra is None, "an event twice: %r" % extra
    finally:
        f.close()
