"""A live room's video, end to end: ffmpeg pushes a test pattern over RTMP to a real
nginx-rtmp configured by nginx-rtmp.conf; on_publish (?redirect=room) answers a 302 to
the room id, so the stream is renamed to the room; nginx-rtmp cuts it into HLS in the
instance's data directory; the instance's web server serves /hls/<roomId>.m3u8; and
Debian's Chromium plays it in live.html with hls.js (installed by `make player` from the
npm registry), driven by tests/browser/video_page.js. A viewer never learns the key.
Needs ffmpeg, nginx with libnginx-mod-rtmp, node, npm and chromium (`make test-deps`)."""
import fcntl
import json
import os
import signal
import subprocess
import tempfile

from browser_helper import BROWSER_DIR, Browser
from harness import ROOT, http, token, wait_for


class VideoBrowser(Browser):
    script = os.path.join(BROWSER_DIR, "video_page.js")

    def wait(self, what, timeout=40, **cmd):
        cmd["wait"] = what
        cmd["timeout_ms"] = int(timeout * 1000)
        self.send(json.dumps(cmd))
        msg = self.expect(what, timeout + 10)
        assert msg["page_errors"] == [], msg["page_errors"]
        return msg


def ensure_player():
    """www/vendor/hls.min.js, as `make test` (and `make run`) get it: `make player`."""
    with open(os.path.join(tempfile.gettempdir(), "pulse-player-make.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)      # another test run may be fetching it too
        out = subprocess.run(["make", "--no-print-directory", "player"], cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
    assert out.returncode == 0, "make player failed:\n" + out.stdout[-2000:] + out.stderr[-2000:]


def owner():
    return {"Authorization": "Bearer " + token("shop1", "owner", "Shop One")}


def waiting_room(a):
    r = a.post("/api/live/rooms", {"title": "Video sale"}, headers=owner())
    assert r.status == 201, r.body
    room = r.json()
    r = http(a.port, "PUT", "/api/live/rooms/%s/start" % room["id"], headers=owner())
    assert r.status == 200 and r.json()["status"] == "WAITING_STREAM", r.body
    return room


def on_publish(a, key, query=""):
    form = "app=live&flashver=FMLE/3.0&swfurl=&tcurl=rtmp://127.0.0.1:1935/live&pageurl=&addr=127.0.0.1" \
           "&clientid=7&call=publish&name=%s&type=live" % key
    return a.post("/api/live/rtmp/on_publish" + query, form,
                  headers={"Content-Type": "application/x-www-form-urlencoded"})


def test_on_publish_with_redirect_renames_the_stream_to_the_room(env):
    a = env.instance()
    room = waiting_room(a)
    before = a.snapshot()
    r = on_publish(a, room["streamKey"], "?redirect=bogus")
    assert r.status == 400 and r.json()["error"]["code"] == "invalid_redirect", r.body
    assert on_publish(a, "sk_bogus", "?redirect=room").status == 403
    assert a.snapshot() == before
    # the answer nginx-rtmp reads: a 3xx whose Location is the new stream name
    r = on_publish(a, room["streamKey"], "?redirect=room")
    assert r.status == 302 and r.header("Location") == room["id"], (r.status, r.headers, r.body)
    assert a.get("/api/live/rooms/" + room["id"]).json()["status"] == "LIVE"
    # without ?redirect (API.md): 200, as before
    r2 = waiting_room(a)
    assert on_publish(a, r2["streamKey"]).status == 200


def test_a_viewer_watches_the_live_video_by_the_room_id(env):
    ensure_player()
    a = env.instance()
    rtmp = env.rtmp(a)
    room = waiting_room(a)
    rid, key = room["id"], room["streamKey"]
    # the page's own pieces are served: the player library and the page's script
    for path in ("/vendor/hls.min.js", "/vendor/hls.worker.js", "/live_video.js"):
        r = a.get(path)
        assert r.status == 200 and r.header("Content-Type").startswith("text/javascript"), (path, r.status)

    b = VideoBrowser(env.tmp, url="http://127.0.0.1:%d/live.html?room=%s" % (a.port, rid), status="WAITING_STREAM")
    pub = None
    try:
        st = b.expect("ready", 45)
        assert st["page_errors"] == [], st["page_errors"]
        # before the video: the page says offline, and shows no player
        assert st["state"]["video_state"] == "offline" and st["state"]["video_state_text"] == "offline", st["state"]
        assert st["state"]["video_hidden"] and st["state"]["hls_js"], st["state"]
        assert a.get("/hls/%s.m3u8" % rid).status == 404

        # the shop starts streaming: the page turns LIVE and plays by itself
        pub = rtmp.publish(key, seconds=60)
        st = b.wait("playing", seconds=2)
        s = st["state"]
        assert s["status"] == "LIVE" and s["video_state"] == "live" and s["current_time"] > 2, s
        assert (s["width"], s["height"]) == (320, 240), s
        assert s["src"].startswith("blob:"), s        # hls.js through Media Source Extensions

        # what the web server serves: the playlist, never cached, and its fragments
        r = a.get("/hls/%s.m3u8" % rid)
        assert r.status == 200 and r.header("Content-Type") == "application/vnd.apple.mpegurl", (r.status, r.headers)
        assert r.header("Cache-Control") == "no-cache", r.headers
        lines = r.body.splitlines()
        frags = [x for x in lines if x and not x.startswith("#")]
        assert lines[0] == "#EXTM3U" and frags and all(f.startswith(rid + "-") for f in frags), r.body
        ts = a.get("/hls/" + frags[-1])
        # (an MPEG-TS packet starts with the sync byte 0x47, "G")
        assert ts.status == 200 and ts.header("Content-Type") == "video/mp2t" and ts.body[:1] == "G", \
            (ts.status, ts.headers)

        # the key never becomes a play name: nothing by it on disk, on the web, or in the page
        assert sorted(os.listdir(rtmp.hls)) and not any(key in f for f in os.listdir(rtmp.hls))
        assert a.get("/hls/%s.m3u8" % key).status == 404
        assert not any(key in u for u in st["requests"]) and key not in s["html"]
        assert any(u.endswith("/hls/%s.m3u8" % rid) for u in st["requests"]), st["requests"]
        # nothing else of the data directory is reachable under /hls/
        for path in ("/hls/", "/hls/pulse.db", "/hls/nginx-rtmp.conf", "/hls/%s.m3u8.bak" % rid):
            assert a.get(path).status == 404, path

        # the shop stops: the room ENDs and the page says offline again
        pub.stop(signal.SIGINT)
        st = b.wait("video_state", state="offline", timeout=20)
        assert st["state"]["status"] == "ENDED" and st["state"]["video_hidden"], st["state"]
        b.send("end")
        b.expect("done", 20)
    finally:
        if pub is not None:
            pub.stop(signal.SIGINT)
        b.close()
    wait_for(lambda: a.get("/api/live/rooms/" + rid).json()["status"] == "ENDED", timeout=10, what="ENDED")
