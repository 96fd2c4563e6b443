/* test_stream.c - the stream responder's core (fcgi/stream/) driven over
 * socketpairs with a real SQLite file: a replay that goes live with no gap
 * and no repeat at the seam, a slow consumer ended, the caps, heartbeats on
 * the test's clock (stream_tick's now), a client gone mid-replay freed, and
 * the resume decisions a stream takes (reset or wait).
 *
 * The test plays the web server: it writes a FastCGI request on its end of
 * the pair and reads the STDOUT records back. The stream's end gets a
 * small send buffer, so a replay of a few hundred events stops half way
 * and goes on only as the test reads. Nothing sleeps: time moves through
 * the now_ms the test hands to stream_tick. */
#include "stream/hub.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/config.h"
#include "check.h"
#include "store/db.h"
#include "store/store.h"
#include "unit_peer.h"

static char dir[] = "/tmp/pulse-unit-stream-XXXXXX";
static char db_path[256];
static struct config cfg;
static struct db *db;


/* One loop turn of the responder, as stream_main runs it. */
static void turn(struct stream *s)
{
    loop_run_once(0);
    stream_reap(s);
}

/* Reads and turns until the responder has nothing more to write. */
static void drain(struct stream *s, struct peer *p)
{
    int i;

    for (i = 0; i < TURNS; i++) {
        size_t before = p->raw.len + p->text.len;
        peer_read(p);
        turn(s);
        peer_read(p);
        if (p->raw.len + p->text.len == before)
            break; /* it wrote nothing more once the client made room */
    }
}

/* ---- the log ---- */

/* Appends n events to topic in one transaction; 0 or -1. */
static int append(const char *topic, int n)
{
    struct event ev;
    int i;

    if (db_begin(db, 1) != 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (store_append_event(db, topic, "note", "{\"pad\":\"0123456789012345678901234567890123456789\"}",
                               &ev) != 0) {
            db_rollback(db);
            return -1;
        }
        store_event_free(&ev);
    }
    return db_commit(db);
}

static int64_t head(void)
{
    int64_t pruned, last;

    return store_bounds(db, &pruned, &last) == 0 ? last : -1;
}

/* The ids of the `note` events in text, in order, into ids (at most max);
 * returns how many. */
static int note_ids(const char *text, int64_t *ids, int max)
{
    const char *p = text;
    int n = 0;

    while (n < max && (p = strstr(p, "id: ")) != NULL) {
        long long id = strtoll(p + 4, NULL, 10);
        const char *eol = strchr(p, '\n');
        if (eol != NULL && strncmp(eol + 1, "event: note\n", 12) == 0)
            ids[n++] = id;
        p += 4;
    }
    return n;
}

/* ids holds exactly from..to, each once, in order. */
static int consecutive(const int64_t *ids, int n, int64_t from, int64_t to)
{
    int i;

    if (n != to - from + 1)
        return 0;
    for (i = 0; i < n; i++)
        if (ids[i] != from + i)
            return 0;
    return 1;
}

static struct stream *hub_new(void)
{
    struct stream *s = stream_new(&cfg, db, -1);

    CHECK_INT_EQ(stream_err(s), STREAM_OK);
    return s;
}

/* ---- the tests ---- */

/* A client resumes while events keep coming: the replay is still sending
 * (the client reads slowly) when more events are committed and pumped,
 * and some of those are of another topic. It gets every event of its
 * topic after its Last-Event-ID once, in order, then the live ones: no gap
 * and no repeat where the replay hands over to live delivery. */
static void test_replay_then_live_seam(void)
{
    static int64_t ids[4000];
    struct stream *s = hub_new();
    struct peer p;
    int64_t from, mid, to;
    char last[24];
    int i, n;

    CHECK(append("room:seam", 600) == 0 && append("room:other", 50) == 0);
    stream_pump(s); /* as the bell or the tail poll has the loop do */
    from = head() - 650 + 5; /* resume after the 5th event of room:seam */
    snprintf(last, sizeof last, "%lld", (long long)(from - 1));
    peer_open(s, &p, 1, "topic=room:seam", last);
    turn(s);
    CHECK(s->streams.head != NULL && s->streams.head->replaying); /* stopped half way: the client is slow */
    peer_read(&p);

    CHECK(append("room:seam", 200) == 0);
    mid = head();
    CHECK(append("room:other", 30) == 0);
    stream_pump(s); /* live events reach the loop while it replays */
    CHECK(s->streams.head != NULL && s->streams.head->replaying);
    CHECK_INT_EQ(stream_high_water(s), head());

    drain(s, &p);
    CHECK(s->streams.head != NULL && !s->streams.head->replaying); /* caught up: live now */
    CHECK(append("room:seam", 100) == 0);
    to = head();
    stream_pump(s);
    drain(s, &p);

    n = note_ids(buf_str(&p.text), ids, (int)(sizeof ids / sizeof ids[0]));
    /* from..600th of room:seam, then the 200 (ids up to mid), then 100 live */
    CHECK_INT_EQ(n, (600 - 5 + 1) + 200 + 100);
    for (i = 1; i < n; i++)
        if (ids[i] <= ids[i - 1])
            break;
    CHECK_INT_EQ(i, n); /* strictly increasing: nothing twice */
    CHECK(n > 0 && ids[0] == from && ids[n - 1] == to);
    CHECK(consecutive(ids, 596, from, from + 595));
    CHECK(consecutive(ids + 596, 200, mid - 199, mid));
    CHECK(consecutive(ids + 796, 100, to - 99, to));
    CHECK(strstr(buf_str(&p.text), "event: reset") == NULL);
    peer_close(&p);
    stream_free(s);
}

/* A client that stops reading: once stream_queue frames wait for it, its
 * stream ends with a last comment and FCGI_END_REQUEST (the web server
 * finishes the response and EventSource resumes from its last event), and
 * it ends on a whole event. Another client of the topic that reads keeps
 * getting everything. */
static void test_slow_consumer_is_ended(void)
{
    static int64_t ids[4000];
    struct stream *s = hub_new();
    struct peer slow, fast;
    int64_t first = head() + 1;
    int i, n, rounds;

    peer_open(s, &slow, 1, "topic=room:slow", NULL);
    peer_open(s, &fast, 2, "topic=room:slow", NULL);
    turn(s);
    CHECK_INT_EQ(s->streams.count, 2);
    for (rounds = 0; rounds < 40; rounds++) { /* one pump per event: one frame each */
        CHECK(append("room:slow", 10) == 0);
        stream_pump(s);
        drain(s, &fast);
    }
    CHECK_INT_EQ(s->streams.count, 2); /* the ended one waits to be read or for its grace */
    for (i = 0; i < TURNS && !slow.eof; i++) {
        peer_read(&slow);
        turn(s);
    }
    CHECK(slow.ended && slow.eof);
    CHECK(strstr(buf_str(&slow.text), ": too far behind: reconnect to resume\n\n") != NULL);
    n = note_ids(buf_str(&slow.text), ids, 4000);
    CHECK(n > 0 && n < 400);
    CHECK(consecutive(ids, n, first, first + n - 1)); /* a prefix, no hole */
    /* the reader got all 400, and its stream goes on */
    n = note_ids(buf_str(&fast.text), ids, 4000);
    CHECK(consecutive(ids, n, first, first + 399));
    CHECK(!fast.ended);
    CHECK_INT_EQ(s->streams.count, 1);
    peer_close(&slow);
    peer_close(&fast);
    stream_free(s);
}

/* A client that never reads again is not kept: its ended stream is closed
 * HUB_CLOSE_GRACE_MS later on the loop's clock. */
static void test_slow_consumer_closed_after_grace(void)
{
    struct stream *s = hub_new();
    struct peer p;
    int rounds;

    peer_open(s, &p, 1, "topic=room:stuck", NULL);
    turn(s);
    for (rounds = 0; rounds < 40 && s->streams.head != NULL && s->streams.head->state == C_STREAM; rounds++) {
        CHECK(append("room:stuck", 10) == 0);
        stream_pump(s);
    }
    CHECK(s->streams.head != NULL && s->streams.head->state == C_CLOSING);
    stream_tick(s, clock_ms() + 1000);
    turn(s);
    CHECK_INT_EQ(s->streams.count, 1);
    stream_tick(s, clock_ms() + HUB_CLOSE_GRACE_MS + 1000);
    turn(s);
    CHECK_INT_EQ(s->streams.count, 0);
    CHECK(s->zombies.head == NULL);
    peer_read(&p);
    CHECK(p.eof);
    peer_close(&p);
    stream_free(s);
}

/* The status line and error code of the response p got. */
static int status_is(const struct peer *p, const char *status, const char *code)
{
    const char *t = buf_str(&p->text);

    return strncmp(t, status, strlen(status)) == 0 && (code == NULL || strstr(t, code) != NULL);
}

/* A refused request is answered at once, but its connection is closed only
 * once the web server has sent the whole request (the empty STDIN record):
 * Apache's mod_proxy_fcgi writes that record after the params and, finding
 * the socket closed, drops the answer for a 503 of its own. */
static void test_refusal_waits_for_the_end_of_the_request(void)
{
    struct stream *s = hub_new();
    struct peer p;
    int i;

    peer_open_req(s, &p, 1, "topic=room%3Aa%20b", NULL, 0);
    for (i = 0; i < 50 && !p.ended; i++) {
        turn(s);
        peer_read(&p);
    }
    CHECK(status_is(&p, "Status: 400", NULL) && p.ended);
    CHECK(!p.eof);
    peer_end_stdin(&p, 1);
    for (i = 0; i < TURNS && !p.eof; i++) {
        turn(s);
        peer_read(&p);
    }
    CHECK(p.eof);
    CHECK_INT_EQ(s->streams.count, 0);
    peer_close(&p);
    stream_free(s);
}

/* PULSE_MAX_CONNECTIONS and PULSE_MAX_PER_TOPIC: a stream over either gets
 * 503 overloaded with Retry-After, the others are untouched, and a slot
 * freed by a client leaving is taken again. */
static void test_caps(void)
{
    struct config saved = cfg;
    struct stream *s;
    struct peer a, b, c, d, e;

    cfg.max_connections = 2;
    cfg.max_per_topic = 1;
    s = hub_new();
    peer_open(s, &a, 1, "topic=room:cap1", NULL);
    turn(s);
    peer_open(s, &b, 1, "topic=room:cap1", NULL);
    turn(s);
    peer_open(s, &c, 1, "topic=room:cap2", NULL);
    turn(s);
    peer_open(s, &d, 1, "topic=room:cap3", NULL);
    turn(s);
    peer_read(&a);
    peer_read(&b);
    peer_read(&c);
    peer_read(&d);
    CHECK(status_is(&a, "Status: 200", NULL));
    CHECK(status_is(&b, "Status: 503", "\"overloaded\"") && strstr(buf_str(&b.text), "this topic") != NULL);
    CHECK(strstr(buf_str(&b.text), "Retry-After: 5\r\n") != NULL && b.ended);
    CHECK(status_is(&c, "Status: 200", NULL));
    CHECK(status_is(&d, "Status: 503", "\"overloaded\"") && strstr(buf_str(&d.text), "this instance") != NULL);
    CHECK_INT_EQ(s->streams.count, 2);

    peer_close(&a); /* the client leaves: its slot, and the topic's, are free */
    turn(s);
    CHECK_INT_EQ(s->streams.count, 1);
    CHECK(topics_find(s, "room:cap1") == NULL);
    peer_open(s, &e, 1, "topic=room:cap1", NULL);
    turn(s);
    peer_read(&e);
    CHECK(status_is(&e, "Status: 200", NULL));
    peer_close(&b);
    peer_close(&c);
    peer_close(&d);
    peer_close(&e);
    stream_free(s);
    cfg = saved;
}

/* A comment line every PULSE_HEARTBEAT_S on an idle stream, on the clock
 * the loop hands to stream_tick: none before it is due, one when due. */
static void test_heartbeat(void)
{
    struct stream *s = hub_new();
    struct peer p;
    long long t0 = clock_ms();
    size_t before;

    peer_open(s, &p, 3, "topic=room:beat", NULL);
    turn(s);
    peer_read(&p);
    CHECK(status_is(&p, "Status: 200", NULL));
    before = p.text.len;
    stream_tick(s, t0 + cfg.heartbeat_s * 1000 - 500);
    peer_read(&p);
    CHECK_INT_EQ(p.text.len, before);
    stream_tick(s, t0 + cfg.heartbeat_s * 1000 + 10);
    peer_read(&p);
    CHECK(p.text.len > before && strcmp(buf_str(&p.text) + before, ": ping\n\n") == 0);
    before = p.text.len;
    stream_tick(s, t0 + cfg.heartbeat_s * 1000 + 20); /* the next one is a whole interval later */
    peer_read(&p);
    CHECK_INT_EQ(p.text.len, before);
    stream_tick(s, t0 + 2 * cfg.heartbeat_s * 1000 + 20);
    peer_read(&p);
    CHECK(strcmp(buf_str(&p.text) + before, ": ping\n\n") == 0);
    peer_close(&p);
    stream_free(s);
}

/* PULSE_STREAM_MAX_S: a stream ends on its own once its time is up (on the
 * loop's clock), with a last comment and the FastCGI end, so a CGI host's
 * process comes back; EventSource resumes from its last event. A bearer
 * token expiring earlier ends it first. */
static void test_time_limit(void)
{
    struct stream *s = hub_new();
    struct peer p;
    long long t0 = clock_ms();

    stream_set_max_s(s, 30);
    peer_open(s, &p, 4, "topic=room:limit", NULL);
    turn(s);
    peer_read(&p);
    CHECK(status_is(&p, "Status: 200", NULL));
    stream_tick(s, t0 + 29000);
    turn(s);
    peer_read(&p);
    CHECK(!p.eof && strstr(buf_str(&p.text), "time limit") == NULL);
    stream_tick(s, t0 + 30500);
    turn(s);
    peer_read(&p);
    CHECK(strstr(buf_str(&p.text), ": stream time limit (PULSE_STREAM_MAX_S): reconnect to resume\n\n") != NULL);
    CHECK(p.ended);
    peer_close(&p);
    stream_free(s);
}

/* A connection that never finishes its request is closed once the
 * handshake time-out has passed on the loop's clock, and not before. */
static void test_handshake_timeout(void)
{
    struct stream *s = hub_new();
    struct peer p;
    int sv[2];

    memset(&p, 0, sizeof p);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    p.fd = sv[1];
    stream_accept(s, sv[0]);
    turn(s);
    stream_tick(s, clock_ms() + 5000);
    turn(s);
    CHECK_INT_EQ(s->handshakes.count, 1);
    stream_tick(s, clock_ms() + 10001);
    turn(s);
    CHECK_INT_EQ(s->handshakes.count, 0);
    peer_read(&p);
    CHECK(p.eof && p.text.len == 0);
    peer_close(&p);
    stream_free(s);
}

static int replaying(const struct stream *s)
{
    const struct conn *c;
    int n = 0;

    for (c = s->streams.head; c != NULL; c = c->next)
        n += c->replaying && conn_queued(c) > 0;
    return n;
}

/* The web server hangs up (or sends FCGI_ABORT_REQUEST) while a replay is
 * half sent: the connection, its queued frames and its topics are freed
 * (LeakSanitizer checks at exit), and the other stream is untouched. */
static void test_abort_mid_replay(void)
{
    static const unsigned char none[1] = {0};
    struct stream *s = hub_new();
    struct peer hang, abrt, stay;
    buf_t rec = {0};

    CHECK(append("room:abort", 600) == 0);
    stream_pump(s);
    peer_open(s, &hang, 1, "topic=room:abort", "1");
    peer_open(s, &abrt, 5, "topic=room:abort", "1");
    peer_open(s, &stay, 1, "topic=room:stay", NULL);
    turn(s);
    CHECK_INT_EQ(s->streams.count, 3);
    CHECK_INT_EQ(replaying(s), 2); /* both stopped half way */
    close(hang.fd); /* mid-replay */
    hang.fd = -1;
    record(&rec, 2, 5, none, 0);
    CHECK(write(abrt.fd, rec.p, rec.len) == (ssize_t)rec.len);
    turn(s);
    turn(s);
    CHECK_INT_EQ(s->streams.count, 1);
    CHECK(s->zombies.head == NULL);
    CHECK(topics_find(s, "room:abort") == NULL);
    CHECK(topics_find(s, "room:stay") != NULL);
    CHECK(append("room:stay", 1) == 0);
    stream_pump(s);
    drain(s, &stay);
    CHECK(strstr(buf_str(&stay.text), "event: note") != NULL);
    buf_free(&rec);
    peer_close(&hang);
    peer_close(&abrt);
    peer_close(&stay);
    stream_free(s);
}

/* The resume decisions (store_resume_point) as a stream takes them: an id
 * past the log's head is unknown_id on a primary, and waited for on an
 * edge (its copy will reach it); events after it gone is history_expired. */
static void test_resume_decisions(void)
{
    struct config saved = cfg;
    struct stream *s = hub_new();
    struct peer p, q, r;
    char past[24], body[64];

    snprintf(past, sizeof past, "%lld", (long long)head() + 50);
    peer_open(s, &p, 1, "topic=room:pos", past);
    turn(s);
    peer_read(&p);
    snprintf(body, sizeof body, "\"last_event_id\":%s}", past);
    CHECK(strstr(buf_str(&p.text), "event: reset\n") != NULL && strstr(buf_str(&p.text), "\"unknown_id\"") != NULL);
    CHECK(strstr(buf_str(&p.text), body) != NULL);
    stream_free(s);

    cfg.role = ROLE_EDGE;
    s = hub_new();
    peer_open(s, &q, 1, "topic=room:pos", past);
    turn(s);
    peer_read(&q);
    CHECK(status_is(&q, "Status: 200", NULL) && strstr(buf_str(&q.text), "event: reset") == NULL);
    CHECK(s->streams.head != NULL && s->streams.head->last_sent == strtoll(past, NULL, 10));
    stream_free(s);
    cfg = saved;

    /* an age floor past id 1 (what store_prune records): events after it are gone */
    CHECK(sqlite3_exec(db_handle(db), "UPDATE meta SET v = 3 WHERE k = 'aged_upto'", NULL, NULL,
                       NULL) == SQLITE_OK);
    s = hub_new();
    peer_open(s, &r, 1, "topic=room:pos", "1");
    turn(s);
    peer_read(&r);
    CHECK(strstr(buf_str(&r.text), "\"history_expired\"") != NULL);
    CHECK(s->streams.head != NULL && !s->streams.head->replaying);
    CHECK(sqlite3_exec(db_handle(db), "UPDATE meta SET v = 0 WHERE k = 'aged_upto'", NULL, NULL, NULL) == SQLITE_OK);
    stream_free(s);
    peer_close(&p);
    peer_close(&q);
    peer_close(&r);
}

int main(void)
{
    char *err = NULL;

    if (mkdtemp(dir) == NULL)
        return 1;
    signal(SIGPIPE, SIG_IGN); /* as proc_start does: a write to a closed peer is EPIPE */
    snprintf(db_path, sizeof db_path, "%s/pulse.db", dir);
    setenv("PULSE_DB", db_path, 1);
    setenv("PULSE_DATA", dir, 1);
    setenv("PULSE_JWT_SECRET", "unit-stream-secret", 1);
    CHECK(config_load(&err) == 0);
    if (pulse_cfg == NULL)
        return check_summary("test_stream");
    cfg = *pulse_cfg; /* the responder reads the cfg it is handed: the tests change their copy */
    cfg.stream_queue = 128;
    cfg.heartbeat_s = 15;
    CHECK(db_open(db_path, &db, &err) == 0);
    CHECK(loop_init() == 0);
    if (db != NULL) {
        test_replay_then_live_seam();
        test_time_limit();
        test_slow_consumer_is_ended();
        test_slow_consumer_closed_after_grace();
        test_caps();
        test_refusal_waits_for_the_end_of_the_request();
        test_heartbeat();
        test_handshake_timeout();
        test_abort_mid_replay();
        test_resume_decisions();
    }
    loop_close();
    db_close(db);
    free(err);
    unlink(db_path);
    {
        char side[300];
        snprintf(side, sizeof side, "%s-wal", db_path);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", db_path);
        unlink(side);
        snprintf(side, sizeof side, "%s-lock", db_path);
        unlink(side);
    }
    rmdir(dir);
    return check_summary("test_stream");
}
