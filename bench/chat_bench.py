#!/usr/bin/env python3
"""AI chat under load (issue 15): 1,000 answers streaming at once, each
watched by one SSE client; delta -> browser latency, deltas lost, CPU and
memory per concurrent answer.

  python3 bench/chat_bench.py [--runs floor:1000,spread:1000,upstream:1000,demo:1000,floor:1000,
                               spread:1000,floor:100,spread:100,upstream:100]
                              [--upstream c|python]
                              [--deltas 100] [--delay-ms 50] [--max-wait-load 900]
                              [--out bench/RESULTS.md]

(upstream:100 is the same at a tenth of the rate: the latency of the path
itself when nothing is saturated.)

Per run: one Pulse instance behind nginx (bench/run.py's Pulse: the
release build build/bin, PULSE_WORKERS=2), 1,000 chat sessions of one
user, build/bench/sseload holding one stream per session (an admin token
reads any topic), then the 1,000 messages posted at once (64 threads).

  upstream  the upstream in its own process: bench/llm_upstream.c (--upstream
            c, the default: one epoll loop, what a real service's network
            side costs) or the tests' scripted stand-in tests/llm_standin.py
            (--upstream python) answers each with --deltas deltas --delay-ms
            apart, each stamped `bench_us=<wall clock µs> ` as it is written.
            sseload (-K bench_us= -M '"type":"chat.delta"')
            takes, for every chat.delta data line on every stream, receive
            time minus the first (oldest) stamp in it, and counts every
            stamp; the stored answers must each hold --deltas stamps.
  spread    the same with each answer's deltas at a random phase of the
            period (llm_upstream -r): the answers a generator claims
            together start together, and in "upstream" their deltas then
            arrive in lockstep bursts of a whole claim at once, which real
            users of a model do not cause; "spread" is that load without
            the bursts.
  floor     no Pulse: nginx (bench/chat_floor.conf) relays each answer of
            the upstream (random phases, as spread) straight to its client,
            GET /floor/<n> proxied as the upstream's POST, unbuffered; the
            same stamps and sseload. What the web server, the upstream and
            the clients alone cost at this load, and the latency left for
            the path through Pulse: the architecture's own floor here.
  demo      no upstream: the built-in demo model (PULSE_LLM_DEMO_MS=50,
            81 words each), the service's own cost without the upstream's;
            its deltas carry no stamp: CPU, memory and completion only
            (chat.delta lines received against the stored answers' seq).

CPU: utime + stime from /proc/PID/stat of pulse-batch, pulse-stream,
pulse-api, nginx (master + workers), the stand-in and sseload, from just
before the posts to the last answer's end. RSS of pulse-batch and
pulse-stream: idle, with the streams open, and the peak while answering
(sampled every 0.25 s). Before the first run it waits (at most
--max-wait-load seconds, polling /proc/loadavg every 30 s) for a 1-minute
load below 0.7. Writes (or replaces) its section of --out. Every process
started here is stopped by PID; every wait is bounded.
"""
import argparse
import concurrent.futures
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import run as bench  # noqa: E402  (bench/run.py: Pulse instances, sseload, /proc readers)
from run import harness, log  # noqa: E402
from bus_payload import write_section  # noqa: E402

SECTION = "## AI chat: 1,000 concurrent answers (bench/chat_bench.py)"
KEY = "sk-bench"
STAMP = "bench_us="
DELTA_LINE = '"type":"chat.delta"'
DEMO_WORDS = 81
STAMPED = ("upstream", "spread", "floor")
RUN_TITLE = {"upstream": "upstream, answers in lockstep (stamped deltas)",
             "spread": "upstream, answers at random phases (stamped deltas)",
             "floor": "the floor: nginx relaying the upstream to the clients, no Pulse (stamped deltas)",
             "demo": "demo model (no upstream)"}
UPSTREAM_TEXT = {"c": "the upstream `bench/llm_upstream.c` (one epoll loop, SQLite's JSON checks of each request)",
                 "python": "the tests' stand-in `tests/llm_standin.py`"}


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def wait_for_quiet(limit_s):
    """Polls the 1-minute load every 30 s until it is below 0.7 or limit_s
    passed: (load at the start, at the end, seconds waited)."""
    t0, first = time.time(), loadavg()
    now = first
    while now >= 0.7 and time.time() - t0 < limit_s:
        log("1-minute load %.2f: waiting (%.0f of at most %.0f s)" % (now, time.time() - t0, limit_s))
        time.sleep(min(30, max(1, limit_s - (time.time() - t0))))
        now = loadavg()
    return first, now, time.time() - t0


class Standin:
    """The upstream in its own process, stopped by PID: bench/llm_upstream.c
    (--upstream c, one epoll loop: what a real service's network side costs)
    or tests/llm_standin.py (--upstream python, the tests' scripted stand-in,
    one thread a connection and a pacer thread)."""

    def __init__(self, tmp, deltas, delay_ms, kind="c", spread=False):
        if kind == "c":
            exe = os.path.join(ROOT, "build", "bench", "llm_upstream")
            if not os.access(exe, os.X_OK):
                raise RuntimeError("%s is missing: run `make build/bench/llm_upstream`" % exe)
            argv = [exe, "-k", KEY, "-n", str(deltas), "-d", str(delay_ms)] + (["-r"] if spread else [])
            err = os.path.join(tmp, "upstream.err")
        elif spread:
            raise RuntimeError("--upstream python has no random phases: use the C upstream for spread runs")
        else:
            script = {"default": "bench", "answers": {"bench": {
                "stamp": True, "delay_ms": delay_ms, "deltas": ["w%d" % i for i in range(deltas)]}}}
            path = os.path.join(tmp, "standin.json")
            with open(path, "w") as f:
                json.dump(script, f)
            argv = [sys.executable, os.path.join(ROOT, "tests", "llm_standin.py"), "--key", KEY, "--script", path]
            err = path + ".err"
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(err, "w"), text=True,
                                  start_new_session=True)
        self.url = self.p.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError("the upstream did not start: %r" % self.url)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


class Floor(bench.ConfNginx):
    """nginx from bench/chat_floor.conf, relaying the upstream at url."""

    def __init__(self, tmp, url):
        upstream = re.match(r"http://([^/]+)/", url).group(1)
        super().__init__(tmp, "chat_floor.conf", "the floor", (("@UPSTREAM@", upstream), ("@KEY@", KEY)))


class RssPeak:
    """The peak RSS of each group while it runs (sampled every 0.25 s)."""

    def __init__(self, groups):
        self.groups, self.peak = groups, {g: 0 for g in groups}
        self.stop_ev = threading.Event()
        self.th = threading.Thread(target=self._loop, daemon=True)
        self.th.start()

    def _loop(self):
        while True:
            for g, (rss, _) in bench.group_mem(self.groups).items():
                self.peak[g] = max(self.peak[g], rss)
            if self.stop_ev.wait(0.25):
                return

    def stop(self):
        self.stop_ev.set()
        self.th.join(5)
        return self.peak


def sched(groups):
    """{group: (ns on a CPU, ns runnable but waiting for one)} from
    /proc/PID/schedstat: how long each part waited for the 2 cores."""
    out = {}
    for g, pids in groups.items():
        run = wait = 0
        for pid in pids:
            try:
                with open("/proc/%d/schedstat" % pid) as f:
                    a, b = f.read().split()[:2]
                run, wait = run + int(a), wait + int(b)
            except (OSError, ValueError):
                pass
        out[g] = (run, wait)
    return out


def at_once(fn, items, threads=64):
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        return list(ex.map(fn, items))


def sessions(srv, n, user):
    def one(_):
        r = srv.post("/api/chat/sessions", {}, headers=user)
        if r.status != 201:
            raise RuntimeError("POST /api/chat/sessions: %d %s" % (r.status, r.body[:200]))
        return r.json()["id"]
    return at_once(one, range(n), 16)


def answers_state(srv):
    rows = srv.sql("SELECT status, count(*) FROM chat_messages WHERE role = 'assistant' GROUP BY status")
    return dict(rows)


def stored_check(srv, args, kind):
    """What the stored answers hold: per answer its status, stamps (upstream)
    or words (demo), seq (its chat.delta events), and for stamps the span
    from the first to the last and the widest gap between two (the pace the
    stand-in kept)."""
    rows = srv.sql("SELECT status, content, seq FROM chat_messages WHERE role = 'assistant'")
    out = {"answers": len(rows), "complete": sum(1 for r in rows if r[0] == "complete"),
           "delta_events": sum(r[2] for r in rows), "units": [], "span_ms": [], "gap_ms": []}
    for _, content, _ in rows:
        if kind in STAMPED:
            stamps = [int(v) for v in re.findall(STAMP + r"(\d+)", content)]
            out["units"].append(len(stamps))
            if len(stamps) > 1:
                out["span_ms"].append((stamps[-1] - stamps[0]) / 1000.0)
                out["gap_ms"].append(max(b - a for a, b in zip(stamps, stamps[1:])) / 1000.0)
        else:
            out["units"].append(len(content.split()))
    return out


def floor_run(tmp, args, n):
    """The floor: n answers of the upstream relayed by nginx alone, each
    watched by one client from its request on (the request starts it)."""
    if args.upstream != "c":
        raise RuntimeError("the floor runs the C upstream (random phases): leave out --upstream python")
    st = Standin(tmp, args.deltas, args.delay_ms, "c", spread=True)
    ld = None
    try:
        ng = Floor(tmp, st.url)
        paths = os.path.join(tmp, "paths-floor.txt")
        with open(paths, "w") as f:
            f.writelines("/floor/%d\n" % i for i in range(n))
        groups = dict(ng.groups(), standin=[st.p.pid])
        idle = bench.group_mem(groups)
        load0 = loadavg()
        watch = bench.CpuWatch()
        cpu0, sch0, t0 = bench.group_cpu(groups), sched(groups), time.time()
        ld = bench.Loader(tmp, ng.port, None, n, events=args.deltas, wait=args.timeout, open_s=60,
                          extra=["-U", paths, "-M", STAMP, "-K", STAMP])
        groups["sseload"] = [ld.p.pid]
        cpu0["sseload"], sch0["sseload"] = 0, (0, 0)
        ready = ld.ready()
        t_posted = time.time()
        # sseload ends once every stream has every stamp: the figures are
        # its last samples (a zombie's /proc still holds its times)
        cpu1, sch1, deadline = cpu0, sch0, time.time() + args.timeout + 60
        while time.time() < deadline:
            c, w = bench.group_cpu(groups), sched(groups)
            cpu1 = {g: max(cpu1[g], c[g]) for g in c}
            sch1 = {g: max(sch1[g], w[g]) for g in w}
            if ld.p.poll() is not None:
                break
            time.sleep(0.1)
        t_done = time.time()
        res = ld.result(60)
        foreign, _, top = watch.stop()
        if res["latency_us"]["count"] == 0:
            raise RuntimeError("the floor relayed nothing (%s); see %s" % (ready, ng.data))
        return {"kind": "floor", "n": n, "ready": ready, "posted_202": n, "post_s": t_posted - t0,
                "wall_s": t_done - t0, "state": {}, "cpu": {g: cpu1[g] - cpu0[g] for g in cpu0},
                "wait_s": {g: (sch1[g][1] - sch0[g][1]) / 1e9 for g in sch0},
                "idle": {g: v[0] for g, v in idle.items()}, "opened": {}, "peak": {}, "sseload": res,
                "stored": None, "load": load0, "foreign_cpu": foreign, "foreign_top": top}
    finally:
        if ld is not None:
            ld.kill()
        bench.stop_all()
        del bench.STARTED[:]
        st.stop()


def one_run(tmp, args, kind, n):
    """One run of kind "upstream", "spread" or "demo" with n answers: its figures."""
    if kind == "floor":
        return floor_run(tmp, args, n)
    st = Standin(tmp, args.deltas, args.delay_ms, args.upstream, kind == "spread") if kind in STAMPED else None
    ld = None
    try:
        env = {"PULSE_CHAT_MESSAGE_RATE": "10000", "PULSE_LLM_TIMEOUT_S": "30"}
        if st is not None:
            env.update({"PULSE_LLM_URL": st.url, "PULSE_LLM_API_KEY": KEY, "PULSE_LLM_MODEL": "bench-model"})
        else:
            env["PULSE_LLM_DEMO_MS"] = "50"
        srv = bench.Pulse(tmp, "nginx", env=env)
        user = {"Authorization": "Bearer " + bench.token("bench", "viewer")}
        admin = bench.token("root", "admin")
        sids = sessions(srv, n, user)
        paths = os.path.join(tmp, "paths-%s.txt" % kind)
        with open(paths, "w") as f:
            f.writelines("/api/events/stream?topic=chat:%s&access_token=%s\n" % (s, admin) for s in sids)
        groups = srv.groups()
        if st is not None:
            groups["standin"] = [st.p.pid]
        idle = bench.group_mem(groups)
        extra = ["-U", paths, "-M", DELTA_LINE] + (["-K", STAMP] if st is not None else ["-K", '"seq":'])
        if st is not None:   # ends when every stream has every stamp, or after -w
            ld = bench.Loader(tmp, srv.port, None, n, events=args.deltas, wait=args.timeout, open_s=60, extra=extra)
        else:                # holds until told (SIGTERM) once the answers ended
            ld = bench.Loader(tmp, srv.port, None, n, hold=args.timeout, open_s=60, extra=extra)
        ready = ld.ready()
        groups["sseload"] = [ld.p.pid]
        time.sleep(1)
        opened = bench.group_mem(groups)
        load0 = loadavg()
        watch = bench.CpuWatch()
        peak = RssPeak({g: groups[g] for g in ("batch", "stream")})
        cpu0, sch0, t0 = bench.group_cpu(groups), sched(groups), time.time()

        def post(sid):
            r = srv.post("/api/chat/sessions/%s/messages" % sid, {"message": "bench"}, headers=user, timeout=30)
            return r.status
        statuses = at_once(post, sids)
        t_posted = time.time()
        deadline = t0 + args.timeout
        state = {}
        while time.time() < deadline:
            state = answers_state(srv)
            if sum(state.values()) >= n and not state.get("streaming"):
                break
            time.sleep(0.2)
        t_done = time.time()
        cpu1, sch1 = bench.group_cpu(groups), sched(groups)
        rss_peak = peak.stop()
        foreign, _, top = watch.stop()
        if st is None:
            time.sleep(1)    # the last deltas on their way to the clients
            ld.p.send_signal(signal.SIGTERM)
        res = ld.result(args.timeout + 60)
        stored = stored_check(srv, args, kind)
        wall = t_done - t0
        return {"kind": kind, "n": n, "ready": ready, "posted_202": statuses.count(202), "post_s": t_posted - t0,
                "wall_s": wall, "state": state, "cpu": {g: cpu1[g] - cpu0[g] for g in cpu0},
                "wait_s": {g: (sch1[g][1] - sch0[g][1]) / 1e9 for g in sch0},
                "idle": {g: v[0] for g, v in idle.items()}, "opened": {g: v[0] for g, v in opened.items()},
                "peak": rss_peak, "sseload": res, "stored": stored, "load": load0,
                "foreign_cpu": foreign, "foreign_top": top}
    finally:
        if ld is not None:
            ld.kill()
        bench.stop_all()
        del bench.STARTED[:]
        if st is not None:
            st.stop()


def ms(us):
    return "%.2f" % (us / 1000.0)


def report(args, info, quiet, runs, elapsed):
    D = args.deltas
    n = max(r["n"] for r in runs)
    L = [SECTION, ""]
    L.append("`python3 bench/chat_bench.py --runs %s --deltas %d --delay-ms %d` on %s, %.1f min; machine: %d cores "
             "(%s), %.0f GiB, Linux %s; nginx %s, SQLite %s; tree `%s`; 1-minute load before: %.2f (waited %.0f s "
             "for it to fall below 0.7, from %.2f)." % (
                 args.runs, D, args.delay_ms, datetime.date.today().isoformat(), elapsed / 60.0, info["cores"], info["cpu"],
                 info["mem_gib"], info["kernel"], info["nginx"], info["sqlite"], info["git"], quiet[1], quiet[2],
                 quiet[0]))
    L.append("")
    L.append("One Pulse instance behind nginx (release build `build/bin`, PULSE_WORKERS=2, "
             "PULSE_CHAT_MESSAGE_RATE=10000, everything else as shipped), %d sessions of one user, "
             "`build/bench/sseload` holding one stream per session (`-U` a file of `/api/events/stream?"
             "topic=chat:<id>&access_token=<admin>`), then the %d messages posted at once (64 threads). "
             "**upstream**: %s in its own process answers each with %d deltas "
             "%d ms apart (%d deltas/s in all), each prefixed `bench_us=<µs> ` when written; sseload "
             "(`-K bench_us= -M '\"type\":\"chat.delta\"' -e %d`) takes for each chat.delta data line the receive "
             "time minus its first (oldest) stamp: one commit may carry several deltas of an answer, each of whose "
             "stamps is counted. **demo**: the built-in model (PULSE_LLM_DEMO_MS=50, %d words an answer), no "
             "stamps: CPU, memory and completion only. **floor**: no Pulse; nginx (`bench/chat_floor.conf`, 2 workers) "
             "proxies each client's `GET /floor/<n>` as the upstream's POST (answers at random phases), unbuffered, "
             "with the same sseload (`-M bench_us= -K bench_us=`)." % (n, n, UPSTREAM_TEXT[args.upstream], D, args.delay_ms, n * D * 1000 // args.delay_ms // D,
                                                            D, DEMO_WORDS))
    L.append("")
    for r in runs:
        if r["kind"] == "floor":
            L += floor_rows(args, r)
            continue
        s, st, k, n = r["sseload"], r["stored"], r["kind"], r["n"]
        lat = s["latency_us"]
        exp_units = D if k in STAMPED else DEMO_WORDS
        lost_stored = sum(max(0, exp_units - u) for u in st["units"]) + exp_units * max(0, n - st["answers"])
        L.append("### %s, %d answers (%s deltas/s)" % (
            RUN_TITLE[k], n, "{:,}".format(n * 1000 // (args.delay_ms if k in STAMPED else 50))))
        L.append("")
        L.append("| figure | value |")
        L.append("|---|---:|")
        L.append("| streams open / failed | %d / %d (%s) |" % (s["n"] - s["failed"], s["failed"], r["ready"]))
        L.append("| messages answered 202 | %d of %d, posted in %.2f s |" % (r["posted_202"], n, r["post_s"]))
        L.append("| answers complete | %d of %d (states at the end: %s), last ended %.1f s after the first post |" % (
            st["complete"], n, json.dumps(r["state"]), r["wall_s"]))
        if k in STAMPED:
            L.append("| delta → browser p50 / p90 / p99 / max, ms | %s / %s / %s / %s |" % (
                ms(lat["p50"]), ms(lat["p90"]), ms(lat["p99"]), ms(lat["max"])))
            L.append("| stamps stored (per answer min / max; lost: %d × %d − stored) | %d / %d; lost %d |" % (
                n, D, min(st["units"] or [0]), max(st["units"] or [0]), lost_stored))
            L.append("| stamps received by the clients (expected %d; per stream min) | %d (%d); lost %d |" % (
                n * D, s["events"], s["min_events_per_stream"], max(0, n * D - s["events"])))
            L.append("| chat.delta events received / in the answers' seq (stamps per event) | %d / %d (%.2f) |" % (
                lat["count"], st["delta_events"], s["events"] / max(1, lat["count"])))
            if st["span_ms"]:
                spans, gaps = sorted(st["span_ms"]), sorted(st["gap_ms"])
                L.append("| stand-in pace: first → last stamp of an answer (ideal %d ms) median / max; widest gap "
                         "between two stamps median / max | %.0f / %.0f ms; %.0f / %.0f ms |" % (
                             (D - 1) * args.delay_ms, spans[len(spans) // 2], spans[-1], gaps[len(gaps) // 2],
                             gaps[-1]))
        else:
            L.append("| words stored (per answer min / max; lost: %d × %d − stored) | %d / %d; lost %d |" % (
                n, DEMO_WORDS, min(st["units"] or [0]), max(st["units"] or [0]), lost_stored))
            L.append("| chat.delta events received / in the answers' seq; lost | %d / %d; %d |" % (
                s["events"], st["delta_events"], max(0, st["delta_events"] - s["events"])))
        cpu = r["cpu"]
        parts = [g for g in ("batch", "stream", "api", "web", "standin", "sseload") if g in cpu]
        L += cpu_rows(r, parts, n * (D if k in STAMPED else DEMO_WORDS))
        for g in ("batch", "stream"):
            L.append("| RSS %s: idle / streams open / peak answering, KiB; per concurrent answer | "
                     "%s / %s / %s; %.0f B |" % (
                         "pulse-" + g, "{:,}".format(r["idle"][g]), "{:,}".format(r["opened"][g]),
                         "{:,}".format(r["peak"][g]), (r["peak"][g] - r["opened"][g]) * 1024.0 / n))
        L += [load_row(r), ""]
    L += conclusion(args, runs)
    return L


def load_row(r):
    return "| 1-minute load at the start; other work on the machine meanwhile | %.2f; %.1f CPU-s (%s) |" % (
        r["load"], r["foreign_cpu"], ", ".join("%s %.1f" % kv for kv in r["foreign_top"]) or "none")


def cpu_rows(r, parts, units):
    """The CPU rows of run r's table: its parts' seconds, per concurrent
    answer, per delta (units of them) and waiting for a CPU."""
    cpu, wall, n = r["cpu"], r["wall_s"], r["n"]
    return [
        "| CPU s over %.1f s: %s | %s |" % (wall, " + ".join(parts), " + ".join("%.2f" % cpu[g] for g in parts)),
        "| CPU per concurrent answer, µs per second: %s | %s |" % (
            " + ".join(parts), " + ".join("%.0f" % (cpu[g] / wall / n * 1e6) for g in parts)),
        "| CPU per delta (%s of them), µs: %s | %s |" % (
            "{:,}".format(units), " + ".join(parts), " + ".join("%.1f" % (cpu[g] / units * 1e6) for g in parts)),
        "| waiting for a CPU (runnable, not running: /proc/PID/schedstat), s: %s | %s |" % (
            " + ".join(parts), " + ".join("%.2f" % r["wait_s"][g] for g in parts))]


def floor_rows(args, r):
    """The floor run's table: no answers stored, nothing but relaying."""
    D, s, n = args.deltas, r["sseload"], r["n"]
    lat = s["latency_us"]
    L = ["### %s, %d answers (%s deltas/s)" % (RUN_TITLE["floor"], n, "{:,}".format(n * 1000 // args.delay_ms)), "",
         "| figure | value |", "|---|---:|",
         "| streams opened (%s); closed after their answer's end | %d |" % (r["ready"], s["dropped"]),
         "| all streams open after | %.2f s (each answer starts with its request) |" % r["post_s"],
         "| delta → browser p50 / p90 / p99 / max, ms | %s / %s / %s / %s |" % (
             ms(lat["p50"]), ms(lat["p90"]), ms(lat["p99"]), ms(lat["max"])),
         "| stamps received by the clients (expected %d; per stream min) | %d (%d); lost %d |" % (
             n * D, s["events"], s["min_events_per_stream"], max(0, n * D - s["events"])),
         "| data lines with stamps received (stamps per line) | %d (%.2f) |" % (
             lat["count"], s["events"] / max(1, lat["count"]))]
    L += cpu_rows(r, ["web", "standin", "sseload"], n * D)
    L += [load_row(r), ""]
    return L


def conclusion(args, runs):
    """The goal (p99 <= 5 ms) and, where it is missed, where the time goes,
    in this run's own figures."""
    L = ["### Conclusion (this run's figures)", ""]
    ups = [r for r in runs if r["kind"] in ("upstream", "spread")]
    for r in (r for r in runs if r["kind"] == "floor"):
        lat, cpu, n = r["sseload"]["latency_us"], r["cpu"], r["n"]
        rate, units = n * 1000.0 / args.delay_ms, n * args.deltas
        cores = {g: cpu[g] / units * rate for g in cpu}
        L.append("- The floor, %s answers (%s deltas/s) relayed by nginx alone: p99 %s ms (p50 %s). What no "
                 "design behind this web server saves at this load: nginx %.2f cores, the upstream %.2f, the "
                 "clients %.2f; %.2f of the machine's %d, leaving %.2f for everything between the upstream and "
                 "nginx (here: Pulse's generator, log, and stream responder)." % (
                     "{:,}".format(n), "{:,}".format(int(rate)), ms(lat["p99"]), ms(lat["p50"]),
                     cores.get("web", 0), cores.get("standin", 0), cores.get("sseload", 0), sum(cores.values()),
                     os.cpu_count(), os.cpu_count() - sum(cores.values())))
    for r in ups:
        lat, s, cpu, wall, n = r["sseload"]["latency_us"], r["sseload"], r["cpu"], r["wall_s"], r["n"]
        per_event = s["events"] / max(1, lat["count"])
        total = sum(cpu.values())
        L.append("- %s answers (%s deltas/s): p99 %s ms, goal p99 ≤ 5 ms **%s**; deltas lost %d (stored) and %d "
                 "(received). One commit carried %.2f deltas of an answer on average, so each answer was committed "
                 "about every %.0f ms (the deltas come every %d ms): pulse-batch, one process and one thread that "
                 "reads every upstream and commits every delta, used %.2f CPU-s in %.1f s (%.0f%% of one core on "
                 "average over the whole run, ramp and tail included; %.1f µs a delta) and waited %.2f s more for a CPU while runnable. All parts together used "
                 "%.1f CPU-s, %.0f%% of the machine's %d cores; the stand-in alone %.1f (%.0f%% of a core)." % (
                     "{:,}".format(n), "{:,}".format(n * 1000 // args.delay_ms), ms(lat["p99"]),
                     "met" if lat["p99"] <= 5000 else "missed",
                     sum(max(0, args.deltas - u) for u in r["stored"]["units"]) + args.deltas * max(
                         0, n - r["stored"]["answers"]), max(0, n * args.deltas - s["events"]), per_event,
                     per_event * args.delay_ms, args.delay_ms, cpu["batch"], wall, 100.0 * cpu["batch"] / wall,
                     cpu["batch"] / (n * args.deltas) * 1e6, r["wait_s"]["batch"], total, 100.0 * total / wall / os.cpu_count(),
                     os.cpu_count(), cpu.get("standin", 0), 100.0 * cpu.get("standin", 0) / wall))
        rate, units = n * 1000.0 / args.delay_ms, n * args.deltas
        cores = {g: cpu[g] / units * rate for g in cpu}
        pulse = sum(cores[g] for g in ("batch", "stream", "api", "web"))
        L.append("  Demand at this rate (CPU a delta × deltas/s): Pulse (batch + stream + api + nginx) %.2f cores, "
                 "the stand-in %.2f, sseload %.2f: %.2f of %d. %s Runnable but waiting for a CPU: batch %.2f s, "
                 "stream %.2f s, nginx %.2f s." % (
                     pulse, cores.get("standin", 0), cores.get("sseload", 0), sum(cores.values()), os.cpu_count(),
                     "At the cores (over 90% of them), queues grow for as long as the answers stream: a delta's time goes to "
                     "waiting for a CPU (and pulse-batch, served late, merges more deltas into each commit)."
                     if sum(cores.values()) > 0.9 * os.cpu_count() else "Below the cores (no steady queue); "
                     "what is left is the waits for a CPU behind the other processes and, in lockstep runs, "
                     "each burst of a claim's deltas (all due in the same instant) drained one after another.",
                     r["wait_s"]["batch"], r["wait_s"]["stream"], r["wait_s"]["web"]))
    L.append("- How it is measured: the upstream stamps a delta just before writing it (its own lag moves "
             "the pace, first → last stamp above, not the latency); sseload takes the receive "
             "time of each chat.delta line minus the oldest stamp in it, so a merged delta counts at its worst. "
             "The demo run has no stamps: its CPU and memory are the service's own cost at the same rate "
             "without an upstream's sockets and parsing.")
    L.append("")
    return L


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", default="floor:1000,spread:1000,upstream:1000,demo:1000,floor:1000,spread:1000,"
                    "floor:100,spread:100,upstream:100",
                    help="KIND:ANSWERS,... (KIND upstream, spread, floor or demo), run in this order")
    ap.add_argument("--upstream", choices=("c", "python"), default="c",
                    help="the upstream: bench/llm_upstream.c (c) or tests/llm_standin.py (python)")
    ap.add_argument("--deltas", type=int, default=100)
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--timeout", type=int, default=120, help="bound on one run's answering, s")
    ap.add_argument("--max-wait-load", type=float, default=900, help="wait at most this long for load < 0.7, s")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    ap.add_argument("--no-write", action="store_true", help="print the section only")
    args = ap.parse_args()
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="pulse-chatbench-")
    try:
        info = bench.machine_info()
        quiet = wait_for_quiet(args.max_wait_load)
        runs = []
        for spec in args.runs.split(","):
            kind, n = spec.split(":")
            log("run %s, %s answers" % (kind, n))
            runs.append(one_run(tmp, args, kind, int(n)))
            log("run %s: %s" % (kind, json.dumps(runs[-1]["sseload"]["latency_us"])))
        lines = report(args, info, quiet, runs, time.time() - t0)
        if not args.no_write:
            write_section(args.out, lines)
        print("\n".join(lines))
    finally:
        bench.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
