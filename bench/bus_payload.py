#!/usr/bin/env python3
"""What the Redis PUBLISH after a commit should carry, measured side by side
(issue 14): three builds of Pulse, each behind nginx with one shared
redis-server, in interleaved rounds.

  a. envelope: the publisher re-reads each event's JSON envelope after the
     commit and PUBLISHes it; the stream responder keeps only its id and
     reads the log (the tree at --base).
  b. ids: the publisher PUBLISHes the decimal id, no re-read; the stream
     responder reads the log (this tree, build/bin).
  c. payload: as a, but the stream responder fans the PUBLISHed envelope out
     itself when it is the next id, and reads the log only on a gap
     (--base plus bench/bus_payload_c.patch; a bench prototype: no reset
     checks on that path).

  python3 bench/bus_payload.py [--rounds 6] [--seconds 5] [--subs 500]
                               [--publishes 100] [--base COMMIT]
                               [--builds DIR] [--out bench/RESULTS.md]

Per round and variant: a fresh instance (PULSE_REDIS_HISTORY=0, so the
relay's own log reads do not blur the difference), wrk POST /api/publish
for --seconds at concurrency 16 with one stream of another topic open
(throughput, CPU per publish of each part),
then --subs streams of one topic and --publishes events 50-100 ms apart
(delivery latency, CPU of the stream responder per publish). The variants'
order rotates each round. Writes (or replaces) the section "Redis payload"
of --out, leaving the other sections as they are.
"""
import argparse
import datetime
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import run as bench  # noqa: E402  (bench/run.py: servers, loaders, wrk, machine info)
from run import harness, log  # noqa: E402

VARIANTS = ("a", "b", "c")
NAMES = {"a": "a. envelope (re-read + PUBLISH envelope)", "b": "b. ids only (PUBLISH id, no re-read)",
         "c": "c. deliver from payload (re-read + PUBLISH envelope, fan out the payload)"}
SECTION = "## Redis payload (bench/bus_payload.py)"
BASE = "01ac2c5"  # the tree before ids only


def sh(argv, cwd, what):
    p = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s%s" % (what, p.stdout[-2000:], p.stderr[-2000:]))
    return p.stdout


def build_variants(base, builds):
    """{variant: bin dir}: a and c built from `base` in builds/ (reused when
    already built there), b is this tree's build/bin (built here)."""
    sh(["make", "CI=true", "all", "build/bench/sseload", "-j2"], ROOT, "make (b)")
    out = {"b": os.path.join(ROOT, "build", "bin")}
    for v in ("a", "c"):
        d = os.path.join(builds, v)
        if not os.path.isdir(d):
            os.makedirs(d)
            tar = subprocess.run(["git", "-C", ROOT, "archive", base], capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", d], input=tar, check=True)
            if v == "c":
                sh(["patch", "-p1", "-i", os.path.join(ROOT, "bench", "bus_payload_c.patch")], d, "patch (c)")
        log("building %s in %s" % (v, d))
        sh(["make", "CI=true", "all", "-j2"], d, "make (%s)" % v)
        out[v] = os.path.join(d, "build", "bin")
    return out


def one(tmp, redis, bin_dir, args, admin, rnd, tag):
    env = {"REDIS_URL": redis.url}
    if args.history is not None:
        env["PULSE_REDIS_HISTORY"] = str(args.history)
    srv = bench.Pulse(tmp, "nginx", env=env, bin_dir=bin_dir)
    try:
        bench.warm_up(tmp, srv)
        # One stream of another topic: with none, the stream responder skips
        # the log read (nobody to deliver to), the very cost compared here.
        idle = bench.Loader(tmp, srv.port, srv.stream_path("idle"), 1, hold=args.seconds + 30, open_s=10)
        try:
            idle.ready()
            w = bench.wrk(tmp, srv.port, "/api/publish", "wrk_post.lua",
                          {"BENCH_BODY": bench.PUBLISH_BODY, "BENCH_AUTH": admin}, args.seconds, srv)
        finally:
            idle.kill()
        lat = bench.latency_run(tmp, srv, srv, "bus" + tag, args.subs, args.publishes,
                                bench.publish_fn(srv, admin), rnd)
    finally:
        srv.stop()
        bench.STARTED.remove(srv)
    delivered = lat["sseload"]["events"]
    return {"rps": w["rps"], "pub_us": w["cpu_us"]["api"] + w["cpu_us"]["batch"], "non2xx": w["non2xx"] + w["socket_errors"], "pub_cpu": w["cpu_us"],
            "p50": lat["p50_ms"], "p99": lat["p99_ms"], "max": lat["max_ms"], "missing": lat["missing"],
            "bad": lat["bad_publishes"], "stream_us": w["cpu_us"]["stream"],
            # the stream responder's CPU per published event while delivering each to every stream
            "fan_us": lat["cpu_us"]["stream"] * delivered / max(1, args.publishes)}


def med(rows, key):
    return bench.med([r[key] for r in rows])


def cpu_parts(r):
    c = r["pub_cpu"]
    return "%.1f + %.1f + %.1f" % (c["web"], c["api"] + c["batch"], c["stream"])


def report(args, info, res, order, elapsed):
    L = [SECTION + ("" if args.history == 0 else ", relay on"), ""]
    L.append("`python3 bench/bus_payload.py --rounds %d --seconds %d --subs %d --publishes %d%s` on %s, %.1f min; "
             "machine: %d cores (%s), %.0f GiB, Linux %s; nginx %s, SQLite %s, redis-server as installed; "
             "tree `%s` (b), base `%s` (a, c)." % (
                 args.rounds, args.seconds, args.subs, args.publishes,
                 "" if args.history == 0 else " --history %d" % (args.history if args.history is not None else -1),
                 datetime.date.today().isoformat(),
                 elapsed / 60.0, info["cores"], info["cpu"], info["mem_gib"], info["kernel"], info["nginx"],
                 info["sqlite"], info["git"], args.base))
    L.append("")
    relay = ("`PULSE_REDIS_HISTORY=0` (the relay off: it reads the log per wake-up whatever the PUBLISH "
             "carries)" if args.history == 0 else "`PULSE_REDIS_HISTORY` %s (the relay on: the stream responder "
             "reads the log per wake-up to XADD it, whatever the PUBLISH carries)" % (
                 "as shipped" if args.history is None else "= %d" % args.history))
    L.append("Each variant ran once per round, in the order %s; every round starts fresh instances behind "
             "nginx (PULSE_WORKERS=2) sharing one redis-server, %s. Throughput: wrk `-t2 -c16` `POST "
             "/api/publish` for %d s, one stream open on another topic (so the stream responder "
             "reads what it is woken for; it delivers nothing). Latency: %d streams of one topic, %d publishes 50-100 ms "
             "apart. Medians over rounds, each round's value after it." % (
                 " / ".join("".join(o) for o in order), relay, args.seconds, args.subs, args.publishes))
    L.append("")
    L.append("| variant | publishes/s | CPU µs/publish: nginx + publisher + stream responder (median round) | "
             "publisher CPU µs/publish | stream responder CPU µs/publish | p50 ms | p99 ms | stream responder "
             "CPU µs/publish, %d streams (10 ms ticks) | missing |" % args.subs)
    L.append("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for v in VARIANTS:
        rows = res[v]
        per = "/".join("%.0f" % r["rps"] for r in rows)
        mid = sorted(rows, key=lambda r: r["rps"])[len(rows) // 2]
        L.append("| %s | %s (%s) | %s | %.1f (%s) | %.2f (%s) | %.2f (%s) | %.2f (%s) | %.0f (%s) | %d |" % (
            NAMES[v], bench.fmt(med(rows, "rps")), per, cpu_parts(mid),
            med(rows, "pub_us"), "/".join("%.1f" % r["pub_us"] for r in rows),
            med(rows, "stream_us"), "/".join("%.2f" % r["stream_us"] for r in rows),
            med(rows, "p50"), "/".join("%.2f" % r["p50"] for r in rows),
            med(rows, "p99"), "/".join("%.2f" % r["p99"] for r in rows),
            med(rows, "fan_us"), "/".join("%.0f" % r["fan_us"] for r in rows),
            sum(r["missing"] + r["bad"] + r["non2xx"] for r in rows)))
    L.append("")
    return L


def write_section(path, lines):
    """Replaces the section headed lines[0] (up to the next "## ") or appends it."""
    text = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    new = "\n".join(lines).rstrip("\n") + "\n"
    m = re.search(r"^%s\n.*?(?=^## |\Z)" % re.escape(lines[0]), text, re.S | re.M)
    if m:
        text = text[:m.start()] + new + ("\n" if m.end() < len(text) else "") + text[m.end():]
    else:
        text = text.rstrip("\n") + "\n\n" + new
    with open(path, "w") as f:
        f.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--subs", type=int, default=500)
    ap.add_argument("--publishes", type=int, default=100)
    ap.add_argument("--base", default=BASE)
    ap.add_argument("--history", type=int, default=0,
                    help="PULSE_REDIS_HISTORY (default 0: the relay off; -1: the shipped default, relay on)")
    ap.add_argument("--builds", help="where a and c are built (kept; default: a temp dir, removed)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "RESULTS.md"))
    args = ap.parse_args()
    if args.history < 0:
        args.history = None
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="pulse-buspayload-")
    builds = args.builds or os.path.join(tmp, "builds")
    redis = None
    try:
        bins = build_variants(args.base, builds)
        info = bench.machine_info()
        redis = harness.Redis(tmp)
        admin = bench.token("root", "admin")
        rnd = random.Random(14)
        res = {v: [] for v in VARIANTS}
        order = []
        for rd in range(args.rounds):
            vs = VARIANTS[rd % 3:] + VARIANTS[:rd % 3]
            order.append(vs)
            for v in vs:
                r = one(tmp, redis, bins[v], args, admin, rnd, "%s%d" % (v, rd))
                res[v].append(r)
                log("round %d %s: %.0f publishes/s (api+batch %.0f us) p50=%.2f p99=%.2f stream %.2f us/event "
                    "missing=%d bad=%d" % (rd + 1, v, r["rps"], r["pub_cpu"]["api"] + r["pub_cpu"]["batch"],
                                           r["p50"], r["p99"], r["stream_us"], r["missing"], r["bad"] + r["non2xx"]))
        lines = report(args, info, res, order, time.time() - t0)
        write_section(args.out, lines)
        print("\n".join(lines))
    finally:
        bench.stop_all()
        if redis is not None:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
