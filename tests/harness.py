"""Test harness: real lighttpd, real redis-server, real FastCGI processes.

Every server listens on 127.0.0.1 on a port picked here, lives in its own
temporary directory, and is stopped by PID. No mocks: requests are real HTTP
over TCP, streams are read off the socket as a browser would.
"""
import contextlib
import glob
import grp
import hashlib
import hmac
import json
import os
import pwd
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PULSE_TEST_BIN", os.path.join(ROOT, "build", "bin"))
JWT_SECRET = "test-jwt-secret"
PAYOS_KEY = "test-payos-checksum-key"
WEBHOOK_SECRET = "test-webhook-secret"


# A one-minute tail poll: in tests that use it, only Redis (or local bells)
# can carry an event to another instance's stream responder quickly.
SLOW_POLL_ENV = {"PULSE_TAIL_POLL_MS": "60000"}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10.0, interval=0.02, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("timed out waiting for " + what)


_tokens = {}


def token(sub, role="viewer", name=None, ttl=3600):
    """A JWT made by pulse-token, the tool users run. One run per arguments
    and test when it lives an hour or more (each run of the sanitizer
    build's tool takes about 85 ms, and a test may ask for the same token a
    hundred times); a shorter one is made anew at every call."""
    key = (BIN, sub, role, name, ttl)
    if ttl >= 3600 and key in _tokens:
        return _tokens[key]
    out = subprocess.run([os.path.join(BIN, "pulse-token"), sub, role, name or sub, str(ttl)],
                         env={"PULSE_JWT_SECRET": JWT_SECRET}, capture_output=True, text=True, check=True)
    if ttl >= 3600:
        _tokens[key] = out.stdout.strip()
    return out.stdout.strip()


def payos_sign(data, key=PAYOS_KEY):
    """The reference PayOS signature, written independently of the C code."""
    def js(v):
        if v is None or v in ("null", "undefined"):
            return ""
        if v is True:
            return "true"
        if v is False:
            return "false"
        if isinstance(v, list):
            return json.dumps([dict(sorted(e.items())) if isinstance(e, dict) else e for e in v],
                              separators=(",", ":"), ensure_ascii=False)
        return str(v)
    text = "&".join("%s=%s" % (k, js(data[k])) for k in sorted(data))
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def payos_body(order_code, amount, code="00", reference="REF", key=PAYOS_KEY, **extra):
    data = {"orderCode": order_code, "amount": amount, "description": "topup", "accountNumber": "12345678",
            "reference": reference, "transactionDateTime": "2026-11-23 08:00:00", "currency": "VND",
            "paymentLinkId": "abc", "code": code, "desc": "Thành công"}
    data.update(extra)
    return {"code": "00", "desc": "success", "success": True, "data": data, "signature": payos_sign(data, key)}


class Response:
    def __init__(self, status, headers, body, header_list=None):
        self.status, self.headers, self.body = status, headers, body
        self.header_list = header_list or []  # [(lower-case name, value)] as sent, repeats kept

    def json(self):
        return json.loads(self.body)

    def header(self, name):
        return self.headers.get(name.lower())


def log_tails(folder, names):
    """The last 4,000 characters of each of the files names in folder that exist."""
    out = ""
    for name in names:
        try:
            with open(os.path.join(folder, name), errors="replace") as f:
                out += f.read()[-4000:]
        except OSError:
            pass
    return out


def http(port, method, path, body=None, headers=None, raw=None, timeout=10, source=None):
    """One HTTP/1.0 request; returns Response. body: dict (sent as JSON) or bytes.
    source: the client address to connect from (another 127.x.y.z), if not 127.0.0.1."""
    data = raw if raw is not None else (json.dumps(body).encode() if isinstance(body, (dict, list)) else
                                        (body.encode() if isinstance(body, str) else body))
    h = {"Host": "127.0.0.1"}
    if data is not None:
        h["Content-Type"] = "application/json"
        h["Content-Length"] = str(len(data))
    h.update(headers or {})
    req = "%s %s HTTP/1.0\r\n%s\r\n" % (method, path, "".join("%s: %s\r\n" % kv for kv in h.items()))
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    try:
        s.sendall(req.encode() + (data or b""))
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    finally:
        s.close()
    raw_resp = b"".join(chunks)
    head, _, payload = raw_resp.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    pairs = [(k.strip().lower(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:])]
    return Response(status, dict(pairs), payload.decode("utf-8", "replace"), pairs)


class SSE:
    """A streaming client read straight off the socket (HTTP/1.0, so no chunking)."""

    def __init__(self, port, path, headers=None, timeout=10, source=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        h = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.sock.sendall(("GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n"
                           % (path, h)).encode())
        self.buf = b""
        self.closed = False  # (before the head: _until reads it)
        head = self._until(b"\r\n\r\n", timeout)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.comments = []
        self.retry = None

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.time()))
        try:
            c = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not c:
            self.closed = True
            return False
        self.buf += c
        return True

    def _until(self, sep, timeout):
        deadline = time.time() + timeout
        while sep not in self.buf:
            if time.time() >= deadline or (not self._fill(deadline) and self.closed):
                raise AssertionError("stream ended or timed out before %r" % sep)
        part, _, self.buf = self.buf.partition(sep)
        return part

    def body_text(self, timeout=5):
        deadline = time.time() + timeout
        while not self.closed and time.time() < deadline:
            self._fill(deadline)
        return self.buf.decode()

    def next_event(self, timeout=10):
        """The next event as dict(id, event, data) - comments and retry are recorded."""
        deadline = time.time() + timeout
        while True:
            block = self._until(b"\n\n", max(0.01, deadline - time.time())).decode()
            ev = {"data": []}
            for line in block.split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "data":
                    ev["data"].append(value)
                elif field == "retry":
                    self.retry = int(value)
                elif field:
                    ev[field] = value
            if "event" in ev or ev["data"]:
                ev["data"] = "\n".join(ev["data"])
                ev["json"] = json.loads(ev["data"]) if ev["data"] else None
                return ev

    def events(self, n, timeout=10):
        deadline = time.time() + timeout
        return [self.next_event(max(0.01, deadline - time.time())) for _ in range(n)]

    def no_event(self, wait=0.5):
        """True if nothing but comments arrives within wait seconds."""
        try:
            ev = self.next_event(wait)
        except AssertionError:
            return True
        raise AssertionError("unexpected event %r" % ev)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Proc:
    """A child process we started and stop by PID."""

    def __init__(self, argv, env, log):
        self.log = open(log, "ab")
        self.p = subprocess.Popen(argv, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.p.poll() is None:
            self.p.send_signal(sig)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def children_of(pid):
    """PIDs of the processes whose parent is pid (from /proc)."""
    out = []
    for st in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(st) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(st.split("/")[2]))
        except (OSError, IndexError, ValueError):
            pass
    return out


def descendants(pid):
    """Every process below pid (from /proc)."""
    out, todo = [], [pid]
    while todo:
        kids = children_of(todo.pop())
        out += kids
        todo += kids
    return out


def descendants_named(pid, name):
    """The processes below pid whose command line holds name (bytes)."""
    out = []
    for p in descendants(pid):
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                if name in f.read():
                    out.append(p)
        except OSError:
            pass
    return out


def alive(pid):
    """Whether pid still runs or holds its files. A zombie whose other
    threads are still exiting counts as alive: the leader shows Z at once
    while a thread (pulse-batch's checkpointer) may still hold the process's
    sockets open, and a request sent then reached a process already dying
    (nginx reused a kept-alive connection; ECONNRESET, 503)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open("/proc/%d/stat" % pid) as f:
            if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                return True
        return len(os.listdir("/proc/%d/task" % pid)) > 1
    except OSError:
        return False


class Redis:
    def __init__(self, tmp):
        self.dir = tempfile.mkdtemp(prefix="redis-", dir=tmp)
        self.port = free_port()
        self.proc = None
        self.start()

    def start(self):
        self.proc = Proc(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                          "--appendonly", "no", "--dir", self.dir], os.environ.copy(),
                         os.path.join(self.dir, "redis.log"))
        wait_for(self.ping, what="redis-server")

    def ping(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=1)
            s.sendall(b"PING\r\n")
            ok = s.recv(16).startswith(b"+PONG")
            s.close()
            return ok
        except OSError:
            return False

    def stop(self):
        self.proc.stop()

    def kill(self):
        self.proc.stop(signal.SIGKILL)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port


NGINX_MODULES = os.environ.get("NGINX_MODULES", "/usr/lib/nginx/modules")


def rtmp_conf(pulse_url, host, port, data, modules=NGINX_MODULES):
    """nginx-rtmp.conf with its placeholders filled in, as `make run-rtmp` does."""
    with open(os.path.join(ROOT, "nginx-rtmp.conf")) as f:
        text = f.read()
    for k, v in (("@PULSE_URL@", pulse_url), ("@RTMP_HOST@", host), ("@RTMP_PORT@", str(port)),
                 ("@PULSE_DATA@", data), ("@NGINX_MODULES@", modules),
                 ("@NGINX_USER@", pwd.getpwuid(os.getuid()).pw_name)):
        text = text.replace(k, v)
    return text


class Rtmp:
    """A real nginx with the rtmp module, configured by nginx-rtmp.conf to call
    back the Pulse instance inst; and the ffmpeg publishers pushed to it. Like
    `make run-rtmp` beside `make run`, it shares the instance's data directory:
    the HLS files it writes there (hls/) are what the instance's web server
    serves as /hls/."""

    def __init__(self, tmp, inst):
        self.dir = inst.data
        self.hls = os.path.join(self.dir, "hls")
        self.port = free_port()
        self.conf = os.path.join(self.dir, "nginx-rtmp.conf")
        with open(self.conf, "w") as f:
            f.write(rtmp_conf("http://127.0.0.1:%d" % inst.port, "127.0.0.1", self.port, self.dir))
        self.publishers = []
        self.proc = Proc(["nginx", "-p", self.dir + "/", "-e", "stderr", "-c", self.conf], os.environ.copy(),
                         os.path.join(self.dir, "nginx-rtmp.out"))
        wait_for(self._up, what="nginx-rtmp on port %d" % self.port)

    def _up(self):
        if self.proc.p.poll() is not None:
            raise AssertionError("nginx exited: " + self.log())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def log(self):
        return log_tails(self.dir, ("nginx-rtmp.out", "nginx-rtmp-error.log"))

    def url(self, name):
        return "rtmp://127.0.0.1:%d/live/%s" % (self.port, name)

    def publish(self, name, seconds=30):
        """ffmpeg pushing a test pattern (video + tone) to live/<name>, for at
        most `seconds`; a Proc (stop it with SIGINT for a clean unpublish).
        A keyframe a second: HLS fragments of 1 s (nginx-rtmp.conf)."""
        log = os.path.join(self.dir, "ffmpeg-%d.log" % len(self.publishers))
        p = Proc(["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "warning", "-re",
                  "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine",
                  "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-c:a", "aac",
                  "-t", str(seconds), "-f", "flv", self.url(name)], os.environ.copy(), log)
        self.publishers.append(p)
        return p

    def stop(self):
        for p in self.publishers:
            p.stop(signal.SIGINT)
        kids = children_of(self.proc.p.pid)
        self.proc.stop()
        for pid in kids:
            wait_for(lambda: not alive(pid), timeout=10, what="nginx worker %d to exit" % pid)


APACHE_MODULES_DIR = os.environ.get("APACHE_MODULES", "/usr/lib/apache2/modules")
# The unprivileged account Apache's workers (and what mod_fcgid and mod_cgid
# start) run as; the suite creates it (ensure_user).
APACHE_USER = "pulsehost"
# What the generated server loads by default (Debian's apache2 has
# log_config, unixd and so built in): enough for static files, .htaccess
# (rewrite, env, setenvif, headers, mime, dir, alias), CGI (cgid), FastCGI
# spawned by Apache (fcgid) or by us (proxy_fcgi).
APACHE_MODULES = ("mpm_event", "authz_core", "authz_host", "mime", "dir", "alias", "rewrite", "env", "setenvif",
                  "headers", "cgid", "fcgid", "proxy", "proxy_fcgi")


def ensure_user(name):
    """The system account name (created when missing: no home, no shell) as
    a pwd entry. Creating accounts and starting Apache need root: anything
    else is a failure, never a skip."""
    if os.geteuid() != 0:
        raise AssertionError("the Apache tests must run as root (they create the account %s and start Apache, "
                             "which drops to it); run tests/run.py as root" % name)
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    out = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                         capture_output=True, text=True)
    try:
        return pwd.getpwnam(name)  # (a test running beside this one may have created it first)
    except KeyError:
        raise AssertionError("useradd %s failed: %s" % (name, out.stderr.strip()))


def session_procs(sid, uid=None):
    """PIDs of the live processes in session sid (of user uid, when given)."""
    out = []
    for st in glob.glob("/proc/[0-9]*/stat"):
        pid = int(st.split("/")[2])
        try:
            with open(st) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != sid or fields[0] == "Z":
                continue
            if uid is not None and os.stat("/proc/%d" % pid).st_uid != uid:
                continue
            out.append(pid)
        except (OSError, IndexError, ValueError):
            pass
    return out


def leftovers(proc, kids, uid, grace=10):
    """Stops proc (a Proc leading its own session) and waits for kids (its
    descendants, taken before) and every process of uid in its session to
    be gone. A process that is still there after grace seconds fails the
    test (and is then killed, by PID, so that it does not outlive the test).
    (A process that also left the session with setsid escapes this.)"""
    sid = proc.p.pid  # start_new_session: the leader's PID is the session's
    proc.stop()
    left = []
    deadline = time.time() + grace
    while time.time() < deadline:
        left = [p for p in set(kids) | set(session_procs(sid, uid)) if alive(p)]
        if not left:
            return
        time.sleep(0.05)
    what = []
    for p in left:
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                what.append("%d %s" % (p, f.read().replace(b"\0", b" ").decode(errors="replace")))
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    raise AssertionError("processes left behind after stopping %s: %s" % (proc.p.args[0], "; ".join(what)))


def open_path(top, path):
    """Lets every user traverse (not list) the directories from top down to
    path, all the suite's own, so that Apache's workers can reach path."""
    d = os.path.abspath(path)
    top = os.path.abspath(top)
    while True:
        os.chmod(d, os.stat(d).st_mode | 0o111)
        if d == top or d == "/":
            return
        d = os.path.dirname(d)


class Apache:
    """A real Apache 2.4 (Debian's apache2, mpm_event) from a configuration
    generated into its own directory under tmp: nothing of /etc/apache2 is
    read. Listens on 127.0.0.1 on a free port; pid file, logs, mod_fcgid's
    IPC directory and mod_cgid's socket stay in that directory. Its workers
    run as `user` (created when missing). The document root has
    AllowOverride All; `conf` is appended to the generated configuration
    (server context), `modules` are loaded from APACHE_MODULES_DIR. mod_fcgid
    keeps Debian's defaults (64 KiB output buffer, FcgidConnectTimeout 20,
    .fcgi as fcgid-script) unless conf says otherwise.
    stop() fails if any process Apache started outlives it."""

    def __init__(self, tmp, docroot=None, conf="", user=APACHE_USER, modules=APACHE_MODULES, env=None,
                 name="apache"):
        self.pw = ensure_user(user)
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=tmp)
        self.docroot = docroot or os.path.join(self.dir, "htdocs")
        os.makedirs(self.docroot, exist_ok=True)
        open_path(tmp, self.docroot)
        self.port = free_port()
        # mod_cgid's socket and mod_fcgid's directory are reached by the
        # workers (Debian keeps them in /run/apache2, 0755)
        run = os.path.join(self.dir, "run")
        os.mkdir(run)
        open_path(tmp, run)
        self.conf_path = os.path.join(self.dir, "httpd.conf")
        with open(self.conf_path, "w") as f:
            f.write(self._config(user, modules, run) + "\n# --- the test's own ---\n" + conf + "\n")
        if "fcgid" in modules:
            # mod_fcgid's process manager runs as the user and keeps its
            # sockets here
            fcgid = os.path.join(run, "fcgid")
            os.mkdir(fcgid, 0o700)
            os.chown(fcgid, self.pw.pw_uid, self.pw.pw_gid)
        e = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "REDIS_"))}
        e.update(env or {})
        self.proc = Proc(["apache2", "-d", self.dir, "-f", self.conf_path, "-DFOREGROUND"], e,
                         os.path.join(self.dir, "apache.out"))
        try:
            wait_for(self._up, what="Apache on port %d" % self.port)
        except BaseException:
            self.stop()
            raise

    def _config(self, user, modules, run):
        d = self.dir
        group = grp.getgrgid(self.pw.pw_gid).gr_name
        lines = ["ServerRoot %s" % d, "DefaultRuntimeDir %s" % run, "PidFile %s/httpd.pid" % run,
                 "ErrorLog %s/error.log" % d, "LogLevel warn",
                 'LogFormat "%h \\"%r\\" %>s %b %D" pulse', "CustomLog %s/access.log pulse" % d,
                 "Listen 127.0.0.1:%d" % self.port, "ServerName 127.0.0.1", "User %s" % user, "Group %s" % group]
        for m in modules:
            lines.append("LoadModule %s_module %s/mod_%s.so" % (m, APACHE_MODULES_DIR, m))
        # Debian's mpm_event.conf and apache2.conf, as shipped
        lines += ["StartServers 2", "MinSpareThreads 25", "MaxSpareThreads 75", "ThreadLimit 64",
                  "ThreadsPerChild 25", "MaxRequestWorkers 150", "MaxConnectionsPerChild 0",
                  "Timeout 300", "KeepAlive On", "MaxKeepAliveRequests 100", "KeepAliveTimeout 5",
                  "AccessFileName .htaccess",
                  "<Directory />", "    Options FollowSymLinks", "    AllowOverride None",
                  "    Require all denied", "</Directory>",
                  '<FilesMatch "^\\.ht">', "    Require all denied", "</FilesMatch>",
                  "DocumentRoot %s" % self.docroot,
                  "<Directory %s>" % self.docroot, "    Options Indexes FollowSymLinks", "    AllowOverride All",
                  "    Require all granted", "</Directory>"]
        if "mime" in modules:
            lines.append("TypesConfig /etc/mime.types")
        if "dir" in modules:
            lines.append("DirectoryIndex index.html index.cgi index.pl index.php index.xhtml index.htm")
        if "fcgid" in modules:  # Debian's fcgid.conf, with the IPC files here
            lines += ["FcgidIPCDir %s/fcgid" % run, "FcgidProcessTableFile %s/fcgid/shm" % run,
                      "FcgidConnectTimeout 20", "AddHandler fcgid-script .fcgi"]
        if "cgid" in modules:
            lines.append("ScriptSock %s/cgisock" % run)
        return "\n".join(lines) + "\n"

    def _up(self):
        if self.proc.p.poll() is not None:
            raise AssertionError("apache2 exited: " + self.log())
        try:
            http(self.port, "GET", "/", timeout=2)
            return True
        except (OSError, IndexError):
            return False

    def log(self):
        """The tail of Apache's error log and output."""
        return log_tails(self.dir, ("apache.out", "error.log"))

    def get(self, path, **kw):
        return http(self.port, "GET", path, **kw)

    def post(self, path, body=None, **kw):
        return http(self.port, "POST", path, body, **kw)

    def sse(self, path, **kw):
        return SSE(self.port, path, **kw)

    def pids(self):
        """Apache's processes and everything they started."""
        return [self.proc.p.pid] + descendants(self.proc.p.pid)

    def stop(self, grace=10):
        if self.proc.log.closed:
            return
        leftovers(self.proc, descendants(self.proc.p.pid), self.pw.pw_uid, grace)


def prefixed_configs(data, prefix, script_name=None, root_api=False):
    """The shipped lighttpd.conf and nginx.conf moved under a sub-folder
    (prefix, e.g. "/pulse"): the pages of www/ at prefix/, the API's
    locations at prefix/api/... reaching the FastCGI processes with
    REQUEST_URI as received, nothing at the site's root. Written into data;
    returns (the lighttpd.conf path, a PULSE_ROOT for run-nginx.sh).
    script_name: nginx passes it as SCRIPT_NAME to every FastCGI process, as
    Apache does for a RewriteRule to pulse.fcgi in the install's folder.
    root_api: nginx also passes /api/... (outside the prefix) to the processes,
    to see them refuse it."""
    docroot = os.path.join(data, "docroot")
    os.makedirs(os.path.dirname(docroot + prefix), exist_ok=True)
    os.symlink(os.path.join(ROOT, "www"), docroot + prefix)
    with open(os.path.join(ROOT, "lighttpd.conf")) as f:
        text = f.read()
    for old, new in (('server.document-root = var.pulse_root + "/www"', 'server.document-root = "%s"' % docroot),
                     ('"^/api/', '"^%s/api/' % prefix), ('"/api/" =>', '"%s/api/" =>' % prefix),
                     ('"^/hls/', '"^%s/hls/' % prefix), ('"/hls/" =>', '"%s/hls/" =>' % prefix)):
        assert old in text, old
        text = text.replace(old, new)
    lighttpd = os.path.join(data, "lighttpd-prefix.conf")
    with open(lighttpd, "w") as f:
        f.write(text)
    # run-nginx.sh reads PULSE_ROOT/nginx.conf and serves PULSE_ROOT/www
    root = os.path.join(data, "nginx-root")
    os.makedirs(root)
    os.symlink(docroot, os.path.join(root, "www"))
    with open(os.path.join(ROOT, "nginx.conf")) as f:
        text = f.read()
    api = "(?:%s)?" % prefix if root_api else prefix
    for old, new in (("location / {", "location %s/ {" % prefix), ("location ~ ^/api/(", "location ~ ^%s/api/(" % api),
                     ("location /api/ {", "location ~ ^%s/api/ {" % api)):
        assert old in text, old
        text = text.replace(old, new)
    if script_name:
        old = "fastcgi_param REQUEST_URI $request_uri;"
        assert text.count(old) == 2, old  # the server's list and the streams' own
        text = text.replace(old, old + " fastcgi_param SCRIPT_NAME %s;" % script_name)
    with open(os.path.join(root, "nginx.conf"), "w") as f:
        f.write(text)
    return lighttpd, root


class Instance:
    """One Pulse instance: a real web server (lighttpd spawning pulse-api and
    pulse-stream, or nginx or Apache with them started by
    tools/run-nginx.sh or tools/run-apache.sh).
    prefix ("/pulse"): installed in that sub-folder of the site (the pages
    at /pulse/, the API at /pulse/api/; prefixed_configs). script_name: nginx
    sends it as SCRIPT_NAME (as Apache's mod_rewrite to a script does)."""

    # The lighttpd configuration started (bench/run.py starts a copy with
    # higher limits; nginx's is found through PULSE_ROOT, which env may set).
    lighttpd_conf = os.path.join(ROOT, "lighttpd.conf")

    def __init__(self, tmp, name="a", db=None, redis=None, env=None, workers=2, web=None, prefix="",
                 script_name=None, root_api=False):
        self.web = web or os.environ.get("PULSE_TEST_WEB", "lighttpd")
        self.data = tempfile.mkdtemp(prefix="pulse-%s-" % name, dir=tmp)
        self.port = free_port()
        self.prefix = prefix
        self.db = db or os.path.join(self.data, "pulse.db")
        e = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "REDIS_"))}
        e.update({"PORT": str(self.port), "PULSE_HOST": "127.0.0.1", "PULSE_DATA": self.data,
                  "PULSE_ROOT": ROOT, "PULSE_BIN": BIN, "PULSE_WORKERS": str(workers), "PULSE_DB": self.db,
                  "PULSE_JWT_SECRET": JWT_SECRET, "PAYOS_CHECKSUM_KEY": PAYOS_KEY,
                  "PULSE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                  "ASAN_OPTIONS": "log_path=%s/asan:detect_leaks=1:abort_on_error=0" % self.data,
                  "UBSAN_OPTIONS": "log_path=%s/ubsan:print_stacktrace=1:halt_on_error=1" % self.data})
        # Every client of the suite comes from 127.0.0.1 (test_faults_scale
        # holds 1,000 streams): no per-client connection limit in the web
        # server unless a test sets one.
        e["PULSE_MAX_PER_CLIENT"] = "0"
        if redis is not None:
            e["REDIS_URL"] = redis.url
        self.apache_user = None
        if self.web == "apache":
            # tools/run-apache.sh runs Apache's workers as this account and
            # hands it the sockets; they must reach them through tmp
            self.apache_user = ensure_user(APACHE_USER)
            e["APACHE_USER"] = APACHE_USER
            open_path(tmp, tmp)
        if prefix:
            self.lighttpd_conf, nginx_root = prefixed_configs(self.data, prefix, script_name, root_api)
            if self.web == "nginx":
                e["PULSE_ROOT"] = nginx_root
        e.update(env or {})
        for k in [k for k, v in e.items() if v is None]:  # env={"X": None}: X unset
            del e[k]
        self.env = e
        self.start()

    def start(self):
        """Starts the web server (which starts the FastCGI processes) on this
        instance's port and data directory; waits until both answer."""
        if self.web in ("nginx", "apache"):
            argv = ["sh", os.path.join(ROOT, "tools", "run-%s.sh" % self.web)]
        else:
            argv = ["lighttpd", "-D", "-f", self.lighttpd_conf]
        self.proc = Proc(argv, self.env, os.path.join(self.data, self.web + ".out"))
        try:
            wait_for(self._up, what="%s on port %d" % (self.web, self.port))
            # The stream responder is spawned too; wait until it answers.
            wait_for(lambda: self._stream_up(), what="stream responder")
            # and pulse-batch, whose supervisor forks it (tests look for its PID)
            wait_for(lambda: self.pids(b"pulse-batch"), what="pulse-batch")
        except BaseException:
            # Nobody holds this instance yet: stop what it started (by PID),
            # or run-nginx.sh would keep restarting its children forever.
            self.stop()
            raise

    def _up(self):
        try:
            return http(self.port, "GET", self.prefix + "/api/health", timeout=2).status == 200
        except OSError:
            return False

    def _stream_up(self):
        try:
            return http(self.port, "GET", self.prefix + "/api/events/stream?topic=x%20y", timeout=2).status == 400
        except (OSError, IndexError):
            return False

    def url(self, path):
        """path as this instance serves it: an API path ("/api/...") under its
        prefix, when it has one (the helpers below and topup(), publish()... then
        work as they are); anything else as given."""
        return self.prefix + path if path.startswith("/api/") else path

    def get(self, path, **kw):
        return http(self.port, "GET", self.url(path), **kw)

    def post(self, path, body=None, **kw):
        return http(self.port, "POST", self.url(path), body, **kw)

    def sse(self, path, **kw):
        return SSE(self.port, self.url(path), **kw)

    def auth(self, sub, role="viewer"):
        return {"Authorization": "Bearer " + token(sub, role)}

    def sql(self, query, args=()):
        con = sqlite3.connect(self.db, timeout=10)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()

    def snapshot(self):
        """Every row of every table: to prove a bad request changed nothing."""
        con = sqlite3.connect(self.db, timeout=10)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
            return {t: con.execute("SELECT * FROM %s" % t).fetchall() for t in tables}
        finally:
            con.close()

    def pids(self, name):
        """PIDs of this instance's processes whose command line holds name (bytes)."""
        return descendants_named(self.proc.p.pid, name)

    def stream_pid(self):
        found = self.pids(b"pulse-stream")
        return found[0] if found else None

    def log_text(self):
        """What the web server and the processes it started wrote (their output file)."""
        with open(os.path.join(self.data, self.web + ".out"), errors="replace") as f:
            return f.read()

    def sanitizer_reports(self):
        """ASan/UBSan logs, and valgrind logs that hold any report (make check-valgrind)."""
        out = []
        for f in glob.glob(os.path.join(self.data, "asan*")) + glob.glob(os.path.join(self.data, "ubsan*")) + \
                glob.glob(os.path.join(self.data, "valgrind.*.log")):
            with open(f, errors="replace") as fh:
                text = fh.read()
            if text.strip():
                out.append(f + ":\n" + text[:4000])
        return out

    def stop(self):
        kids = descendants(self.proc.p.pid)
        if self.apache_user is not None:
            leftovers(self.proc, kids, self.apache_user.pw_uid)
            return
        self.proc.stop()
        for pid in kids:
            wait_for(lambda: not alive(pid), timeout=10, what="FastCGI child %d to exit" % pid)

    def restart(self):
        """The web server and its processes stopped and started again on the
        same port, data directory and database (a deploy, a crash and restart)."""
        self.stop()
        self.start()


class Resumer:
    """A client that behaves like EventSource: when its stream drops it
    reconnects with Last-Event-ID (to self.inst, which a test may point at
    another instance) and carries on. Records every event id and resets."""

    def __init__(self, inst, path, last_id=0):
        self.inst, self.path, self.ids, self.reconnects = inst, path, [], 0
        self.last_id, self.resets = last_id, []
        self.sse = None
        self.connect()

    def connect(self):
        headers = {"Last-Event-ID": str(self.last_id)}
        try:
            s = SSE(self.inst.port, self.path, headers=headers, timeout=5)
        except (OSError, AssertionError, IndexError, ValueError):
            self.sse = None
            return
        self.sse = s if s.status == 200 else None

    def pump(self):
        """Reads what arrived; reconnects when the stream is gone."""
        if self.sse is None:
            self.reconnects += 1
            self.connect()
            return
        try:
            while True:
                ev = self.sse.next_event(0.01)
                if "id" in ev:
                    self.last_id = int(ev["id"])
                if ev.get("event") == "note":
                    self.ids.append(int(ev["id"]))
                elif ev.get("event") == "reset":
                    self.resets.append(ev["json"])
        except AssertionError:
            pass
        except OSError:
            self.sse.closed = True
        if self.sse.closed:
            self.sse.close()
            self.sse = None


def run_clients(clients, done, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline and not done():
        for c in clients:
            c.pump()


def topup(inst, user="u1", amount=5000):
    r = inst.post("/api/topup/init", {"amount": amount, "description": "nap tien"}, headers=inst.auth(user))
    assert r.status == 201, (r.status, r.body)
    return r.json()


def publish(inst, topic, n, start=0):
    """Publishes n admin events {"n": start..} to topic; returns their ids."""
    adm = inst.auth("root", "admin")
    ids = []
    for i in range(n):
        r = inst.post("/api/publish", {"topic": topic, "type": "note", "data": {"n": start + i}}, headers=adm)
        assert r.status == 202, r.body
        ids.append(r.json()["id"])
    return ids


def q(s):
    return urllib.parse.quote(s, safe="")


def backup_db(inst, dest):
    """A consistent copy of inst's live database (SQLite's online backup)."""
    src, out = sqlite3.connect(inst.db, timeout=10), sqlite3.connect(dest)
    try:
        src.backup(out)
    finally:
        out.close()
        src.close()


def put_back_db(inst, backup):
    """A copy of backup put back at inst's database path while it runs, as
    README says: the old file's -wal and -shm removed first (they are the
    deleted file's), then the file moved into place."""
    import shutil
    for ext in ("-wal", "-shm"):
        if os.path.exists(inst.db + ext):
            os.unlink(inst.db + ext)
    shutil.copy(backup, inst.db + ".tmp")
    os.rename(inst.db + ".tmp", inst.db)


def edge_pair(env, primary_keep, edge_keep):
    """A primary and an edge sharing a new redis-server, each keeping that many
    events per topic (PULSE_RETENTION); only Redis carries events between them."""
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=dict(SLOW_POLL_ENV, PULSE_RETENTION=primary_keep))
    b = env.instance(name="edge", redis=redis, env=dict(SLOW_POLL_ENV, PULSE_ROLE="edge", PULSE_RETENTION=edge_keep))
    return a, b


def edge_has(b, topic, last):
    """Waits until the edge b holds event `last` of topic."""
    wait_for(lambda: b.get("/api/events?topic=%s&since=%d" % (topic, last - 1)).json()["events"], timeout=15,
             what="the edge to copy event %d" % last)


def at_once(fn, args_list):
    """fn(*args) for each args of args_list, each in a thread of its own, all
    started before any is waited for; returns when every one has returned."""
    ts = [threading.Thread(target=fn, args=args) for args in args_list]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


@contextlib.contextmanager
def stopped(pid):
    """The process pid stopped (SIGSTOP) for the with block, continued after
    it whatever happens in it."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def edge_with(env, primary_keep, edge_keep, topic):
    """edge_pair, and one event of topic published on the primary and
    copied by the edge: (primary, edge, [its id])."""
    a, b = edge_pair(env, primary_keep, edge_keep)
    ids = publish(a, topic, 1)
    edge_has(b, topic, ids[0])
    return a, b, ids


def resumed_with_backup(env, topic, n, workers):
    """An instance with n events on topic, a consistent copy of its database
    (backup_db) and a stream of topic resumed after the last of them:
    (instance, the ids, the copy's path, the open stream)."""
    a = env.instance(workers=workers)
    ids = publish(a, topic, n)
    backup = os.path.join(env.tmp, "backup.db")
    backup_db(a, backup)
    s = a.sse("/api/events/stream?topic=" + topic, headers={"Last-Event-ID": str(ids[-1])})
    assert s.status == 200, s.status
    return a, ids, backup, s


def answers_health(port):
    """True once GET /api/health on port answers 200."""
    try:
        return http(port, "GET", "/api/health", timeout=2).status == 200
    except OSError:
        return False


@contextlib.contextmanager
def session(argv, cwd, env, log_path):
    """argv (`make run`, a server) started in a session of its own, output to
    log_path; whatever of it still runs after the with block is killed, its
    whole process group."""
    log = open(log_path, "wb")
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield p
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        log.close()


def stops_with(p, procs, stop):
    """stop(p) ends p and every process of procs (they were under it)."""
    stop(p)
    p.wait(20)
    for x in procs:
        wait_for(lambda: not alive(x), timeout=15, what="process %d to exit after make got SIGTERM" % x)
