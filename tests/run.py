#!/usr/bin/env python3
"""Runs Pulse's whole test suite and prints `N passed, N failed` last.

  python3 tests/run.py [--bin DIR] [-k SUBSTRING] [--web lighttpd,nginx] [-j JOBS]

The C unit tests run first (make unit); then every test_* function of
tests/integration/test_*.py, once behind lighttpd and once behind nginx,
each against real web servers and redis-server
processes it starts through the harness and that are stopped by PID when
the test ends. A test fails on an assertion, an exception, or any
AddressSanitizer/UBSan report written by the processes it started.

Each test runs in a process of its own, JOBS of them at once (most of a
test's time is spent waiting on servers and browsers, not computing); a
module that sets SERIAL = True (load tests, builds, make run) runs alone.
"""
import argparse
import importlib.util
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class TestEnv:
    """What a test gets: a scratch directory and servers that are cleaned up."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.started = []

    def instance(self, **kw):
        import harness
        inst = harness.Instance(self.tmp, **kw)
        self.started.append(inst)
        return inst

    def redis(self):
        import harness
        r = harness.Redis(self.tmp)
        self.started.append(r)
        return r

    def apache(self, **kw):
        """A real Apache from a generated configuration (harness.Apache)."""
        import harness
        a = harness.Apache(self.tmp, **kw)
        self.started.append(a)
        return a

    def rtmp(self, inst):
        import harness
        r = harness.Rtmp(self.tmp, inst)
        self.started.append(r)
        return r

    def cleanup(self):
        reports = []
        for s in reversed(self.started):
            try:
                s.stop()
            except Exception as e:  # keep stopping the others
                reports.append("stop failed: %r" % e)
            if hasattr(s, "sanitizer_reports"):
                reports += s.sanitizer_reports()
        return reports


def load_tests(pattern, webs):
    """(name, fn, web, serial) for every test, once per web server unless its
    module sets WEB_INDEPENDENT (it starts its own servers)."""
    tests = []
    for name in sorted(os.listdir(os.path.join(HERE, "integration"))):
        if not (name.startswith("test_") and name.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(name[:-3], os.path.join(HERE, "integration", name))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for attr in sorted(dir(mod), key=lambda a: getattr(getattr(mod, a), "__code__", None) and
                           getattr(mod, a).__code__.co_firstlineno or 0):
            fn = getattr(mod, attr)
            if not (attr.startswith("test_") and callable(fn)):
                continue
            for web in webs[:1] if getattr(mod, "WEB_INDEPENDENT", False) else webs:
                full = "%s.%s" % (name[:-3], attr) + ("" if web == webs[0] else " [%s]" % web)
                if pattern is None or pattern in full:
                    tests.append((full, fn, web, getattr(mod, "SERIAL", False)))
    return tests


def run_unit():
    out = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "unit"], capture_output=True, text=True)
    sys.stdout.write(out.stdout[-4000:])
    if out.returncode != 0:
        sys.stdout.write(out.stderr[-4000:])
    m = re.findall(r"^unit: (\d+) passed, (\d+) failed", out.stdout, re.M)
    if not m:
        return 0, 1
    p, f = int(m[-1][0]), int(m[-1][1])
    return p, f + (1 if out.returncode != 0 and f == 0 else 0)


def run_child(name, fn, web, log):
    """In a forked process: runs one test with its output in log, then writes
    log + ".json" with the outcome. Never returns."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = sys.stdout
    os.environ["PULSE_TEST_WEB"] = web
    tmp = tempfile.mkdtemp(prefix="pt-", dir="/tmp")
    env = TestEnv(tmp)
    err = None
    try:
        fn(env)
    except Exception:
        err = traceback.format_exc()
    reports = env.cleanup()
    if reports and err is None:
        err = "sanitizer or shutdown reports:\n" + "\n".join(reports)
    if err is None:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.flush()
    with open(log + ".json", "w") as f:
        json.dump({"err": err, "tmp": tmp}, f)
    os._exit(0)


def report(name, log, status, dt):
    """Prints one test's PASS/FAIL line after what it printed; returns None if
    it passed, else the error's last line for the closing list of failures."""
    out = ""
    if os.path.exists(log):
        with open(log, errors="replace") as f:
            out = f.read()
    try:
        with open(log + ".json") as f:
            res = json.load(f)
    except (OSError, ValueError):
        res = {"err": "the test's process ended without an outcome (wait status %d)" % status, "tmp": "?"}
    if out:
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    if res["err"] is None:
        print("PASS %-60s %6.2fs" % (name, dt), flush=True)
        return None
    print("FAIL %-60s %6.2fs (logs kept in %s)\n%s" % (name, dt, res["tmp"], res["err"]), flush=True)
    lines = [l for l in res["err"].splitlines() if l.strip()]
    return (lines[-1] if lines else "?")[:300]


def run_integration(tests, jobs, failures):
    """Runs tests, up to jobs at once (a SERIAL one alone); returns (passed, failed)
    and appends each failure's name and last error line to failures."""
    passed = failed = 0
    logdir = tempfile.mkdtemp(prefix="pt-logs-", dir="/tmp")
    running = {}                # pid -> (name, log, start time, serial)
    queue = list(tests)
    while queue or running:
        while queue and len(running) < max(1, jobs):
            name, fn, web, serial = queue[0]
            if running and (serial or any(r[3] for r in running.values())):
                break           # a serial test waits for the others, and they for it
            queue.pop(0)
            log = os.path.join(logdir, "%d.log" % (len(tests) - len(queue)))
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                run_child(name, fn, web, log)
            running[pid] = (name, log, time.time(), serial)
        pid, status = os.wait()
        if pid not in running:
            continue
        name, log, t0, _ = running.pop(pid)
        why = report(name, log, status, time.time() - t0)
        if why is None:
            passed += 1
        else:
            failed += 1
            failures.append("%s: %s" % (name, why))
    shutil.rmtree(logdir, ignore_errors=True)
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "asan", "bin"))
    ap.add_argument("-k", dest="pattern")
    ap.add_argument("--no-unit", action="store_true")
    ap.add_argument("--web", default="lighttpd,nginx", help="web servers to run the suite behind")
    ap.add_argument("-j", dest="jobs", type=int, default=int(os.environ.get("PULSE_TEST_JOBS", "2")),
                    help="tests run at once (SERIAL modules always alone)")
    args = ap.parse_args()
    os.environ["PULSE_TEST_BIN"] = os.path.abspath(args.bin)
    sys.path.insert(0, HERE)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    passed = failed = 0
    failures = []
    if not args.no_unit and args.pattern is None:
        p, f = run_unit()
        passed, failed = passed + p, failed + f
        if f:
            failures.append("unit: %d failed (their output is above)" % f)
    tests = load_tests(args.pattern, args.web.split(","))
    if not tests:
        print("no integration tests found")
        failed += 1
        failures.append("no integration tests found")
    p, f = run_integration(tests, args.jobs, failures)
    passed, failed = passed + p, failed + f
    # The log's tail is often all a reader gets: name the failures there, not
    # only where they happened thousands of lines up.
    if failed:
        print("failed:" + "".join("\n  " + x for x in failures))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
