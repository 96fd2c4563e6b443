"""Operations: health, metrics summed over processes, CORS."""
import re

from harness import http, publish


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    assert m, "metric %s missing in:\n%s" % (name, text)
    return int(m.group(1))


def test_health_local_mode(env):
    a = env.instance()
    r = a.get("/api/health")
    assert r.status == 200 and r.json() == {"status": "ok", "db": "ok", "redis": "disabled", "mode": "local"}


def test_health_with_redis_down_is_still_200(env):
    redis = env.redis()
    a = env.instance(redis=redis)
    assert a.get("/api/health").json()["redis"] == "ok"
    redis.kill()
    r = a.get("/api/health")
    assert r.status == 200 and r.json() == {"status": "ok", "db": "ok", "redis": "down", "mode": "redis"}


def test_metrics_count_across_processes(env):
    a = env.instance(workers=3)
    base = a.get("/api/metrics")
    assert base.status == 200 and base.header("content-type").startswith("text/plain")
    assert "# TYPE pulse_events_appended_total counter" in base.body
    s1 = a.sse("/api/events/stream?topic=room:m")
    s2 = a.sse("/api/events/stream?topic=room:m", headers={"Last-Event-ID": "0"})
    publish(a, "room:m", 4)
    s1.events(4)
    s2.events(4)
    a.get("/api/nowhere")
    m = a.get("/api/metrics").body
    assert metric(m, "pulse_events_appended_total") == metric(base.body, "pulse_events_appended_total") + 4
    assert metric(m, "pulse_events_delivered_total") >= 8
    assert metric(m, "pulse_streams_open") == 2
    assert metric(m, "pulse_replays_total") == 1
    assert metric(m, 'pulse_requests_total{class="4xx"}') >= 1
    assert metric(m, 'pulse_requests_total{class="2xx"}') >= 6
    s1.close()
    s2.close()


def test_cors_only_for_listed_origins(env):
    a = env.instance(env={"PULSE_CORS_ORIGINS": "https://shop.example, https://admin.example"})
    ok = a.get("/api/health", headers={"Origin": "https://shop.example"})
    assert ok.header("access-control-allow-origin") == "https://shop.example"
    bad = a.get("/api/health", headers={"Origin": "https://evil.example"})
    assert bad.header("access-control-allow-origin") is None
    pre = http(a.port, "OPTIONS", "/api/topup/init", headers={"Origin": "https://admin.example",
                                                              "Access-Control-Request-Method": "POST"})
    assert pre.status == 204 and "POST" in pre.header("access-control-allow-methods")
    assert "Authorization" in pre.header("access-control-allow-headers")
    s = a.sse("/api/events/stream?topic=room:c", headers={"Origin": "https://shop.example"})
    assert s.status == 200 and s.headers.get("access-control-allow-origin") == "https://shop.example"


def test_longest_echoed_origin_fits_the_web_servers_stream_buffer(env):
    # nginx holds a stream's response head in a 384-byte FastCGI buffer: the
    # longest origin Pulse echoes (200 bytes) must still open the stream.
    a = env.instance(env={"PULSE_CORS_ORIGINS": "*"})
    longest = "https://" + "o" * 184 + ".example"
    assert len(longest) == 200
    s = a.sse("/api/events/stream?topic=room:o", headers={"Origin": longest})
    assert s.status == 200 and s.headers.get("access-control-allow-origin") == longest
    ids = publish(a, "room:o", 1)
    assert [int(e["id"]) for e in s.events(1, timeout=5)] == ids
    over = longest + "x"
    t = a.sse("/api/events/stream?topic=room:o", headers={"Origin": over})
    assert t.status == 200 and t.headers.get("access-control-allow-origin") is None
    h = a.get("/api/health", headers={"Origin": over})
    assert h.status == 200 and h.header("access-control-allow-origin") is None


def test_unreachable_redis_from_the_start_degrades_to_local_delivery(env):
    import harness
    dead = harness.free_port()  # nothing listens here
    a = env.instance(env={"REDIS_URL": "redis://127.0.0.1:%d/0" % dead})
    h = a.get("/api/health")
    assert h.status == 200 and h.json()["redis"] == "down" and h.json()["mode"] == "redis"
    s = a.sse("/api/events/stream?topic=room:u")
    ids = publish(a, "room:u", 3)
    assert [int(e["id"]) for e in s.events(3, timeout=5)] == ids


def test_a_client_that_goes_away_is_freed(env):
    """nginx closes the FastCGI connection at once; lighttpd at its next
    write to the client, i.e. the next heartbeat (1 s here)."""
    import harness
    a = env.instance(env={"PULSE_HEARTBEAT_S": "1"})
    streams = [a.sse("/api/events/stream?topic=room:gone") for _ in range(3)]
    assert metric(a.get("/api/metrics").body, "pulse_streams_open") == 3
    for s in streams[:2]:
        s.close()
    harness.wait_for(lambda: metric(a.get("/api/metrics").body, "pulse_streams_open") == 1, timeout=10,
                     interval=0.1, what="closed streams to be freed")
    ids = publish(a, "room:gone", 1)
    assert int(streams[2].next_event()["id"]) == ids[0]
