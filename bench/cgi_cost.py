#!/usr/bin/env python3
"""cgi_cost.py - what one request costs when the host runs Pulse as CGI
(the shared-hosting package): exec, pulse.conf, opening the database and its
migration check, the answer. GET /api/topup/status, run the way Apache's
mod_cgid runs a CGI program (a fresh process, the request in its
environment, the answer on stdout), side by side in one run with the
floor any CGI program pays on this machine: exec of a static program that
prints a fixed answer (the architecture's own limit).

  python3 bench/cgi_cost.py [--bin build/static/pulse] [-n 500]

Prints p50/p90/p99 per program and their ratio; results go to
bench/RESULTS.md by hand (command, machine, date, figures)."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "bench-jwt-secret-0123456789abcdef"


def cgi_env(data, method, uri, extra=None):
    e = {"PATH": "/usr/bin:/bin", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
         "REQUEST_METHOD": method, "REQUEST_URI": uri, "QUERY_STRING": uri.partition("?")[2],
         "SCRIPT_NAME": "/pulse/pulse.cgi", "PULSE_DATA": data, "PULSE_JWT_SECRET": SECRET}
    e.update(extra or {})
    return e


def run(argv, env, body=b""):
    t0 = time.perf_counter()
    p = subprocess.run(argv, env=env, input=body, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    return dt, p.stdout


def floor_program(tmp):
    """A static C program that writes a fixed CGI answer: exec's own cost."""
    src = os.path.join(tmp, "floor.c")
    exe = os.path.join(tmp, "floor")
    with open(src, "w") as f:
        f.write('#include <unistd.h>\nint main(void){static const char a[]="Status: 200 OK\\r\\n'
                'Content-Type: application/json\\r\\n\\r\\n{}";return write(1,a,sizeof a-1)<0;}\n')
    subprocess.run(["cc", "-O2", "-static", "-o", exe, src], check=True)
    return exe


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "static", "pulse"))
    ap.add_argument("-n", type=int, default=500)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cgi-cost-")
    try:
        data = os.path.join(tmp, "data")
        os.mkdir(data, 0o700)
        tok = subprocess.run([a.bin, "token", "alice"], env={"PULSE_JWT_SECRET": SECRET, "PATH": "/usr/bin:/bin",
                                                               "PULSE_DATA": data},
                             capture_output=True, text=True, check=True).stdout.strip()
        body = json.dumps({"amount": 10000, "description": "bench"}).encode()
        _, out = run([a.bin], cgi_env(data, "POST", "/pulse/api/topup/init",
                                      {"CONTENT_LENGTH": str(len(body)), "HTTP_AUTHORIZATION": "Bearer " + tok}),
                     body)
        tx = json.loads(out.partition(b"\r\n\r\n")[2])
        uri = "/pulse/api/topup/status?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"])
        env = cgi_env(data, "GET", uri)
        _, out = run([a.bin], env)
        assert out.startswith(b"Status: 200"), out[:200]
        floor = floor_program(tmp)
        times = {"pulse": [], "floor": []}
        for i in range(a.n):  # interleaved: both see the same machine
            times["pulse"].append(run([a.bin], env)[0] * 1000)
            times["floor"].append(run([floor], env)[0] * 1000)
        print("cgi_cost: %d requests each, GET /api/topup/status as CGI (%s)" % (a.n, a.bin))
        for k in ("pulse", "floor"):
            xs = times[k]
            print("  %-6s p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  mean %.2f ms" %
                  (k, pct(xs, 50), pct(xs, 90), pct(xs, 99), statistics.mean(xs)))
        print("  pulse / floor at p50: %.2fx" % (pct(times["pulse"], 50) / pct(times["floor"], 50)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
