"""Zero loss at every seam a client meets (API.md, "Events" and "State reads
carry their log position"): a stream opened without a position is told its
position before anything else, polling without `since` answers the same head,
and every state read says which log position it reflects, read in the same
transaction. Real clients: a socket reader that behaves as EventSource does,
and the npm `eventsource` package itself (tests/browser/es_client.mjs)."""
import json
import os
import queue
import signal
import subprocess
import threading
import time

from browser_helper import BROWSER_DIR, ensure_node_modules
from harness import SSE, http, publish, token, topup, payos_body, wait_for

FAST_RETRY = {"PULSE_RETRY_MS": "200"}


def first_lines(s):
    """The lines of the stream's first field block, in order."""
    return s._until(b"\n\n", 5).decode().split("\n")


def first_block(s):
    """The stream's first field block, as {field: value}."""
    out = {}
    for line in first_lines(s):
        field, _, value = line.partition(":")
        out[field] = value[1:] if value.startswith(" ") else value
    return out


class Reader:
    """A client that behaves as EventSource does, off a raw socket: it keeps
    the last `id:` it read (from an event or from a field block with no data)
    and reconnects with it as Last-Event-ID, or with none if it never saw one."""

    def __init__(self, inst, path):
        self.inst, self.path, self.last_id, self.ids = inst, path, None, []
        self.sse = self._open()

    def _open(self):
        headers = {} if self.last_id is None else {"Last-Event-ID": self.last_id}
        s = SSE(self.inst.port, self.path, headers=headers, timeout=5)
        assert s.status == 200, s.status
        fields = first_block(s)
        if "id" in fields:
            self.last_id = fields["id"]
        return s

    def reconnect(self):
        self.sse.close()
        self.sse = wait_for(self._try_open, timeout=30, interval=0.1, what="the stream to come back")

    def _try_open(self):
        try:
            return self._open()
        except (OSError, AssertionError, IndexError, ValueError):
            return None

    def read(self, n, timeout=15):
        for ev in self.sse.events(n, timeout):
            self.last_id = ev["id"]
            self.ids.append(int(ev["id"]))
        return self.ids

    def wait_closed(self, timeout=10):
        deadline = time.time() + timeout
        while not self.sse.closed and time.time() < deadline:
            try:
                self.sse._fill(deadline)
            except OSError:
                self.sse.closed = True
        assert self.sse.closed, "the stream did not drop"


class EsClient:
    """tests/browser/es_client.mjs: the npm eventsource package against inst."""

    def __init__(self, tmp, port, path, types=("note",)):
        ensure_node_modules()
        self.log = open(os.path.join(tmp, "es-client-%d.log" % id(self)), "w")
        cfg = {"url": "http://127.0.0.1:%d%s" % (port, path), "types": list(types)}
        self.p = subprocess.Popen(["node", os.path.join(BROWSER_DIR, "es_client.mjs"), json.dumps(cfg)],
                                  cwd=BROWSER_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.log, text=True, start_new_session=True)
        self.q = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.log.write(line)
            self.log.flush()
            self.q.put(json.loads(line))
        self.q.put(None)

    def wait(self, pred, timeout=20, what="the client"):
        deadline = time.time() + timeout
        while True:
            try:
                m = self.q.get(timeout=max(0.01, deadline - time.time()))
            except queue.Empty:
                raise AssertionError("timed out waiting for %s; saw %r" % (what, self.seen[-10:]))
            assert m is not None, "es_client.mjs exited; saw %r" % self.seen[-10:]
            self.seen.append(m)
            if pred(m):
                return m

    def event_ids(self, n, timeout=30):
        ids = [int(m["id"]) for m in self.seen if m["step"] == "event"]
        deadline = time.time() + timeout
        while len(ids) < n:
            m = self.wait(lambda m: m["step"] == "event", max(0.01, deadline - time.time()), "event %d" % len(ids))
            ids.append(int(m["id"]))
        return ids

    def stop(self):
        try:
            self.p.stdin.close()
            self.p.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()
        self.log.close()


def caught_up(inst, topic):
    """A stream on topic that has read an event published now: the stream
    responder has dispatched everything up to it."""
    s = inst.sse("/api/events/stream?topic=" + topic)
    ids = publish(inst, topic, 1)
    assert int(s.next_event()["id"]) == ids[0]
    return s, ids[0]


def test_a_stream_without_a_position_is_given_the_head_first(env):
    a = env.instance()
    warm, head = caught_up(a, "room:pos-other")
    s = a.sse("/api/events/stream?topic=room:pos1")
    lines = first_lines(s)
    # API.md: it starts with retry: and a comment line; the position in the same block with
    # no data: EventSource records the id and dispatches nothing
    assert lines[:2] == ["retry: 2000", ": pulse stream open"], lines
    fields = {ln.partition(":")[0]: ln.partition(":")[2].strip() for ln in lines if ln}
    assert fields.get("retry") == "2000" and fields.get("id") == str(head), fields
    assert "data" not in fields and "event" not in fields
    ids = publish(a, "room:pos1", 2)
    assert [int(e["id"]) for e in s.events(2)] == ids
    warm.close()
    s.close()


def test_polling_without_since_answers_the_head_and_starts_there(env):
    a = env.instance()
    old = publish(a, "room:pos2", 3)
    r = a.get("/api/events?topic=room:pos2")
    assert r.status == 200, r.body
    body = r.json()
    assert body["events"] == [] and body["last_id"] == old[-1] and body["reset"] is False
    new = publish(a, "room:pos2", 2)
    page = a.get("/api/events?topic=room:pos2&since=%d" % body["last_id"]).json()
    assert [e["id"] for e in page["events"]] == new
    # since=0 still means everything retained
    assert [e["id"] for e in a.get("/api/events?topic=room:pos2&since=0").json()["events"]] == old + new


def test_polling_resumes_from_last_event_id_as_a_stream_does(env):
    """API.md: a client subscribes with last_event_id=N, stream or polling."""
    a = env.instance()
    ids = publish(a, "room:pos3", 4)

    def page(query, headers=None):
        r = a.get("/api/events?topic=room:pos3" + query, headers=headers or {})
        assert r.status == 200, r.body
        return [e["id"] for e in r.json()["events"]]

    assert page("&last_event_id=%d" % ids[0]) == ids[1:]
    assert page("", {"Last-Event-ID": str(ids[1])}) == ids[2:]
    # since names the position when both are given; an empty header is none
    assert page("&since=%d&last_event_id=%d" % (ids[2], ids[0])) == ids[3:]
    assert page("&last_event_id=%d" % ids[2], {"Last-Event-ID": str(ids[0])}) == ids[3:]
    assert page("", {"Last-Event-ID": ""}) == []
    for bad in ("&last_event_id=-1", "&last_event_id=x"):
        r = a.get("/api/events?topic=room:pos3" + bad)
        assert r.status == 400 and r.json()["error"]["code"] == "invalid_since", (bad, r.body)
    r = a.get("/api/events?topic=room:pos3", headers={"Last-Event-ID": "abc"})
    assert r.status == 400 and r.json()["error"]["code"] == "invalid_since"


def test_a_client_that_drops_before_its_first_event_loses_nothing_when_the_stream_responder_dies(env):
    a = env.instance(env=FAST_RETRY)
    path = "/api/events/stream?topic=room:pos3"
    raw = Reader(a, path)
    es = EsClient(env.tmp, a.port, path)
    try:
        es.wait(lambda m: m["step"] == "open", what="the EventSource to open")
        os.kill(a.stream_pid(), signal.SIGKILL)
        raw.wait_closed()
        es.wait(lambda m: m["step"] == "error", what="the EventSource to notice")
        ids = publish(a, "room:pos3", 5)      # while both are away
        raw.reconnect()
        assert raw.read(5) == ids
        assert es.event_ids(5) == ids
        more = publish(a, "room:pos3", 2)
        assert raw.read(2) == ids + more
        assert es.event_ids(7) == ids + more
    finally:
        es.stop()
        raw.sse.close()


def test_a_client_that_drops_before_its_first_event_loses_nothing_when_the_web_server_restarts(env):
    a = env.instance(env=FAST_RETRY)
    b = env.instance(name="b", db=a.db)     # another host on the same database keeps taking writes
    path = "/api/events/stream?topic=room:pos4"
    raw = Reader(a, path)
    es = EsClient(env.tmp, a.port, path)
    try:
        es.wait(lambda m: m["step"] == "open", what="the EventSource to open")
        a.stop()
        raw.wait_closed()
        es.wait(lambda m: m["step"] == "error", what="the EventSource to notice")
        ids = publish(b, "room:pos4", 5)      # while a is down
        a.start()
        raw.reconnect()
        assert raw.read(5) == ids
        assert es.event_ids(5) == ids
    finally:
        es.stop()
        raw.sse.close()


def test_a_top_up_confirmed_while_its_page_is_away_still_arrives(env):
    """The top-up shortcut, as a page without pulse.js would use it."""
    a = env.instance(env=FAST_RETRY)
    tx = topup(a, "pos-user", 7000)
    path = "/api/topup/stream?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"])
    raw = Reader(a, path)
    os.kill(a.stream_pid(), signal.SIGKILL)
    raw.wait_closed()
    assert a.post("/api/payos/webhook", payos_body(tx["order_code"], 7000)).status == 200
    raw.reconnect()
    ev = raw.sse.next_event(15)
    assert ev["event"] == "topup.status" and ev["json"]["data"]["status"] == "PAID"
    raw.sse.close()


# ---- state reads carry their log position ---------------------------------------------------

def position(r):
    h = r.header("pulse-event-id")
    assert h is not None and h.isdigit(), (r.status, r.headers)
    return int(h)


def test_every_state_read_carries_its_log_position(env):
    a = env.instance()
    owner, agent = a.auth("pos-shop", "owner"), a.auth("pos-agent", "agent")
    room = a.post("/api/live/rooms", {"title": "t", "description": "d", "thumbnailUrl": "https://x/t.jpg"},
                  headers=owner)
    assert room.status == 201
    rid = room.json()["id"]
    # a write's answer carries the position of its own event
    assert position(room) == a.get("/api/events?topic=room:%s&since=0" % rid).json()["events"][-1]["id"]
    tx = topup(a, "pos-user")
    cust = a.post("/api/crm/customers", {"name": "Lan"}, headers=agent).json()
    sess = a.post("/api/chat/sessions", {}, headers=a.auth("pos-user")).json()
    head = a.get("/api/events?topic=room:%s" % rid).json()["last_id"]
    reads = [
        ("/api/topup/status?tx_ref=%s&token=%s" % (tx["tx_ref"], tx["stream_token"]), {}),
        ("/api/wallet", a.auth("pos-user")),
        ("/api/live/rooms", {}),
        ("/api/live/rooms/" + rid, {}),
        ("/api/live/rooms/%s/products" % rid, {}),
        ("/api/live/rooms/%s/chat?limit=10" % rid, {}),
        ("/api/crm/customers", agent),
        ("/api/crm/customers/" + cust["id"], agent),
        ("/api/crm/conversations", agent),
        ("/api/chat/sessions/" + sess["id"], a.auth("pos-user")),
        ("/api/events?topic=room:%s&since=0" % rid, {}),
    ]
    for path, headers in reads:
        r = a.get(path, headers=headers)
        assert r.status == 200, (path, r.status, r.body)
        assert position(r) == head, (path, position(r), head)
    # an error carries none: it shows no state
    assert a.get("/api/live/rooms/nope").header("pulse-event-id") is None


def test_a_state_read_and_its_position_come_from_one_transaction(env):
    """While products change as fast as they can, every read of the product list
    equals the list in the newest `product` event at or below its position:
    the state answered plus the events after it is exactly the current state."""
    a = env.instance(workers=3)
    owner = a.auth("pos-shop2", "owner")
    rid = a.post("/api/live/rooms", {"title": "t"}, headers=owner).json()["id"]
    stop = threading.Event()
    errors = []

    def writer(w):
        made = []
        for i in range(150):
            if stop.is_set():
                break
            r = a.post("/api/live/rooms/%s/products" % rid,
                       {"productId": "p%d-%d" % (w, i), "productName": "P", "originalPrice": 100, "livePrice": 90},
                       headers=owner)
            if r.status != 201:
                errors.append(r.body)
                break
            made.append(r.json()["id"])
            if len(made) > 2:      # keep the list short: the point is how often it changes
                d = http(a.port, "DELETE", "/api/live/rooms/%s/products/%s" % (rid, made.pop(0)), headers=owner)
                if d.status != 200:
                    errors.append(d.body)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    reads = []
    try:
        while any(t.is_alive() for t in threads) and len(reads) < 300:
            r = a.get("/api/live/rooms/%s/products" % rid)
            assert r.status == 200
            reads.append((position(r), sorted(p["id"] for p in r.json()["products"])))
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[:3]
    events = a.get("/api/events?topic=room:%s&since=0&limit=1000" % rid).json()["events"]
    lists = [(e["id"], sorted(p["id"] for p in e["data"]["products"])) for e in events if e["type"] == "product"]
    checked = 0
    for at, ids in reads:
        before = [l for i, l in lists if i <= at]
        assert ids == (before[-1] if before else []), (at, len(ids))
        checked += 1
    assert checked >= 20 and len({at for at, _ in reads}) > 5  # reads landed between many writes


# ---- a stream ends when its token does ---------------------------------------------------------

def test_a_stream_opened_with_a_token_ends_when_the_token_expires(env):
    a = env.instance()
    agent = token("pos-agent2", "agent", ttl=3)
    s = a.sse("/api/events/stream?topic=crm&access_token=" + agent)
    assert s.status == 200
    at = first_block(s)["id"]
    forever = a.sse("/api/events/stream?topic=room:pos5")      # no token: no end
    text = s.body_text(timeout=12)
    assert s.closed, "the stream outlived its token"
    assert ": token expired" in text
    # polling with it is refused as well
    assert a.get("/api/events?topic=crm&access_token=" + agent).status == 401
    # what happened while the client renewed its token reaches it when it resumes
    missed = publish(a, "crm", 2)
    fresh = a.sse("/api/events/stream?topic=crm&access_token=" + token("pos-agent2", "agent"),
                  headers={"Last-Event-ID": at})
    assert fresh.status == 200
    assert [int(e["id"]) for e in fresh.events(2)] == missed
    ids = publish(a, "room:pos5", 1)
    assert int(forever.next_event()["id"]) == ids[0]
    # a token valid for ages does not trouble the stream responder
    far = a.sse("/api/events/stream?topic=crm&access_token=" + token("pos-agent3", "agent", ttl=10 ** 17))
    assert far.status == 200
    more = publish(a, "crm", 1)
    assert int(far.next_event()["id"]) == more[0] and int(fresh.next_event()["id"]) == more[0]
    for x in (s, forever, fresh, far):
        x.close()
