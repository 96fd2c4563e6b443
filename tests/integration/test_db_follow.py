"""A database file put back while Pulse runs, seen from the requests and
streams around the moment it comes back: every process follows it at its
first request after it is there (not up to a second later, answering 503
meanwhile while the others already say the database is back), and a stream
whose replay the missing file interrupted stays open and is reset, instead
of being cut off mid-response."""
import os
import socket

from harness import SSE, backup_db, publish, put_back_db, resumed_with_backup


def _publish(inst, topic, n=0, data=None, auth=None):
    return inst.post("/api/publish", {"topic": topic, "type": "note", "data": data or {"n": n}},
                     headers=auth or inst.auth("root", "admin"))


def _health(inst):
    r = inst.get("/api/health")
    return r.status, r.json().get("db")


def _resume(inst, topic, last_id):
    s = inst.sse("/api/events/stream?topic=" + topic, headers={"Last-Event-ID": str(last_id)})
    s.close()
    return s.status


def _reset_then(s, published, last_event_id):
    """The stream's reset (unknown_id, for the position it had), then
    exactly the published events after the reset's id: the reset's id is
    where the client's refetched state stands."""
    ev = s.next_event(15)
    assert ev["event"] == "reset" and ev["json"]["reason"] == "unknown_id", ev
    assert ev["json"]["last_event_id"] == last_event_id, ev
    after = [i for i in published if i > int(ev["id"])]
    assert [int(e["id"]) for e in s.events(len(after), 15)] == after


class _SmallWindowSSE(SSE):
    """A stream client with a small receive buffer: what it has not read
    yet stays queued in the web server and the stream responder."""

    def __init__(self, port, path, headers):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        h = "".join("%s: %s\r\n" % kv for kv in headers.items())
        self.sock.sendall(("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n"
                           % (path, h)).encode())
        self.buf, self.comments, self.retry, self.closed = b"", [], None, False
        head = self._until(b"\r\n\r\n", 10).decode("latin-1").split("\r\n")
        self.status = int(head[0].split()[1])


def test_a_file_put_back_is_followed_at_the_next_request(env):
    a, kept, backup, s = resumed_with_backup(env, "room:next", 2, workers=1)
    os.unlink(a.db)
    # Each process finds it gone, and has just looked for a file at the path.
    r = _publish(a, "room:next")
    assert r.status == 503 and r.header("Retry-After"), (r.status, r.body)
    assert _health(a) == (503, "down")
    assert _resume(a, "room:next", kept[-1]) == 503

    put_back_db(a, backup)
    # At once: the first write, health, a resume.
    r = _publish(a, "room:next", 1)
    assert r.status == 202, (r.status, r.body)
    first = r.json()["id"]
    assert first == kept[-1] + 1
    assert _health(a) == (200, "ok")
    assert _resume(a, "room:next", first) == 200
    second = publish(a, "room:next", 1, start=2)[0]
    _reset_then(s, [first, second], kept[-1])
    s.close()


def test_a_replay_interrupted_by_the_missing_file_stays_open_and_is_reset(env):
    """A client resuming far behind is sent its missed events a batch at a
    time, the next batch read once the last one is written. The file
    deleted before the next batch is read: the stream must stay open (no
    half-finished response, no reconnect into the same 503) and get its
    reset when the file is back."""
    a = env.instance()
    blob, adm = "x" * 60000, a.auth("root", "admin")
    ids = []
    for i in range(130):  # more than one replay batch (128), of more than the buffers between hold
        r = _publish(a, "room:big", data={"n": i, "blob": blob}, auth=adm)
        assert r.status == 202, (r.status, r.body)
        ids.append(r.json()["id"])
    backup = os.path.join(env.tmp, "backup.db")
    backup_db(a, backup)

    s = _SmallWindowSSE(a.port, "/api/events/stream?topic=room:big", {"Last-Event-ID": str(ids[0] - 1)})
    assert s.status == 200
    # The first event read means the first batch was read from the file.
    got = [int(s.next_event(15)["id"])]
    os.unlink(a.db)
    got += [int(e["id"]) for e in s.events(127, 30)]
    assert got == ids[:128]
    # The batch written, the stream responder tried the next one (in the
    # same turn of its loop, before it reads anything else) and could not:
    # a new resume is refused meanwhile.
    assert _resume(a, "room:big", ids[-1]) == 503

    put_back_db(a, backup)
    r = _publish(a, "room:big", 1)
    assert r.status == 202, (r.status, r.body)
    _reset_then(s, [r.json()["id"]], ids[127])
    s.close()
