"""The primary's Redis log stream (<prefix>log, see README "More than one
host") written by someone else: an entry with an id above the primary's
newest event made Redis refuse every XADD of the relay, and edges got
nothing more, without a word. The relay logs it, counts it
(pulse_relay_foreign_entries_total in /api/metrics), removes the foreign
entries and goes on."""
import subprocess

from harness import SLOW_POLL_ENV as SLOW_POLL
from harness import publish, wait_for

EDGE = dict(SLOW_POLL, PULSE_ROLE="edge")


def _cli(redis, *args):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port), "--no-raw"] + list(args),
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _stream_ids(redis):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port), "--raw", "XRANGE", "pulse:log",
                          "-", "+"], capture_output=True, text=True, timeout=10).stdout.split("\n")
    # --raw prints each entry as: id, then its field/value pairs (6 pairs: h, p, t, y, s, d)
    return [int(x.split("-")[0]) for i, x in enumerate(out) if i % 13 == 0 and x.strip()]


def _metric(inst, name):
    for line in inst.get("/api/metrics").body.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return 0


def _polled(inst, topic):
    r = inst.get("/api/events?topic=%s&since=0&limit=1000" % topic)
    return [e["id"] for e in r.json()["events"]] if r.status == 200 else None


def test_a_foreign_entry_above_the_log_is_removed_and_relaying_goes_on(env):
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=SLOW_POLL)
    first = publish(a, "room:fx", 3)
    wait_for(lambda: _stream_ids(redis)[-1:] == first[-1:], timeout=15, what="the relay to copy the log")

    # anyone who can write Redis
    _cli(redis, "XADD", "pulse:log", "999999999-0", "p", str(first[-1]), "t", "room:fx", "y", "note",
         "s", "2026-01-01T00:00:00Z", "d", "{}")
    later = publish(a, "room:fx", 3)
    wait_for(lambda: _stream_ids(redis)[-1:] == later[-1:], timeout=20, what="the relay to go on past the entry")
    ids = _stream_ids(redis)
    assert 999999999 not in ids
    assert ids == sorted(ids) and ids[-6:] == first + later
    assert _metric(a, "pulse_relay_foreign_entries_total") == 1

    # an edge copies the primary's log, and what is published next
    b = env.instance(name="edge", redis=redis, env=EDGE)
    wait_for(lambda: _polled(b, "room:fx") == first + later, timeout=20, what="the edge's copy")
    more = publish(a, "room:fx", 2)
    wait_for(lambda: _polled(b, "room:fx") == first + later + more, timeout=20, what="the edge to get new events")
