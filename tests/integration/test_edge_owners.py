"""Edges know who owns a chat or a top-up however old the fact (README "More
than one host"): the log's Redis copy keeps PULSE_REDIS_HISTORY entries of
all topics together, so a primary also keeps every ownership fact in the
Redis hash <prefix>owners, signed, equal to its table (after a restart of
Redis, after a database put back), and an edge reads it whole. A field the
primary did not sign is not filed."""
import subprocess
import time

from harness import SLOW_POLL_ENV, backup_db, put_back_db, token, wait_for

PRIMARY = dict(SLOW_POLL_ENV, PULSE_REDIS_HISTORY="50")
EDGE = dict(SLOW_POLL_ENV, PULSE_ROLE="edge")


def bearer(sub, role="viewer"):
    return {"Authorization": "Bearer " + token(sub, role)}


def cli(redis, *args):
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port), "--raw"] + list(args),
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "ERR" not in out.stdout, (out.stdout, out.stderr)
    return out.stdout


def claim(a, sub, sid=None):
    r = a.post("/api/chat/sessions", {"id": sid} if sid else {}, headers=bearer(sub))
    assert r.status == 201, r.body
    return r.json()["id"]


def roll_over(a, redis):
    """Publishes until the log's Redis copy holds none of the facts: a new
    edge can learn them only from the hash."""
    facts = a.sql("SELECT coalesce(max(id), 0) FROM events WHERE topic = 'pulse.owners'")[0][0]
    for k in range(10):
        r = a.post("/api/publish", {"events": [{"topic": "room:noise", "type": "n", "data": {"k": k, "i": i}}
                                               for i in range(100)]}, headers=bearer("root", "admin"))
        assert r.status == 202, r.body
    last = r.json()["ids"][-1]
    wait_for(lambda: cli(redis, "XREVRANGE", "pulse:log", "+", "-", "COUNT", "1").split()[:1] == ["%d-0" % last],
             timeout=15, what="the relay reaching the last event")
    first = int(cli(redis, "XRANGE", "pulse:log", "-", "+", "COUNT", "1").split()[0].split("-")[0])
    assert first > facts, (first, facts)
    return last


def edge_after(env, redis, last):
    b = env.instance(name="edge", redis=redis, env=EDGE)
    wait_for(lambda: b.get("/api/events?topic=room:noise&since=%d" % (last - 1)).json()["events"], timeout=15,
             what="the edge copying the log")
    return b


def readable(b, sid, sub):
    return b.get("/api/events?topic=chat:%s&since=0" % sid, headers=bearer(sub)).status


def test_an_edge_started_after_the_logs_history_rolled_over_knows_the_owners(env):
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=PRIMARY)
    sid = claim(a, "lan")
    tx = a.post("/api/topup/init", {"amount": 50000}, headers=bearer("lan")).json()
    wait_for(lambda: cli(redis, "HGET", "pulse:owners", "chat:" + sid).startswith("lan\n-\n"), timeout=15,
             what="lan's fact in the hash")
    value = cli(redis, "HGET", "pulse:owners", "chat:" + sid)
    last = roll_over(a, redis)
    # fields the primary did not sign: a made-up one, and lan's genuine value
    # moved to another topic (the signature covers the topic)
    cli(redis, "HSET", "pulse:owners", "chat:forged", "mallory\n-\n" + "0" * 64)
    cli(redis, "HSET", "pulse:owners", "chat:stolen", value.rstrip("\n"))
    b = edge_after(env, redis, last)
    wait_for(lambda: readable(b, sid, "lan") == 200, timeout=15, what="the edge learning the session's owner")
    assert readable(b, sid, "binh") == 403
    path = "/api/events/stream?topic=chat:%s&access_token=%s"
    assert b.sse(path % (sid, token("lan"))).status == 200
    assert b.sse(path % (sid, token("binh"))).status == 403
    t = "/api/events/stream?topic=topup:" + tx["tx_ref"]
    assert b.sse(t + "&token=" + tx["stream_token"]).status == 200
    assert b.sse(t + "&access_token=" + token("lan")).status == 200
    assert b.sse(t + "&token=wrong").status == 401
    assert b.sse(t + "&access_token=" + token("binh")).status == 403
    assert readable(b, "forged", "mallory") == 403 and readable(b, "stolen", "lan") == 403
    assert b.sql("SELECT topic FROM topic_owners WHERE topic IN ('chat:forged', 'chat:stolen')") == []


def test_redis_restarted_empty_gets_every_fact_again(env):
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=PRIMARY)
    sid = claim(a, "lan")
    redis.stop()
    redis.start()                                  # no persistence: empty
    wait_for(lambda: cli(redis, "HGET", "pulse:owners", "chat:" + sid).startswith("lan\n"), timeout=20,
             what="the primary putting the facts back")
    last = roll_over(a, redis)
    b = edge_after(env, redis, last)
    wait_for(lambda: readable(b, sid, "lan") == 200, timeout=15, what="the edge learning the session's owner")
    assert readable(b, sid, "binh") == 403


def test_a_database_put_back_leaves_no_fact_of_its_future_in_redis(env):
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=PRIMARY)
    claim(a, "kim")
    backup = env.tmp + "/owners-backup.db"
    backup_db(a, backup)
    claim(a, "lan", "alpha")                       # after the backup: gone once it is put back
    wait_for(lambda: cli(redis, "HGET", "pulse:owners", "chat:alpha").startswith("lan\n"), timeout=15,
             what="lan's fact in the hash")
    put_back_db(a, backup)
    wait_for(lambda: a.get("/api/chat/sessions/alpha", headers=bearer("lan")).status == 404, timeout=15,
             what="the primary following the file put back")
    wait_for(lambda: cli(redis, "HEXISTS", "pulse:owners", "chat:alpha").strip() == "0", timeout=20,
             what="the hash made equal to the file put back")
    claim(a, "binh", "alpha")
    wait_for(lambda: cli(redis, "HGET", "pulse:owners", "chat:alpha").startswith("binh\n"), timeout=15,
             what="binh's fact in the hash")
    last = roll_over(a, redis)
    b = edge_after(env, redis, last)
    wait_for(lambda: readable(b, "alpha", "binh") == 200, timeout=15, what="the edge learning alpha's owner")
    assert readable(b, "alpha", "lan") == 403


def test_the_hash_lost_or_a_write_refused_while_connected_is_made_again(env):
    redis = env.redis()
    a = env.instance(name="primary", redis=redis, env=PRIMARY)
    sid = claim(a, "lan")
    wait_for(lambda: cli(redis, "HGET", "pulse:owners", "chat:" + sid).startswith("lan\n"), timeout=15,
             what="lan's fact in the hash")
    cli(redis, "DEL", "pulse:owners")              # flushed or evicted while the primary stays connected
    wait_for(lambda: cli(redis, "HGET", "pulse:owners", "chat:" + sid).startswith("lan\n"), timeout=20,
             what="the primary making the hash again")
    # Redis refuses writes (out of memory) while a fact is logged: it goes in later
    cli(redis, "CONFIG", "SET", "maxmemory", "1")
    try:
        other = claim(a, "binh")
        wait_for(lambda: "binh" in a.sql("SELECT owner_id FROM topic_owners WHERE topic = ?",
                                         ("chat:" + other,))[0][0], timeout=10, what="binh's fact filed")
        time.sleep(2)                              # the primary's write is refused meanwhile
        assert cli(redis, "HEXISTS", "pulse:owners", "chat:" + other).strip() == "0"
    finally:
        cli(redis, "CONFIG", "SET", "maxmemory", "0")
    wait_for(lambda: cli(redis, "HGET", "pulse:owners", "chat:" + other).startswith("binh\n"), timeout=30,
             what="the refused fact written again")
