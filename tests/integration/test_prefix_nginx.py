"""The sub-folder prefix where only a web server configured for the purpose shows it,
nginx standing in (it sends the params Apache sends): a SCRIPT_NAME naming the
script in the folder gives the prefix without PULSE_BASE_PATH; and with
PULSE_BASE_PATH, a request outside the prefix that reaches Pulse anyway is a 404
from each of the three processes. (test_prefix.py runs under both web servers.)"""
from harness import SSE, http, payos_body, topup

WEB_INDEPENDENT = True


def test_prefix_from_script_name_without_base_path(env):
    """What Apache sends for a RewriteRule to /pulse/pulse.fcgi: SCRIPT_NAME names the
    script, REQUEST_URI is the browser's. PULSE_BASE_PATH is not set."""
    a = env.instance(prefix="/pulse", web="nginx", script_name="/pulse/pulse.fcgi")
    assert http(a.port, "GET", "/pulse/api/health").status == 200
    tx = topup(a, "bob", 3000)
    assert tx["stream_url"].startswith("/pulse/api/topup/stream?"), tx
    assert tx["checkout_url"].startswith("/pulse/topup.html?"), tx
    s = SSE(a.port, tx["stream_url"])
    try:
        assert s.status == 200, s.status
        r = http(a.port, "POST", "/pulse/api/payos/webhook", payos_body(tx["order_code"], 3000))
        assert r.status == 200 and r.json()["status"] == "PAID", r.body
        assert s.next_event(5)["json"]["data"]["status"] == "PAID"
    finally:
        s.close()


def test_outside_the_base_path_every_process_answers_404(env):
    a = env.instance(prefix="/pulse", web="nginx", root_api=True, env={"PULSE_BASE_PATH": "/pulse"})
    adm = a.auth("root", "admin")
    event = {"topic": "room:o", "type": "note", "data": {}}
    for method, path, body in (("GET", "/api/health", None),                  # pulse-api
                               ("POST", "/api/publish", event),               # pulse-batch
                               ("GET", "/api/events/stream?topic=room:o", None)):  # pulse-stream
        r = http(a.port, method, path, body, headers=adm)
        assert r.status == 404 and r.json()["error"]["code"] == "not_found", (path, r.status, r.body)
        assert "PULSE_BASE_PATH" in r.json()["error"]["message"], r.body       # Pulse's answer, not nginx's
        if "stream" in path:
            s = SSE(a.port, "/pulse" + path)
            assert s.status == 200, s.status
            s.close()
        else:
            r = http(a.port, method, "/pulse" + path, body, headers=adm)
            assert r.status in (200, 202), (path, r.status, r.body)
    assert a.sql("SELECT count(*) FROM events WHERE topic = 'room:o'") == [(1,)]
