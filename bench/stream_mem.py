#!/usr/bin/env python3
"""Memory per stream of the stream responder, measured without a web server.

  python3 bench/stream_mem.py [N ...]     (default: 1000 5000 10000 19000)

Starts build/bin/pulse-stream on a Unix socket handed over as fd 0 (as
lighttpd and spawn-fcgi do), opens N FastCGI connections that each request
/api/events/stream?topic=room:<i % 100>, reads each response head, then
reads the process's RSS. Prints one line per N: RSS before, after, and the
difference per stream. Bounded: every socket is closed and the process
stopped at the end."""
import os
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def record(rtype, content, rid=1):
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), 0, 0) + content


def nv(name, value):
    n, v = name.encode(), value.encode()
    ln = lambda x: bytes([len(x)]) if len(x) < 128 else struct.pack(">I", len(x) | 0x80000000)
    return ln(n) + ln(v) + n + v


def request(path, query):
    params = nv("REQUEST_METHOD", "GET") + nv("REQUEST_URI", path + "?" + query) + nv("QUERY_STRING", query)
    return (record(1, struct.pack(">HB5x", 1, 0)) + record(4, params) + record(4, b"") + record(5, b""))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(n):
    tmp = tempfile.mkdtemp(prefix="pulse-mem-")
    path = os.path.join(tmp, "s.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(4096)
    env = dict(os.environ, PULSE_DATA=tmp, PULSE_MAX_CONNECTIONS=str(n + 10), PULSE_MAX_PER_TOPIC=str(n + 10))
    p = subprocess.Popen([os.path.join(ROOT, "build", "bin", "pulse-stream")], stdin=ls, env=env,
                         stderr=subprocess.DEVNULL)
    ls.close()
    time.sleep(0.5)
    base = rss_kib(p.pid)
    conns = []
    try:
        for i in range(n):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.connect(path)
            c.sendall(request("/api/events/stream", "topic=room:%d" % (i % 100)))
            conns.append(c)
        for c in conns:
            c.settimeout(10)
            head = c.recv(4096)
            assert b"200 OK" in head, head[:200]
        time.sleep(0.5)
        after = rss_kib(p.pid)
        return base, after, (after - base) * 1024.0 / n
    finally:
        for c in conns:
            c.close()
        p.terminate()
        p.wait(10)


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    sizes = [int(a) for a in sys.argv[1:]] or [1000, 5000, 10000, 19000]
    for n in sizes:
        base, after, per = measure(n)
        print("streams=%-6d rss_before=%6d KiB rss_after=%7d KiB per_stream=%7.0f bytes" % (n, base, after, per))


if __name__ == "__main__":
    main()
