"""The CRM inbox for agents (seed 003): customers, conversations and answers,
each change an event on topic crm, through the web server with real processes."""
import sqlite3

from harness import http, token


def agent(sub="agent1"):
    return {"Authorization": "Bearer " + token(sub, "agent")}


def call(a, method, path, body=None, headers=None):
    return http(a.port, method, path, body, headers=headers if headers is not None else agent())


def crm_stream(a, sub="agent1"):
    return a.sse("/api/events/stream?topic=crm&access_token=" + token(sub, "agent"))


def conversation(a, customer_id, channel="page-1", platform="facebook"):
    """A conversation as a platform message would leave it (the webhooks
    have their own tests): written straight into the database."""
    con = sqlite3.connect(a.db, timeout=10)
    try:
        with con:
            cid = "conv_" + customer_id
            con.execute("INSERT INTO crm_conversations (id, customer_id, platform, channel_id, last_message_at, "
                        "created_at) VALUES (?, ?, ?, ?, '2026-11-23T08:00:00Z', '2026-11-23T08:00:00Z')",
                        (cid, customer_id, platform, channel))
    finally:
        con.close()
    return cid


def crm_rows(a):
    return [a.sql("SELECT count(*) FROM " + t)[0][0] for t in ("crm_customers", "crm_conversations", "crm_messages")]


def test_customer_lifecycle_reaches_agents_streams(env):
    a = env.instance()
    s = crm_stream(a)
    r = call(a, "POST", "/api/crm/customers", {"name": "Nguyễn Văn A", "phone": "+84 912 345 678",
                                                "email": "a@example.vn", "notes": "VIP"})
    assert r.status == 201, r.body
    c = r.json()
    assert c["id"].startswith("cus_") and c["name"] == "Nguyễn Văn A" and c["phone"] == "+84 912 345 678"
    assert c["email"] == "a@example.vn" and c["notes"] == "VIP" and c["platform"] is None
    assert c["createdAt"].endswith("Z") and c["updatedAt"] == c["createdAt"]
    assert call(a, "GET", "/api/crm/customers/" + c["id"]).json() == c
    listed = call(a, "GET", "/api/crm/customers").json()["customers"]
    assert [x["id"] for x in listed] == [c["id"]]
    u = call(a, "PATCH", "/api/crm/customers/" + c["id"], {"phone": "0912345678"})
    assert u.status == 200 and u.json()["phone"] == "0912345678" and u.json()["name"] == "Nguyễn Văn A"
    d = call(a, "DELETE", "/api/crm/customers/" + c["id"])
    assert d.status == 200 and d.json() == {"id": c["id"]}
    assert call(a, "GET", "/api/crm/customers/" + c["id"]).status == 404
    evs = s.events(3)
    assert [e["event"] for e in evs] == ["customer_created", "customer_updated", "customer_deleted"]
    assert evs[0]["json"]["topic"] == "crm" and evs[0]["json"]["data"] == c
    assert evs[1]["json"]["data"]["phone"] == "0912345678"
    assert evs[2]["json"]["data"] == {"id": c["id"]}
    assert s.no_event(0.3)


def test_crm_is_for_agents_and_admins(env):
    a = env.instance()
    assert http(a.port, "GET", "/api/crm/customers").status == 401
    for role in ("viewer", "owner"):
        h = {"Authorization": "Bearer " + token("u1", role)}
        r = http(a.port, "POST", "/api/crm/customers", {"name": "x"}, headers=h)
        assert r.status == 403 and r.json()["error"]["code"] == "forbidden"
        assert http(a.port, "GET", "/api/crm/conversations", headers=h).status == 403
    admin = {"Authorization": "Bearer " + token("root", "admin")}
    assert http(a.port, "POST", "/api/crm/customers", {"name": "x"}, headers=admin).status == 201
    viewer_stream = a.sse("/api/events/stream?topic=crm&access_token=" + token("v1", "viewer"))
    assert viewer_stream.status == 403
    assert crm_rows(a) == [1, 0, 0]


def test_bad_customer_input_is_refused_and_changes_nothing(env):
    a = env.instance()
    c = call(a, "POST", "/api/crm/customers", {"name": "B"}).json()
    s = crm_stream(a)
    cases = [
        ("POST", "/api/crm/customers", {}, 400, "invalid_name"),
        ("POST", "/api/crm/customers", {"name": ""}, 400, "invalid_name"),
        ("POST", "/api/crm/customers", {"name": "x" * 201}, 400, "invalid_name"),
        ("POST", "/api/crm/customers", {"name": 5}, 400, "invalid_name"),
        ("POST", "/api/crm/customers", {"name": "x", "phone": "call me"}, 400, "invalid_phone"),
        ("POST", "/api/crm/customers", {"name": "x", "email": "nobody"}, 400, "invalid_email"),
        ("POST", "/api/crm/customers", [1, 2], 400, "invalid_json"),
        ("POST", "/api/crm/customers", b'{"name":', 400, "invalid_json"),
        ("PATCH", "/api/crm/customers/" + c["id"], {}, 400, "no_fields"),
        ("PATCH", "/api/crm/customers/" + c["id"], {"name": None}, 400, "no_fields"),
        ("PATCH", "/api/crm/customers/" + c["id"], {"notes": "y" * 2001}, 400, "invalid_notes"),
        ("PATCH", "/api/crm/customers/nobody", {"name": "y"}, 404, "customer_not_found"),
        ("DELETE", "/api/crm/customers/nobody", None, 404, "customer_not_found"),
        ("GET", "/api/crm/customers/bad%20id", None, 400, None),
        ("GET", "/api/crm/customers?limit=0", None, 400, "invalid_page"),
        ("GET", "/api/crm/customers?offset=-1", None, 400, "invalid_page"),
        ("PUT", "/api/crm/customers/" + c["id"], {"name": "y"}, 405, None),
    ]
    for method, path, body, status, code in cases:
        r = call(a, method, path, body)
        assert r.status == status, (method, path, body, r.status, r.body)
        if code:
            assert r.json()["error"]["code"] == code, (path, body, r.body)
    assert call(a, "GET", "/api/crm/customers/" + c["id"]).json() == c
    assert crm_rows(a) == [1, 0, 0]
    assert s.no_event(0.3)


def test_conversation_status_and_agent_answers(env):
    a = env.instance()
    c1 = call(a, "POST", "/api/crm/customers", {"name": "Khách 1"}).json()
    c2 = call(a, "POST", "/api/crm/customers", {"name": "Khách 2"}).json()
    v1, v2 = conversation(a, c1["id"]), conversation(a, c2["id"], channel="oa-9", platform="zalo")
    s = crm_stream(a)
    convs = call(a, "GET", "/api/crm/conversations").json()["conversations"]
    assert {x["id"] for x in convs} == {v1, v2}
    assert {x["customerName"] for x in convs} == {"Khách 1", "Khách 2"}
    r = call(a, "PATCH", "/api/crm/conversations/" + v1, {"status": "CLOSED"})
    assert r.status == 200 and r.json()["status"] == "CLOSED" and r.json()["customerId"] == c1["id"]
    same = call(a, "PATCH", "/api/crm/conversations/" + v1, {"status": "CLOSED"})
    assert same.status == 200 and same.json()["status"] == "CLOSED"
    closed = call(a, "GET", "/api/crm/conversations?status=CLOSED").json()["conversations"]
    assert [x["id"] for x in closed] == [v1]
    m = call(a, "POST", "/api/crm/conversations/%s/messages" % v2, {"content": "Dạ shop chào bạn"},
             headers=agent("agent7"))
    assert m.status == 201, m.body
    msg = m.json()
    assert msg["sender"] == "agent" and msg["agentId"] == "agent7" and msg["content"] == "Dạ shop chào bạn"
    assert msg["conversationId"] == v2 and msg["platform"] == "zalo" and msg["platformMessageId"] is None
    assert call(a, "GET", "/api/crm/conversations/%s/messages" % v2).json() == {"messages": [msg]}
    # the answered conversation is the most recently active
    assert call(a, "GET", "/api/crm/conversations").json()["conversations"][0]["id"] == v2
    evs = s.events(2)
    assert [e["event"] for e in evs] == ["conversation_updated", "message_sent"]
    assert evs[0]["json"]["data"]["status"] == "CLOSED" and evs[1]["json"]["data"] == msg
    assert s.no_event(0.3)  # setting the same status again changed nothing
    for method, path, body, status in [
            ("PATCH", "/api/crm/conversations/" + v1, {"status": "DONE"}, 400),
            ("PATCH", "/api/crm/conversations/" + v1, {}, 400),
            ("PATCH", "/api/crm/conversations/nope", {"status": "OPEN"}, 404),
            ("GET", "/api/crm/conversations?status=closed", None, 400),
            ("POST", "/api/crm/conversations/%s/messages" % v2, {"content": ""}, 400),
            ("POST", "/api/crm/conversations/%s/messages" % v2, {"content": "x" * 2001}, 400),
            ("POST", "/api/crm/conversations/nope/messages", {"content": "hi"}, 404),
            ("GET", "/api/crm/conversations/nope/messages", None, 404),
            ("GET", "/api/crm/conversations/%s/messages?limit=0" % v2, None, 400)]:
        r = call(a, method, path, body)
        assert r.status == status, (method, path, body, r.status, r.body)
    assert crm_rows(a) == [2, 2, 1]
    assert s.no_event(0.3)
    # a customer's conversations and messages go with the customer
    assert call(a, "DELETE", "/api/crm/customers/" + c2["id"]).status == 200
    assert crm_rows(a) == [1, 1, 0]
