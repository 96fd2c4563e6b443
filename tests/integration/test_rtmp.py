"""Live rooms fed by a real RTMP publisher: ffmpeg -> nginx-rtmp (Debian's
libnginx-mod-rtmp, configured by nginx-rtmp.conf) -> on_publish /
on_publish_done -> Pulse."""
import signal

from harness import http, token, wait_for


def owner():
    return {"Authorization": "Bearer " + token("shop1", "owner")}


def make_room(a):
    r = a.post("/api/live/rooms", {"title": "Flash sale", "description": "rtmp"}, headers=owner())
    assert r.status == 201, r.body
    return r.json()


def status(a, rid):
    return a.get("/api/live/rooms/" + rid).json()["status"]


def next_status(s, timeout=30):
    """The data.status of the next `status` event on a room stream."""
    while True:
        ev = s.next_event(timeout)
        if ev.get("event") == "status":
            return ev["json"]["data"]["status"]


def becomes(a, rid, want, rtmp, timeout=30):
    def check():
        return status(a, rid) == want
    try:
        wait_for(check, timeout=timeout, interval=0.1, what="room %s to be %s" % (rid, want))
    except AssertionError:
        raise AssertionError("room %s is %s, not %s; nginx said:\n%s" % (rid, status(a, rid), want, rtmp.log()))


def refused(rtmp, name):
    """ffmpeg publishing to live/<name> fails (nginx drops it on the 403)."""
    p = rtmp.publish(name)
    try:
        wait_for(lambda: p.p.poll() is not None, timeout=20, interval=0.05, what="ffmpeg to %s to fail" % name)
    finally:
        p.stop(signal.SIGINT)
    assert p.p.returncode != 0, "publishing to %s was accepted" % name


def test_ffmpeg_over_real_nginx_rtmp(env):
    a = env.instance()
    rtmp = env.rtmp(a)
    room = make_room(a)
    rid, key = room["id"], room["streamKey"]
    assert room["status"] == "PENDING"
    s = a.sse("/api/live/rooms/%s/stream" % rid)

    # a bad key: the publish fails, nothing changes
    before = a.snapshot()
    refused(rtmp, "sk_bogus")
    refused(rtmp, "%s?key=sk_bogus" % rid)
    assert a.snapshot() == before
    assert s.no_event(0.3)

    # name=<streamKey>: LIVE while ffmpeg pushes
    pub = rtmp.publish(key)
    becomes(a, rid, "LIVE", rtmp)
    assert next_status(s) == "LIVE"
    assert a.get("/api/live/rooms/" + rid).json()["startedAt"]
    # a second publisher with the same key is refused and the first stays LIVE
    # (nginx sends no on_publish_done for a refused publish)
    refused(rtmp, key)
    assert pub.p.poll() is None and status(a, rid) == "LIVE"

    # stopping the publisher ENDs the room
    pub.stop(signal.SIGINT)
    becomes(a, rid, "ENDED", rtmp)
    assert next_status(s) == "ENDED"
    s.close()

    # an ENDED room's key is refused
    before = a.snapshot()
    refused(rtmp, key)
    assert a.snapshot() == before

    # name=<roomId>&key=<streamKey>, on a room the owner started (WAITING_STREAM)
    r2 = make_room(a)
    started = http(a.port, "PUT", "/api/live/rooms/%s/start" % r2["id"], headers=owner())
    assert started.status == 200 and started.json()["status"] == "WAITING_STREAM", started.body
    s2 = a.sse("/api/live/rooms/%s/stream" % r2["id"])
    pub2 = rtmp.publish("%s?key=%s" % (r2["id"], r2["streamKey"]))
    becomes(a, r2["id"], "LIVE", rtmp)
    assert next_status(s2) == "LIVE"
    pub2.stop(signal.SIGINT)
    becomes(a, r2["id"], "ENDED", rtmp)
    assert next_status(s2) == "ENDED"
    s2.close()
