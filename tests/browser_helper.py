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

from harness import ROOT, alive, descendants

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
