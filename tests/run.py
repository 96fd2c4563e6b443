#!/usr/bin/env python3
"""Runs Pulse's whole test suite and prints `N passed, N failed` last.

  python3 tests/run.py [--bin DIR] [-k SUBSTRING] [--web lighttpd,nginx]

The C unit tests run first (make unit); then every test_* function of
tests/integration/test_*.py, once behind lighttpd and once behind nginx,
each against real web servers and redis-server
processes it starts through the harness and that are stopped by PID when
the test ends. A test fails on an assertion, an exception, or any
AddressSanitizer/UBSan report written by the processes it started.
"""
import argparse
import importlib.util
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
    """(name, fn, web) for every test, once per web server unless its module
    sets WEB_INDEPENDENT (it starts its own servers)."""
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
                    tests.append((full, fn, web))
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "asan", "bin"))
    ap.add_argument("-k", dest="pattern")
    ap.add_argument("--no-unit", action="store_true")
    ap.add_argument("--web", default="lighttpd,nginx", help="web servers to run the suite behind")
    args = ap.parse_args()
    os.environ["PULSE_TEST_BIN"] = os.path.abspath(args.bin)
    sys.path.insert(0, HERE)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    passed = failed = 0
    if not args.no_unit and args.pattern is None:
        p, f = run_unit()
        passed, failed = passed + p, failed + f
    tests = load_tests(args.pattern, args.web.split(","))
    if not tests:
        print("no integration tests found")
        failed += 1
    for name, fn, web in tests:
        os.environ["PULSE_TEST_WEB"] = web
        tmp = tempfile.mkdtemp(prefix="pt-", dir="/tmp")
        env = TestEnv(tmp)
        t0 = time.time()
        err = None
        try:
            fn(env)
        except Exception:
            err = traceback.format_exc()
        reports = env.cleanup()
        if reports and err is None:
            err = "sanitizer or shutdown reports:\n" + "\n".join(reports)
        dt = time.time() - t0
        if err is None:
            passed += 1
            print("PASS %-60s %6.2fs" % (name, dt), flush=True)
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            failed += 1
            print("FAIL %-60s %6.2fs (logs kept in %s)\n%s" % (name, dt, tmp, err), flush=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
