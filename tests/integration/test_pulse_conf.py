"""pulse.conf: KEY=value lines beside the programs (or at $PULSE_CONF) configure
every process as the environment does, and the environment wins where both set a
variable. An instance whose secrets are in the file alone (none in its
environment) serves the signed flows with the file's secrets: tokens signed with
it pass, PayOS webhooks signed with its checksum key settle; a relative PULSE_DB
in the file is the file's folder's. A malformed file stops a process at start
with a message naming file:line."""
import os
import socket
import shutil
import subprocess

from harness import BIN, JWT_SECRET, PAYOS_KEY, http, payos_body, token

FILE_JWT, FILE_PAYOS, ENV_JWT = "file-jwt-secret", "file payos key", "env-jwt-secret"
PROGRAMS = ("pulse-api", "pulse-batch", "pulse-stream", "pulse-token")
# the instance's environment without the secrets and the database the harness gives it
NO_ENV = {"PULSE_JWT_SECRET": None, "PAYOS_CHECKSUM_KEY": None, "PULSE_WEBHOOK_SECRET": None, "PULSE_DB": None}


def install(tmp):
    """A copy of the programs in a folder of their own, with a pulse.conf beside
    them (the programs find it through /proc/self/exe, so they are copies, not links)."""
    bindir = os.path.join(tmp, "pulse-bin")
    os.makedirs(bindir)
    for p in PROGRAMS:
        shutil.copy2(os.path.join(BIN, p), bindir)
    with open(os.path.join(bindir, "pulse.conf"), "w") as f:
        f.write("# Pulse, configured by file\n\n"
                "PULSE_JWT_SECRET=%s\n"
                "PAYOS_CHECKSUM_KEY = \"%s\"\n"
                "PULSE_WEBHOOK_SECRET=whsec#1\n"
                "PULSE_DB=conf-db/pulse.db\n" % (FILE_JWT, FILE_PAYOS))
    os.makedirs(os.path.join(bindir, "conf-db"))
    return bindir


def clean_env():
    return {"PATH": os.environ["PATH"], "ASAN_OPTIONS": "detect_leaks=0"}


def file_token(bindir, sub):
    """A token minted by the installed pulse-token with no secret in its
    environment: it reads pulse.conf as the services do."""
    out = subprocess.run([os.path.join(bindir, "pulse-token"), sub, "viewer"], env=clean_env(),
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def bearer(t):
    return {"Authorization": "Bearer " + t}


def test_pulse_conf_alone_serves_signed_flows_and_the_environment_wins(env):
    bindir = install(env.tmp)
    a = env.instance(env=dict(NO_ENV, PULSE_BIN=bindir))
    assert os.path.exists(os.path.join(bindir, "conf-db", "pulse.db"))      # relative: the file's folder
    assert not os.path.exists(os.path.join(a.data, "pulse.db"))
    mine = file_token(bindir, "alice")
    assert http(a.port, "GET", "/api/wallet", headers=bearer(mine)).status == 200
    r = http(a.port, "GET", "/api/wallet", headers=bearer(token("alice")))  # the harness's usual secret
    assert r.status == 401, r.body
    # a top-up paid by a webhook signed with the file's checksum key, and only that key
    r = http(a.port, "POST", "/api/topup/init", {"amount": 4000}, headers=bearer(mine))
    assert r.status == 201, r.body
    tx = r.json()
    assert http(a.port, "POST", "/api/payos/webhook", payos_body(tx["order_code"], 4000, key=PAYOS_KEY)).status == 401
    r = http(a.port, "POST", "/api/payos/webhook", payos_body(tx["order_code"], 4000, key=FILE_PAYOS))
    assert r.status == 200 and r.json()["status"] == "PAID", r.body
    assert http(a.port, "GET", "/api/wallet", headers=bearer(mine)).json()["balance"] == 4000

    # the environment wins over the file, variable by variable
    own_db = os.path.join(env.tmp, "env.db")
    b = env.instance(name="b", env=dict(NO_ENV, PULSE_BIN=bindir, PULSE_JWT_SECRET=ENV_JWT, PULSE_DB=own_db))
    assert os.path.exists(own_db)
    assert http(b.port, "GET", "/api/wallet", headers=bearer(mine)).status == 401
    env_token = subprocess.run([os.path.join(bindir, "pulse-token"), "carol"], capture_output=True, text=True,
                               env=dict(clean_env(), PULSE_JWT_SECRET=ENV_JWT), timeout=20).stdout.strip()
    assert http(b.port, "GET", "/api/wallet", headers=bearer(env_token)).status == 200
    r = http(b.port, "POST", "/api/topup/init", {"amount": 1000}, headers=bearer(env_token))
    assert r.status == 201, r.body
    r = http(b.port, "POST", "/api/payos/webhook", payos_body(r.json()["order_code"], 1000, key=FILE_PAYOS))
    assert r.status == 200 and r.json()["status"] == "PAID", r.body                # what the env leaves, the file sets
    assert JWT_SECRET not in (FILE_JWT, ENV_JWT)


def test_a_bad_pulse_conf_stops_every_process_naming_file_and_line(env):
    bad = os.path.join(env.tmp, "bad.conf")
    cases = [("PULSE_JWT_SECRET=x\n\nPULSE_JWT_SECERT=y\n", "bad.conf:3: unknown key PULSE_JWT_SECERT"),
             ("# ok\nPULSE_HEARTBEAT_S=often\n", "bad.conf:2: PULSE_HEARTBEAT_S=often: expected an integer"),
             ("PULSE_ROLE edge\n", "bad.conf:1: expected KEY=value"),
             ("PULSE_RETRY_MS=100\nPULSE_RETRY_MS=200\n", "bad.conf:2: PULSE_RETRY_MS is set twice (first on line 1)")]
    for text, want in cases:
        with open(bad, "w") as f:
            f.write(text)
        for p in PROGRAMS:
            out = subprocess.run([os.path.join(BIN, p)], env=dict(clean_env(), PULSE_CONF=bad), stdin=subprocess.DEVNULL,
                                 capture_output=True, text=True, timeout=20)
            assert out.returncode != 0 and want in out.stderr, (p, text, out.returncode, out.stderr)
    # PULSE_CONF names a file that must be there; without it, no file is needed
    out = subprocess.run([os.path.join(BIN, "pulse-api")], env=dict(clean_env(), PULSE_CONF=bad + ".missing"),
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
    assert out.returncode != 0 and "bad.conf.missing: No such file or directory" in out.stderr, out.stderr
    out = subprocess.run([os.path.join(BIN, "pulse-token"), "x"], env=dict(clean_env(), PULSE_JWT_SECRET="s"),
                         capture_output=True, text=True, timeout=20)
    assert out.returncode == 0 and out.stdout.count(".") == 2, out.stderr


def test_kept_workers_one_for_batch_and_stream_and_a_supervisor_that_gives_up(env):
    # PULSE_PREFORK=N forks N workers of pulse-api; the batching and the
    # stream responder must each be one process, so more than 1 is refused
    path = os.path.join(env.tmp, "one.sock")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        lsock.bind(path)
        lsock.listen(8)
        for p in ("pulse-batch", "pulse-stream"):
            out = subprocess.run([os.path.join(BIN, p)], env=dict(clean_env(), PULSE_PREFORK="2"), stdin=lsock.fileno(),
                                 capture_output=True, text=True, timeout=20)
            assert out.returncode != 0 and "PULSE_PREFORK=2: %s is one process" % p in out.stderr, (p, out.stderr)
        # a kept worker that cannot start (its database cannot be opened) is
        # not restarted for ever: its supervisor gives up, which closes the
        # socket, so that the web server answers 503 instead of waiting
        bad_db = os.path.join(env.tmp, "no-such-dir", "pulse.db")
        for p in ("pulse-api", "pulse-batch", "pulse-stream"):
            out = subprocess.run([os.path.join(BIN, p)], env=dict(clean_env(), PULSE_PREFORK="1", PULSE_DB=bad_db),
                                 stdin=lsock.fileno(), capture_output=True, text=True, timeout=60)
            assert out.returncode != 0 and "exited within 1000 ms of their start; giving up" in out.stderr, \
                (p, out.returncode, out.stderr[-2000:])
    finally:
        lsock.close()
