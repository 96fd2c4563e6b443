"""`make run`: the newcomer's command. Serves www/ and /api on the port it is
given, configuration reaches the FastCGI processes, and SIGTERM to make
stops lighttpd and every process it started."""
import os
import signal
import subprocess
import tempfile

import harness
from harness import ROOT, alive, descendants, http, wait_for

WEB_INDEPENDENT = True  # these tests start their own web servers through make


def test_make_run_serves_and_stops_cleanly(env):
    _make_run_and_stop(env, lambda p: p.send_signal(signal.SIGTERM))


def test_ctrl_c_on_make_run_stops_everything(env):
    # Ctrl-C in a terminal sends SIGINT to the whole foreground process group
    _make_run_and_stop(env, lambda p: os.killpg(p.pid, signal.SIGINT))


def test_make_run_nginx_serves_and_stops_cleanly(env):
    _make_run_and_stop(env, lambda p: p.send_signal(signal.SIGTERM), target="run-nginx")


def test_make_install_puts_files_under_destdir(env):
    dest = tempfile.mkdtemp(prefix="dest-", dir=env.tmp)
    out = subprocess.run(["make", "--no-print-directory", "install", "PREFIX=/opt/pulse", "DESTDIR=" + dest],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    for f in ("bin/pulse-api", "bin/pulse-stream", "bin/pulse-token", "share/pulse/www/pulse.js",
              "share/pulse/www/topup.html", "share/pulse/lighttpd.conf", "share/pulse/nginx.conf"):
        assert os.path.exists(os.path.join(dest, "opt/pulse", f)), f
    assert os.access(os.path.join(dest, "opt/pulse/bin/pulse-api"), os.X_OK)


def _make_run_and_stop(env, stop, target="run"):
    port = harness.free_port()
    data = tempfile.mkdtemp(prefix="run-", dir=env.tmp)
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "REDIS_", "MAKE"))}
    log = open(os.path.join(data, "make.log"), "wb")
    p = subprocess.Popen(["make", "--no-print-directory", target, "PORT=%d" % port, "PULSE_DATA=" + data,
                          "PULSE_JWT_SECRET=" + harness.JWT_SECRET, "PULSE_WORKERS=2"],
                         cwd=ROOT, env=e, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: _ok(port), timeout=120, what="make run to serve /api/health")
        page = http(port, "GET", "/")
        assert page.status == 200 and "Pulse" in page.body
        assert http(port, "GET", "/pulse.js").status == 200
        # the secret given to make reached the request responders
        tok = subprocess.run([os.path.join(ROOT, "build", "bin", "pulse-token"), "newbie", "viewer"],
                             env={"PULSE_JWT_SECRET": harness.JWT_SECRET}, capture_output=True, text=True).stdout.strip()
        r = http(port, "GET", "/api/wallet", headers={"Authorization": "Bearer " + tok})
        assert r.status == 200 and r.json() == {"user_id": "newbie", "balance": 0}, r.body
        assert os.path.exists(os.path.join(data, "pulse.db"))
        # behind nginx, pulse-api supervises its 2 workers: 3 processes
        api = 3 if target == "run-nginx" else 2
        procs = wait_for(lambda: _fcgi_procs(p.pid, api), timeout=10, what="pulse-api and pulse-stream under make")
        s = harness.SSE(port, "/api/events/stream?topic=room:run")
        assert s.status == 200
        stop(p)
        p.wait(20)
        for x in procs:
            wait_for(lambda: not alive(x), timeout=15, what="process %d to exit after make got SIGTERM" % x)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        log.close()


def _fcgi_procs(pid, api_count):
    """All descendants of pid once exactly api_count pulse-api and 1 pulse-stream run."""
    procs = descendants(pid)
    names = []
    for x in procs:
        try:
            with open("/proc/%d/cmdline" % x, "rb") as f:
                names.append(f.read())
        except OSError:
            pass
    api = sum(b"pulse-api" in n for n in names)
    stream = sum(b"pulse-stream" in n for n in names)
    return procs if (api, stream) == (api_count, 1) else None


def _ok(port):
    try:
        return http(port, "GET", "/api/health", timeout=2).status == 200
    except OSError:
        return False
