"""www/pulse.js's decisions under Node with a scripted server (tests/browser/pulse_unit.js):
the requests it makes and what it hands the page, for the seams a browser test cannot
force at will: a poll answered unknown_id (the database was replaced), history_expired by
polling, a subscription from "now", Pulse.api's eventId, and Pulse.positions()."""
import json
import os
import shutil
import subprocess

from harness import ROOT

WEB_INDEPENDENT = True
SCRIPT = os.path.join(ROOT, "tests", "browser", "pulse_unit.js")


def run(scenario):
    assert shutil.which("node"), "node is not on PATH: run `make test-deps` (tools/deps.sh test)"
    out = subprocess.run(["node", SCRIPT, scenario], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def test_pulse_js_polling_after_unknown_id_goes_on_from_the_new_head(env):
    r = run("poll_unknown_id")
    assert r["resets"] == [{"reason": "unknown_id", "last_event_id": 100}], r
    # one reset, then from the head the server gave (5): not 100 again, not 0
    assert r["since"][:3] == [100, 5, 6] and r["events"] == [6], r


def test_pulse_js_polling_history_expired_resets_once_and_delivers_what_is_left(env):
    r = run("poll_history_expired")
    assert r["resets"] == [{"reason": "history_expired", "last_event_id": 3}], r
    assert r["events"] == [40, 41] and r["since"][:2] == [3, 41], r


def test_pulse_js_from_now_asks_for_the_head_once_and_polls_from_it(env):
    r = run("from_now")
    assert r["since"][0] is None and "limit=1" in r["requests"][0], r   # the head, no history
    assert r["since"][1:3] == [77, 78] and r["events"] == [78], r


def test_pulse_js_api_gives_the_reads_position(env):
    r = run("api_event_id")
    assert r["with_header"] == 42 and r["without"] is None, r


def test_pulse_js_positions_order_reads_and_events(env):
    assert run("positions")["results"] == [True, False, True, False, True, False, True, True]
