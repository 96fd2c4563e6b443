"""A signed Facebook batch is stored message by message: a message whose
text (or id) is not Unicode, as raw bytes that are not UTF-8 or as a JSON
escape of a lone surrogate, is skipped and logged like any other malformed
item, and the other customers' messages in the same delivery are stored and
announced. Nothing that is not UTF-8 is stored. (Zalo and TikTok deliveries
hold one message each and are refused whole: test_hostile_input.)"""
import hashlib
import hmac

from harness import http, token, wait_for

FB_SECRET = "fb-app-secret"


def fb_post(a, raw):
    sig = "sha256=" + hmac.new(FB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return http(a.port, "POST", "/api/webhooks/facebook", raw=raw, headers={"X-Hub-Signature-256": sig})


def fb_message(sender, mid, text_json):
    """One messaging item whose sender id and text are the raw JSON given
    (quotes included), as bytes: a test can put bytes in it no encoder would."""
    return (b'{"sender":{"id":' + sender + b'},"recipient":{"id":"page-1"},"timestamp":1795000000000,'
            b'"message":{"mid":"' + mid.encode() + b'","text":' + text_json + b'}}')


def fb_batch(*messages):
    return (b'{"object":"page","entry":[{"id":"page-1","time":1795000000000,"messaging":[' + b",".join(messages) +
            b']}]}')


def assert_all_utf8(a):
    """Every text value in the database is UTF-8, as the bytes SQLite holds."""
    for (t,) in a.sql("SELECT name FROM sqlite_master WHERE type = 'table'"):
        for (c,) in [(r[1],) for r in a.sql("PRAGMA table_info(%s)" % t)]:
            for (v,) in a.sql("SELECT CAST(%s AS BLOB) FROM %s WHERE typeof(%s) = 'text'" % (c, t, c)):
                v.decode("utf-8")  # raises on a byte that is not UTF-8 (or an encoded surrogate)


def test_a_facebook_batch_stores_its_good_message_and_skips_text_that_is_not_unicode(env):
    a = env.instance(env={"FB_APP_SECRET": FB_SECRET})
    s = a.sse("/api/events/stream?topic=crm&access_token=" + token("agent1", "agent"))
    raw = fb_batch(fb_message(b'"222"', "m_surrogate", b'"hi \\ud800 there"'),
                   fb_message(b'"111"', "m_good", '"Xin chào \\ud83d\\ude00"'.encode()),
                   fb_message(b'"333"', "m_bytes", b'"caf\xe9 \xff\xfe"'))
    r = fb_post(a, raw)
    assert r.status == 200 and r.body == "EVENT_RECEIVED", (r.status, r.body)
    evs = s.events(3)
    assert [e["event"] for e in evs] == ["customer_created", "new_conversation", "new_message"], evs
    assert evs[0]["json"]["data"]["platformUserId"] == "111"
    msg = evs[2]["json"]["data"]
    assert msg["platformMessageId"] == "m_good" and msg["content"] == "Xin chào 😀", msg
    assert s.no_event(0.3)
    assert a.sql("SELECT platform_message_id, content FROM crm_messages") == [("m_good", "Xin chào 😀")]
    assert a.sql("SELECT platform_user_id FROM crm_customers") == [("111",)]
    # the skipped ones are not remembered as seen: a redelivery in good text
    # would be stored
    assert a.sql("SELECT platform_message_id FROM crm_seen") == [("m_good",)]
    for mid in ("m_surrogate", "m_bytes"):
        wait_for(lambda: "skipped message %s: its text is not Unicode" % mid in a.log_text(),
                 what="the log line for " + mid)
    assert_all_utf8(a)


def test_every_way_text_is_not_unicode_is_skipped_in_a_facebook_batch(env):
    a = env.instance(env={"FB_APP_SECRET": FB_SECRET})
    s = a.sse("/api/events/stream?topic=crm&access_token=" + token("agent1", "agent"))
    bad = [b'"caf\xe9"', b'"\xff\xfe"', b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\xf4\x90\x80\x80"', b'"ab\xe2\x82"',
           b'"\\ud800"', b'"x\\udc00y"', b'"\\ud83d\\u0041"']
    items = [fb_message(b'"9%d"' % i, "m_bad%d" % i, text) for i, text in enumerate(bad)]
    # an id that is not Unicode makes its item malformed too
    items += [fb_message(b'"\\udfff"', "m_badsender", b'"hello"'), fb_message(b'"\xff"', "m_rawsender", b'"hi"')]
    items.insert(4, fb_message(b'"111"', "m_good", b'"ok"'))
    r = fb_post(a, fb_batch(*items))
    assert r.status == 200 and r.body == "EVENT_RECEIVED", (r.status, r.body)
    assert [e["event"] for e in s.events(3)] == ["customer_created", "new_conversation", "new_message"]
    assert s.no_event(0.3)
    assert a.sql("SELECT platform_message_id, content FROM crm_messages") == [("m_good", "ok")]
    assert a.sql("SELECT count(*) FROM crm_customers")[0][0] == 1
    for i in range(len(bad)):
        wait_for(lambda: "skipped message m_bad%d: its text is not Unicode" % i in a.log_text(),
                 what="the log line for m_bad%d" % i)
    wait_for(lambda: a.log_text().count("skipped an item whose sender.id is not Unicode") == 2,
             what="the log lines for the two senders")
    assert_all_utf8(a)


def test_a_facebook_body_that_is_not_a_json_object_is_still_refused(env):
    """Only a body that is otherwise a JSON object is read item by item."""
    a = env.instance(env={"FB_APP_SECRET": FB_SECRET})
    before = a.snapshot()
    for raw, code in [(b'{"object":"page","entry":[\xff', "invalid_utf8"),
                      (b'["\\ud800"]', "invalid_utf8"),
                      (b'{"object":"page","entry":[', "invalid_json")]:
        r = fb_post(a, raw)
        assert r.status == 400 and r.json()["error"]["code"] == code, (raw, r.status, r.body)
    assert a.snapshot() == before
