"""Who may read the data: pulse.db holds stream keys, stream tokens and
wallets, so the database and its -wal and -shm are the service user's
alone (0600), and so is the data directory `make run` / `make run-nginx`
create (0700); the web servers, running as that same user, still reach
their FastCGI sockets in it."""
import os
import signal
import stat
import subprocess
import tempfile

import harness
from harness import ROOT, alive, descendants, http, wait_for

WEB_INDEPENDENT = True  # these tests start their own web servers through make


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _check_run(env, target):
    port = harness.free_port()
    parent = tempfile.mkdtemp(prefix="modes-", dir=env.tmp)
    os.chmod(parent, 0o755)
    data = os.path.join(parent, "data")  # make creates it
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "REDIS_", "MAKE"))}
    log = open(os.path.join(parent, "make.log"), "wb")
    p = subprocess.Popen(["sh", "-c", "umask 022 && exec make --no-print-directory %s PORT=%d PULSE_DATA=%s "
                          "PULSE_JWT_SECRET=%s PULSE_WORKERS=2" % (target, port, data, harness.JWT_SECRET)],
                         cwd=ROOT, env=e, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def ok():
            try:
                return http(port, "GET", "/api/health", timeout=2).status == 200
            except OSError:
                return False

        wait_for(ok, timeout=120, what="make %s to serve /api/health" % target)
        # a write, through the request pool, and a stream: every socket is reached
        tok = subprocess.run([os.path.join(ROOT, "build", "bin", "pulse-token"), "owner1", "owner"],
                             env={"PULSE_JWT_SECRET": harness.JWT_SECRET}, capture_output=True,
                             text=True).stdout.strip()
        r = http(port, "POST", "/api/live/rooms", {"title": "t"}, headers={"Authorization": "Bearer " + tok})
        assert r.status == 201, r.body
        s = harness.SSE(port, "/api/events/stream?topic=room:" + r.json()["id"])
        assert s.status == 200
        s.close()
        assert _mode(data) == 0o700
        for f in ("pulse.db", "pulse.db-wal", "pulse.db-shm"):
            assert _mode(os.path.join(data, f)) == 0o600, (f, oct(_mode(os.path.join(data, f))))
        procs = descendants(p.pid)
        p.send_signal(signal.SIGTERM)
        p.wait(20)
        for x in procs:
            wait_for(lambda: not alive(x), timeout=15, what="process %d to exit after make got SIGTERM" % x)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        log.close()


def test_make_run_keeps_the_data_private(env):
    _check_run(env, "run")


def test_make_run_nginx_keeps_the_data_private(env):
    _check_run(env, "run-nginx")
