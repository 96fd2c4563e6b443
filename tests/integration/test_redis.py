"""Redis fan-out between instances, and surviving Redis dying.

Each instance gets its own doorbell directory and a one-minute tail poll, so
within these tests only Redis can carry an event from one instance's request
responders to the other's stream responder quickly."""
import socket
import time

from harness import SLOW_POLL_ENV as SLOW_POLL
from harness import publish, wait_for


def make_pair(env, redis):
    a = env.instance(name="a", redis=redis, env=SLOW_POLL)
    b = env.instance(name="b", db=a.db, redis=redis,
                     env=dict(SLOW_POLL, PULSE_BELL_DIR=a.data + "/b-bells"))
    return a, b


def test_event_from_one_instance_reaches_clients_of_both(env):
    redis = env.redis()
    a, b = make_pair(env, redis)
    assert a.get("/api/health").json() == {"status": "ok", "db": "ok", "redis": "ok", "mode": "redis"}
    sa = a.sse("/api/events/stream?topic=room:multi")
    sb = b.sse("/api/events/stream?topic=room:multi")
    time.sleep(0.3)  # both subscribers are up (they subscribe at start)
    ids = publish(a, "room:multi", 3) + publish(b, "room:multi", 2)
    assert [int(e["id"]) for e in sa.events(5, timeout=5)] == ids
    assert [int(e["id"]) for e in sb.events(5, timeout=5)] == ids


def _resp(f):
    line = f.readline().rstrip(b"\r\n")
    if line[:1] == b"*":
        return [_resp(f) for _ in range(int(line[1:]))]
    if line[:1] == b"$":
        n = int(line[1:])
        return f.read(n + 2)[:n]
    if line[:1] == b":":
        return int(line[1:])
    raise AssertionError(line)


def test_what_is_published_is_the_event_id(env):
    """The PUBLISH after a commit carries the id alone: the stream
    responders read the event from the log (README, "the bus is a doorbell")."""
    redis = env.redis()
    a = env.instance(name="a", redis=redis, env=SLOW_POLL)
    s = socket.create_connection(("127.0.0.1", redis.port), timeout=10)
    try:
        s.sendall(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$10\r\npulse:ev:*\r\n")
        f = s.makefile("rb")
        assert _resp(f)[0] == b"psubscribe"
        ids = publish(a, "room:pub", 2)
        got = [_resp(f) for _ in ids]
    finally:
        s.close()
    assert got == [[b"pmessage", b"pulse:ev:*", b"pulse:ev:room:pub", str(i).encode()] for i in ids]


def test_redis_killed_and_restarted_loses_nothing_and_duplicates_nothing(env):
    redis = env.redis()
    a, b = make_pair(env, redis)
    sa = a.sse("/api/events/stream?topic=room:k")
    sb = b.sse("/api/events/stream?topic=room:k")
    time.sleep(0.3)
    ids = publish(a, "room:k", 3)
    redis.kill()
    # requests keep succeeding; clients on the publishing host still get events
    ids += publish(a, "room:k", 4, 3)
    health = a.get("/api/health").json()
    assert health["status"] == "ok" and health["redis"] == "down"
    assert [int(e["id"]) for e in sa.events(7, timeout=5)] == ids
    redis.start()
    # the other host's subscriber reconnects (back-off <= 5 s) and catches up from the log
    ids += publish(a, "room:k", 2, 7)
    got_b = [int(e["id"]) for e in sb.events(len(ids), timeout=20)]
    assert got_b == ids
    wait_for(lambda: a.get("/api/health").json()["redis"] == "ok", timeout=15, what="redis ok again")
    ids2 = publish(b, "room:k", 2, 9)
    assert [int(e["id"]) for e in sa.events(2 + 2, timeout=10)] == ids[7:] + ids2
    assert [int(e["id"]) for e in sb.events(2, timeout=10)] == ids2
    assert sa.no_event(0.5) and sb.no_event(0.5)
