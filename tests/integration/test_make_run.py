"""`make run`: the newcomer's command. Serves www/ and /api on the port it is
given, configuration reaches the FastCGI processes, and SIGTERM to make
stops lighttpd and every process it started. `make install` puts down a tree
that serves the same way behind either web server (PREFIX, BINDIR, DATADIR,
DESTDIR), and `make uninstall` takes back exactly what it put down."""
import os
import signal
import subprocess
import tempfile

import harness
from harness import ROOT, answers_health, descendants, http, session, stops_with, wait_for

WEB_INDEPENDENT = True  # these tests start their own web servers through make
SERIAL = True  # runs alone: it runs make in the tree (tests/run.py)


# behind every web server pulse-batch and pulse-stream each run under a
# supervisor (PULSE_PREFORK=1: run-nginx.sh, run-apache.sh, lighttpd.conf)
KEPT = ("batch", "stream")


def test_make_run_serves_and_stops_cleanly(env):
    _make_run_and_stop(env, lambda p: p.send_signal(signal.SIGTERM))


def test_ctrl_c_on_make_run_stops_everything(env):
    # Ctrl-C in a terminal sends SIGINT to the whole foreground process group
    _make_run_and_stop(env, lambda p: os.killpg(p.pid, signal.SIGINT))


def test_make_run_nginx_serves_and_stops_cleanly(env):
    _make_run_and_stop(env, lambda p: p.send_signal(signal.SIGTERM), target="run-nginx")


def test_make_run_apache_serves_and_stops_cleanly(env):
    # run as root: Apache's workers become www-data, which must reach the
    # data directory (run-apache.sh checks it)
    harness.open_path(env.tmp, env.tmp)
    _make_run_and_stop(env, lambda p: p.send_signal(signal.SIGTERM), target="run-apache")


def test_make_install_puts_files_under_destdir(env):
    dest = tempfile.mkdtemp(prefix="dest-", dir=env.tmp)
    out = subprocess.run(["make", "--no-print-directory", "install", "PREFIX=/opt/pulse", "DESTDIR=" + dest],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    for f in ("bin/pulse-api", "bin/pulse-stream", "bin/pulse-token", "share/pulse/www/pulse.js",
              "share/pulse/www/topup.html", "share/pulse/lighttpd.conf", "share/pulse/nginx.conf",
              "share/pulse/nginx-rtmp.conf", "share/pulse/apache.conf", "share/pulse/www/vendor/hls.min.js",
              "share/pulse/www/live_video.js"):
        assert os.path.exists(os.path.join(dest, "opt/pulse", f)), f
    assert os.access(os.path.join(dest, "opt/pulse/bin/pulse-api"), os.X_OK)
    # what the two deployments of the README need besides: lighttpd's Lua
    # beside its configuration, and the nginx launcher
    assert os.path.exists(os.path.join(dest, "opt/pulse/share/pulse/lighttpd.lua"))
    assert os.access(os.path.join(dest, "opt/pulse/bin/pulse-run-nginx"), os.X_OK)
    assert os.access(os.path.join(dest, "opt/pulse/bin/pulse-run-apache"), os.X_OK)


def _make(*args):
    out = subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _files(top):
    return sorted(os.path.relpath(os.path.join(d, f), top) for d, _, fs in os.walk(top) for f in fs)


def test_make_install_honours_bindir_and_datadir_and_uninstall_takes_it_back(env):
    dest = tempfile.mkdtemp(prefix="dest-", dir=env.tmp)
    where = ["PREFIX=/opt/pulse", "BINDIR=/usr/lib/pulse/bin", "DATADIR=/srv/data", "DESTDIR=" + dest]
    # someone else's file where the programs go: uninstall must leave it
    os.makedirs(os.path.join(dest, "usr/lib/pulse/bin"))
    with open(os.path.join(dest, "usr/lib/pulse/bin/other-tool"), "w") as f:
        f.write("#!/bin/sh\n")
    _make("install", *where)
    for b in ("pulse-api", "pulse-batch", "pulse-stream", "pulse-token", "pulse-run-nginx", "pulse-run-apache"):
        assert os.access(os.path.join(dest, "usr/lib/pulse/bin", b), os.X_OK), b
    share = os.path.join(dest, "srv/data/pulse")
    for f in ("lighttpd.conf", "lighttpd.lua", "nginx.conf", "nginx-rtmp.conf", "apache.conf"):
        with open(os.path.join(ROOT, f), "rb") as a, open(os.path.join(share, f), "rb") as b:
            assert a.read() == b.read(), f
    assert _files(os.path.join(share, "www")) == _files(os.path.join(ROOT, "www"))
    assert not os.path.exists(os.path.join(dest, "opt")), _files(dest)  # PREFIX only gave the defaults
    _make("uninstall", *where)
    assert _files(dest) == ["usr/lib/pulse/bin/other-tool"], _files(dest)
    assert not os.path.exists(share)


def test_the_installed_tree_serves_behind_lighttpd(env):
    """README's "Deploying under lighttpd", from what make install put down."""
    inst = _install(env)
    _serve_and_stop(env, ["lighttpd", "-D", "-f", os.path.join(inst["share"], "lighttpd.conf")],
                    lambda p: p.send_signal(signal.SIGTERM), api=2, where=inst,
                    sup=KEPT)


def test_the_installed_tree_serves_behind_nginx(env):
    """The same behind nginx, through the installed pulse-run-nginx."""
    inst = _install(env)
    _serve_and_stop(env, [os.path.join(inst["bin"], "pulse-run-nginx")], lambda p: p.send_signal(signal.SIGTERM),
                    api=2, where=inst, sup=("api",) + KEPT)


def test_the_installed_tree_serves_behind_apache(env):
    """The same behind Apache, through the installed pulse-run-apache (as
    root: its workers are www-data, so the tree must be reachable)."""
    inst = _install(env)
    harness.open_path(env.tmp, inst["share"])
    _serve_and_stop(env, [os.path.join(inst["bin"], "pulse-run-apache")], lambda p: p.send_signal(signal.SIGTERM),
                    api=2, where=inst, sup=("api",) + KEPT)


def _install(env):
    dest = tempfile.mkdtemp(prefix="dest-", dir=env.tmp)
    _make("install", "PREFIX=/opt/pulse", "DESTDIR=" + dest)
    return {"bin": os.path.join(dest, "opt/pulse/bin"), "share": os.path.join(dest, "opt/pulse/share/pulse")}


def _make_run_and_stop(env, stop, target="run"):
    # behind nginx and Apache, pulse-api supervises its 2 workers: 3 processes
    # (behind lighttpd, make run's, lighttpd spawns the two itself)
    _serve_and_stop(env, ["make", "--no-print-directory", target], stop, api=2,
                    sup=KEPT if target == "run" else ("api",) + KEPT)


def _serve_and_stop(env, cmd, stop, api, sup, where=None):
    """Runs cmd (make run, or an installed tree's server when where names
    its bin and share directories) on a free port; checks it serves pages
    and the API with the secret it was given; stops it with stop(p)."""
    port = harness.free_port()
    data = tempfile.mkdtemp(prefix="run-", dir=env.tmp)
    e = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "REDIS_", "MAKE"))}
    conf = {"PORT": "%d" % port, "PULSE_DATA": data, "PULSE_JWT_SECRET": harness.JWT_SECRET, "PULSE_WORKERS": "2"}
    if where is None:
        cmd = cmd + ["%s=%s" % kv for kv in conf.items()]
        token_bin = os.path.join(ROOT, "build", "bin", "pulse-token")
    else:
        e.update(conf, PULSE_HOST="127.0.0.1", PULSE_ROOT=where["share"], PULSE_BIN=where["bin"])
        token_bin = os.path.join(where["bin"], "pulse-token")
    with session(cmd, ROOT if where is None else data, e, os.path.join(data, "make.log")) as p:
        wait_for(lambda: answers_health(port), timeout=120, what="%s to serve /api/health" % " ".join(cmd[:2]))
        page = http(port, "GET", "/")
        assert page.status == 200 and "Pulse" in page.body
        assert http(port, "GET", "/pulse.js").status == 200
        # the secret given to make reached the request responders
        tok = subprocess.run([token_bin, "newbie", "viewer"],
                             env={"PULSE_JWT_SECRET": harness.JWT_SECRET}, capture_output=True, text=True).stdout.strip()
        r = http(port, "GET", "/api/wallet", headers={"Authorization": "Bearer " + tok})
        assert r.status == 200 and r.json() == {"user_id": "newbie", "balance": 0}, r.body
        assert os.path.exists(os.path.join(data, "pulse.db"))
        procs = wait_for(lambda: _fcgi_procs(p.pid, api, sup), timeout=10,
                         what="pulse-api, pulse-batch, pulse-stream and their supervisors under make")
        s = harness.SSE(port, "/api/events/stream?topic=room:run")
        assert s.status == 200
        stops_with(p, procs, stop)


def _fcgi_procs(pid, api_count, sup):
    """All descendants of pid once exactly api_count pulse-api, 1 pulse-batch,
    1 pulse-stream and the supervisors of sup ("pulse supervisor: stream"...) run."""
    procs = descendants(pid)
    names = []
    for x in procs:
        try:
            with open("/proc/%d/cmdline" % x, "rb") as f:
                names.append(f.read())
        except OSError:
            pass
    api = sum(b"pulse-api" in n for n in names)
    batch = sum(b"pulse-batch" in n for n in names)
    stream = sum(b"pulse-stream" in n for n in names)
    kept = sorted(n.rstrip(b"\0")[len(b"pulse supervisor: "):].decode() for n in names
                  if n.startswith(b"pulse supervisor: "))
    return procs if (api, batch, stream, kept) == (api_count, 1, 1, sorted(sup)) else None
