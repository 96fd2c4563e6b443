"""The database file under the running service: deleted, replaced, put
back, or on a full disk. No write is confirmed that the file at PULSE_DB
will not hold; every process (pulse-api workers, pulse-batch, pulse-stream)
answers 503 with Retry-After while the file is gone and follows a file put
back; GET /api/health says "db":"down" whenever writes fail."""
import os
import signal
import sqlite3
import subprocess
import tempfile

from harness import backup_db as _backup, publish, put_back_db, resumed_with_backup, wait_for


def _publish(inst, topic, n=0):
    return inst.post("/api/publish", {"topic": topic, "type": "note", "data": {"n": n}},
                     headers=inst.auth("root", "admin"))


def _health(inst):
    r = inst.get("/api/health")
    return r.status, r.json().get("db"), r.header("Retry-After")


def _down_everywhere(inst):
    """Every kind of request, several times over so that each process of
    the pool is asked: writes through pulse-batch and pulse-api, reads,
    health, a stream."""
    for i in range(6):
        r = _publish(inst, "room:gone", i)
        assert r.status == 503 and r.header("Retry-After"), (r.status, r.body)
        assert r.json()["error"]["code"] == "unavailable", r.body
        r = inst.post("/api/topup/init", {"amount": 5000, "description": "x"}, headers=inst.auth("u%d" % i))
        assert r.status == 503 and r.header("Retry-After"), (r.status, r.body)
        status, db, retry = _health(inst)
        assert (status, db) == (503, "down") and retry, (status, db)
        r = inst.get("/api/events?topic=room:gone&since=0")
        assert r.status == 503 and r.header("Retry-After"), (r.status, r.body)


def test_deleted_database_refuses_writes_and_every_process_follows_it_back(env):
    a, kept, backup, s = resumed_with_backup(env, "room:back", 3, workers=3)
    os.unlink(a.db)  # an operator's mistake, a cleanup script...
    _down_everywhere(a)
    # nothing re-created the file meanwhile
    assert not os.path.exists(a.db)

    put_back_db(a, backup)

    def all_up():
        # Health is answered by pulse-api's workers only. The stream
        # responder says it follows the file by accepting a resume (while
        # it cannot read the log it answers 503): until then the events
        # published next could be in the file before it looks, and its
        # reset would rightly start after them (the refetched state holds
        # them), not before.
        if not all(_health(a)[:2] == (200, "ok") for _ in range(6)):
            return False
        probe = a.sse("/api/events/stream?topic=room:probe", headers={"Last-Event-ID": str(kept[-1])})
        probe.close()
        return probe.status == 200

    wait_for(all_up, timeout=20, what="every process to follow the file put back")
    ids = []
    for i in range(5):
        r = _publish(a, "room:back", 100 + i)
        assert r.status == 202, (r.status, r.body)
        ids.append(r.json()["id"])
    assert ids[0] == kept[-1] + 1  # the restored log goes on where it ended

    # The stream responder followed too: the open stream is told its
    # position may not hold (unknown_id), then gets the new events.
    ev = s.next_event(15)
    assert ev["event"] == "reset" and ev["json"]["reason"] == "unknown_id", ev
    got = [int(e["id"]) for e in s.events(5, 15)]
    assert got == ids
    s.close()
    # and polling sees every confirmed event, before and after a restart
    r = a.get("/api/events?topic=room:back&since=0")
    assert [e["id"] for e in r.json()["events"]] == kept + ids
    a.stop()
    b = env.instance(name="b", db=a.db)
    r = b.get("/api/events?topic=room:back&since=0")
    assert [e["id"] for e in r.json()["events"]] == kept + ids
    assert [int(e["id"]) for e in b.sse("/api/events/stream?topic=room:back",
                                          headers={"Last-Event-ID": str(kept[-1])}).events(5, 15)] == ids


def test_replaced_database_is_followed_by_every_process(env):
    """Another file moved over the path (no deletion in between): the
    processes holding the old one notice the change of file and use the new
    one; no write lands in the old file."""
    a = env.instance(workers=2)
    kept = publish(a, "room:swap", 2)
    backup = os.path.join(env.tmp, "swap.db")
    _backup(a, backup)
    old = a.db + ".old"
    os.rename(a.db, old)
    for ext in ("-wal", "-shm"):
        if os.path.exists(a.db + ext):
            os.rename(a.db + ext, old + ext)
    os.rename(backup, a.db)
    ids = []
    for i in range(8):
        r = _publish(a, "room:swap", i)
        assert r.status == 202, (r.status, r.body)
        ids.append(r.json()["id"])
    rows = a.sql("SELECT id FROM events WHERE topic = 'room:swap' ORDER BY id")
    assert [x[0] for x in rows] == kept + ids
    con = sqlite3.connect(old)
    try:
        assert [x[0] for x in con.execute("SELECT id FROM events WHERE topic = 'room:swap' ORDER BY id")] == kept
    finally:
        con.close()


def test_deleted_database_is_not_created_anew_by_a_restarted_process(env):
    """A process that starts while the file is missing (a responder that
    crashed and was restarted) must not create an empty database the
    others would then follow: it waits for the file like them."""
    a = env.instance(workers=2)
    publish(a, "room:rs", 2)
    os.unlink(a.db)
    old = a.pids(b"pulse-batch")
    assert old
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    wait_for(lambda: a.pids(b"pulse-batch") and not set(a.pids(b"pulse-batch")) & set(old), timeout=20,
             what="pulse-batch to be restarted")
    def pulse_answer():
        # (the web server answers on its own until the new process is up)
        r = _publish(a, "room:rs", 9)
        return r if (r.header("Content-Type") or "").startswith("application/json") else None

    wait_for(pulse_answer, timeout=20, what="the restarted pulse-batch to answer")
    for i in range(4):
        r = _publish(a, "room:rs", i)
        assert r.status == 503 and r.header("Retry-After"), (r.status, r.body)
    assert not os.path.exists(a.db)


def test_health_says_down_when_the_disk_is_full(env):
    """Writes fail on a full disk: health must say so (a real write), and
    come back once there is room again."""
    mnt = tempfile.mkdtemp(prefix="full-", dir=env.tmp)
    out = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt], capture_output=True, text=True)
    assert out.returncode == 0, "this test mounts a small tmpfs (as root): " + out.stderr
    try:
        a = env.instance(db=os.path.join(mnt, "pulse.db"), workers=2, env={"PULSE_CORS_ORIGINS": "*"})
        assert _health(a)[:2] == (200, "ok")
        assert a.post("/api/publish", {"topic": "room:full", "type": "note", "data": {}},
                      headers=a.auth("root", "admin")).status == 202
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 65536) > 0:
                pass
        except OSError:
            pass  # full
        finally:
            os.close(fd)
        failed = False
        big = {"blob": "x" * 30000}
        for i in range(400):  # until the log has to grow and cannot
            r = a.post("/api/publish", {"topic": "room:full", "type": "note", "data": big},
                       headers=dict(a.auth("root", "admin"), Origin="http://shop.example"))
            assert r.status in (202, 503), (r.status, r.body)
            if r.status == 503:
                # the commit failed: a page must still read its Retry-After
                assert r.header("Retry-After") and r.header("Access-Control-Allow-Origin"), r.header_list
                failed = True
                break
        assert failed, "the full disk never refused a publish"
        for _ in range(4):
            status, db, retry = _health(a)
            assert (status, db) == (503, "down") and retry, (status, db)
        os.unlink(filler)
        wait_for(lambda: _health(a)[:2] == (200, "ok"), timeout=10, what="health once there is room")
        # the refused write handed out no id: the ids file (store/db_ids.h)
        # holds the log's newest, so a process started now resets no client
        last = a.sql("SELECT max(id) FROM events")[0][0]
        with open(a.db + "-ids") as f:
            assert int(f.read()) == last
        a.restart()
        r = a.get("/api/events?topic=room:full&since=%d" % last, headers=a.auth("root", "admin"))
        assert r.status == 200 and r.json()["reset"] is False, r.body
        a.stop()
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)
