"""A kept responder's supervisor (PULSE_PREFORK=1, fcgi/wire/prefork.c) alone
holds the FastCGI socket and hands each connection to its worker. Connections
handed over that a worker never took are not lost with it: the next worker
answers them. Driven over FastCGI itself, a new connection a request as
lighttpd makes them, with no web server in between to retry anything."""
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import threading
import time

from harness import BIN, JWT_SECRET, alive, children_of, token, wait_for

WEB_INDEPENDENT = True  # talks FastCGI to pulse-batch itself

FCGI_BEGIN, FCGI_END, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6


def _record(kind, content):
    return struct.pack(">BBHHBx", 1, kind, 1, len(content), 0) + content


def _pair(name, value):
    def size(n):
        return struct.pack(">B", n) if n < 128 else struct.pack(">I", n | 0x80000000)
    return size(len(name)) + size(len(value)) + name + value


def fcgi_post(path, uri, body, auth, timeout):
    """POSTs body to uri over a new FastCGI connection to the socket at
    path; returns the response's stdout (headers and body) as bytes."""
    params = {b"REQUEST_METHOD": b"POST", b"REQUEST_URI": uri, b"SCRIPT_NAME": uri,
              b"CONTENT_TYPE": b"application/json", b"CONTENT_LENGTH": str(len(body)).encode(),
              b"HTTP_AUTHORIZATION": b"Bearer " + auth.encode(), b"REMOTE_ADDR": b"127.0.0.1",
              b"SERVER_PROTOCOL": b"HTTP/1.1"}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(_record(FCGI_BEGIN, struct.pack(">HB5x", 1, 0)) +
                  _record(FCGI_PARAMS, b"".join(_pair(k, v) for k, v in params.items())) +
                  _record(FCGI_PARAMS, b"") + _record(FCGI_STDIN, body) + _record(FCGI_STDIN, b""))
        data, out = b"", b""
        while True:
            while len(data) >= 8:
                _, kind, _, clen, plen = struct.unpack(">BBHHB", data[:7])
                if len(data) < 8 + clen + plen:
                    break
                if kind == FCGI_STDOUT:
                    out += data[8:8 + clen]
                elif kind == FCGI_END:
                    return out
                data = data[8 + clen + plen:]
            chunk = s.recv(65536)
            if not chunk:
                return out
            data += chunk
    finally:
        s.close()


def test_connections_handed_to_a_worker_that_dies_are_answered_by_the_next(env):
    path = os.path.join(env.tmp, "batch.sock")
    data = os.path.join(env.tmp, "data")
    os.makedirs(data)
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen(64)
    e = {"PATH": os.environ["PATH"], "ASAN_OPTIONS": "detect_leaks=0", "PULSE_PREFORK": "1",
         "PULSE_DB": os.path.join(data, "pulse.db"), "PULSE_DATA": data, "PULSE_JWT_SECRET": JWT_SECRET}
    sup = subprocess.Popen([os.path.join(BIN, "pulse-batch")], stdin=lsock.fileno(), env=e,
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(env.tmp, "batch.log"), "wb"))
    lsock.close()  # the supervisor's alone now, as a web server leaves it
    adm = token("root", "admin")

    def publish(n, timeout=30):
        body = ('{"topic":"room:handed","type":"note","data":{"n":%d}}' % n).encode()
        return fcgi_post(path, b"/api/publish", body, adm, timeout)

    try:
        wait_for(lambda: b"Status: 202" in publish(0, 5), timeout=30, what="pulse-batch to answer")
        workers = children_of(sup.pid)
        assert len(workers) == 1, workers
        os.kill(workers[0], signal.SIGSTOP)  # alive, but takes nothing
        answers = {}

        def send(n):
            try:
                answers[n] = publish(n)
            except OSError as e:
                answers[n] = repr(e).encode()

        threads = [threading.Thread(target=send, args=(n,)) for n in range(1, 9)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        assert answers == {}, answers  # handed over (or waiting to be), none answered
        os.kill(workers[0], signal.SIGKILL)
        for t in threads:
            t.join(40)
        assert sorted(answers) == list(range(1, 9)), answers
        for n, out in answers.items():
            assert b"Status: 202" in out, (n, out)
        assert not alive(workers[0])
        assert len(children_of(sup.pid)) == 1 and children_of(sup.pid) != workers  # its successor
        out = publish(9, 10)
        assert b"Status: 202" in out, out
        # each stored once
        con = sqlite3.connect(e["PULSE_DB"], timeout=10)
        try:
            ns = [r[0] for r in con.execute("SELECT json_extract(data, '$.n') FROM events "
                                            "WHERE topic = 'room:handed' ORDER BY id")]
        finally:
            con.close()
        assert sorted(ns) == list(range(10)), ns
    finally:
        sup.terminate()
        try:
            sup.wait(30)
        except subprocess.TimeoutExpired:
            sup.kill()
            sup.wait(10)
