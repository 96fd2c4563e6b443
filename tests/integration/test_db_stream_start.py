"""The stream responder started while the database file is missing (README,
"The database file"): a pulse-stream restarted by the web server after the
file was deleted waits for it like the other processes, answering new
streams 503 with Retry-After (it used to exit at start, over and over, and
the web server answered for it), and serves streams, live and resumed, from
the file once it is put back."""
import json
import os
import signal

from harness import alive, backup_db, publish, put_back_db, wait_for


def _open(inst, path, last_id=None):
    """A stream request: the SSE client, its head read (caller closes)."""
    return inst.sse(path, headers={"Last-Event-ID": str(last_id)} if last_id is not None else None)


def _refused(s, expected):
    """The stream was refused by Pulse itself: 503, Retry-After, the same
    JSON error the other processes answer (the web server's own 503, while
    no pulse-stream is up, says it is restarting a process instead)."""
    body = s.body_text()
    s.close()
    assert s.status == 503, (s.status, body)
    assert s.headers.get("retry-after"), s.headers
    assert s.headers.get("content-type", "").startswith("application/json"), (s.headers, body)
    assert json.loads(body) == expected, (body, expected)


def test_a_stream_responder_started_while_the_file_is_gone_waits_for_it(env):
    a = env.instance()
    path = "/api/events/stream?topic=room:late"
    kept = publish(a, "room:late", 2)
    backup = os.path.join(env.tmp, "backup.db")
    backup_db(a, backup)

    os.unlink(a.db)
    old = a.stream_pid()
    assert old
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: not alive(old), timeout=10, what="the killed pulse-stream to exit")

    # what pulse-api answers while the file is gone
    r = a.get("/api/events?topic=room:late&since=0")
    assert r.status == 503 and r.header("Retry-After"), (r.status, r.body)
    gone = r.json()
    assert gone["error"]["code"] == "unavailable", gone

    def pulse_answers():
        # (the web server answers on its own until a new pulse-stream is up)
        s = _open(a, path)
        if s.status == 503 and json.loads(s.body_text()) == gone:
            return s
        s.close()
        return None

    wait_for(pulse_answers, timeout=30, what="a restarted pulse-stream to answer").close()
    new = a.stream_pid()
    assert new and new != old
    for _ in range(3):  # live and resumed streams alike, from the same process
        _refused(_open(a, path), gone)
        _refused(_open(a, path, kept[0]), gone)
    assert a.stream_pid() == new and alive(new)  # it waits; it does not exit and come back
    assert not os.path.exists(a.db)  # and created no file meanwhile

    put_back_db(a, backup)
    # The first stream after the file is back is served (the responder
    # reads the file as it opens it, as the others do at their first request).
    s = _open(a, path)
    assert s.status == 200, (s.status, s.body_text())
    r = _open(a, path, kept[0])
    assert r.status == 200
    ids = publish(a, "room:late", 3, start=10)
    assert ids[0] == kept[-1] + 1  # the file put back goes on where it ended
    assert [int(e["id"]) for e in s.events(3, 15)] == ids
    assert [int(e["id"]) for e in r.events(4, 15)] == kept[1:] + ids
    s.close()
    r.close()
    assert a.stream_pid() == new
