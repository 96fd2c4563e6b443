"""The shared-hosting install (README "Shared hosting"): build/pulse-dist.tar.gz
unpacked under a document root by the hosting account itself, configured by
its pulse.conf, served by a stock Apache 2.4 (mpm_event, mod_fcgid with its
64 KiB output buffer, mod_cgid, mod_rewrite) whose only Pulse configuration
is the package's .htaccess (AllowOverride All), its workers and every program
they start running as that account. Under the sub-folder /pulse/."""
import json
import os
import shutil
import signal
import sqlite3
import ssl
import subprocess
import time
import urllib.parse

from browser_helper import pay_while_watching
from payos_standin import PayosStandin
from harness import (APACHE_MODULES, APACHE_USER, JWT_SECRET, PAYOS_KEY, ROOT, WEBHOOK_SECRET, alive, descendants_named, ensure_user, http,
                     open_path, payos_body, publish, q, token, wait_for)

WEB_INDEPENDENT = True  # these tests start their own Apache, whatever --web says

TGZ = os.path.join(ROOT, "build", "pulse-dist.tar.gz")


def _as_account(cmd, cwd):
    """cmd (a shell line) run as the hosting account, as it would over SSH or
    a host's file manager: no root anywhere."""
    out = subprocess.run(["runuser", "-u", APACHE_USER, "--", "sh", "-ec", cmd], cwd=cwd, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, (cmd, out.stdout, out.stderr)
    return out.stdout


class Site:
    """The install under an Apache of the harness: get/post/sse take paths
    below /pulse, as Instance's do below the site root."""

    def __init__(self, env, settings=None, folder="pulse", **apache_kw):
        assert os.path.exists(TGZ), "build/pulse-dist.tar.gz is missing: make dist (make test builds it)"
        pw = ensure_user(APACHE_USER)
        home = os.path.join(env.tmp, "home")
        self.docroot = os.path.join(home, "public_html")
        os.makedirs(self.docroot)
        for d in (home, self.docroot):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        open_path(env.tmp, home)
        pkg = os.path.join(home, "pulse-dist.tar.gz")  # uploaded
        subprocess.run(["install", "-m", "644", "-o", str(pw.pw_uid), TGZ, pkg], check=True)
        # README "Shared hosting", steps 2 and 3, as the account: unpack,
        # copy the example, set the secrets (and the test's settings)
        conf = {"PULSE_JWT_SECRET": JWT_SECRET, "PULSE_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "PAYOS_CHECKSUM_KEY": PAYOS_KEY}
        conf.update(settings or {})
        edits = " && ".join("if grep -q '^#\\?%s=' pulse.conf; then sed -i 's|^#\\?%s=.*|%s=%s|' pulse.conf; "
                            "else echo '%s=%s' >> pulse.conf; fi" % (k, k, k, v, k, v) for k, v in conf.items())
        # (folder: the name the account gives the unpacked folder)
        move = "" if folder == "pulse" else "mv pulse '%s' && " % folder
        _as_account("tar -xzf ../pulse-dist.tar.gz && " + move + "cd '%s' && cp pulse.conf.example pulse.conf && "
                    "chmod 600 pulse.conf && " % folder + edits, self.docroot)
        self.dir = os.path.join(self.docroot, folder)
        with open(os.path.join(self.dir, "pulse.conf")) as f:
            text = f.read()
        for k, v in conf.items():
            assert "\n%s=%s\n" % (k, v) in text, (k, text)
        self.apache = env.apache(docroot=self.docroot, **apache_kw)
        self.port = self.apache.port
        self.prefix = "/" + urllib.parse.quote(folder)  # as a browser writes it

    def get(self, path, **kw):
        return self.apache.get(self.prefix + path, **kw)

    def post(self, path, body=None, **kw):
        return self.apache.post(self.prefix + path, body, **kw)

    def sse(self, path, **kw):
        return self.apache.sse(self.prefix + path, **kw)

    def auth(self, user, role="viewer"):
        return {"Authorization": "Bearer " + token(user, role)}

    def sql(self, query):
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.dir, "data", "pulse.db"), uri=True)
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()

    def pulse_pids(self, name=b"pulse."):
        """The Pulse processes Apache started (CGI and FastCGI; name: b"pulse.fcgi" for one kind)."""
        return descendants_named(self.apache.proc.p.pid, name)

    def log(self):
        return self.apache.log()


def _uid(pid):
    try:
        return os.stat("/proc/%d" % pid).st_uid
    except OSError:
        return None


def test_the_package_is_one_static_folder(env):
    assert os.path.exists(TGZ), "make dist first"
    names = subprocess.run(["tar", "-tzf", TGZ], capture_output=True, text=True, check=True).stdout.split()
    assert all(n.startswith("pulse/") for n in names), names
    for n in ("pulse/pulse.cgi", "pulse/pulse.fcgi", "pulse/.htaccess", "pulse/data/.htaccess",
              "pulse/pulse.conf.example", "pulse/index.html", "pulse/topup.html", "pulse/pulse.js"):
        assert n in names, n
    assert not any(n.endswith("pulse.conf") or n.endswith(".db") for n in names), names
    binary = os.path.join(ROOT, "build", "dist", "pulse", "pulse.cgi")
    out = subprocess.run(["ldd", binary], capture_output=True, text=True)
    assert "not a dynamic executable" in (out.stdout + out.stderr), out.stdout + out.stderr


def _tls_pair(tmp, name, ca_bundle):
    """A CA (its certificate written to ca_bundle) and a server certificate
    for name that it signed: (cert, key) paths."""
    d = os.path.join(tmp, "tls")
    os.makedirs(d)
    os.makedirs(os.path.dirname(ca_bundle), exist_ok=True)

    def ossl(*args):
        subprocess.run(["openssl"] + list(args), cwd=d, check=True, capture_output=True, timeout=60)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=Pulse test CA")
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=" + name)
    with open(os.path.join(d, "ext"), "w") as f:
        f.write("subjectAltName=DNS:%s\n" % name)
    ossl("x509", "-req", "-in", "srv.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.crt",
         "-days", "2", "-extfile", "ext")
    shutil.copy(os.path.join(d, "ca.crt"), ca_bundle)
    return os.path.join(d, "srv.crt"), os.path.join(d, "srv.key")


def test_the_binary_needs_nothing_of_the_hosts_userland(env):
    """A host with another (older) C library: the packed binary run as CGI in
    a root holding nothing else (no /lib, no /usr, no /proc), as a host of
    another distribution would run it: it answers, keeps its database, and
    makes its outbound call (PayOS, over HTTPS) to a host name it resolves
    by the root's /etc/hosts (glibc's files and dns lookups are built in,
    so no libnss module is loaded), trusting the CA certificates where Red
    Hat keeps them, not where the Debian build machine does."""
    jail = os.path.join(env.tmp, "jail")
    for d in ("bin", "etc", "data"):
        os.makedirs(os.path.join(jail, d))
    shutil.copy(os.path.join(ROOT, "build", "dist", "pulse", "pulse.cgi"), os.path.join(jail, "bin", "pulse.cgi"))
    with open(os.path.join(jail, "etc", "hosts"), "w") as f:
        f.write("127.0.0.1 localhost payos.test\n")
    with open(os.path.join(jail, "etc", "nsswitch.conf"), "w") as f:
        f.write("hosts: files dns\n")
    assert not os.path.exists(os.path.join(jail, "lib")) and not os.path.exists(os.path.join(jail, "usr"))
    cert, key = _tls_pair(env.tmp, "payos.test", os.path.join(jail, "etc", "pki", "tls", "certs", "ca-bundle.crt"))
    s = PayosStandin("jail-client", "jail-key", PAYOS_KEY)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    s.server.socket = tls.wrap_socket(s.server.socket, server_side=True)
    s.start()
    try:
        body = json.dumps({"amount": 12000, "description": "nap tien"}).encode()
        e = {"PATH": "/bin", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1", "REQUEST_METHOD": "POST",
             "REQUEST_URI": "/pulse/api/topup/init", "SCRIPT_NAME": "/pulse/pulse.cgi", "HTTP_HOST": "shop.test",
             "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
             "HTTP_AUTHORIZATION": "Bearer " + token("alice"), "PULSE_DATA": "/data", "PULSE_JWT_SECRET": JWT_SECRET,
             "PAYOS_CHECKSUM_KEY": PAYOS_KEY, "PAYOS_CLIENT_ID": "jail-client", "PAYOS_API_KEY": "jail-key",
             "PAYOS_API_URL": "https://payos.test:%d" % s.server.server_address[1], "PAYOS_TIMEOUT_S": "5"}
        p = subprocess.run([shutil.which("chroot") or "/usr/sbin/chroot", jail, "/bin/pulse.cgi"], env=e, input=body, capture_output=True, timeout=30)
        head, _, rest = p.stdout.partition(b"\r\n\r\n")
        assert p.returncode == 0 and head.startswith(b"Status: 201"), (p.returncode, p.stdout, p.stderr)
        tx = json.loads(rest)
        assert len(s.requests) == 1 and s.requests[0]["problems"] == [], s.requests
        assert tx["payment_link_id"] in s.links and tx["checkout_url"].startswith("https://pay.payos.vn/web/"), tx
    finally:
        s.stop()
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(jail, "data", "pulse.db"), uri=True)
    try:
        assert db.execute("SELECT status FROM topups WHERE tx_ref = ?", (tx["tx_ref"],)).fetchall() == [("PENDING",)]
    finally:
        db.close()


def test_health_pages_and_nothing_secret_is_served(env):
    s = Site(env)
    r = s.get("/api/health")
    assert r.status == 200 and r.json()["status"] == "ok", (r.status, r.body, s.log())
    assert s.get("/").status == 200 and "<html" in s.get("/").body.lower()
    js = s.get("/pulse.js")
    assert js.status == 200 and "javascript" in js.header("content-type"), js.header("content-type")
    # the secrets and the database: never served, whatever the path
    for path in ("/pulse.conf", "/pulse.conf.example", "/data/", "/data/pulse.db", "/data/pulse.db-wal",
                 "/data/.htaccess", "/.htaccess", "/data/cgi-streams/slot.0"):
        assert s.get(path).status in (403, 404), path
    assert s.get("/data/pulse.db").status == 403
    assert s.get("/pulse.conf").status == 403
    # an unknown API path is Pulse's own 404, not Apache's
    r = s.get("/api/nope")
    assert r.status == 404 and r.json()["error"]["code"] == "not_found", (r.status, r.body)


def test_topup_paid_over_a_held_cgi_stream_credits_once(env):
    s = Site(env)
    r = s.post("/api/topup/init", {"amount": 25000, "description": "nap tien"}, headers=s.auth("alice"))
    assert r.status == 201, (r.status, r.body, s.log())
    tx = r.json()
    st = s.sse("/api/topup/stream?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]))
    assert st.status == 200 and st.headers["content-type"].startswith("text/event-stream"), st.headers
    time.sleep(0.3)  # held a while before the payment lands
    body = payos_body(tx["order_code"], 25000)
    t0 = time.time()
    answers = [s.post("/api/payos/webhook", body) for _ in range(3)]  # PayOS retries
    assert [a.status for a in answers] == [200] * 3, [(a.status, a.body) for a in answers]
    ev = st.next_event(2)
    dt = time.time() - t0
    assert ev["event"] == "topup.status" and ev["json"]["data"]["status"] == "PAID", ev
    assert dt < 2, "the event took %.2f s from another process" % dt
    status = s.get("/api/topup/status?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]))
    assert status.status == 200 and status.json()["status"] == "PAID"
    assert s.get("/api/wallet", headers=s.auth("alice")).json() == {"user_id": "alice", "balance": 25000}
    assert s.sql("SELECT count(*) FROM wallet_credits") == [(1,)]
    assert st.no_event(0.5)  # the replays published nothing
    st.close()


def _serves_the_api_below(s, encoded):
    assert s.prefix == encoded
    assert s.get("/api/health").json()["status"] == "ok", s.log()
    st = s.sse("/api/events/stream?topic=%s" % q("room:vn"))  # CGI, as every stream here
    assert st.status == 200, (st.status, s.log())
    ids = publish(s, "room:vn", 2)
    assert [int(e["id"]) for e in st.events(2, 3)] == ids
    st.close()
    r = s.post("/api/topup/init", {"amount": 25000, "description": "nap tien"}, headers=s.auth("alice"))
    assert r.status == 201, (r.status, r.body, s.log())
    # the links it hands out are below the folder as the browser wrote it
    assert r.json()["stream_url"].startswith(encoded + "/api/topup/stream?"), r.body


def test_a_folder_named_in_vietnamese_serves_the_api(env):
    # Apache decodes SCRIPT_NAME ("/nạp-tiền/pulse.fcgi"), not REQUEST_URI
    # ("/n%E1%BA%A1p-ti%E1%BB%81n/api/..."): the folder is still the base
    _serves_the_api_below(Site(env, folder="nạp-tiền"), "/n%E1%BA%A1p-ti%E1%BB%81n")


def test_a_folder_with_a_space_serves_the_api_over_cgi(env):
    # (mod_fcgid splits the program's path at spaces and cannot start it:
    # README; on a host with CGI alone every request is pulse.cgi)
    s = Site(env, folder="nạp tiền", modules=tuple(m for m in APACHE_MODULES if m != "fcgid"))
    _serves_the_api_below(s, "/n%E1%BA%A1p%20ti%E1%BB%81n")


def _chat_answered(s, sid, alice):
    """Posts a message on session sid and follows the answer on a CGI
    stream to its end: the answer's text, as the stream and history say."""
    st = s.sse("/api/events/stream?topic=chat:%s&access_token=%s" % (sid, token("alice")))
    assert st.status == 200, (st.status, s.log())
    r = s.post("/api/chat/sessions/%s/messages" % sid, {"message": "Xin chào"}, headers=alice)
    assert r.status == 202, (r.status, r.body)
    mid, text = r.json()["assistantMessage"]["id"], ""
    while True:
        e = st.next_event(20)
        d = e["json"]["data"]
        if e["event"] == "chat.delta" and d["messageId"] == mid:
            text += d["delta"]
        if e["event"] in ("chat.done", "chat.error", "chat.cancelled"):
            break
    st.close()
    assert e["event"] == "chat.done", e
    last = s.get("/api/chat/sessions/%s/messages" % sid, headers=alice).json()["messages"][-1]
    assert (last["id"], last["status"], last["content"]) == (mid, "complete", text) and text, last
    return text


def _worker_pid(s):
    with open(os.path.join(s.dir, "data", "work", "slot.0")) as f:
        return int(f.read().strip() or 0)


def test_chat_answers_come_from_a_worker_a_message_starts(env):
    # no pulse-batch on a shared host: the message's request starts "pulse
    # work" (PULSE_SPAWN_WORKER=1, as the example has it), which generates
    # the answer as the account and exits once idle; the next message
    # starts another
    # (PULSE_EXIT_WITH_PARENT, as lighttpd gives its processes: the worker
    # is detached, its parent gone at once, and it must not stop with it)
    s = Site(env, {"PULSE_LLM_DEMO_MS": "10", "PULSE_EXIT_WITH_PARENT": "1"})
    alice = s.auth("alice")
    r = s.post("/api/chat/sessions", {}, headers=alice)
    assert r.status == 201, (r.status, r.body, s.log())
    sid = r.json()["id"]
    first = _chat_answered(s, sid, alice)
    pid = _worker_pid(s)
    try:
        assert alive(pid) and _uid(pid) == ensure_user(APACHE_USER).pw_uid, pid
        wait_for(lambda: not alive(pid), timeout=20, what="the idle worker's exit")
        assert _chat_answered(s, sid, alice) == first  # the demo model's one answer, whole again
        assert _worker_pid(s) != pid
        wait_for(lambda: not alive(_worker_pid(s)), timeout=20, what="the second worker's exit")
    finally:
        for p in {pid, _worker_pid(s)}:
            if alive(p):
                os.kill(p, signal.SIGKILL)
    assert "pulse-work" in open(os.path.join(s.dir, "data", "work", "work.log")).read()


def test_polling_and_a_stream_that_ends_and_resumes_losing_nothing(env):
    s = Site(env, {"PULSE_STREAM_MAX_S": "3"})
    ids = publish(s, "room:host", 2)
    r = s.get("/api/events?topic=%s&since=%d" % (q("room:host"), ids[0]))
    assert r.status == 200 and [e["id"] for e in r.json()["events"]] == ids[1:], r.body
    t0 = time.time()
    st = s.sse("/api/events/stream?topic=%s" % q("room:host"), headers={"Last-Event-ID": str(ids[0])})
    assert int(st.next_event(2)["id"]) == ids[1]
    assert st.retry == 2000  # the opening's retry: EventSource comes back after it
    text = st.body_text(6)  # the process ends the stream itself, after PULSE_STREAM_MAX_S
    assert st.closed and 2.9 < time.time() - t0 < 6, time.time() - t0
    assert "stream time limit" in text, text
    # what is published while no stream is held is there on the resume
    later = publish(s, "room:host", 2, start=2)
    st2 = s.sse("/api/events/stream?topic=%s" % q("room:host"), headers={"Last-Event-ID": str(ids[1])})
    assert [int(e["id"]) for e in st2.events(2, 3)] == later
    st2.close()


def test_streams_over_the_cap_get_503_with_retry_after(env):
    s = Site(env, {"PULSE_CGI_STREAMS": "2", "PULSE_HEARTBEAT_S": "1"})
    held = [s.sse("/api/events/stream?topic=%s" % q("room:cap")) for _ in range(2)]
    assert [h.status for h in held] == [200, 200]
    over = s.get("/api/events/stream?topic=%s" % q("room:cap"), timeout=5)
    assert over.status == 503 and over.header("retry-after") is not None, (over.status, over.body)
    assert over.json()["error"]["code"] == "too_many_streams"
    # a client that leaves gives its slot back (its process goes at the next heartbeat)
    held[0].close()

    def slot_free():
        r = s.sse("/api/events/stream?topic=%s" % q("room:cap"), timeout=5)
        r.close()
        return r.status == 200
    wait_for(slot_free, timeout=10, interval=0.5, what="a stream slot to be given back")
    held[1].close()


def test_every_process_runs_as_the_account_and_none_outlives_apache(env):
    s = Site(env)
    uid = ensure_user(APACHE_USER).pw_uid
    assert s.post("/api/publish", {"topic": "room:own", "type": "note", "data": {}},
                  headers=s.auth("root", "admin")).status == 202  # a FastCGI process of mod_fcgid
    st = s.sse("/api/events/stream?topic=%s" % q("room:own"))  # a CGI process held
    assert st.status == 200
    pids = wait_for(lambda: len(s.pulse_pids()) >= 2 and s.pulse_pids(), what="the CGI and FastCGI processes")
    assert all(_uid(p) == uid for p in pids), [(p, _uid(p)) for p in pids]
    # the database and everything beside it belong to the account
    data = os.path.join(s.dir, "data")
    assert all(os.stat(os.path.join(data, n)).st_uid == uid for n in os.listdir(data)), os.listdir(data)
    t0 = time.time()
    s.apache.stop()  # fails if any process of Apache or of the account is left
    assert not any(alive(p) for p in pids)
    assert time.time() - t0 < 15


def test_topup_page_in_chromium_under_the_prefix_turns_paid_live(env):
    """The page, pulse.js and the API as the package serves them: the page
    opened at /pulse/topup.html holds a CGI stream and sees PAID come live."""
    s = Site(env)
    st = pay_while_watching(env, s, "live", 15000)
    assert "polling" not in [x["conn"] for x in st["seen"]], st["seen"]


def test_without_mod_fcgid_every_request_is_cgi(env):
    # a host with CGI alone: the .htaccess sends the API to pulse.cgi too
    s = Site(env, modules=tuple(m for m in APACHE_MODULES if m != "fcgid"))
    assert s.get("/api/health").json()["status"] == "ok"
    h = http(s.apache.port, "HEAD", s.prefix + "/api/health")  # HEAD as GET, and Apache sends no body
    assert h.status == 200 and h.body == "", (h.status, h.body[:200])
    st = s.sse("/api/events/stream?topic=%s" % q("room:cgi"))
    assert st.status == 200
    ids = publish(s, "room:cgi", 2)
    assert [int(e["id"]) for e in st.events(2, 3)] == ids
    assert s.pulse_pids() and not s.pulse_pids(b"pulse.fcgi")
    st.close()


def _crm_site(env, **settings):
    """A Site sending the CRM's answers to Facebook's stand-in, with one
    conversation a customer opened through the signed webhook: (site,
    stand-ins, conversation id, an agent's headers)."""
    import hashlib
    import hmac
    import importlib.util
    from platform_standin import Platforms
    spec = importlib.util.spec_from_file_location("crm_cases", os.path.join(os.path.dirname(__file__), "test_crm.py"))
    crm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crm)
    p = Platforms({"facebook": "fb-page-token"}).start()
    env.started.append(p)
    conf = dict(crm.SECRETS, FB_GRAPH_URL=p.url + "/fb/v19.0", FB_PAGE_TOKEN="fb-page-token")
    conf.update(settings)
    s = Site(env, conf)
    raw = crm.fb_body([crm.fb_item("111", "m_in_1", "Xin chào")])
    sig = "sha256=" + hmac.new(crm.FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    r = http(s.port, "POST", s.prefix + "/api/webhooks/facebook", raw=raw, headers={"X-Hub-Signature-256": sig})
    assert r.status == 200, (r.status, r.body, s.log())
    agent = crm.agent()
    conv = s.get("/api/crm/conversations", headers=agent).json()["conversations"][0]["id"]
    return s, p, conv, agent


def _crm_status(s, conv, mid, agent):
    return [m for m in s.get("/api/crm/conversations/%s/messages" % conv, headers=agent).json()["messages"]
            if m["id"] == mid][0]["status"]


def test_an_agents_answer_whose_send_failed_is_sent_again(env):
    # a 503 from the platform: the answer is due again PULSE_SEND_RETRY_MS
    # later, past the worker's idle 2 s; it must still go out, with no
    # other answer posted to start a worker
    s, p, conv, agent = _crm_site(env, PULSE_SEND_RETRY_MS="3000")
    p.plan("facebook", [{"status": 503}])
    r = s.post("/api/crm/conversations/%s/messages" % conv, {"content": "Dạ shop chào bạn"}, headers=agent)
    assert r.status == 201, (r.status, r.body, s.log())
    mid = r.json()["id"]
    try:
        wait_for(lambda: _crm_status(s, conv, mid, agent) == "sent", timeout=20, interval=0.5,
                 what="the answer sent on its second attempt")
        assert [x["accepted"] for x in p.of("facebook")] == [False, True]
        wait_for(lambda: not alive(_worker_pid(s)), timeout=20, what="the worker's exit once nothing is due")
    finally:
        if alive(_worker_pid(s)):
            os.kill(_worker_pid(s), signal.SIGKILL)


def test_an_answer_whose_worker_was_killed_ends_and_the_chat_goes_on(env):
    # a host's process killer (or the OOM killer) ends the worker mid-answer:
    # the answer must not stream for good, nor the session refuse every
    # message after it, with no other session posting
    s = Site(env, {"PULSE_LLM_DEMO_MS": "300"})
    alice = s.auth("alice")
    sid = s.post("/api/chat/sessions", {}, headers=alice).json()["id"]
    r = s.post("/api/chat/sessions/%s/messages" % sid, {"message": "Xin chào"}, headers=alice)
    assert r.status == 202, (r.status, r.body, s.log())
    aid = r.json()["assistantMessage"]["id"]
    pid = wait_for(lambda: os.path.exists(os.path.join(s.dir, "data", "work", "slot.0")) and _worker_pid(s),
                   what="the worker")
    time.sleep(1)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), what="the worker's end")

    def answer():
        return [m for m in s.get("/api/chat/sessions/%s/messages" % sid, headers=alice).json()["messages"]
                if m["id"] == aid][0]
    assert answer()["status"] == "streaming"
    # the user writes again, as one does when an answer stalls
    r = s.post("/api/chat/sessions/%s/messages" % sid, {"message": "Còn đó không?"}, headers=alice)
    assert r.status == 409, (r.status, r.body)
    try:
        wait_for(lambda: answer()["status"] != "streaming", timeout=20, interval=0.5, what="the answer ended")
        assert answer()["status"] == "error", answer()
        r = s.post("/api/chat/sessions/%s/messages" % sid, {"message": "Còn đó không?"}, headers=alice)
        assert r.status == 202, (r.status, r.body)
    finally:
        p = _worker_pid(s)
        if alive(p):
            os.kill(p, signal.SIGKILL)


def test_a_cron_line_settles_a_topup_whose_webhook_never_came(env):
    # README: a host's cron runs "pulse.cgi work" now and then, and the
    # worker asks PayOS about top-ups PENDING past PAYOS_RECONCILE_S (no
    # request starts a worker for them), then exits
    from platform_standin import Platforms
    tokens = {"payos_client": "client-id-1", "payos_key": "api-key-1", "payos_checksum": PAYOS_KEY}
    p = Platforms(tokens).start()
    env.started.append(p)
    s = Site(env, {"PAYOS_API_URL": p.url + "/payos", "PAYOS_CLIENT_ID": tokens["payos_client"],
                   "PAYOS_API_KEY": tokens["payos_key"], "PAYOS_RECONCILE_S": "1"})
    r = s.post("/api/topup/init", {"amount": 5000, "description": "nap tien"}, headers=s.auth("u1"))
    assert r.status == 201, (r.status, r.body, s.log())
    t = r.json()
    p.orders[str(t["order_code"])] = {"status": "PAID", "amount": 5000}  # paid; its webhook lost

    def status():
        return s.get("/api/topup/status?tx_ref=%s&token=%s" % (t["tx_ref"], t["stream_token"])).json()["status"]
    time.sleep(1.5)  # past PAYOS_RECONCILE_S: due, and nothing asks
    assert status() == "PENDING"
    # the cron line, as the account, from its home (the README's)
    _as_account("'%s/pulse.cgi' work" % s.dir, os.path.dirname(s.docroot))
    assert status() == "PAID"
    assert s.get("/api/wallet", headers=s.auth("u1")).json()["balance"] == 5000
    assert s.sql("SELECT count(*) FROM wallet_credits") == [(1,)]
