"""Bad input gets the documented 4xx and changes nothing."""
import base64
import hashlib
import hmac
import json
import time

from harness import JWT_SECRET, payos_body, q, token, topup


def b64(d):
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


def jwt(header, claims, secret=JWT_SECRET):
    head = b64(header) + "." + b64(claims)
    sig = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()


def bearer(t):
    return {"Authorization": "Bearer " + t}


def test_bad_input_table(env):
    # (a publish's body may be larger, up to PULSE_MAX_PUBLISH_BODY: held to
    # the same 4 KiB here, as the 413 case below expects)
    a = env.instance(env={"PULSE_MAX_BODY": "4096", "PULSE_MAX_PUBLISH_BODY": "4096"})
    tx = topup(a, "owner1", 5000)
    good = payos_body(tx["order_code"], 5000)
    exp = int(time.time()) + 600
    admin_claims = {"sub": "root", "role": "admin", "exp": exp}
    forged = dict(good, signature="0" * 64)
    tampered = json.loads(json.dumps(good))
    tampered["data"]["amount"] = 1
    no_sig = {k: v for k, v in good.items() if k != "signature"}
    adm = bearer(token("root", "admin"))
    cases = [
        # (method, path, body-bytes, headers, status, error code or None)
        ("POST", "/api/payos/webhook", json.dumps(forged), {}, 401, "invalid_signature"),
        ("POST", "/api/payos/webhook", json.dumps(tampered), {}, 401, "invalid_signature"),
        ("POST", "/api/payos/webhook", json.dumps(no_sig), {}, 401, "invalid_signature"),
        ("POST", "/api/payos/webhook", "{not json", {}, 400, "invalid_json"),
        ("POST", "/api/payos/webhook", "[1,2,3]", {}, 400, "invalid_json"),
        # SQLite 3.40 calls these valid but crashes on a path lookup in them
        ("POST", "/api/payos/webhook", '{{"data":{"":5.531},"":""}:{"*ure":null,"y":5e0},"":""}', {}, 400,
         "invalid_json"),
        ("POST", "/api/topup/init", '{{"":""}:2}', bearer(token("u")), 400, "invalid_json"),
        ("POST", "/api/payos/webhook", "\"str\"", {}, 400, "invalid_json"),
        ("POST", "/api/payos/webhook", "", {}, 400, "invalid_json"),
        ("POST", "/api/payos/webhook", json.dumps({"data": 5, "signature": "x"}), {}, 400, "invalid_webhook"),
        ("POST", "/api/payos/webhook", "{\"a\":\"" + "x" * 5000 + "\"}", {}, 413, "body_too_large"),
        ("GET", "/api/payos/webhook", None, {}, 405, "method_not_allowed"),
        ("DELETE", "/api/topup/init", None, {}, 405, "method_not_allowed"),
        ("POST", "/api/topup/init", json.dumps({"amount": 0}), bearer(token("u")), 400, "invalid_amount"),
        ("POST", "/api/topup/init", json.dumps({"amount": 1000000001}), bearer(token("u")), 400, "invalid_amount"),
        ("POST", "/api/topup/init", json.dumps({"amount": "100"}), bearer(token("u")), 400, "invalid_amount"),
        ("POST", "/api/topup/init", json.dumps({"amount": 1.5}), bearer(token("u")), 400, "invalid_amount"),
        ("POST", "/api/topup/init", json.dumps({"amount": 100, "description": "x" * 26}), bearer(token("u")), 400,
         "invalid_description"),
        ("POST", "/api/topup/init", json.dumps({"amount": 100, "description": 5}), bearer(token("u")), 400,
         "invalid_description"),
        ("POST", "/api/topup/init", json.dumps({"amount": 100}), {}, 401, "unauthorized"),
        ("POST", "/api/topup/init", json.dumps({"amount": 100}), bearer(jwt({"alg": "none", "typ": "JWT"},
         {"sub": "u", "exp": exp})), 401, "invalid_token"),
        ("POST", "/api/topup/init", json.dumps({"amount": 100}), bearer(jwt({"alg": "HS256"},
         {"sub": "u", "exp": exp}, "wrong-key")), 401, "invalid_token"),
        ("POST", "/api/topup/init", json.dumps({"amount": 100}), bearer(jwt({"alg": "HS256"},
         {"sub": "u", "exp": int(time.time()) - 5})), 401, "invalid_token"),
        ("POST", "/api/topup/init", json.dumps({"amount": 100}), bearer(jwt({"alg": "HS256"}, {"sub": "u"})), 401,
         "invalid_token"),
        ("POST", "/api/topup/init", json.dumps({"amount": 100}), {"Authorization": "Basic dTpw"}, 401,
         "unauthorized"),
        ("GET", "/api/topup/status?tx_ref=" + q("x'; DROP TABLE topups;--"), None, bearer(token("owner1")), 400,
         "invalid_tx_ref"),
        ("GET", "/api/topup/status?tx_ref=TXnope", None, bearer(token("owner1")), 404, "unknown_transaction"),
        ("GET", "/api/topup/status?tx_ref=%s&token=bad" % tx["tx_ref"], None, {}, 401, "invalid_token"),
        # lighttpd re-encodes a malformed escape (so the id check refuses it);
        # nginx passes it as sent (so the query parser does)
        ("GET", "/api/topup/status?tx_ref=%zz", None, {}, 400,
         "invalid_tx_ref" if __import__("os").environ.get("PULSE_TEST_WEB") != "nginx" else "bad_request"),
        ("GET", "/api/events?topic=" + "&topic=".join("room:%d" % i for i in range(17)), None, {}, 400,
         "invalid_topic"),
        ("GET", "/api/events?topic=" + q("room:' OR 1=1 --"), None, {}, 400, "invalid_topic"),
        ("GET", "/api/events?topic=room:1&since=-1", None, {}, 400, "invalid_since"),
        ("GET", "/api/events?topic=room:1&limit=1001", None, {}, 400, "invalid_limit"),
        ("GET", "/api/events?topic=crm", None, {}, 401, "unauthorized"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": "x", "data": {}}), bearer(token("u", "agent")),
         403, "forbidden"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": "x", "data": {}}),
         bearer(jwt({"alg": "HS256"}, dict(admin_claims, role="god"))), 401, "invalid_token"),
        ("POST", "/api/publish", json.dumps({"topic": "a b", "type": "x", "data": {}}), adm, 400, "invalid_topic"),
        # ownership facts are Pulse's own (a forged one would stand on every edge)
        ("POST", "/api/publish", json.dumps({"topic": "pulse.owners", "type": "topic.owner",
                                             "data": {"topic": "chat:s1", "ownerId": "mallory"}}), adm, 403,
         "reserved_topic"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": "x\ny", "data": {}}), adm, 400, "invalid_type"),
        # a stream's own "cannot resume" event: one published would make its clients refetch everything
        ("POST", "/api/publish", json.dumps({"topic": "room:1", "type": "reset", "data": {}}), adm, 400,
         "reserved_type"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": "x"}), adm, 400, "invalid_data"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": "x", "data": "abc"}), adm, 400, "invalid_data"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": "x", "data": "[1,2]"}), adm, 400, "invalid_data"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": "x", "data": [1]}), adm, 400, "invalid_data"),
        ("POST", "/api/publish", json.dumps({"topic": 5, "type": "x", "data": {}}), adm, 400, "invalid_topic"),
        # a name must be a JSON string: not a boolean, null, object or array (whose text
        # SQLite hands back like a string's)
        ("POST", "/api/publish", json.dumps({"topic": True, "type": "x", "data": {}}), adm, 400, "invalid_topic"),
        ("POST", "/api/publish", json.dumps({"topic": None, "type": "x", "data": {}}), adm, 400, "invalid_topic"),
        ("POST", "/api/publish", json.dumps({"topic": {"a": "b"}, "type": "x", "data": {}}), adm, 400,
         "invalid_topic"),
        ("POST", "/api/publish", json.dumps({"topic": ["room"], "type": "x", "data": {}}), adm, 400, "invalid_topic"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": 7, "data": {}}), adm, 400, "invalid_type"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": False, "data": {}}), adm, 400, "invalid_type"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": [], "data": {}}), adm, 400, "invalid_type"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "data": {}}), adm, 400, "invalid_type"),
        # an escaped NUL would end the name early in C: refused, not truncated
        ("POST", "/api/publish", '{"topic":"room:a\\u0000b","type":"x","data":{}}', adm, 400, "invalid_topic"),
        ("POST", "/api/publish", '{"topic":"t","type":"x\\u0000","data":{}}', adm, 400, "invalid_type"),
        ("POST", "/api/publish", json.dumps({"topic": "t", "type": "x", "data": None}), adm, 400, "invalid_data"),
        # of a repeated member the first counts (as with json_extract)
        ("POST", "/api/publish", '{"topic":"a b","topic":"t","type":"x","data":{}}', adm, 400, "invalid_topic"),
        # the batching responder reads bodies itself: its limit, its JSON check
        ("POST", "/api/publish", "{\"topic\":\"" + "x" * 5000 + "\"}", adm, 413, "body_too_large"),
        ("POST", "/api/publish", "{not json", adm, 400, "invalid_json"),
        ("POST", "/api/publish", "", adm, 400, "invalid_json"),
        ("POST", "/api/publish", "[1,2,3]", adm, 400, "invalid_json"),
        ("POST", "/api/publish", '"str"', adm, 400, "invalid_json"),
        ("POST", "/api/publish", '{"topic":"t","type":"x","data":{}', adm, 400, "invalid_json"),
        ("POST", "/api/publish", '{"events":[{"topic":"t","type":"x","data":{}}]', adm, 400, "invalid_json"),
        ("GET", "/api/publish", None, adm, 405, "method_not_allowed"),
        ("GET", "/api/wallet", None, {}, 401, "unauthorized"),
        ("GET", "/api/nowhere", None, {}, 404, "not_found"),
    ]
    before = a.snapshot()
    for method, path, body, headers, status, code in cases:
        r = a.get(path, headers=headers) if method == "GET" and body is None else \
            __import__("harness").http(a.port, method, path, raw=None if body is None else body.encode(),
                                       headers=headers)
        assert r.status == status, (method, path, body and body[:80], r.status, r.body)
        if status == 405:
            assert r.header("allow"), path
        err = r.json()["error"]
        assert err["code"] == code and err["message"], (path, r.body)
        assert r.header("content-type").startswith("application/json"), path
    assert a.snapshot() == before
    # and the service still works after all of that
    assert a.post("/api/payos/webhook", good).json()["status"] == "PAID"


def test_token_that_never_expires_is_accepted(env):
    a = env.instance()
    forever = jwt({"alg": "HS256"}, {"sub": "u", "role": "viewer", "exp": 9223372036854775807})
    assert a.get("/api/wallet", headers=bearer(forever)).status == 200
    big = jwt({"alg": "HS256"}, {"sub": "u", "role": "viewer", "exp": 1e30})
    assert a.get("/api/wallet", headers=bearer(big)).status == 200


def test_sql_metacharacters_are_data(env):
    a = env.instance()
    tx = topup(a, "o'brien;--", 100)
    r = a.get("/api/topup/status?tx_ref=" + tx["tx_ref"], headers=bearer(token("o'brien;--")))
    assert r.status == 200 and r.json()["tx_ref"] == tx["tx_ref"]
    r = a.post("/api/topup/init", {"amount": 5, "description": "'); DELETE FROM topups;--"},
               headers=bearer(token("x")))
    assert r.status == 201
    assert a.sql("SELECT count(*) FROM topups") == [(2,)]
