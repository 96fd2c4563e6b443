#!/usr/bin/env python3
"""The driver of `make bench`: Pulse (behind lighttpd, behind nginx) against
nchan (nginx + libnginx-mod-nchan, memory store) on this machine, each
driven by the same load generator (bench/sseload.c, wrk) from separate
processes; writes bench/RESULTS.md.

  python3 bench/run.py [--runs 3] [--hold 30] [--only a,b,c,d,e,m] [--out bench/RESULTS.md]

Figures (medians of --runs runs):
  a. SSE streams held --hold seconds at 1k / 5k / ~10k (and ~20k through
     nginx and nchan): failures, RSS per stream of pulse-stream and of the
     web server; for nchan, of nginx.
  b. publish -> deliver latency to 100 and 1,000 subscribers of one topic.
  c. publish throughput at concurrency 16 (wrk): POST /api/publish and a
     signed PayOS webhook against nchan's publisher location.
  d. POST /api/publish with 10^3 and with 10^6 events in the log.
  e. two hosts sharing one Redis: publish on the primary, deliver on an edge.
  m. the stream responder alone (bench/stream_mem.py).

Everything listens on 127.0.0.1; every process started here is stopped by
PID at the end, on failure too; every wait is bounded.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import queue
import random
import re
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
# The integration tests' instance starter, HTTP and JWT helpers, processes and redis-server.
import harness  # noqa: E402
from harness import (NGINX_MODULES, Proc, alive, children_of, descendants, free_port, payos_body,  # noqa: E402
                     wait_for)
BIN = os.path.join(ROOT, "build", "bin")
NOOP_BIN = os.path.join(ROOT, "build", "bench", "noop")  # figure c ceiling: no-op pulse-batch and pulse-api
SSELOAD = os.path.join(ROOT, "build", "bench", "sseload")
MAX_STREAMS = 19900          # PULSE_MAX_CONNECTIONS / PULSE_MAX_PER_TOPIC
LIGHTTPD_MAX_CONN = 9950     # bench copy of lighttpd.conf (shipped: 6000)
LIGHTTPD_WEB_STREAMS = 8950  # bench copy's PULSE_WEB_MAX_STREAMS (shipped: 5000), 1000 below LIGHTTPD_MAX_CONN
NGINX_WORKER_CONN = 20000    # bench copy of nginx.conf (as shipped)
TOPICS = 100                 # streams of figure a spread over this many topics
WRK_THREADS = 2
WRK_CONNS = 16

NGINX_EXTRA = []             # (old, new) edits of nginx.conf, for experiments
STARTED = []                 # every server started, stopped in reverse at exit


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---------------------------------------------------------------- processes

def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def stop_all():
    for srv in reversed(STARTED):
        try:
            srv.stop()
        except Exception as e:  # keep stopping the others
            log("stopping pid %d: %s" % (srv.proc.p.pid, e))


def stop_tree(proc):
    """Stops proc (a harness.Proc) and waits for the processes below it,
    which its SIGTERM stops; any still there after 15 s is killed by PID.
    A second call does nothing (the PID may be another process's by then)."""
    kids = descendants(proc.p.pid) if proc.p.poll() is None else []
    proc.stop(timeout=15)
    deadline = time.time() + 15
    for pid in kids:
        while alive(pid) and time.time() < deadline:
            time.sleep(0.05)
        if alive(pid):
            log("pid %d outlived its parent: killed" % pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class CpuWatch:
    """Samples /proc every 2 s and adds up the CPU time of processes that are
    not this driver or its descendants: other work on the machine during
    the run, which the report states."""

    def __init__(self):
        self.tick = os.sysconf("SC_CLK_TCK")
        self.last = {}
        self.mine = {os.getpid()}  # once ours, always ours (children outlive parents at stop)
        self.foreign = 0.0
        self.by_comm = {}
        self.t0 = time.time()
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()

    def _sample(self):
        stats = {}
        for st in glob.glob("/proc/[0-9]*/stat"):
            try:
                with open(st) as f:
                    head, _, rest = f.read().rpartition(")")
                fields = rest.split()
                stats[int(st.split("/")[2])] = (int(fields[1]), int(fields[11]) + int(fields[12]),
                                                head.split("(", 1)[1])
            except (OSError, IndexError, ValueError):
                pass
        mine = self.mine
        changed = True
        while changed:
            changed = False
            for pid, (ppid, _, _) in stats.items():
                if ppid in mine and pid not in mine:
                    mine.add(pid)
                    changed = True
        for pid, (_, cpu, comm) in stats.items():
            prev = self.last.get(pid)
            if prev is not None and pid not in mine and prev[1] == comm and cpu >= prev[0]:
                # a pid reused by a process of ours would be in mine; an exited one is not listed
                d = (cpu - prev[0]) / float(self.tick)
                self.foreign += d
                self.by_comm[comm] = self.by_comm.get(comm, 0.0) + d
        self.last = {pid: (cpu, comm) for pid, (_, cpu, comm) in stats.items()}

    def _loop(self):
        while not self.stop_ev.wait(2.0):
            self._sample()

    def stop(self):
        self.stop_ev.set()
        self.th.join(5)
        wall = time.time() - self.t0
        top = sorted(self.by_comm.items(), key=lambda kv: -kv[1])[:3]
        return self.foreign, wall, top


# ---------------------------------------------------------------- memory

def mem_kib(pid):
    """(RSS, PSS) of one process in KiB."""
    rss = pss = 0
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


def group_cpu(groups):
    """{group: CPU seconds (user + system) so far} summed over each group's processes."""
    tick = float(os.sysconf("SC_CLK_TCK"))
    return {name: sum(cpu_ticks(p) for p in pids) / tick for name, pids in groups.items()}


def group_mem(groups):
    """{group: (RSS KiB, PSS KiB)} summed over each group's processes."""
    out = {}
    for name, pids in groups.items():
        r = p = 0
        for pid in pids:
            a, b = mem_kib(pid)
            r += a
            p += b
        out[name] = (r, p)
    return out


# ---------------------------------------------------------------- HTTP

class KeepAlive:
    """One persistent HTTP/1.1 connection for the latency publisher."""

    def __init__(self, port):
        self.port = port
        self.s = None
        self.buf = b""

    def post(self, path, data, headers):
        if self.s is None:
            self.s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        h = {"Host": "127.0.0.1", "Content-Type": "application/json", "Content-Length": str(len(data))}
        h.update(headers)
        self.s.sendall(("POST %s HTTP/1.1\r\n%s\r\n" % (path, "".join("%s: %s\r\n" % kv for kv in h.items())))
                       .encode() + data)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        if "content-length" in hdrs:
            n = int(hdrs["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
        else:
            raise RuntimeError("response without a length")
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def _fill(self):
        c = self.s.recv(65536)
        if not c:
            raise RuntimeError("publisher connection closed")
        self.buf += c

    def close(self):
        if self.s is not None:
            self.s.close()
        self.s = None
        self.buf = b""


# ---------------------------------------------------------------- servers

def bench_copy(text, old, new, what):
    if old not in text:
        raise RuntimeError("%s: expected %r in the shipped file; update bench/run.py" % (what, old))
    return text.replace(old, new)


def bench_configs(tmp):
    """The bench copies of lighttpd.conf and nginx.conf, with higher
    connection limits, written once into tmp: (lighttpd.conf path, a
    PULSE_ROOT for run-nginx.sh holding nginx.conf and a link to www/)."""
    conf = os.path.join(tmp, "conf")
    lighttpd_conf, root = os.path.join(conf, "lighttpd.conf"), os.path.join(conf, "root")
    if os.path.isdir(conf):
        return lighttpd_conf, root
    os.makedirs(root)
    with open(os.path.join(ROOT, "lighttpd.conf")) as f:
        text = f.read()
    text = bench_copy(text, "server.max-connections = 6000",
                      "server.max-connections = %d" % LIGHTTPD_MAX_CONN, "lighttpd.conf")
    text = bench_copy(text, '"PULSE_WEB_MAX_STREAMS" => "5000"',
                      '"PULSE_WEB_MAX_STREAMS" => "%d"' % LIGHTTPD_WEB_STREAMS, "lighttpd.conf")
    with open(lighttpd_conf, "w") as f:
        f.write(text)
    os.symlink(os.path.join(ROOT, "www"), os.path.join(root, "www"))
    with open(os.path.join(ROOT, "nginx.conf")) as f:
        text = f.read()
    text = bench_copy(text, "worker_connections 20000;", "worker_connections %d;" % NGINX_WORKER_CONN, "nginx.conf")
    for old, new in NGINX_EXTRA:
        text = bench_copy(text, old, new, "nginx.conf")
    with open(os.path.join(root, "nginx.conf"), "w") as f:
        f.write(text)
    return lighttpd_conf, root


class Pulse(harness.Instance):
    """A Pulse instance started as the integration tests start one
    (harness.Instance: lighttpd with lighttpd.conf, or tools/run-nginx.sh
    with nginx.conf), from the bench copies of those files, with the
    stream caps raised and no per-client limit."""

    def __init__(self, tmp, web, env=None, db=None, bin_dir=BIN):
        self.kind = "pulse-" + web
        self.lighttpd_conf, root = bench_configs(tmp)
        e = {"PULSE_BIN": bin_dir, "PULSE_MAX_CONNECTIONS": str(MAX_STREAMS), "PULSE_MAX_PER_TOPIC": str(MAX_STREAMS)}
        if web == "nginx":
            e.update({"PULSE_ROOT": root, "NGINX_WORKERS": "2"})
        e.update(env or {})
        super().__init__(tmp, name=web[0], db=db, env=e, web=web)
        STARTED.append(self)

    def stream_path(self, topic):
        return "/api/events/stream?topic=room:" + topic

    def groups(self):
        g = {"web": [], "stream": [], "api": [], "batch": []}
        for pid in descendants(self.proc.p.pid) + [self.proc.p.pid]:
            # a supervisor ("pulse supervisor: stream", PULSE_PREFORK) counts with its worker
            c = cmdline(pid).replace("pulse supervisor: ", "pulse-")
            if "pulse-stream" in c:
                g["stream"].append(pid)
            elif "pulse-batch" in c:
                g["batch"].append(pid)
            elif "pulse-api" in c:
                g["api"].append(pid)
            elif c.startswith("lighttpd") or c.startswith("nginx"):
                g["web"].append(pid)
        return g

    def stop(self):
        stop_tree(self.proc)


class ConfNginx:
    """nginx from a template in bench/ filled in into a temp dir (@PORT@, on
    127.0.0.1 only; @DIR@ for pid, logs and temp files; @USER@; @MODULES@;
    and subs, more (placeholder, value) pairs), stopped by PID."""

    def __init__(self, tmp, template, what, subs=()):
        self.what = what
        self.data = tempfile.mkdtemp(prefix=template.split(".")[0] + "-", dir=tmp)
        os.mkdir(os.path.join(self.data, "tmp"))
        self.port = free_port()
        with open(os.path.join(ROOT, "bench", template)) as f:
            text = f.read()
        for k, v in (("@PORT@", str(self.port)), ("@DIR@", self.data), ("@USER@", _user()),
                     ("@MODULES@", NGINX_MODULES)) + tuple(subs):
            text = text.replace(k, v)
        conf = os.path.join(self.data, template)
        with open(conf, "w") as f:
            f.write(text)
        self.proc = Proc(["nginx", "-p", self.data + "/", "-e", "stderr", "-c", conf], os.environ.copy(),
                         os.path.join(self.data, "nginx.out"))
        STARTED.append(self)
        wait_for(self._up, timeout=20, what="%s on port %d" % (what, self.port))

    def _up(self):
        if self.proc.p.poll() is not None:
            raise RuntimeError("%s's nginx exited; see %s" % (self.what, self.data))
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return len(children_of(self.proc.p.pid)) >= 2
        except OSError:
            return False

    def groups(self):
        return {"web": [self.proc.p.pid] + descendants(self.proc.p.pid)}

    def stop(self):
        stop_tree(self.proc)


class Nchan(ConfNginx):
    """nginx with the nchan module, from bench/nchan.conf."""

    def __init__(self, tmp):
        self.kind = "nchan"
        super().__init__(tmp, "nchan.conf", "nchan")

    def stream_path(self, topic):
        return "/sub/room-" + topic


def _user():
    import pwd
    return pwd.getpwuid(os.getuid()).pw_name


def token(sub, role):
    """A JWT for the instances started here, valid for the whole bench."""
    return harness.token(sub, role, ttl=86400)


# ---------------------------------------------------------------- sseload

class Loader:
    """One sseload process; ready() waits for its READY line. path None:
    extra holds -U FILE (bench/chat_bench.py); extra: more options."""

    def __init__(self, tmp, port, path, n, topics=1, hold=0, events=0, wait=30, open_s=90, inflight=256, extra=()):
        argv = [SSELOAD, "-p", str(port)] + (["-u", path] if path is not None else []) + [
            "-n", str(n), "-k", str(topics), "-c", str(inflight),
            "-o", str(open_s), "-H", str(hold), "-e", str(events), "-w", str(wait)] + list(extra)
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)
        self.q = queue.Queue()
        self.err = []
        threading.Thread(target=self._read_err, daemon=True).start()
        self.t_ready = None
        self.open_s = open_s

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line)
            if line.startswith("READY"):
                self.q.put(line)
        self.q.put(None)

    def ready(self):
        try:
            line = self.q.get(timeout=self.open_s + 30)
        except queue.Empty:
            line = None
        if line is None:
            raise RuntimeError("sseload gave no READY: %s" % "".join(self.err)[-2000:])
        self.t_ready = time.time()
        return line.strip()

    def result(self, timeout=700):
        try:
            out, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise RuntimeError("sseload did not finish")
        if self.p.returncode != 0:
            raise RuntimeError("sseload failed (%d): %s" % (self.p.returncode, "".join(self.err)[-2000:]))
        return json.loads(out.strip().splitlines()[-1])

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


# ---------------------------------------------------------------- figure a

def start_server(kind, tmp, **kw):
    if kind == "nchan":
        return Nchan(tmp)
    if kind.startswith("noop-"):
        srv = Pulse(tmp, kind.split("-", 1)[1], bin_dir=NOOP_BIN, **kw)
        srv.kind = kind
        return srv
    return Pulse(tmp, kind.split("-", 1)[1], **kw)


def warm_up(tmp, srv):
    """One stream opened and closed, so lazily built state is in the idle figure."""
    ld = Loader(tmp, srv.port, srv.stream_path("warm"), 1, hold=0.2, open_s=10)
    ld.ready()
    r = ld.result(30)
    if r["failed"]:
        raise RuntimeError("%s: warm-up stream failed: %r" % (srv.kind, r))


def figure_a(tmp, levels, runs, hold):
    """levels: [(level, {kind: streams})]. Returns {(kind, level): [run dicts]}."""
    res = {}
    for level, per_kind in levels:
        kinds = list(per_kind)
        for run in range(runs):
            order = kinds[run % len(kinds):] + kinds[:run % len(kinds)]
            log("a: level %d, run %d/%d (%s)" % (level, run + 1, runs, ", ".join(
                "%s %d" % (k, per_kind[k]) for k in order)))
            servers, loaders = {}, {}
            try:
                for k in order:
                    servers[k] = start_server(k, tmp)
                for k in order:
                    warm_up(tmp, servers[k])
                time.sleep(1.0)
                idle = {k: group_mem(servers[k].groups()) for k in order}
                # Ramps one after the other; the holds overlap (idle streams).
                for k in order:
                    ld = Loader(tmp, servers[k].port, servers[k].stream_path("a%d"), per_kind[k], topics=TOPICS,
                                hold=hold)
                    ready = ld.ready()
                    loaders[k] = ld
                    log("   %s: %s" % (k, ready))
                loaded = {}
                for k in sorted(order, key=lambda k: loaders[k].t_ready):
                    t = loaders[k].t_ready + max(0.0, hold - 2.0)
                    time.sleep(max(0.0, t - time.time()))
                    loaded[k] = group_mem(servers[k].groups())
                for k in order:
                    r = loaders[k].result(hold + 120)
                    opened = int(re.search(r"open=(\d+)", "".join(loaders[k].err)).group(1))
                    row = {"n": per_kind[k], "opened": opened, "failed": r["failed"], "sseload": r,
                           "idle": idle[k], "loaded": loaded[k]}
                    for g in idle[k]:
                        d_rss = (loaded[k][g][0] - idle[k][g][0]) * 1024.0 / max(1, opened)
                        d_pss = (loaded[k][g][1] - idle[k][g][1]) * 1024.0 / max(1, opened)
                        row["rss_" + g] = d_rss
                        row["pss_" + g] = d_pss
                    row["rss_total"] = sum(row["rss_" + g] for g in idle[k])
                    row["pss_total"] = sum(row["pss_" + g] for g in idle[k])
                    res.setdefault((k, level), []).append(row)
                    log("   %s: failed=%d %s" % (k, r["failed"], " ".join(
                        "%s=%.0fB" % (g, row["rss_" + g]) for g in sorted(idle[k]))))
            finally:
                for ld in loaders.values():
                    ld.kill()
                for s in servers.values():
                    s.stop()
    return res


# ---------------------------------------------------------------- figure b

def publish_fn(srv, admin):
    """A function (conn, topic, bench_us, seq) -> HTTP status that publishes one event."""
    if srv.kind == "nchan":
        def pub(conn, topic, us, seq):
            return conn.post("/pub/room-" + topic, json.dumps({"bench_us": us, "seq": seq}).encode(), {})[0]
    else:
        hdr = {"Authorization": "Bearer " + admin}

        def pub(conn, topic, us, seq):
            body = {"topic": "room:" + topic, "type": "bench", "data": {"bench_us": us, "seq": seq}}
            return conn.post("/api/publish", json.dumps(body).encode(), hdr)[0]
    return pub


def latency_run(tmp, listen, publish_to, topic, subs, publishes, pub, rnd):
    """subs streams on `listen`, `publishes` events published on `publish_to`
    50-100 ms apart; the row of figure b (or e)."""
    ld = Loader(tmp, listen.port, listen.stream_path(topic), subs, events=publishes, wait=60)
    try:
        ld.ready()
        conn = KeepAlive(publish_to.port)
        statuses = []
        time.sleep(0.2)
        groups = listen.groups()
        cpu0 = group_cpu(groups)
        for seq in range(publishes):
            us = time.time_ns() // 1000
            statuses.append(pub(conn, topic, us, seq))
            time.sleep(rnd.uniform(0.05, 0.10))
        conn.close()
        r = ld.result(90)
        cpu1 = group_cpu(groups)
    finally:
        ld.kill()
    bad = [st for st in statuses if not 200 <= st < 300]
    return {"subs": subs, "publishes": publishes, "bad_publishes": len(bad), "sseload": r,
            "p50_ms": r["latency_us"]["p50"] / 1000.0, "p99_ms": r["latency_us"]["p99"] / 1000.0,
            "max_ms": r["latency_us"]["max"] / 1000.0,
            "missing": r["events_expected"] - r["events"] + (subs - r["open_at_end"]) * publishes,
            "cpu_us": {g: (cpu1[g] - cpu0[g]) * 1e6 / max(1, r["events"]) for g in groups}}


def figure_b(tmp, kinds, subs_list, runs, publishes):
    """Every server is started first and each run measures all of them back
    to back (the order rotating from run to run), so a ratio compares
    figures taken within a minute of each other, not one server's three runs
    against another's made minutes later: this machine drifts by tens of
    percent between minutes (HISTORY.md). The idle servers cost the one
    measured nothing (they hold no stream and get no publish)."""
    admin = token("root", "admin")
    res = {}
    rnd = random.Random(7)
    servers = {}
    try:
        for k in kinds:
            servers[k] = start_server(k, tmp)
            warm_up(tmp, servers[k])
        pubs = {k: publish_fn(servers[k], admin) for k in kinds}
        for run in range(runs):
            order = kinds[run % len(kinds):] + kinds[:run % len(kinds)]
            for subs in subs_list:
                for k in order:
                    row = latency_run(tmp, servers[k], servers[k], "lat%d-%d" % (subs, run), subs, publishes,
                                      pubs[k], rnd)
                    res.setdefault((k, subs), []).append(row)
                    log("b: %s %d subs run %d: p50=%.2fms p99=%.2fms max=%.2fms missing=%d bad=%d" % (
                        k, subs, run + 1, row["p50_ms"], row["p99_ms"], row["max_ms"], row["missing"],
                        row["bad_publishes"]))
    finally:
        for srv in servers.values():
            srv.stop()
    return res


# ---------------------------------------------------------------- figure t

def figure_t(tmp, n, kinds, runs, topic_counts=(TOPICS, None)):
    """n streams over 100 topics and over n topics (one each, as top-up and
    chat pages subscribe), side by side in each run: memory per stream
    (RSS, as figure a) and delivery latency when one event is published to
    every topic (so every stream gets exactly one). Returns
    {(kind, topics): [run dicts]}."""
    admin = token("root", "admin")
    res = {}
    for run in range(runs):
        for k in kinds:
            streams = min(n, LIGHTTPD_CEILING) if k == "pulse-lighttpd" else n
            for t in topic_counts:
                topics = t or streams
                srv = start_server(k, tmp)
                ld = None
                try:
                    warm_up(tmp, srv)
                    time.sleep(1.0)
                    groups = srv.groups()
                    idle = group_mem(groups)
                    ld = Loader(tmp, srv.port, srv.stream_path("t%d"), streams, topics=topics, events=1, wait=120)
                    ready = ld.ready()
                    time.sleep(2.0)
                    loaded = group_mem(groups)
                    pub, conn = publish_fn(srv, admin), KeepAlive(srv.port)
                    cpu0 = group_cpu(groups)
                    t0 = time.time()
                    bad = sum(1 for i in range(topics)
                              if not 200 <= pub(conn, "t%d" % i, time.time_ns() // 1000, i) < 300)
                    took = time.time() - t0
                    conn.close()
                    r = ld.result(200)
                    cpu1 = group_cpu(groups)
                finally:
                    if ld is not None:
                        ld.kill()
                    srv.stop()
                opened = int(re.search(r"open=(\d+)", ready).group(1))
                row = {"n": streams, "topics": topics, "opened": opened, "failed": r["failed"],
                       "publishes": topics, "bad_publishes": bad, "publish_s": took,
                       "p50_ms": r["latency_us"]["p50"] / 1000.0, "p99_ms": r["latency_us"]["p99"] / 1000.0,
                       "max_ms": r["latency_us"]["max"] / 1000.0, "events": r["events"],
                       "missing": streams - r["events"],
                       "rss_total": sum((loaded[g][0] - idle[g][0]) * 1024.0 for g in groups) / max(1, opened),
                       "cpu_us": {g: (cpu1[g] - cpu0[g]) * 1e6 / max(1, r["events"]) for g in groups}}
                res.setdefault((k, t), []).append(row)
                log("t: %s %d streams over %d topics run %d: %.0f B/stream p50=%.2fms p99=%.2fms missing=%d "
                    "bad=%d (%.1f s of publishes)" % (k, streams, topics, run + 1, row["rss_total"], row["p50_ms"],
                                                      row["p99_ms"], row["missing"], bad, took))
    return res


# ---------------------------------------------------------------- figure e

def figure_e(tmp, subs_list, runs, publishes):
    """Two hosts sharing only Redis (behind nginx): events published on the
    primary, subscribers on an edge (PULSE_ROLE=edge, its own database)."""
    res = {}
    rnd = random.Random(9)
    admin = token("root", "admin")
    redis = harness.Redis(tmp)
    primary = edge = None
    try:
        primary = Pulse(tmp, "nginx", env={"REDIS_URL": redis.url})
        edge = Pulse(tmp, "nginx", env={"REDIS_URL": redis.url, "PULSE_ROLE": "edge"})
        deadline = time.time() + 30
        while True:  # an edge serves streams once its first copy of the log is complete
            try:
                warm_up(tmp, edge)
                break
            except RuntimeError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        pub = publish_fn(primary, admin)
        for subs in subs_list:
            for run in range(runs):
                row = latency_run(tmp, edge, primary, "edge%d-%d" % (subs, run), subs, publishes, pub, rnd)
                res.setdefault(subs, []).append(row)
                log("e: edge %d subs run %d: p50=%.2fms p99=%.2fms max=%.2fms missing=%d bad=%d" % (
                    subs, run + 1, row["p50_ms"], row["p99_ms"], row["max_ms"], row["missing"],
                    row["bad_publishes"]))
    finally:
        for srv in (edge, primary):
            if srv is not None:
                srv.stop()
        redis.stop()
    return res


# ---------------------------------------------------------------- wrk

UNIT = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out):
    r = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    for p in ("50", "90", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+)(us|ms|s|m)\s*$" % p, out, re.M)
        r["p%s_ms" % p] = float(m.group(1)) * UNIT[m.group(2)] if m else None
    m = re.search(r"Latency\s+[\d.]+\w+\s+[\d.]+\w+\s+([\d.]+)(us|ms|s|m)", out)
    r["max_ms"] = float(m.group(1)) * UNIT[m.group(2)] if m else None
    return r


def wrk(tmp, port, path, script, env, seconds, srv=None):
    e = dict(os.environ, **env)
    e["BENCH_THREADS"] = str(WRK_THREADS)
    argv = ["wrk", "-t%d" % WRK_THREADS, "-c%d" % WRK_CONNS, "-d%ds" % seconds, "--latency", "--timeout", "5s",
            "-s", os.path.join(ROOT, "bench", script), "http://127.0.0.1:%d%s" % (port, path)]
    groups = srv.groups() if srv is not None else {}
    before = group_cpu(groups)
    out = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=seconds + 60)
    after = group_cpu(groups)
    if out.returncode != 0:
        raise RuntimeError("wrk failed: %s %s" % (out.stdout, out.stderr))
    r = parse_wrk(out.stdout)
    # CPU time of each part of the server per request served (microseconds)
    r["cpu_us"] = {g: (after[g] - before[g]) * 1e6 / max(1, r["requests"]) for g in groups}
    r["raw"] = out.stdout
    return r


PUBLISH_BODY = '{"topic":"room:tput","type":"bench","data":{"n":1}}'


def make_topups(db, n, path):
    """n PENDING top-ups inserted straight into the database, and one signed
    PayOS webhook body per top-up (a line each) written to path."""
    con = sqlite3.connect(db, timeout=30)
    try:
        with con:
            first = con.execute("SELECT COALESCE(MAX(order_code), 0) FROM topups").fetchone()[0]
            con.executemany(
                "INSERT INTO topups (tx_ref, user_id, amount, description, stream_token, created_at) "
                "VALUES (?, ?, 5000, 'bench', ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))",
                (("TXB%07d" % i, "u%d" % (i % 1000), "tok%07d" % i) for i in range(n)))
        codes = [r[0] for r in con.execute("SELECT order_code FROM topups WHERE order_code > ? AND status = 'PENDING' "
                                           "ORDER BY order_code", (first,))]
    finally:
        con.close()
    with open(path, "w") as f:
        for code in codes:
            body = payos_body(code, 5000, reference="REF%d" % code, description="bench")
            f.write(json.dumps(body, separators=(",", ":")) + "\n")
    return len(codes)


def count_paid(db):
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT count(*) FROM topups WHERE status = 'PAID'").fetchone()[0]
    finally:
        con.close()


BATCH_EVENTS = 100
BATCH_BODY = '{"events":[%s]}' % ",".join([PUBLISH_BODY] * BATCH_EVENTS)


class EdgePair:
    """Two hosts behind nginx sharing Redis, as figure e starts them, the
    edge forwarding writes to the primary (PULSE_PRIMARY_URL): requests go
    to the edge's port; groups are the edge's parts and the primary's
    (prefixed "primary ")."""

    def __init__(self, tmp):
        self.kind = "edge-nginx"
        self.redis = harness.Redis(tmp)
        self.primary = self.edge = None
        try:
            self.primary = Pulse(tmp, "nginx", env={"REDIS_URL": self.redis.url})
            self.edge = Pulse(tmp, "nginx", env={"REDIS_URL": self.redis.url, "PULSE_ROLE": "edge",
                                                 "PULSE_PRIMARY_URL": "http://127.0.0.1:%d" % self.primary.port})
        except Exception:
            self.stop()
            raise
        self.port = self.edge.port

    def groups(self):
        g = dict(self.edge.groups())
        g.update({"primary " + k: v for k, v in self.primary.groups().items()})
        return g

    def stop(self):
        for srv in (self.edge, self.primary):
            if srv is not None:
                srv.stop()
        self.redis.stop()


C_CASES = [("pulse-lighttpd", "publish"), ("pulse-lighttpd", "webhook"), ("pulse-lighttpd", "batch"),
           ("pulse-nginx", "publish"), ("pulse-nginx", "webhook"), ("pulse-nginx", "batch"),
           ("edge-nginx", "publish"), ("noop-lighttpd", "publish"), ("noop-nginx", "publish"),
           ("nchan", "publish")]


def figure_c(tmp, kinds, runs, seconds, topups):
    """kinds: the servers asked for (--servers); edge-nginx runs with pulse-nginx."""
    admin = token("root", "admin")
    cases = [(k, what) for k, what in C_CASES
             if k in kinds or (k == "edge-nginx" and "pulse-nginx" in kinds)]
    res = {}
    for run in range(runs):
        for kind, what in cases:
            srv = EdgePair(tmp) if kind == "edge-nginx" else start_server(kind, tmp)
            try:
                if kind == "nchan":
                    r = wrk(tmp, srv.port, "/pub/tput", "wrk_post.lua", {"BENCH_BODY": PUBLISH_BODY}, seconds, srv)
                elif what == "batch":
                    r = wrk(tmp, srv.port, "/api/publish", "wrk_post.lua",
                            {"BENCH_BODY": BATCH_BODY, "BENCH_AUTH": admin}, seconds, srv)
                    r["events_per_s"] = r["rps"] * BATCH_EVENTS
                elif what == "publish":
                    r = wrk(tmp, srv.port, "/api/publish", "wrk_post.lua",
                            {"BENCH_BODY": PUBLISH_BODY, "BENCH_AUTH": admin}, seconds, srv)
                else:
                    bodies = os.path.join(srv.data, "webhooks.jsonl")
                    made = make_topups(srv.db, topups, bodies)
                    r = wrk(tmp, srv.port, "/api/payos/webhook", "wrk_webhook.lua", {"BENCH_BODIES": bodies}, seconds, srv)
                    r["settled"] = count_paid(srv.db)
                    r["prepared"] = made
            finally:
                srv.stop()
            r.pop("raw", None)
            res.setdefault((kind, what), []).append(r)
            log("c: %s %s run %d: %.0f req/s p50=%s p99=%s non2xx=%d%s" % (
                kind, what, run + 1, r["rps"], r["p50_ms"], r["p99_ms"], r["non2xx"],
                " settled=%d/%d" % (r["settled"], r["requests"]) if "settled" in r else "" +
                (" events/s=%.0f" % r["events_per_s"] if "events_per_s" in r else "")))
    return res


# ---------------------------------------------------------------- figure d

def fill_events(db, n):
    con = sqlite3.connect(db, timeout=30)
    try:
        with con:
            con.execute(
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                "INSERT INTO events (topic, type, ts, data) "
                "SELECT 'room:fill' || (x % 100), 'bench', strftime('%Y-%m-%dT%H:%M:%SZ','now'), "
                "json_object('n', x) FROM c", (n,))
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return con.execute("SELECT count(*) FROM events").fetchone()[0]
    finally:
        con.close()


def figure_d(tmp, sizes, runs, seconds, retention):
    admin = token("root", "admin")
    env = {"PULSE_RETENTION": str(retention)}
    # Pulse creates (migrates) the database once; then it is filled directly.
    seed = Pulse(tmp, "lighttpd", env=env)
    seed_db = seed.db
    seed.stop()
    bases = {}
    for n in sizes:
        base = os.path.join(tmp, "base-%d.db" % n)
        shutil.copy(seed_db, base)
        for suffix in ("-wal", "-shm"):
            if os.path.exists(seed_db + suffix):
                shutil.copy(seed_db + suffix, base + suffix)
        t = time.time()
        count = fill_events(base, n)
        log("d: filled %d events in %.1fs" % (count, time.time() - t))
        bases[n] = (base, count)
    res = {}
    for run in range(runs):
        for n in sizes:
            d = tempfile.mkdtemp(prefix="d%d-" % n, dir=tmp)
            db = os.path.join(d, "pulse.db")
            shutil.copy(bases[n][0], db)
            # Write the copy out now: otherwise the kernel writes the 100 MB
            # of the large log back during the run, and the checkpoints'
            # fsyncs wait for it (measured: 0.85 of the small log's req/s).
            os.sync()
            srv = Pulse(tmp, "lighttpd", env=env, db=db)
            try:
                r = wrk(tmp, srv.port, "/api/publish", "wrk_post.lua",
                        {"BENCH_BODY": PUBLISH_BODY, "BENCH_AUTH": admin}, seconds, srv)
            finally:
                srv.stop()
            r.pop("raw", None)
            r["log_before"] = bases[n][1]
            res.setdefault(n, []).append(r)
            log("d: %d events, run %d: %.0f req/s p50=%s p99=%s non2xx=%d" % (
                n, run + 1, r["rps"], r["p50_ms"], r["p99_ms"], r["non2xx"]))
            shutil.rmtree(d, ignore_errors=True)
    return res


# ---------------------------------------------------------------- figure m

def figure_m(sizes):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "bench", "stream_mem.py")] + [str(s) for s in sizes],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError("stream_mem.py failed: " + out.stderr[-2000:])
    rows = []
    for line in out.stdout.splitlines():
        m = re.match(r"streams=(\d+)\s+rss_before=\s*(\d+) KiB rss_after=\s*(\d+) KiB per_stream=\s*(\d+) bytes", line)
        if m:
            rows.append(tuple(int(x) for x in m.groups()))
    return rows


# ---------------------------------------------------------------- report

CPU_GROUPS = ("web", "api", "batch", "stream", "primary web", "primary api", "primary batch", "primary stream")


def cpu_str(rows, nd=0):
    parts = [g for g in CPU_GROUPS if g in rows[0].get("cpu_us", {})]
    vals = [med([r["cpu_us"][g] for r in rows]) for g in parts]
    if not vals:
        return "—"
    return "%s = %s" % (" + ".join(fmt(v, nd) for v in vals), fmt(sum(vals), nd)) if len(vals) > 1 else fmt(vals[0], nd)


def level_name(n):
    return {1000: "1k", 5000: "5k", 9900: "10k", 18000: "20k"}.get(n, fmt(n))


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, nd=0):
    if v is None:
        return "—"
    return "{:,.{nd}f}".format(v, nd=nd)


def ratio(a, b, nd=2):
    if a is None or b is None or b == 0:
        return "—"
    return "%.*f" % (nd, a / b)


def runs_str(vals, nd=0):
    return " / ".join(fmt(v, nd) for v in vals)


def med_runs(rows, key, nd=0):
    """'median (run 1 / run 2 / ...)' of one figure over a cell's runs."""
    vals = [r[key] for r in rows]
    return "%s (%s)" % (fmt(med(vals), nd), runs_str(vals, nd))


def machine_info():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "?")
    except OSError:
        info["cpu"] = "?"
    info["cores"] = os.cpu_count()
    with open("/proc/meminfo") as f:
        info["mem_gib"] = int(f.readline().split()[1]) / 1024.0 / 1024.0
    info["kernel"] = platform.release()
    info["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)

    def ver(argv, rx):
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            m = re.search(rx, p.stdout + p.stderr)
            return m.group(1) if m else "?"
        except OSError:
            return "?"
    info["nginx"] = ver(["nginx", "-v"], r"nginx/([\d.]+)")
    info["lighttpd"] = ver(["lighttpd", "-v"], r"lighttpd/([\d.]+)")
    info["nchan"] = ver(["dpkg-query", "-W", "libnginx-mod-nchan"], r"\t(\S+)")
    info["wrk"] = ver(["wrk", "-v"], r"wrk (\S+)")
    info["sqlite"] = sqlite3.sqlite_version
    info["cc"] = ver(["cc", "--version"], r"^(.*)\n")
    info["git"] = ver(["git", "-C", ROOT, "describe", "--always", "--dirty"], r"(\S+)")
    return info


def limit_of(kind):
    """The ceiling instance of kind's web server: noop-lighttpd for
    pulse-lighttpd (bench/stream_noop.c, fcgi_noop.c, runtime_noop.c)."""
    return "noop-" + kind.split("-", 1)[1] if kind.startswith("pulse-") else None


def by_server(results):
    """The rows of a figure's table: (level, server, its runs, nchan's runs at
    that level) for each level of results ({(server, level): runs}) in order,
    and each server that ran it, Pulse's first."""
    for lvl in sorted({n for (_, n) in results}):
        for kind in ("pulse-lighttpd", "pulse-nginx", "noop-lighttpd", "noop-nginx", "nchan"):
            rows = results.get((kind, lvl))
            if rows:
                yield lvl, kind, rows, results.get(("nchan", lvl), [])


def write_report(path, args, info, A, B, C, D, E, M, elapsed, targets_extra, T=None):
    L = []
    w = L.append
    today = datetime.date.today().isoformat()
    w("# Benchmark results")
    w("")
    w("Generated by `make bench` (`bench/run.py`) on %s in %.1f minutes. Every figure is the median of %d runs "
      "(each run's value listed after it, in run order). Ratios are Pulse / nchan: below 1 means Pulse uses "
      "less memory or time; for throughput, above 1 means Pulse is faster." % (today, elapsed / 60.0, args.runs))
    w("")
    w("Where a target is missed: the profiles, the fixes and their before/after figures are in "
      "`bench/HISTORY.md`.")
    w("")
    w("## Machine and software")
    w("")
    w("- machine: %d cores (%s), %.0f GiB, Linux %s; open-file limit %d soft / %d hard per process "
      "(the hard limit cannot be raised here: no CAP_SYS_RESOURCE)" % (
          info["cores"], info["cpu"], info["mem_gib"], info["kernel"], info["nofile"][0], info["nofile"][1]))
    w("- Pulse: the `make` build (`build/bin`, gcc -O2 -g), tree `%s`; PULSE_WORKERS=2, "
      "PULSE_MAX_CONNECTIONS=PULSE_MAX_PER_TOPIC=%d, no Redis (local wake-ups), every other setting default "
      "(heartbeat 15 s, retention 100,000 except in d)" % (info["git"], MAX_STREAMS))
    fcpu, fwall, ftop = info["other"]
    w("- other work on the machine during the run (processes not started by the bench): %.0f CPU-seconds "
      "over %.0f s, %.0f%% of the 2 cores%s" % (
          fcpu, fwall, 100.0 * fcpu / max(1.0, fwall * (info["cores"] or 1)),
          ("; mostly " + ", ".join("%s %.0f s" % kv for kv in ftop)) if fcpu >= 5 else ""))
    w("- lighttpd %s; nginx %s; nchan: Debian libnginx-mod-nchan %s (memory store); SQLite %s; wrk %s; %s" % (
        info["lighttpd"], info["nginx"], info["nchan"], info["sqlite"], info["wrk"], info["cc"]))
    w("- load: `build/bench/sseload` (bench/sseload.c, one process, epoll, HTTP/1.1 GET with "
      "`Accept: text/event-stream`) for streams; wrk (`-t%d -c%d`, Lua scripts in bench/) for publishes; each "
      "a separate process from the servers." % (WRK_THREADS, WRK_CONNS))
    w("- servers: Pulse is started by the integration tests' instance starter (`tests/harness.py` Instance): "
      "behind lighttpd by `lighttpd -D -f` with PORT, PULSE_HOST, PULSE_DATA, PULSE_ROOT, PULSE_BIN, "
      "PULSE_WORKERS=2, PULSE_JWT_SECRET, PAYOS_CHECKSUM_KEY, PULSE_WEBHOOK_SECRET, and PULSE_MAX_PER_CLIENT=0 "
      "(every load generator connects from 127.0.0.1), behind nginx by `sh tools/run-nginx.sh` with the same "
      "variables; nchan by "
      "`nginx -c` on `bench/nchan.conf` filled in. Each run starts fresh instances in a temp dir "
      "and stops them by PID.")
    w("- config copies, generated in the temp dir: "
      "`lighttpd.conf` with `server.max-connections = %d` (shipped 6000; lighttpd allows at most max-fds/2 = "
      "10,000 and each stream holds two descriptors) and the stream responder's `PULSE_WEB_MAX_STREAMS` %d "
      "(shipped 5000, the same 1,000 below); `nginx.conf` as shipped (`worker_connections %d`, "
      "`listen ... reuseport`, the same events block and listen line as `bench/nchan.conf`); "
      "`tools/run-nginx.sh` is run as shipped (PULSE_WEB_MAX_STREAMS = workers × worker_connections × 0.45 = "
      "18,000), with PULSE_ROOT pointing at a directory "
      "holding that copy and a link to `www/`." % (LIGHTTPD_MAX_CONN, LIGHTTPD_WEB_STREAMS, NGINX_WORKER_CONN))
    w("")

    # ---- targets
    w("## Targets (issue)")
    w("")
    w("| target | measured | met? |")
    w("|---|---|---|")
    for row in targets_extra:
        w("| %s | %s | %s |" % row)
    w("")

    # ---- a
    if A:
        w("## a. Concurrent SSE streams held %d s" % args.hold)
        w("")
        w("Command per server and level: `sseload -p PORT -u PATH -n N -k %d -c 256 -o 90 -H %d` with PATH "
          "`/api/events/stream?topic=room:a%%d` (Pulse) or `/sub/room-a%%d` (nchan): N streams over %d topics, "
          "at most 256 opening at once. A failure is a stream that got no 200 with first body bytes within "
          "the ramp (90 s), or that closed during the hold. Memory per stream = (RSS with N streams open, read "
          "%d s into the hold − RSS idle) / N, where idle is read after one warm-up stream was opened and "
          "closed. RSS is summed over the processes of each part: web server = lighttpd, or nginx master + 2 "
          "workers; total = web server + pulse-stream + pulse-api (2 processes) + pulse-batch (whose changes are about zero). "
          "PSS (shared pages split between processes) is given beside it; it differs little. At each level the "
          "servers of one run are started together, ramped one after the other (the order rotates per run), "
          "then held concurrently: held streams are idle (Pulse sends a heartbeat every 15 s), so a ramp does "
          "not compete with another server's hold for anything measured here." % (
              TOPICS, args.hold, TOPICS, max(0, args.hold - 2)))
        w("")
        w("Levels: every process here has a hard limit of 20,000 descriptors. lighttpd stops accepting at "
          "90%% of server.max-fds (18,000 descriptors, two per stream: about 9,000 streams), so its \"10k\" "
          "level is %s streams. nginx closes connections still waiting for their request (\"worker_connections "
          "are not enough, reusing connections\") once a worker has 15/16 of worker_connections in use, and a "
          "stream proxied to FastCGI holds two connections in one worker: with 2 workers Pulse behind nginx "
          "holds at most about 2 × 18,750 / 2 = 18,750 streams, less the imbalance of the kernel's reuseport "
          "spread, so the \"20k\" level is 18,000 streams for nginx and nchan alike (measured: 19,000 loses "
          "about 250 streams behind nginx with 2 workers, 19,900 loses none with 3 workers)." % fmt(LIGHTTPD_CEILING))
        w("")
        w("noop-lighttpd and noop-nginx are the architecture's own limit, not Pulse figures: the same web server "
          "and configuration with a stream responder that only holds streams and writes prepared frames "
          "(`bench/stream_noop.c`: no log, bus, replay or topic index) and no-op request responders; "
          "\"/ limit\" is Pulse's total over that of the same web server at the same level.")
        w("")
        w("| level | server | streams | failures | pulse-stream B/stream | web server B/stream | total B/stream | "
          "total / nchan | total / limit | PSS total B/stream | ramp s |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for lvl, kind, rows, nchan_rows in by_server(A):
            nchan_total = med([r["rss_total"] for r in nchan_rows])
            total = med([r["rss_total"] for r in rows])
            lim = A.get((limit_of(kind), lvl))
            w("| %s | %s | %s | %s (%s) | %s | %s | %s (%s) | %s | %s | %s | %s |" % (
                level_name(lvl), kind, fmt(rows[0]["n"]), fmt(max(r["failed"] for r in rows)),
                runs_str([r["failed"] for r in rows]),
                ("%s (%s)" % (fmt(med([r["rss_stream"] for r in rows])), runs_str([r["rss_stream"] for r in rows])))
                if kind != "nchan" else "—",
                fmt(med([r["rss_web"] for r in rows])), fmt(total), runs_str([r["rss_total"] for r in rows]),
                ratio(total, nchan_total) if kind != "nchan" else "1",
                ratio(total, med([r["rss_total"] for r in lim])) if lim else "—",
                fmt(med([r["pss_total"] for r in rows])),
                fmt(med([r["sseload"]["ramp_s"] for r in rows]), 1)))
        w("")
        w("Failures are the worst run, then each run. Idle and loaded RSS (KiB, median run) per part: " + "; ".join(
            "%s %s: %s" % (kind, level_name(lvl), ", ".join(
                "%s %s→%s" % (g, fmt(med([r["idle"][g][0] for r in rows])), fmt(med([r["loaded"][g][0] for r in rows])))
                for g in sorted(rows[0]["idle"])))
            for (kind, lvl), rows in sorted(A.items())) + ".")
        w("")
        fails = [(k, n, r["sseload"]) for (k, n), rows in A.items() for r in rows if r["failed"]]
        if fails:
            w("Failures by kind (per run): " + "; ".join(
                "%s %s: %s" % (k, level_name(n), ", ".join("%s %d" % (x, s[x]) for x in
                                                          ("connect_error", "bad_status", "timeout",
                                                           "closed_while_opening", "dropped") if s[x]))
                for k, n, s in fails))
            w("")

    # ---- b
    if B:
        w("## b. Publish → deliver latency, one topic")
        w("")
        w("Command: `sseload -p PORT -u PATH -n SUBS -e %d -w 60` holds SUBS streams on one topic; then one "
          "publisher (bench/run.py, one keep-alive HTTP/1.1 connection) sends %d events %d–%d ms apart, each "
          "carrying `\"bench_us\"`, the wall-clock time taken just before the request is written: Pulse by "
          "`POST /api/publish` with an admin JWT (so the time includes the SQLite commit), nchan by `POST "
          "/pub/<channel>`. sseload takes the time each event's bytes are read on each stream; latency = "
          "that − bench_us, over every (event, stream) pair of a run. Missing = deliveries that never came. "
          "Every server is started (and warmed up) before the first run, and each run measures them all "
          "back to back, the order rotating from run to run, so the servers' figures of one run are taken "
          "within a minute of each other (the other servers sit idle meanwhile)." % (
              args.publishes, args.publishes, 50, 100))
        w("")
        w("CPU per delivery: user + system time of each part over the run (publishes included) divided by the "
          "events delivered (publishes × subscribers); web = lighttpd or nginx, api = pulse-api, batch = "
          "pulse-batch (where POST /api/publish is answered), stream = pulse-stream.")
        w("")
        w("noop-lighttpd and noop-nginx (the limit, as in a): the publish is answered 202 by the no-op "
          "pulse-batch, which hands its body to the no-op stream responder, which writes it to every held stream.")
        w("")
        w("| subscribers | server | p50 ms | p99 ms | max ms | p99 / nchan | p99 / limit | missing | CPU µs/delivery: web + api + batch + stream |")
        w("|---:|---|---:|---:|---:|---:|---:|---:|---|")
        for subs, kind, rows, nchan_rows in by_server(B):
            n_p99 = med([r["p99_ms"] for r in nchan_rows])
            p99 = med([r["p99_ms"] for r in rows])
            lim = B.get((limit_of(kind), subs))
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                fmt(subs), kind, med_runs(rows, "p50_ms", 2), med_runs(rows, "p99_ms", 2),
                med_runs(rows, "max_ms", 2), ratio(p99, n_p99) if kind != "nchan" else "1",
                ratio(p99, med([r["p99_ms"] for r in lim])) if lim else "—",
                runs_str([r["missing"] for r in rows]), cpu_str(rows, 1)))
        w("")
        w("(p50 / nchan: %s.)" % "; ".join(
            "%s %d subs %s" % (k, s, ratio(med([r["p50_ms"] for r in B[(k, s)]]),
                                             med([r["p50_ms"] for r in B.get(("nchan", s), [])])))
            for (k, s) in sorted(B) if k.startswith("pulse-")))
        w("")

    # ---- e
    if E:
        w("## e. Two hosts: publish on the primary → deliver on an edge")
        w("")
        w("Two Pulse instances behind nginx with their own databases, sharing one redis-server "
          "(`REDIS_URL`); the second has `PULSE_ROLE=edge` (it mirrors the primary's log from the Redis "
          "Stream the primary's stream responder relays to). Subscribers stream from the edge; the %d "
          "events per run are `POST /api/publish`ed on the primary, as in b, so a latency here is: request "
          "and commit on the primary, relay XADD, the edge's XREAD, its SQLite insert, fan-out." % args.publishes)
        w("")
        w("| subscribers (on the edge) | p50 ms | p99 ms | max ms | missing | CPU µs/delivery (edge): web + api + batch + stream |")
        w("|---:|---:|---:|---:|---:|---|")
        for subs in sorted(E):
            rows = E[subs]
            w("| %s | %s | %s | %s | %s | %s |" % (
                fmt(subs), med_runs(rows, "p50_ms", 2), med_runs(rows, "p99_ms", 2), med_runs(rows, "max_ms", 2),
                runs_str([r["missing"] for r in rows]), cpu_str(rows, 1)))
        w("")

    # ---- t
    if T:
        w("## t. Streams over one topic each vs. over 100 topics")
        w("")
        w("Per server and run, two fresh instances one after the other: N streams (`sseload -n N -k TOPICS -e 1`, "
          "paths `/api/events/stream?topic=room:t%%d`, nchan `/sub/room-t%%d`) over 100 topics, then over N "
          "topics (one each, as the top-up and chat pages subscribe). Memory per stream = (RSS of all the "
          "server's processes once every stream is open − RSS idle) / N, as in a. Then one event is published "
          "to every topic (sequential `POST`s on one kept-alive connection: 100 publishes each reaching N/100 "
          "streams, or N publishes each reaching one), so every stream gets exactly one: latency is publish → "
          "delivery of each, CPU is per delivery.")
        w("")
        w("| server | streams | topics | memory B/stream | delivery p50 ms | p99 ms | max ms | missing | publishes took s | CPU µs/delivery |")
        w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for (k, t) in sorted(T, key=lambda kt: (kt[0], kt[1] is None)):
            rows = T[(k, t)]
            w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                k, fmt(rows[0]["n"]), fmt(rows[0]["topics"]), med_runs(rows, "rss_total"), med_runs(rows, "p50_ms", 2),
                med_runs(rows, "p99_ms", 2), med_runs(rows, "max_ms", 2),
                runs_str([r["missing"] + r["failed"] + r["bad_publishes"] for r in rows]),
                med_runs(rows, "publish_s", 1), cpu_str(rows, 1)))
        w("")

    # ---- c
    if C:
        w("## c. Publish throughput, concurrency %d, %d s" % (WRK_CONNS, args.seconds))
        w("")
        w("Commands: `wrk -t%d -c%d -d%ds --latency -s bench/wrk_post.lua URL` with BENCH_BODY=`%s` (and "
          "BENCH_AUTH=an admin JWT for Pulse): URL `/api/publish` (Pulse) or `/pub/tput` (nchan, no "
          "subscribers, memory store). Webhook: %s PENDING top-ups inserted into the fresh instance's database, "
          "one PayOS body signed with PAYOS_CHECKSUM_KEY per top-up, `wrk ... -s bench/wrk_webhook.lua "
          "/api/payos/webhook` sends each once (each request settles a top-up: HMAC check, status update, "
          "wallet credit, event append, all in one transaction). Each run starts from an empty log." % (
              WRK_THREADS, WRK_CONNS, args.seconds, PUBLISH_BODY, fmt(args.topups)))
        w("")
        w("Routing as shipped: POST /api/publish and the PayOS webhook go to the batching responder "
          "(pulse-batch: one epoll loop, group commit; behind nginx over kept-alive FastCGI connections).")
        w("")
        w("CPU per request is the user + system time of each part during the run (from /proc/PID/stat) divided "
          "by the requests served: web = lighttpd or nginx (nchan: all of nginx), api = the pulse-api "
          "processes, batch = pulse-batch, stream = pulse-stream (woken by every group commit).")
        w("")
        w("noop-lighttpd and noop-nginx are the ceiling of the architecture, not Pulse figures: the shipped "
          "lighttpd.conf (figure a's copy) and nginx.conf (tools/run-nginx.sh) with pulse-batch's own loop "
          "linked against `bench/runtime_noop.c` (answers 202 at once: no routing, SQLite or bus) in place of "
          "pulse-batch, same wrk command. \"/ limit\" is a publish's req/s over that of the same web server's "
          "ceiling.")
        w("")
        w("| server | request | req/s | / nchan | / limit | p50 ms | p99 ms | non-2xx | CPU µs/request: web + api + batch + stream |")
        w("|---|---|---:|---:|---:|---:|---:|---:|---|")
        n_rps = med([r["rps"] for r in C.get(("nchan", "publish"), [])])
        names = {"publish": "POST /api/publish", "webhook": "PayOS webhook",
                 "batch": "POST /api/publish, %d events a request" % BATCH_EVENTS}
        for key in C_CASES:
            rows = C.get(key)
            if not rows:
                continue
            rps = med([r["rps"] for r in rows])
            lim = C.get((limit_of(key[0]), "publish")) if key[1] == "publish" and limit_of(key[0]) else None
            lim_ratio = ratio(rps, med([r["rps"] for r in lim])) if lim else "—"
            extra = ""
            if key[1] == "webhook":
                extra = " (settled %s)" % runs_str([r["settled"] for r in rows])
            w("| %s | %s | %s (%s) | %s | %s | %s | %s | %s%s | %s |" % (
                key[0], "POST /pub/tput" if key[0] == "nchan" else
                names[key[1]] + (" to an edge, forwarded to the primary" if key[0] == "edge-nginx" else ""),
                fmt(rps), runs_str([r["rps"] for r in rows]), ratio(rps, n_rps) if key[0] != "nchan" else "1",
                lim_ratio,
                fmt(med([r["p50_ms"] for r in rows]), 2), fmt(med([r["p99_ms"] for r in rows]), 2),
                runs_str([r["non2xx"] + r["socket_errors"] for r in rows]), extra, cpu_str(rows)))
        w("")
        if any(k[1] == "batch" for k in C):
            w("Batch publish: each request carries %d events (`{\"events\":[...]}`, one transaction, all or "
              "nothing); events/s = requests/s × %d. The ratio is to nchan's single publishes/s in the same run "
              "(nchan has no batch publish)." % (BATCH_EVENTS, BATCH_EVENTS))
            w("")
            w("| server | events/s | / nchan's publishes/s |")
            w("|---|---:|---:|")
            for k in ("pulse-lighttpd", "pulse-nginx"):
                rows = C.get((k, "batch"))
                if rows:
                    e = med([r["events_per_s"] for r in rows])
                    w("| %s | %s (%s) | %s |" % (k, fmt(e), runs_str([r["events_per_s"] for r in rows]),
                                               ratio(e, n_rps)))
            w("")
        if ("edge-nginx", "publish") in C:
            w("edge-nginx: two instances behind nginx sharing a redis-server, the request sent to the edge "
              "(PULSE_ROLE=edge, PULSE_PRIMARY_URL = the primary's nginx), whose pulse-batch forwards the requests of "
              "one batch at once over kept-alive libcurl connections (up to 16) and answers what the primary answered; CPU: the edge's parts, then "
              "the primary's.")
            w("")

    # ---- d
    if D:
        w("## d. Cost of one append vs. log size")
        w("")
        w("Pulse behind lighttpd with PULSE_RETENTION=%s (nothing pruned). Pulse migrates a fresh database once; "
          "it is then filled directly with sqlite3 (one INSERT ... SELECT of N rows `room:fill<k>`, same schema); "
          "each run copies the filled file into a fresh instance and runs `wrk -t%d -c%d -d%ds --latency -s "
          "bench/wrk_post.lua /api/publish`." % (fmt(args.retention), WRK_THREADS, WRK_CONNS, args.seconds))
        w("")
        w("Runs alternate between the sizes, so each run's pair is measured minutes apart at most; \"vs. smallest\" "
          "is the median over runs of that run's ratio (this machine's throughput drifts by ±20% between "
          "minutes, as the per-run values show).")
        w("")
        w("| events in the log | req/s | p50 ms | p99 ms | req/s vs. smallest | CPU µs/request: web + api + batch + stream |")
        w("|---:|---:|---:|---:|---:|---|")
        sizes = sorted(D)
        for n in sizes:
            rows = D[n]
            rps = med([r["rps"] for r in rows])
            pair = med([r["rps"] / b["rps"] for r, b in zip(rows, D[sizes[0]]) if b["rps"]])
            w("| %s | %s (%s) | %s | %s | %s | %s |" % (
                fmt(n), fmt(rps), runs_str([r["rps"] for r in rows]), fmt(med([r["p50_ms"] for r in rows]), 2),
                fmt(med([r["p99_ms"] for r in rows]), 2), "%.2f" % pair if pair else "—", cpu_str(rows)))
        w("")

    # ---- m
    if M:
        w("## Stream responder alone (bench/stream_mem.py)")
        w("")
        w("`python3 bench/stream_mem.py %s`: build/bin/pulse-stream driven directly over its FastCGI socket "
          "(no web server); each stream subscribes to one of 100 topics." % " ".join(str(r[0]) for r in M))
        w("")
        w("| streams | RSS before | RSS after | per stream |")
        w("|---:|---:|---:|---:|")
        for n, before, after, per in M:
            w("| %s | %s KiB | %s KiB | %s bytes |" % (fmt(n), fmt(before), fmt(after), fmt(per)))
        w("")
    L.extend(other_sections(path, L))
    with open(path, "w") as f:
        f.write("\n".join(L))


def other_sections(path, new_lines):
    """The sections of the old report that other scripts wrote (a heading
    naming `(bench/<script>.py)`) and this run did not: kept, not lost."""
    try:
        with open(path) as f:
            old = f.read().split("\n")
    except FileNotFoundError:
        return []
    mine = {l for l in new_lines if l.startswith("## ")}
    kept, keep = [], False
    for line in old:
        if line.startswith("## "):
            keep = "(bench/" in line and line not in mine
        if keep:
            kept.append(line)
    return ([""] if kept else []) + kept


LIGHTTPD_CEILING = 8900      # lighttpd stops accepting at 90% of max-fds: 18,000 fds = 9,000 streams


def targets(A, B, C, D, E, M, T=None):
    rows = []
    if A:
        bad = {(k, n): [r["failed"] for r in rows_] for (k, n), rows_ in A.items()}
        worst = {key: max(v) for key, v in bad.items()}
        pulse_bad = {key: v for key, v in worst.items() if v and key[0].startswith("pulse-")}
        rows.append(("0 failures at every level (Pulse)",
                     "; ".join("%s %s (%s streams): %d" % (k, level_name(n), fmt(A[(k, n)][0]["n"]), v)
                               for (k, n), v in sorted(worst.items()) if k.startswith("pulse-")) or "—",
                     "met" if not pulse_bad else "missed"))
        ps = {(k, n): med([r["rss_stream"] for r in rws]) for (k, n), rws in A.items() if k.startswith("pulse-")}
        rows.append(("pulse-stream ≤ 4 KiB per stream",
                     "%s–%s B (median of runs, over servers and levels)" % (fmt(min(ps.values())), fmt(max(ps.values())))
                     if ps else "—",
                     "met" if ps and max(ps.values()) <= 4096 else "missed"))
        parts, oks = [], {}
        for (k, n), rws in sorted(A.items()):
            if not k.startswith("pulse-") or ("nchan", n) not in A:
                continue
            t = med([r["rss_total"] for r in rws])
            nt = med([r["rss_total"] for r in A[("nchan", n)]])
            parts.append("%s %s: %s vs %s B (%s)" % (k, level_name(n), fmt(t), fmt(nt), ratio(t, nt)))
            oks[k] = oks.get(k, True) and t <= nt
        rows.append(("web server + Pulse ≤ nchan, memory per stream", "; ".join(parts), verdict(oks)))
    if B:
        parts, oks = [], {}
        for k in ("pulse-lighttpd", "pulse-nginx"):
            if (k, 1000) in B and ("nchan", 1000) in B:
                p = med([r["p99_ms"] for r in B[(k, 1000)]])
                n = med([r["p99_ms"] for r in B[("nchan", 1000)]])
                parts.append("%s %s ms vs nchan %s ms (%s)" % (k, fmt(p, 2), fmt(n, 2), ratio(p, n)))
                oks[k] = p <= n
        rows.append(("p99 fan-out to 1,000 subscribers ≤ nchan's", "; ".join(parts), verdict(oks)))
    if C:
        n = med([r["rps"] for r in C.get(("nchan", "publish"), [])])
        parts, oks = [], {}
        for k in ("pulse-lighttpd", "pulse-nginx"):
            if (k, "publish") in C:
                p = med([r["rps"] for r in C[(k, "publish")]])
                parts.append("%s %s/s vs nchan %s/s (%s)" % (k, fmt(p), fmt(n), ratio(p, n)))
                oks[k] = bool(n) and p >= n / 2
        for k in ("noop-lighttpd", "noop-nginx"):
            if (k, "publish") in C:
                c0 = med([r["rps"] for r in C[(k, "publish")]])
                parts.append("ceiling: %s + pulse-batch's loop doing nothing %s/s (%s)" % (
                    k.split("-", 1)[1], fmt(c0), ratio(c0, n)))
        rows.append(("publishes/s (durable log) ≥ ½ nchan's (memory store)", "; ".join(parts), verdict(oks)))
        parts, oks = [], {}
        for k in ("pulse-lighttpd", "pulse-nginx"):
            if (k, "batch") in C:
                e = med([r["events_per_s"] for r in C[(k, "batch")]])
                parts.append("%s %s events/s vs nchan %s publishes/s (%s)" % (k, fmt(e), fmt(n), ratio(e, n)))
                oks[k] = bool(n) and e >= 5 * n
        if parts:
            rows.append(("batch publish (%d events a request, concurrency %d): events/s ≥ 5× nchan's publishes/s"
                         % (BATCH_EVENTS, WRK_CONNS), "; ".join(parts), verdict(oks)))
        if ("edge-nginx", "publish") in C:
            rr = C[("edge-nginx", "publish")]
            e, p = med([r["rps"] for r in rr]), med([r["rps"] for r in C.get(("pulse-nginx", "publish"), [])])
            rows.append(("publishes through an edge (measured, no target)",
                         "%s/s, p99 %s ms (the primary alone: %s/s); non-2xx %s" % (
                             fmt(e), fmt(med([r["p99_ms"] for r in rr]), 2), fmt(p),
                             runs_str([r["non2xx"] + r["socket_errors"] for r in rr])), "—"))
    if E:
        worst = max(r["max_ms"] for rows_ in E.values() for r in rows_)
        missing = sum(r["missing"] for rows_ in E.values() for r in rows_)
        rows.append(("two hosts: events written on one delivered on the other within 100 ms",
                     "max %s ms over %s deliveries to edge subscribers (p99 %s); missing %d" % (
                         fmt(worst, 1), fmt(sum(r["sseload"]["events"] for rs in E.values() for r in rs)),
                         " / ".join("%s subs %s ms" % (fmt(k), fmt(med([r["p99_ms"] for r in E[k]]), 1))
                                    for k in sorted(E)), missing),
                     "met" if worst <= 100 and missing == 0 else "missed"))
    rows += goals_per_server(A, B, C)
    if T:
        parts, oks = [], {}
        for k in sorted({k for k, _ in T}):
            if (k, TOPICS) in T and (k, None) in T:
                a, b = T[(k, TOPICS)], T[(k, None)]
                ma, mb = med([r["rss_total"] for r in a]), med([r["rss_total"] for r in b])
                pa, pb = med([r["p99_ms"] for r in a]), med([r["p99_ms"] for r in b])
                lost = sum(r["missing"] + r["failed"] + r["bad_publishes"] for r in a + b)
                parts.append("%s %s streams: %s vs %s B a stream, p99 %s vs %s ms, lost %d" % (
                    k, fmt(b[0]["n"]), fmt(mb), fmt(ma), fmt(pb, 2), fmt(pa, 2), lost))
                if k != "nchan":
                    oks[k] = lost == 0 and mb <= 1.1 * ma
        rows.append(("streams over one topic each held as well as over 100 topics (memory within 10%, none lost; "
                     "p99 side by side)", "; ".join(parts), verdict(oks) if oks else "—"))
    if D:
        sizes = sorted(D)
        a = med([r["rps"] for r in D[sizes[0]]])
        b = med([r["rps"] for r in D[sizes[-1]]])
        pair = med([r["rps"] / s_["rps"] for r, s_ in zip(D[sizes[-1]], D[sizes[0]]) if s_["rps"]])
        p99a = med([r["p99_ms"] for r in D[sizes[0]]])
        p99b = med([r["p99_ms"] for r in D[sizes[-1]]])
        rows.append(("append cost flat from 10^3 to 10^6 events (req/s within 10%)",
                     "%s vs %s req/s, median per-run ratio %.2f; p99 %s vs %s ms" % (
                         fmt(b), fmt(a), pair or 0, fmt(p99b, 1), fmt(p99a, 1)),
                     "met" if pair and pair >= 0.9 else "missed"))
    return rows


# The restated goals per web server (issue 18): each figure as a ratio to
# nchan's in the same run, at most (memory, p99) or at least (publishes).
GOALS = {"pulse-lighttpd": {"mem": 0.55, "p99": 1.3, "pub": 0.5},
         "pulse-nginx": {"mem": 1.08, "p99": 1.25, "pub": 0.6}}


def goals_per_server(A, B, C):
    rows = []
    for k, g in GOALS.items():
        parts, ok = [], True
        if A:
            levels = [n for (kk, n) in A if kk == k and ("nchan", n) in A]
            r = max((med([x["rss_total"] for x in A[(k, n)]]) / med([x["rss_total"] for x in A[("nchan", n)]])
                     for n in levels), default=None)
            if r is not None:
                parts.append("memory per stream ≤ %.2f× nchan: worst level %.2f" % (g["mem"], r))
                ok = ok and r <= g["mem"]
        if B and (k, 1000) in B and ("nchan", 1000) in B:
            r = med([x["p99_ms"] for x in B[(k, 1000)]]) / med([x["p99_ms"] for x in B[("nchan", 1000)]])
            parts.append("fan-out p99 to 1,000 ≤ %.2f×: %.2f" % (g["p99"], r))
            ok = ok and r <= g["p99"]
        if C and (k, "publish") in C and ("nchan", "publish") in C:
            r = med([x["rps"] for x in C[(k, "publish")]]) / med([x["rps"] for x in C[("nchan", "publish")]])
            parts.append("publishes/s ≥ %.2f×: %.2f" % (g["pub"], r))
            ok = ok and r >= g["pub"]
        if parts:
            rows.append(("behind %s (issue 18): memory ≤ %.2f×, fan-out p99 ≤ %.2f×, publishes ≥ %.2f× nchan's"
                         % (k.split("-", 1)[1], g["mem"], g["p99"], g["pub"]), "; ".join(parts),
                         "met" if ok else "missed"))
    for k in GOALS:
        lim, parts, ok = limit_of(k), [], True
        if A:
            levels = [n for (kk, n) in A if kk == k and (lim, n) in A]
            r = max((med([x["rss_total"] for x in A[(k, n)]]) / med([x["rss_total"] for x in A[(lim, n)]])
                     for n in levels), default=None)
            if r is not None:
                parts.append("memory per stream: worst level %.2f× the limit" % r)
                ok = ok and r <= 1.1
        if B and (k, 1000) in B and (lim, 1000) in B:
            r = med([x["p99_ms"] for x in B[(k, 1000)]]) / med([x["p99_ms"] for x in B[(lim, 1000)]])
            parts.append("fan-out p99 to 1,000: %.2f× the limit" % r)
            ok = ok and r <= 1.1
        if C and (k, "publish") in C and (lim, "publish") in C:
            r = med([x["rps"] for x in C[(k, "publish")]]) / med([x["rps"] for x in C[(lim, "publish")]])
            parts.append("publishes/s: %.2f of the limit's" % r)
            ok = ok and r >= 0.9
        if parts:
            rows.append(("behind %s: Pulse within 10%% of the limit of the same web server (%s)" % (
                k.split("-", 1)[1], lim), "; ".join(parts), "met" if ok else "missed"))
    return rows


def verdict(oks):
    """'met', 'missed', or per web server when they differ."""
    if oks and all(oks.values()):
        return "met"
    if not any(oks.values()):
        return "missed"
    return "; ".join("%s behind %s" % ("met" if ok else "missed", k.split("-", 1)[1]) for k, ok in sorted(oks.items()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hold", type=int, default=30)
    ap.add_argument("--seconds", type=int, default=10, help="wrk duration (c, d)")
    ap.add_argument("--publishes", type=int, default=50)
    ap.add_argument("--topups", type=int, default=40000)
    ap.add_argument("--retention", type=int, default=2000000)
    ap.add_argument("--levels", default="1000,5000,9900,18000")
    ap.add_argument("--only", default="a,b,c,d,e,m,t")
    ap.add_argument("--t-streams", type=int, default=10000, help="streams of figure t")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--servers", default="pulse-lighttpd,pulse-nginx,noop-lighttpd,noop-nginx,nchan",
                    help="which servers (a, b; t takes the pulse and nchan ones)")
    args = ap.parse_args()
    only = set(args.only.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for f in (SSELOAD, os.path.join(BIN, "pulse-api"), os.path.join(BIN, "pulse-stream")):
        if not os.access(f, os.X_OK):
            sys.exit("missing %s: run `make bench`" % f)

    def on_signal(sig, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)

    tmp = tempfile.mkdtemp(prefix="pulse-bench-")
    t0 = time.time()
    watch = CpuWatch()
    A = B = C = D = E = M = T = None
    try:
        kinds = args.servers.split(",")
        levels = []
        for n in (int(x) for x in args.levels.split(",")):
            per = {k: (min(n, LIGHTTPD_CEILING) if k.endswith("lighttpd") else n) for k in kinds
                   if not k.endswith("lighttpd") or n <= 10000}
            if per:
                levels.append((n, per))
        if "m" in only:
            log("m: stream_mem.py")
            M = figure_m([1000, 5000, 19000])
        if "d" in only:
            D = figure_d(tmp, [1000, 1000000], args.runs, args.seconds, args.retention)
        if "c" in only:
            C = figure_c(tmp, kinds, args.runs, args.seconds, args.topups)
        if "b" in only:
            B = figure_b(tmp, kinds, [100, 1000], args.runs, args.publishes)
        if "e" in only:
            E = figure_e(tmp, [100, 1000], args.runs, args.publishes)
        if "t" in only:
            T = figure_t(tmp, args.t_streams, [k for k in kinds if not k.startswith("noop-")], args.runs)
        if "a" in only:
            A = figure_a(tmp, levels, args.runs, args.hold)
    finally:
        stop_all()
        elapsed = time.time() - t0
        other = watch.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            log("temp dir kept: " + tmp)
    info = machine_info()
    info["other"] = other
    write_report(args.out, args, info, A, B, C, D, E, M, elapsed, targets(A, B, C, D, E, M, T), T)
    raw = {"a": {"%s/%d" % k: v for k, v in (A or {}).items()},
           "b": {"%s/%d" % k: v for k, v in (B or {}).items()},
           "c": {"%s/%s" % k: v for k, v in (C or {}).items()},
           "d": {str(k): v for k, v in (D or {}).items()},
           "e": {str(k): v for k, v in (E or {}).items()}, "m": M,
           "t": {"%s/%s" % k: v for k, v in (T or {}).items()}}
    with open(os.path.join(tmp if args.keep else tempfile.gettempdir(), "pulse-bench-raw.json"), "w") as f:
        json.dump(raw, f, indent=1)
    log("wrote %s in %.1f min" % (args.out, elapsed / 60.0))


if __name__ == "__main__":
    main()
