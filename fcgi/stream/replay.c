/* replay.c - where a stream starts (live, a reset or a replay), the replay
 * of what a resuming client missed, and the resets of streams whose events
 * are gone (see hub.h). */
#include <time.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/sse.h"
#include "store/db.h"
#include "store/store.h"
#include "stream/hub.h"

#define REPLAY_BATCH 128
#define MAX_TOKEN_LIFE_S (366LL * 86400) /* a stream ends (and reconnects) at least this often */

/* An edge's log is a copy arriving in id order: a position past its head
 * was seen on another host and will be reached (store_resume_point). */
static int may_wait(const struct stream *s)
{
    return s->cfg->role == ROLE_EDGE;
}

/* Appends `event: reset` to text: the client cannot resume from last_id
 * (history_expired or unknown_id) and refetches state. Its id is where the
 * stream continues (what the refetched state holds at least), so the
 * browser's next reconnect resumes from there. */
static void reset_event(buf_t *text, int64_t id, const char *reason, long long last_id)
{
    buf_t data = {0};

    buf_printf(&data, "{\"reason\":\"%s\",\"last_event_id\":%lld}", reason, last_id);
    sse_event(text, id, SSE_RESET_TYPE, data.p, data.len);
    buf_free(&data);
    metrics_add(M_RESETS, 1);
}

/* Sends a reset on a stream and puts it live at `at` (at least the
 * high-water mark): the state the client refetches holds the log up to it. */
static void conn_reset(struct conn *c, const char *reason, long long last_id, int64_t at)
{
    buf_t text = {0};
    struct frame *f;

    if (at < c->s->high_water)
        at = c->s->high_water;
    reset_event(&text, at, reason, last_id);
    f = conn_frame_sse(&text, HUB_SHARED_REQUEST_ID);
    c->replaying = 0;
    c->last_sent = at;
    conn_send(c, f);
    conn_frame_unref(f);
    buf_free(&text);
}

/* The database file was replaced under the process (a backup put back
 * after the file was deleted: see db.h), or an edge's primary's was
 * (stream_log_replaced): the ids this responder delivered may be missing
 * from it. Every stream gets a reset
 * (unknown_id, as for a Last-Event-ID newer than the log) and goes on from
 * the new file's end. */
static void restart_all(struct stream *s, int64_t last)
{
    struct conn *c, *next;

    log_warn("the database file was replaced: every stream is reset and continues from id %lld", (long long)last);
    s->high_water = last;
    for (c = s->streams.head; c != NULL; c = next) {
        next = c->next;
        if (c->state == C_STREAM)
            conn_reset(c, "unknown_id", c->replaying ? c->cursor : c->last_sent, last);
    }
}

/* Opens a read of the log and reads its bounds (0), or -1 with nothing
 * open: the log cannot be read now (busy, or its file gone: see db.h). Any
 * read may be the first on a file put back at the path (db_begin follows
 * it), so every read checks the generation before using a position: the
 * streams are reset before anything is read from the new file. */
int replay_log_begin(struct stream *s, int64_t *pruned, int64_t *last)
{
    if (db_begin(s->db, 0) != 0 || store_bounds(s->db, pruned, last) != 0) {
        db_rollback(s->db);
        return -1;
    }
    if (s->log_unread) { /* the first file read: no stream was served from another */
        s->log_unread = 0;
        s->db_gen = db_generation(s->db);
        s->high_water = *last;
        log_info("database %s is there: streaming from id %lld", s->cfg->db_path, (long long)*last);
    }
    if (db_generation(s->db) != s->db_gen || s->log_replaced) {
        s->db_gen = db_generation(s->db);
        s->log_replaced = 0;
        restart_all(s, *last);
    }
    return 0;
}

struct replay_batch {
    struct conn *c;
    buf_t sse;
    int n;
};

static int replay_row(void *arg, int64_t id, const char *topic, const char *type, const char *env, size_t len)
{
    struct replay_batch *b = arg;

    (void)topic;
    sse_event(&b->sse, id, type, env, len);
    b->c->cursor = id;
    b->c->last_sent = id;
    b->n++;
    return 0;
}

/* A replay batch goes out as one frame: a reconnect storm costs one
 * allocation and one write per batch, not per event. */
static void replay_send(struct replay_batch *b)
{
    struct frame *f;

    if (b->n == 0)
        return;
    f = conn_frame_sse(&b->sse, HUB_SHARED_REQUEST_ID);
    if (conn_send(b->c, f) == 0)
        metrics_add(M_EVENTS_DELIVERED, b->n);
    conn_frame_unref(f);
}

/* Reads and sends one batch from c->cursor in the read replay_log_begin
 * opened (and ends it). 0 with *count the rows read, or -1 with the
 * position as it was: the log could not be read. */
static int replay_batch(struct conn *c, const char *const *topics, int *count)
{
    struct stream *s = c->s;
    struct replay_batch b = {c, {0}, 0};
    int64_t cursor = c->cursor, last_sent = c->last_sent;
    int rc;

    rc = store_read_topics(s->db, topics, c->ntopics, c->cursor, s->high_water, REPLAY_BATCH, replay_row, &b,
                           count);
    db_rollback(s->db); /* a read: ending it is all that is needed */
    if (rc == 0)
        replay_send(&b);
    buf_free(&b.sse);
    if (rc != 0) {
        c->cursor = cursor; /* the rows read before the failure were not sent */
        c->last_sent = last_sent;
    }
    return rc;
}

/* Sends the next batches of missed events while the socket keeps up; once
 * a batch comes back short the connection has reached the high-water mark
 * and goes live. Everything runs in the one loop thread, so no live event
 * can slip between the last replayed row and the switch.
 *
 * A log that cannot be read (busy, its file deleted) stops the replay
 * where it is, with the stream left open and live events held back
 * (replaying): the next pump that reads the log resumes it, or, for a
 * file put back, resets it (restart_all). Closing it would send the
 * client straight back with the same Last-Event-ID into the same failure,
 * and through a web server that reports an unfinished response. */
void replay_step(struct conn *c)
{
    struct stream *s = c->s;
    const char *topics[STORE_MAX_TOPICS];
    int64_t pruned, last;
    int i, count, lost;

    for (i = 0; i < c->ntopics; i++)
        topics[i] = c->subs[i].t->name;
    while (c->replaying && c->state == C_STREAM && conn_queued(c) == 0) {
        /* The retention check and the batch share one read snapshot: a
         * prune between batches (a slow client) must become a reset, never
         * a silent gap. */
        if (replay_log_begin(s, &pruned, &last) != 0) {
            s->replays_waiting = 1;
            return;
        }
        if (!c->replaying || c->state != C_STREAM) { /* reset: the file was put back (log_begin) */
            db_rollback(s->db);
            return;
        }
        if (store_pruned_after(s->db, topics, c->ntopics, c->cursor, &lost) != 0) {
            db_rollback(s->db);
            s->replays_waiting = 1;
            return;
        }
        if (store_resume_point(c->cursor, last, lost, 0) != STORE_RESUME_OK) {
            db_rollback(s->db); /* the cursor is at most the head: only a prune gets here */
            conn_reset(c, "history_expired", c->cursor, s->high_water);
            return;
        }
        if (replay_batch(c, topics, &count) != 0) {
            s->replays_waiting = 1;
            return;
        }
        if (count < REPLAY_BATCH && c->state == C_STREAM) {
            c->replaying = 0;
            if (c->last_sent < s->high_water)
                c->last_sent = s->high_water;
        }
    }
}

/* Where a stream starts, before a byte is written: live from the
 * high-water mark, or (on resume) a reset or the replay of what the client
 * missed. Returns the reset's reason, or NULL. */
static const char *stream_position(struct conn *c, const struct stream_req *r, int expired, int64_t last)
{
    const char *reset = NULL;
    enum store_resume point;

    c->last_sent = c->s->high_water;
    if (!r->has_last_id)
        return NULL;
    metrics_add(M_REPLAYS, 1);
    switch (point = store_resume_point(r->last_id, last, expired, may_wait(c->s))) {
    case STORE_RESUME_WAIT:
        /* Seen on another host, not mirrored here yet: what follows it
         * will be, in order. (An edge cannot tell this from a replaced
         * database; the primary can, and says unknown_id.) */
        c->last_sent = r->last_id;
        break;
    case STORE_RESUME_UNKNOWN:
    case STORE_RESUME_EXPIRED:
        reset = point == STORE_RESUME_UNKNOWN ? "unknown_id" : "history_expired";
        /* The client refetches its state, which holds the log up to
         * last at least: what follows the reset starts after it, even
         * when this loop has not fanned those events out yet. */
        if (c->last_sent < last)
            c->last_sent = last;
        break;
    case STORE_RESUME_OK:
        c->replaying = 1;
        c->cursor = r->last_id;
        c->last_sent = r->last_id;
        break;
    }
    return reset;
}

/* A stream opened with a bearer token lasts until the token's exp (Unix
 * seconds), as polling does: the client reconnects with a fresh one. */
static void stream_expire_at(struct conn *c, long long exp)
{
    long long left = exp - (long long)time(NULL);

    if (left < 0)
        left = 0;
    else if (left > MAX_TOKEN_LIFE_S)
        left = MAX_TOKEN_LIFE_S;
    if (c->deadline == 0 || clock_ms() + left * 1000 < c->deadline) {
        conn_set_deadline(c, clock_ms() + left * 1000);
        c->deadline_why = DEADLINE_TOKEN;
    }
}

/* A stream lasts max_s at most (PULSE_STREAM_MAX_S; 0 = no limit): a host
 * that counts processes or times requests out gets each back, and
 * EventSource comes again after the retry: it was given, from its last
 * event. */
static void stream_limit(struct conn *c, long max_s)
{
    if (max_s <= 0)
        return;
    conn_set_deadline(c, clock_ms() + max_s * 1000);
    c->deadline_why = DEADLINE_LIFETIME;
}

/* The response head, then the retry hint, a comment and the stream's
 * position as one field block: `id:` with no data sets EventSource's last
 * event id without dispatching anything, so a client that drops before its
 * first event still reconnects from where it was registered, not from
 * "now". Then the reset or the replay. */
void replay_start(struct conn *c, const struct stream_req *r, int expired, int64_t last)
{
    const char *reset = stream_position(c, r, expired, last);
    buf_t text = {0};
    struct frame *f;

    buf_puts(&text, "Status: 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                    "X-Accel-Buffering: no\r\n");
    if (r->origin)
        buf_printf(&text, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", r->origin);
    buf_puts(&text, "\r\n");
    sse_open(&text, c->s->cfg->retry_ms, "pulse stream open", c->last_sent);
    if (reset != NULL)
        reset_event(&text, c->last_sent, reset, r->last_id);
    stream_limit(c, c->s->stream_max_s);
    if (r->expires > 0)
        stream_expire_at(c, r->expires);
    f = conn_frame_sse(&text, c->reqid);
    metrics_count_status(200);
    if (conn_send(c, f) == 0 && c->replaying)
        replay_step(c);
    conn_frame_unref(f);
    buf_free(&text);
}

struct pruned_scan {
    struct stream *s;
    int64_t from;   /* every live stream has its topics' events up to here */
    int64_t last;   /* the log's head: where a reset stream goes on from */
};

/* A live stream that has its topics' events up to c->last_sent missed
 * some when ids up to pruned_upto are gone. */
static int live_missed(struct conn *c, int64_t pruned_upto, int64_t last)
{
    return c->state == C_STREAM && !c->replaying &&
           store_resume_point(c->last_sent, last, c->last_sent < pruned_upto, may_wait(c->s)) ==
               STORE_RESUME_EXPIRED;
}

/* A topic pruned past what this responder delivered: each live stream of
 * it that had not got the topic's last pruned event missed it, and gets a
 * reset. One reset is enough: the stream goes on from `last`, past it. */
static int reset_topic(void *arg, const char *name, int64_t pruned_upto)
{
    struct pruned_scan *scan = arg;
    struct topic *t = topics_find(scan->s, name);
    struct sub *sub;

    for (sub = t != NULL ? t->subs : NULL; sub != NULL; sub = sub->next) {
        struct conn *c = sub->c; /* may close: its struct (and sub) live until reap */
        if (live_missed(c, pruned_upto, scan->last))
            conn_reset(c, "history_expired", scan->from, scan->last);
    }
    return 0;
}

/* The log was pruned past what this responder delivered (it fell more
 * than a topic's PULSE_RETENTION behind): the live streams of the pruned
 * topics get a reset rather than a silent gap; the others go on untouched.
 * Every id up to `pruned` is gone whatever the topic (by age, or an edge's
 * gap): past the high-water mark, every live stream gets one. Costs one
 * index probe while nothing is pruned past the mark. 0 or -1. */
int replay_reset_pruned(struct stream *s, int64_t pruned, int64_t last)
{
    struct pruned_scan scan = {s, s->high_water, last};
    struct conn *c, *next;

    if (pruned > s->high_water) {
        for (c = s->streams.head; c != NULL; c = next) {
            next = c->next;
            if (live_missed(c, pruned, last))
                conn_reset(c, "history_expired", scan.from, last);
        }
        s->high_water = pruned;
    }
    return store_topics_pruned_after(s->db, scan.from, reset_topic, &scan);
}

/* Goes on with the replays a log that could not be read stopped (see
 * replay_step), now that it can be. (A replay step that finds a file put
 * back resets every stream, restart_all, and may close some: their structs
 * stay valid until reap, the walk then ends on the closed list, and no
 * stream is replaying any more.) */
void replay_resume_waiting(struct stream *s)
{
    struct conn *c, *next;

    s->replays_waiting = 0;
    for (c = s->streams.head; c != NULL; c = next) {
        next = c->next;
        if (c->state == C_STREAM && c->replaying && conn_queued(c) == 0)
            replay_step(c);
    }
}
