"""What the browser tests share: Debian's headless Chromium driven by
playwright-core from a script in tests/browser/, against a real instance.

Needs node, npm and /usr/bin/chromium (`make test-deps` installs them); the
first run does `npm ci` in tests/browser. A script prints one JSON line per
observation and reads commands on stdin, so the page stays open, untouched,
while the test changes things through the API. Imported by the browser tests
(tests/integration/test_browser*.py, test_positions.py), never by one another.
"""
import fcntl
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from harness import ROOT, alive, descendants, payos_body, topup

BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
CHROMIUM = "/usr/bin/chromium"
_npm_lock = threading.Lock()


def ensure_node_modules():
    for tool in ("node", "npm"):
        assert shutil.which(tool), "%s is not on PATH: run `make test-deps` (tools/deps.sh test)" % tool
    assert os.access(CHROMIUM, os.X_OK), "%s is missing: run `make test-deps` (tools/deps.sh test)" % CHROMIUM
    with _npm_lock, open(os.path.join(tempfile.gettempdir(), "pulse-browser-npm.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)      # another test run may be installing too
        if installed_versions() == locked_versions():
            return
        # playwright-core downloads no browser; the lock file pins the exact versions.
        out = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, "npm ci failed:\n" + out.stdout[-2000:] + out.stderr[-2000:]
        assert installed_versions() == locked_versions(), "npm ci did not install " + str(locked_versions())


def locked_versions():
    """{package: version} of every package the lock file pins."""
    with open(os.path.join(BROWSER_DIR, "package-lock.json")) as f:
        pkgs = json.load(f)["packages"]
    return {k[len("node_modules/"):]: v["version"] for k, v in pkgs.items() if k.startswith("node_modules/")}


def installed_versions():
    out = {}
    for name in locked_versions():
        try:
            with open(os.path.join(BROWSER_DIR, "node_modules", name, "package.json")) as f:
                out[name] = json.load(f)["version"]
        except (OSError, ValueError, KeyError):
            out[name] = None
    return out


class Browser:
    """One run of a tests/browser script (a subclass names it in `script`);
    lines come off its stdout as JSON objects."""

    script = None

    def __init__(self, tmp, **cfg):
        assert self.script, "a Browser subclass names its tests/browser script"
        ensure_node_modules()
        self.profile = os.path.join(tmp, "chromium-profile-%d" % id(self))
        os.makedirs(self.profile)
        cfg["user_data_dir"] = self.profile
        self.log = open(os.path.join(tmp, "browser-%d.log" % id(self)), "w")
        self.p = subprocess.Popen(["node", self.script, json.dumps(cfg)], cwd=BROWSER_DIR, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True)
        self.q = queue.Queue()
        self.console = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.log.write("stdout: " + line)
            self.log.flush()
            try:
                self.q.put(json.loads(line))
            except ValueError:
                self.q.put({"step": "garbage", "line": line})
        self.q.put(None)

    def expect(self, step, timeout):
        """The next line with this step; fails on any other outcome."""
        deadline = time.time() + timeout
        while True:
            try:
                msg = self.q.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                raise AssertionError("browser: no %r line within %ss" % (step, timeout))
            if msg is None:
                raise AssertionError("browser exited (rc=%s) before %r; see %s" % (self.p.wait(), step, self.log.name))
            if msg["step"] == "console":
                self.console.append(msg)
                continue
            assert msg["step"] == step, "browser: expected %r, got %r" % (step, msg)
            return msg

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def end_with_screenshot(self, path):
        """Ends the script's commands: it saves the page to path (its cfg's
        screenshot) and stops; the picture must hold something."""
        self.send("end")
        self.expect("done", 20)
        assert os.path.getsize(path) > 1000, path

    def close(self):
        """Ends node and every Chromium process it started, by PID."""
        pids = descendants(self.p.pid) if self.p.poll() is None else []
        # A Chromium orphaned by a crashed node is found by its (unique) profile dir.
        for st in os.listdir("/proc"):
            if st.isdigit():
                try:
                    with open("/proc/%s/cmdline" % st, "rb") as f:
                        if self.profile.encode() in f.read():
                            pids += [int(st)] + descendants(int(st))
                except OSError:
                    pass
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(15)           # normally it has closed the browser and exited already
        except subprocess.TimeoutExpired:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        for pid in set(pids):
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self.log.close()


class TopupBrowser(Browser):
    """tests/browser/topup_page.js: the top-up page (test_browser.py, test_browser_gaps.py)."""

    script = os.path.join(BROWSER_DIR, "topup_page.js")


class TopupPayBrowser(Browser):
    """tests/browser/topup_pay.js: the top-up page's QR and pay button (test_browser_pay.py)."""

    script = os.path.join(BROWSER_DIR, "topup_pay.js")


def ensure_qr_library():
    """www/vendor/qrcode.js, as `make test` (and `make run`) get it: `make qr`."""
    with _npm_lock, open(os.path.join(tempfile.gettempdir(), "pulse-qr-make.lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        out = subprocess.run(["make", "--no-print-directory", "qr"], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, "make qr failed:\n" + out.stdout[-2000:] + out.stderr[-2000:]


# Anything that could turn server or user text into markup, or code.
HTML_SINKS = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function")


def assert_never_parses_html(*names):
    """Only textContent and DOM nodes may carry server or user text into these www/ scripts."""
    for name in names:
        with open(os.path.join(ROOT, "www", name)) as f:
            assert not HTML_SINKS.search(f.read()), name


def vnd(n):
    return "{:,}".format(n)


def pay_while_watching(env, inst, conn, amount, screenshot=None):
    """Opens the page for a fresh top-up, waits for `conn` + PENDING, pays, waits for PAID."""
    tx = topup(inst, "alice", amount)
    url = "http://127.0.0.1:%d%s/topup.html?tx_ref=%s&token=%s" % (inst.port, inst.prefix, tx["tx_ref"],
                                                                   tx["stream_token"])
    b = TopupBrowser(env.tmp, mode="topup", url=url, conn=conn, amount_text=vnd(amount), paid_timeout_ms=10000,
                     screenshot=screenshot)
    try:
        ready = b.expect("ready", 45)
        st = ready["state"]
        assert st["tx_ref"] == tx["tx_ref"] and st["order_code"] == str(tx["order_code"]), st
        assert st["paid_at"] == "—" and st["error"] is None, st
        t0 = time.time()
        r = inst.post("/api/payos/webhook", payos_body(tx["order_code"], amount))
        assert r.status == 200 and r.json()["status"] == "PAID", r.body
        b.send("paid")
        paid = b.expect("paid", 20)
        took = time.time() - t0
        st = paid["state"]
        assert st["status"] == "PAID" and st["status_class"] == "badge badge-paid", st
        assert st["amount"] == vnd(amount) and st["paid_at"] not in ("", "—"), st
        assert st["conn"] == conn, st
        # no reload, no navigation: the same document saw PENDING turn into PAID
        assert st["marker"] == "same-page" and paid["navigations"] == 1, paid
        seen = [s["status"] for s in st["seen"]]
        assert "PENDING" in seen and seen[-1] == "PAID" and seen.index("PENDING") < len(seen) - 1, st["seen"]
        assert paid["page_errors"] == [], paid["page_errors"]
        assert took < 10, took
        server = inst.get("/api/topup/status?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"])).json()
        assert st["paid_at"] == server["paid_at"], (st, server)
        b.expect("done", 20)
        return st
    finally:
        b.close()
