"""Who may read the data: pulse.db holds stream keys, stream tokens and
wallets, so the database and its -wal and -shm are the service user's
alone (0600), and so is the data directory `make run` / `make run-nginx`
create (0700); the web servers, running as that same user, still reach
their FastCGI sockets in it. (`make run-apache` as root: Apache's workers
are another user, so the directory is 0711 and the sockets theirs alone.)"""
import os
import pwd
import signal
import stat
import subprocess
import tempfile

import harness
from harness import ROOT, answers_health, descendants, http, session, stops_with, wait_for

WEB_INDEPENDENT = True  # these tests start their own web servers through make
SERIAL = True  # runs alone: it runs make in the tree (tests/run.py)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _check_run(env, target, data_mode=0o700, sockets_owner=None):
    port = harness.free_port()
    parent = tempfile.mkdtemp(prefix="modes-", dir=env.tmp)
    os.chmod(parent, 0o755)
    data = os.path.join(parent, "data")  # make creates it
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "REDIS_", "MAKE"))}
    argv = ["sh", "-c", "umask 022 && exec make --no-print-directory %s PORT=%d PULSE_DATA=%s "
            "PULSE_JWT_SECRET=%s PULSE_WORKERS=2" % (target, port, data, harness.JWT_SECRET)]
    with session(argv, ROOT, e, os.path.join(parent, "make.log")) as p:
        wait_for(lambda: answers_health(port), timeout=120, what="make %s to serve /api/health" % target)
        # a write, through the request pool, and a stream: every socket is reached
        tok = subprocess.run([os.path.join(ROOT, "build", "bin", "pulse-token"), "owner1", "owner"],
                             env={"PULSE_JWT_SECRET": harness.JWT_SECRET}, capture_output=True,
                             text=True).stdout.strip()
        r = http(port, "POST", "/api/live/rooms", {"title": "t"}, headers={"Authorization": "Bearer " + tok})
        assert r.status == 201, r.body
        s = harness.SSE(port, "/api/events/stream?topic=room:" + r.json()["id"])
        assert s.status == 200
        s.close()
        assert _mode(data) == data_mode, oct(_mode(data))
        if sockets_owner is not None:
            for f in ("pulse-api.sock", "pulse-batch.sock", "pulse-stream.sock"):
                st = os.stat(os.path.join(data, f))
                assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (sockets_owner, 0o600), (f, st)
        for f in ("pulse.db", "pulse.db-wal", "pulse.db-shm"):
            assert _mode(os.path.join(data, f)) == 0o600, (f, oct(_mode(os.path.join(data, f))))
        stops_with(p, descendants(p.pid), lambda p: p.send_signal(signal.SIGTERM))


def test_make_run_keeps_the_data_private(env):
    _check_run(env, "run")


def test_make_run_nginx_keeps_the_data_private(env):
    _check_run(env, "run-nginx")


def test_make_run_apache_keeps_the_data_private(env):
    # Run as root, Apache's workers are www-data and must reach the sockets:
    # the directory lets others through but not list it (0711); the
    # database files stay 0600, the sockets are www-data's alone.
    harness.open_path(env.tmp, env.tmp)
    _check_run(env, "run-apache", data_mode=0o711, sockets_owner=pwd.getpwnam("www-data").pw_uid)
