/* stream.c - connection registry and fan-out (see stream.h). */
#include "stream/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/http.h"
#include "http/sse.h"
#include "store/db.h"
#include "store/store.h"
#include "stream/stream_req.h"
#include "wire/fcgi_rec.h"
#include "wire/loop.h"

#define HANDSHAKE_TIMEOUT_MS 10000
#define REPLAY_BATCH 128
#define PUMP_BATCH 256
#define TOPIC_BUCKETS 16384
#define IOV_BATCH 64
#define SHARED_REQUEST_ID 1
#define CLOSE_GRACE_MS 30000  /* an ended stream the web server has not read to its end by then is closed */
#define MAX_TOKEN_LIFE_S (366LL * 86400) /* a stream ends (and reconnects) at least this often */   /* what lighttpd and nginx use on a fresh connection */

/* Bytes of whole FastCGI STDOUT records, shared by reference count among
 * every connection an event goes to: formatted once per event. */
struct frame {
    unsigned refs;
    size_t len;
    unsigned char wire[];
};

struct topic;
struct conn;

struct sub {
    struct conn *c;
    struct topic *t;
    struct sub *prev, *next;   /* the topic's subscribers */
};

struct topic {
    char *name;
    struct sub *subs;
    unsigned count;
    struct topic *hnext;
};

enum conn_state { C_HANDSHAKE, C_STREAM, C_CLOSING, C_DEAD };

struct conn {
    struct watch w;             /* first: the loop hands us &w */
    uint8_t state;
    uint8_t replaying;          /* live events wait until the replay catches up */
    uint8_t ntopics;
    uint16_t reqid;
    int64_t last_sent;          /* highest event id written or queued */
    int64_t cursor;             /* replay position */
    struct fcgi_in in;
    struct sub *subs;           /* ntopics entries */
    struct frame **q;           /* ring of pending frames, NULL when empty */
    uint32_t qhead, qlen, qcap;
    size_t qoff;                /* bytes of q[qhead] already written */
    long long deadline;         /* handshake time-out; then the token's expiry, 0 = none (ms) */
    struct conn *prev, *next;   /* handshakes, streams or zombies list */
};

struct list {
    struct conn *head;
    unsigned count;
};

static const struct config *cfg;
static struct db *db;
static void accept_conn(int fd);
static struct listener listener = {.on_conn = accept_conn,
                                   .hint = " (raise the fd limit or lower PULSE_MAX_CONNECTIONS)"};
static struct topic *buckets[TOPIC_BUCKETS];
static struct list handshakes, streams, zombies;
static int64_t high_water;          /* every event <= this has been dispatched */
static struct frame *ping_frame;
static long long next_heartbeat;
static long long next_expiry;       /* earliest stream deadline (ms), 0 = none */
static int serving = 1;             /* 0 while an edge's first copy of the log is incomplete */
static unsigned db_gen;             /* db_generation() high_water belongs to */
static int replays_waiting;         /* a replay stopped on a log it could not read */
static int log_unread;              /* started without the database file: no position read yet */

/* ---- frames ---- */

static struct frame *frame_from_sse(const buf_t *sse, uint16_t reqid)
{
    buf_t wire = {0};
    struct frame *f;

    fcgi_stdout(&wire, reqid, sse->p, sse->len);
    f = xmalloc(sizeof *f + wire.len);
    f->refs = 1;
    f->len = wire.len;
    memcpy(f->wire, wire.p, wire.len);
    buf_free(&wire);
    return f;
}

static struct frame *frame_from_records(const buf_t *recs)
{
    struct frame *f = xmalloc(sizeof *f + recs->len);

    f->refs = 1;
    f->len = recs->len;
    memcpy(f->wire, recs->p, recs->len);
    return f;
}

static void frame_unref(struct frame *f)
{
    if (f != NULL && --f->refs == 0)
        free(f);
}

/* ---- lists and topics ---- */

static void list_add(struct list *l, struct conn *c)
{
    c->prev = NULL;
    c->next = l->head;
    if (l->head)
        l->head->prev = c;
    l->head = c;
    l->count++;
}

static void list_del(struct list *l, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    l->count--;
}

static unsigned topic_hash(const char *s)
{
    unsigned h = 2166136261u; /* FNV-1a */

    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h % TOPIC_BUCKETS;
}

static struct topic *topic_find(const char *name)
{
    struct topic *t;

    for (t = buckets[topic_hash(name)]; t; t = t->hnext)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

static struct topic *topic_get(const char *name)
{
    struct topic *t = topic_find(name);
    unsigned h;

    if (t != NULL)
        return t;
    h = topic_hash(name);
    t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    t->hnext = buckets[h];
    buckets[h] = t;
    return t;
}

static void topic_release(struct topic *t)
{
    struct topic **pp;

    if (t->count > 0)
        return;
    for (pp = &buckets[topic_hash(t->name)]; *pp; pp = &(*pp)->hnext) {
        if (*pp == t) {
            *pp = t->hnext;
            break;
        }
    }
    free(t->name);
    free(t);
}

static void subscribe(struct conn *c, char *const *topics, int n)
{
    int i;

    c->subs = xcalloc((size_t)n, sizeof *c->subs);
    c->ntopics = (uint8_t)n;
    for (i = 0; i < n; i++) {
        struct sub *s = &c->subs[i];
        s->c = c;
        s->t = topic_get(topics[i]);
        s->next = s->t->subs;
        if (s->next)
            s->next->prev = s;
        s->t->subs = s;
        s->t->count++;
    }
}

static void unsubscribe(struct conn *c)
{
    int i;

    for (i = 0; i < c->ntopics; i++) {
        struct sub *s = &c->subs[i];
        if (s->prev)
            s->prev->next = s->next;
        else
            s->t->subs = s->next;
        if (s->next)
            s->next->prev = s->prev;
        s->t->count--;
        topic_release(s->t);
    }
    free(c->subs);
    c->subs = NULL;
    c->ntopics = 0;
}

/* ---- connections ---- */

static struct list *list_of(struct conn *c)
{
    return c->state == C_HANDSHAKE ? &handshakes : &streams;
}

/* Closes the socket at once (the client sees it promptly); the struct
 * lives on as a zombie until stream_reap so that iterations and pending
 * epoll events in this loop turn never touch freed memory. */
static void conn_close(struct conn *c)
{
    if (c->state == C_DEAD)
        return;
    list_del(list_of(c), c);
    list_add(&zombies, c);
    c->state = C_DEAD;
    loop_del(&c->w);
    close(c->w.fd);
    metrics_set(M_STREAMS_OPEN, streams.count);
}

static void conn_free(struct conn *c)
{
    while (c->qlen > 0) {
        frame_unref(c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    free(c->q);
    unsubscribe(c);
    fcgi_in_free(&c->in);
    free(c);
}

static int queue_push(struct conn *c, struct frame *f)
{
    if (c->qlen >= (uint32_t)cfg->stream_queue)
        return -1;
    if (c->qlen == c->qcap) {
        uint32_t cap = c->qcap ? c->qcap * 2 : 8, i;
        struct frame **q;

        q = xmalloc(cap * sizeof *q);
        for (i = 0; i < c->qlen; i++)
            q[i] = c->q[(c->qhead + i) % c->qcap];
        free(c->q);
        c->q = q;
        c->qcap = cap;
        c->qhead = 0;
    }
    f->refs++;
    c->q[(c->qhead + c->qlen) % c->qcap] = f;
    c->qlen++;
    return 0;
}

/* Writes as much of the queue as the socket takes. 0, or -1 when the
 * connection broke (and was closed). */
static int conn_flush(struct conn *c)
{
    while (c->qlen > 0) {
        struct iovec iov[IOV_BATCH];
        int n = 0;
        ssize_t w;

        while (n < IOV_BATCH && (uint32_t)n < c->qlen) {
            struct frame *f = c->q[(c->qhead + (uint32_t)n) % c->qcap];
            size_t off = n == 0 ? c->qoff : 0;
            iov[n].iov_base = f->wire + off;
            iov[n].iov_len = f->len - off;
            n++;
        }
        w = writev(c->w.fd, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            conn_close(c);
            return -1;
        }
        while (w > 0) {
            struct frame *f = c->q[c->qhead];
            size_t left = f->len - c->qoff;
            if ((size_t)w < left) {
                c->qoff += (size_t)w;
                break;
            }
            w -= (ssize_t)left;
            c->qoff = 0;
            frame_unref(f);
            c->qhead = (c->qhead + 1) % c->qcap;
            c->qlen--;
        }
    }
    if (c->qlen == 0) {
        free(c->q); /* idle connections keep no queue memory */
        c->q = NULL;
        c->qcap = c->qhead = 0;
    }
    if (loop_mod(&c->w, EPOLLIN | EPOLLRDHUP | (c->qlen ? EPOLLOUT : 0)) != 0) {
        /* watched by nothing it would never be written or reaped */
        log_warn("epoll: %s; closing a stream (it resumes)", strerror(errno));
        conn_close(c);
        return -1;
    }
    return 0;
}

/* A connection's next deadline on the loop's clock: its token's expiry
 * while it streams, the last moment to finish ending once it ends.
 * stream_tick looks only when the earliest one is due. */
static void set_deadline(struct conn *c, long long at_ms)
{
    c->deadline = at_ms;
    if (next_expiry == 0 || at_ms < next_expiry)
        next_expiry = at_ms;
}

/* Ends a stream on our side, saying why in a last comment. The frames the
 * client has not started to receive are dropped, and its FastCGI request
 * ends with FCGI_END_REQUEST after the frame already partly written, if
 * any (a frame holds whole events, so the client ends on a whole event).
 * The web server then finishes the response as usual; closing the socket
 * instead reads as a crashed backend to lighttpd, two "perhaps the fastcgi
 * process died" lines in its error log per stream. EventSource reconnects
 * from its last event: nothing is lost. The connection closes once the end
 * is written (conn_on_io), when the web server hangs up first, or after
 * CLOSE_GRACE_MS (a client that stopped reading keeps no slot for long). */
static void conn_end(struct conn *c, const char *why)
{
    buf_t text = {0}, recs = {0};
    struct frame *end;
    uint32_t keep = c->qoff > 0 ? 1 : 0;

    while (c->qlen > keep) {
        c->qlen--;
        frame_unref(c->q[(c->qhead + c->qlen) % c->qcap]);
    }
    c->state = C_CLOSING; /* no more events, pings or replay */
    c->replaying = 0;
    sse_comment(&text, why);
    fcgi_stdout(&recs, c->reqid, text.p, text.len);
    fcgi_end(&recs, c->reqid);
    end = frame_from_records(&recs);
    /* Cannot fail: at most one frame is left and stream_queue >= 128. */
    if (queue_push(c, end) != 0)
        conn_close(c);
    frame_unref(end);
    if (c->state == C_CLOSING && conn_flush(c) == 0 && c->qlen == 0)
        conn_close(c);
    if (c->state == C_CLOSING)
        set_deadline(c, loop_now_ms() + CLOSE_GRACE_MS);
    buf_free(&text);
    buf_free(&recs);
}

/* Queues f for c (a private copy when c's request id differs) and writes.
 * A client that has fallen stream_queue frames behind is let go (see
 * conn_end). 0, or -1 if the stream is over. */
static int conn_send(struct conn *c, struct frame *f)
{
    struct frame *own = NULL;
    int rc;

    if (c->state == C_DEAD)
        return -1;
    if (c->reqid != SHARED_REQUEST_ID) {
        own = xmalloc(sizeof *own + f->len);
        own->refs = 1;
        own->len = f->len;
        memcpy(own->wire, f->wire, f->len);
        fcgi_set_request_id(own->wire, own->len, c->reqid);
        f = own;
    }
    if (queue_push(c, f) != 0) {
        frame_unref(own);
        metrics_add(M_SLOW_CONSUMERS, 1);
        conn_end(c, "too far behind: reconnect to resume");
        return -1;
    }
    frame_unref(own);
    rc = c->qlen > 1 ? 0 : conn_flush(c);
    return rc;
}

static struct frame *event_frame(int64_t id, const char *type, const char *env, size_t len)
{
    buf_t sse = {0};
    struct frame *f;

    sse_event(&sse, id, type, env, len);
    f = frame_from_sse(&sse, SHARED_REQUEST_ID);
    buf_free(&sse);
    return f;
}

/* ---- replay ---- */

/* Appends `event: reset` to text: the client cannot resume from last_id
 * (history_expired or unknown_id) and refetches state. Its id is where the
 * stream continues (what the refetched state holds at least), so the
 * browser's next reconnect resumes from there. */
static void reset_event(buf_t *text, int64_t id, const char *reason, long long last_id)
{
    buf_t data = {0};

    buf_printf(&data, "{\"reason\":\"%s\",\"last_event_id\":%lld}", reason, last_id);
    sse_event(text, id, "reset", data.p, data.len);
    buf_free(&data);
    metrics_add(M_RESETS, 1);
}

/* Sends a reset on a stream and puts it live at `at` (at least the
 * high-water mark): the state the client refetches holds the log up to it. */
static void conn_reset(struct conn *c, const char *reason, long long last_id, int64_t at)
{
    buf_t text = {0};
    struct frame *f;

    if (at < high_water)
        at = high_water;
    reset_event(&text, at, reason, last_id);
    f = frame_from_sse(&text, SHARED_REQUEST_ID);
    c->replaying = 0;
    c->last_sent = at;
    conn_send(c, f);
    frame_unref(f);
    buf_free(&text);
}

/* The database file was replaced under the process (a backup put back
 * after the file was deleted: see db.h): the ids this responder delivered
 * may be missing from it, or name other events. Every stream gets a reset
 * (unknown_id, as for a Last-Event-ID newer than the log) and goes on from
 * the new file's end. */
static void restart_all(int64_t last)
{
    struct conn *c, *next;

    log_warn("the database file was replaced: every stream is reset and continues from id %lld", (long long)last);
    high_water = last;
    for (c = streams.head; c != NULL; c = next) {
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
static int log_begin(int64_t *pruned, int64_t *last)
{
    if (db_begin(db, 0) != 0 || store_bounds(db, pruned, last) != 0) {
        db_rollback(db);
        return -1;
    }
    if (log_unread) { /* the first file read: no stream was served from another */
        log_unread = 0;
        db_gen = db_generation(db);
        high_water = *last;
        log_info("database %s is there: streaming from id %lld", cfg->db_path, (long long)*last);
    }
    if (db_generation(db) != db_gen) {
        db_gen = db_generation(db);
        restart_all(*last);
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
    f = frame_from_sse(&b->sse, SHARED_REQUEST_ID);
    if (conn_send(b->c, f) == 0)
        metrics_add(M_EVENTS_DELIVERED, b->n);
    frame_unref(f);
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
static void replay_step(struct conn *c)
{
    const char *topics[STORE_MAX_TOPICS];
    struct replay_batch b = {c, {0}, 0};
    int64_t pruned, last, cursor, last_sent;
    int i, count, rc, lost;

    for (i = 0; i < c->ntopics; i++)
        topics[i] = c->subs[i].t->name;
    while (c->replaying && c->state == C_STREAM && c->qlen == 0) {
        /* The retention check and the batch share one read snapshot: a
         * prune between batches (a slow client) must become a reset, never
         * a silent gap. */
        if (log_begin(&pruned, &last) != 0) {
            replays_waiting = 1;
            return;
        }
        if (!c->replaying || c->state != C_STREAM) { /* reset: the file was put back (log_begin) */
            db_rollback(db);
            return;
        }
        if (store_pruned_after(db, topics, c->ntopics, c->cursor, &lost) != 0) {
            db_rollback(db);
            replays_waiting = 1;
            return;
        }
        if (lost) {
            db_rollback(db);
            conn_reset(c, "history_expired", c->cursor, high_water);
            return;
        }
        b.n = 0;
        cursor = c->cursor;
        last_sent = c->last_sent;
        rc = store_read_topics(db, topics, c->ntopics, c->cursor, high_water, REPLAY_BATCH, replay_row, &b,
                               &count);
        db_rollback(db); /* a read: ending it is all that is needed */
        if (rc == 0)
            replay_send(&b);
        buf_free(&b.sse);
        if (rc != 0) {
            c->cursor = cursor; /* the rows read before the failure were not sent */
            c->last_sent = last_sent;
            replays_waiting = 1;
            return;
        }
        if (count < REPLAY_BATCH && c->state == C_STREAM) {
            c->replaying = 0;
            if (c->last_sent < high_water)
                c->last_sent = high_water;
        }
    }
}

/* ---- handshake ---- */

static void respond_error(struct conn *c, const struct stream_req *r)
{
    const char *args[2] = {r->code, r->message};
    char *json = db_one_text(db, SQL_JSON_ERROR, 2, args);
    buf_t head = {0}, recs = {0};
    struct frame *f;

    buf_printf(&head, "Status: %d %s\r\nContent-Type: application/json; charset=utf-8\r\n", r->status,
               http_status_text(r->status));
    if (r->status == 503)
        buf_puts(&head, "Retry-After: 5\r\n");
    if (r->allow)
        buf_printf(&head, "Allow: %s\r\n", r->allow);
    if (r->status == 401)
        buf_puts(&head, "WWW-Authenticate: Bearer\r\n");
    if (r->origin)
        buf_printf(&head, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", r->origin);
    buf_printf(&head, "\r\n%s", json ? json : "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}");
    fcgi_stdout(&recs, c->reqid, head.p, head.len);
    fcgi_end(&recs, c->reqid);
    f = frame_from_records(&recs);
    metrics_count_status(r->status);
    list_del(&handshakes, c);
    c->state = C_CLOSING;
    list_add(&streams, c);
    if (conn_send(c, f) == 0 && c->qlen == 0)
        conn_close(c);
    if (c->state == C_CLOSING)
        set_deadline(c, loop_now_ms() + CLOSE_GRACE_MS);
    frame_unref(f);
    free(json);
    buf_free(&head);
    buf_free(&recs);
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
    set_deadline(c, loop_now_ms() + left * 1000);
}

/* Ends the streams whose token expired and closes the ended ones the web
 * server has not finished reading; keeps next_expiry the earliest deadline
 * left, so the scan runs only when one is due. */
static void expire_streams(long long now_ms)
{
    struct conn *c, *next;

    if (next_expiry == 0 || now_ms < next_expiry)
        return;
    next_expiry = 0;
    for (c = streams.head; c != NULL; c = next) {
        next = c->next;
        if (c->deadline == 0 || (c->state != C_STREAM && c->state != C_CLOSING))
            continue;
        if (c->deadline > now_ms)
            set_deadline(c, c->deadline);
        else if (c->state == C_STREAM)
            conn_end(c, "token expired: reconnect with a fresh one");
        else
            conn_close(c);
    }
}

/* Caps: PULSE_MAX_CONNECTIONS streams per process, PULSE_MAX_PER_TOPIC per
 * topic. Refusing costs the client a 503 and leaves others untouched. */
static int over_cap(struct stream_req *r)
{
    int i;

    if (streams.count >= (unsigned)cfg->max_connections) {
        r->message = "too many streams on this instance; retry later or poll /api/events";
        goto full;
    }
    for (i = 0; i < r->ntopics; i++) {
        struct topic *t = topic_find(r->topics[i]);
        if (t != NULL && t->count >= (unsigned)cfg->max_per_topic) {
            r->message = "too many streams on this topic; retry later or poll /api/events";
            goto full;
        }
    }
    return 0;
full:
    r->status = 503;
    r->code = "overloaded";
    metrics_add(M_STREAMS_REJECTED, 1);
    return 1;
}

/* Where a stream starts, before a byte is written: live from the
 * high-water mark, or (on resume) a reset or the replay of what the client
 * missed. Returns the reset's reason, or NULL. */
static const char *stream_position(struct conn *c, const struct stream_req *r, int expired, int64_t last)
{
    const char *reset = NULL;

    c->last_sent = high_water;
    if (r->has_last_id) {
        metrics_add(M_REPLAYS, 1);
        if (r->last_id > last && cfg->role == ROLE_EDGE) {
            /* Seen on another host, not mirrored here yet: what follows it
             * will be, in order. (An edge cannot tell this from a replaced
             * database; the primary can, and says unknown_id.) */
            c->last_sent = r->last_id;
        } else if (r->last_id > last || expired) {
            reset = r->last_id > last ? "unknown_id" : "history_expired";
            /* The client refetches its state, which holds the log up to
             * last at least: what follows the reset starts after it, even
             * when this loop has not fanned those events out yet. */
            if (c->last_sent < last)
                c->last_sent = last;
        } else {
            c->replaying = 1;
            c->cursor = r->last_id;
            c->last_sent = r->last_id;
        }
    }
    return reset;
}

/* The response head, then the retry hint and the stream's position as one
 * field block: `id:` with no data sets EventSource's last event id without
 * dispatching anything, so a client that drops before its first event
 * still reconnects from where it was registered, not from "now". Then a
 * comment, and the reset or the replay. */
static void start_stream(struct conn *c, const struct stream_req *r, int expired, int64_t last)
{
    const char *reset = stream_position(c, r, expired, last);
    buf_t text = {0};
    struct frame *f;

    buf_puts(&text, "Status: 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                    "X-Accel-Buffering: no\r\n");
    if (r->origin)
        buf_printf(&text, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n", r->origin);
    buf_puts(&text, "\r\n");
    sse_open(&text, cfg->retry_ms, c->last_sent);
    sse_comment(&text, "pulse stream open");
    if (reset != NULL)
        reset_event(&text, c->last_sent, reset, r->last_id);
    if (r->expires > 0)
        stream_expire_at(c, r->expires);
    f = frame_from_sse(&text, c->reqid);
    metrics_count_status(200);
    if (conn_send(c, f) == 0 && c->replaying)
        replay_step(c);
    frame_unref(f);
    buf_free(&text);
}

static void handshake_done(struct conn *c)
{
    struct stream_req r;
    int64_t pruned = 0, last = 0;
    int i, j, n = 0, expired = 0;

    stream_req_parse(db, &c->in.params, (long long)time(NULL), &r);
    buf_free(&c->in.params);
    c->reqid = c->in.request_id;
    /* Duplicate topics would deliver an event twice: keep the first. */
    for (i = 0; i < r.ntopics; i++) {
        for (j = 0; j < n && strcmp(r.topics[j], r.topics[i]) != 0; j++)
            ;
        if (j < n) {
            free(r.topics[i]);
            continue;
        }
        r.topics[n++] = r.topics[i];
    }
    r.ntopics = n;
    if (r.status == 200 && !serving) {
        r.status = 503;
        r.code = "unavailable";
        r.message = "this edge is still copying the event log from Redis; retry shortly";
    }
    /* Started without the file: it may be back now (the first request
     * after it is there reads it, as in the other processes). */
    if (r.status == 200 && log_unread && log_begin(&pruned, &last) == 0)
        db_rollback(db);
    if (r.status == 200 && log_unread) {
        r.status = 503;
        r.code = "unavailable";
        r.message = "the database is busy or unavailable; retry shortly";
    }
    /* The log's bounds decide a resume; unreadable now, the client retries. */
    if (r.status == 200 && r.has_last_id) {
        int busy = log_begin(&pruned, &last) != 0;

        if (!busy) {
            busy = store_pruned_after(db, (const char *const *)r.topics, (size_t)r.ntopics, r.last_id, &expired) != 0;
            db_rollback(db);
        }
        if (busy) {
            r.status = 503;
            r.code = "unavailable";
            r.message = "the event log is busy; retry shortly";
        }
    }
    if (r.status != 200 || over_cap(&r)) {
        respond_error(c, &r);
    } else {
        list_del(&handshakes, c);
        c->state = C_STREAM;
        c->deadline = 0; /* the handshake's; the token's, if any, comes next */
        list_add(&streams, c);
        subscribe(c, r.topics, r.ntopics);
        metrics_set(M_STREAMS_OPEN, streams.count);
        start_stream(c, &r, expired, last);
    }
    stream_req_free(&r);
}

static void conn_on_io(struct watch *w, uint32_t events)
{
    struct conn *c = (struct conn *)w;
    unsigned char tmp[4096];

    if (c->state == C_DEAD)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            ssize_t n = read(w->fd, tmp, sizeof tmp);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                conn_close(c); /* the web server hung up: the client is gone */
                return;
            }
            if (n < 0)
                break;
            if (fcgi_in_feed(&c->in, tmp, (size_t)n) != 0 || c->in.aborted) {
                conn_close(c);
                return;
            }
            if (c->state == C_HANDSHAKE && c->in.params_done) {
                handshake_done(c);
                if (c->state == C_DEAD)
                    return;
            }
        }
    }
    if ((events & EPOLLOUT) && conn_flush(c) == 0 && c->qlen == 0) {
        if (c->state == C_CLOSING)
            conn_close(c);
        else if (c->replaying)
            replay_step(c);
    }
}

/* ---- public ---- */

int stream_init(const struct config *config, struct db *database, int listen_fd)
{
    int64_t pruned;
    buf_t ping = {0};

    cfg = config;
    db = database;
    /* A process started while the file is missing (db_open: deleted while
     * the others run) waits for it like them, answering new streams 503,
     * instead of exiting to be restarted over and over: its first read of
     * the file put back (log_begin) sets the high-water mark. */
    if (store_bounds(db, &pruned, &high_water) != 0) {
        if (db_healthy(db))
            return -1;
        log_unread = 1;
    }
    sse_comment(&ping, "ping");
    ping_frame = frame_from_sse(&ping, SHARED_REQUEST_ID);
    buf_free(&ping);
    next_heartbeat = loop_now_ms() + cfg->heartbeat_s * 1000;
    return loop_listen(&listener, listen_fd);
}

static void accept_conn(int fd)
{
    struct conn *c = xcalloc(1, sizeof *c);

    c->w.fd = fd;
    c->w.cb = conn_on_io;
    c->state = C_HANDSHAKE;
    c->deadline = loop_now_ms() + HANDSHAKE_TIMEOUT_MS;
    list_add(&handshakes, c);
    if (loop_add(&c->w, EPOLLIN | EPOLLRDHUP) != 0) {
        log_warn("epoll add: %s", strerror(errno));
        conn_close(c);
    }
}

static int dispatch_row(void *arg, int64_t id, const char *topic, const char *type, const char *env, size_t len)
{
    struct topic *t = topic_find(topic);
    struct frame *f = NULL;
    struct sub *s, *next;

    (void)arg;
    high_water = id;
    if (t == NULL)
        return 0;
    for (s = t->subs; s != NULL; s = next) {
        struct conn *c = s->c;
        next = s->next; /* c may close; its struct (and sub) live until reap */
        if (c->state != C_STREAM || c->replaying || id <= c->last_sent)
            continue;
        if (f == NULL)
            f = event_frame(id, type, env, len);
        c->last_sent = id;
        if (conn_send(c, f) == 0)
            metrics_add(M_EVENTS_DELIVERED, 1);
    }
    frame_unref(f);
    return 0;
}

struct pruned_scan {
    int64_t from;   /* every live stream has its topics' events up to here */
    int64_t last;   /* the log's head: where a reset stream goes on from */
};

/* A topic pruned past what this responder delivered: each live stream of
 * it that had not got the topic's last pruned event missed it, and gets a
 * reset. One reset is enough: the stream goes on from `last`, past it. */
static int reset_topic(void *arg, const char *name, int64_t pruned_upto)
{
    struct pruned_scan *scan = arg;
    struct topic *t = topic_find(name);
    struct sub *s;

    for (s = t != NULL ? t->subs : NULL; s != NULL; s = s->next) {
        struct conn *c = s->c; /* may close: its struct (and sub) live until reap */
        if (c->state == C_STREAM && !c->replaying && c->last_sent < pruned_upto)
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
static int reset_pruned(int64_t pruned, int64_t last)
{
    struct pruned_scan scan = {high_water, last};
    struct conn *c, *next;

    if (pruned > high_water) {
        for (c = streams.head; c != NULL; c = next) {
            next = c->next;
            if (c->state == C_STREAM && !c->replaying && c->last_sent < pruned)
                conn_reset(c, "history_expired", scan.from, last);
        }
        high_water = pruned;
    }
    return store_topics_pruned_after(db, scan.from, reset_topic, &scan);
}

/* Goes on with the replays a log that could not be read stopped (see
 * replay_step), now that it can be. (A replay step that finds a file put
 * back resets every stream, restart_all, and may close some: their structs
 * stay valid until reap, the walk then ends on the closed list, and no
 * stream is replaying any more.) */
static void resume_replays(void)
{
    struct conn *c, *next;

    replays_waiting = 0;
    for (c = streams.head; c != NULL; c = next) {
        next = c->next;
        if (c->state == C_STREAM && c->replaying && c->qlen == 0)
            replay_step(c);
    }
}

void stream_pump(void)
{
    int64_t pruned, last;
    int count, rc;

    do {
        if (log_begin(&pruned, &last) != 0)
            return; /* busy database: the next wake-up or tail poll retries */
        if (reset_pruned(pruned, last) != 0) {
            db_rollback(db);
            return;
        }
        if (streams.head == NULL) {
            /* Nobody to deliver to (a new stream replays from the log up
             * to high_water first): no envelopes to build. */
            if (last > high_water)
                high_water = last;
            rc = count = 0;
        } else {
            rc = store_read_after(db, high_water, PUMP_BATCH, dispatch_row, NULL, &count);
        }
        db_rollback(db);
    } while (rc == 0 && count == PUMP_BATCH);
    if (rc == 0 && replays_waiting)
        resume_replays();
}

void stream_tick(long long now_ms)
{
    struct conn *c, *next;

    loop_listener_tick(&listener, now_ms);

    for (c = handshakes.head; c != NULL; c = next) {
        next = c->next;
        if (now_ms >= c->deadline)
            conn_close(c);
    }
    expire_streams(now_ms);
    if (now_ms < next_heartbeat)
        return;
    next_heartbeat = now_ms + cfg->heartbeat_s * 1000;
    for (c = streams.head; c != NULL; c = next) {
        next = c->next;
        if (c->state == C_STREAM)
            conn_send(c, ping_frame);
    }
}

void stream_reap(void)
{
    struct conn *c;

    while ((c = zombies.head) != NULL) {
        list_del(&zombies, c);
        conn_free(c);
    }
}

void stream_shutdown(void)
{
    struct conn *c, *next;

    for (c = streams.head; c != NULL; c = next) {
        buf_t recs = {0};
        next = c->next;
        /* Best effort: tell the web server the response is complete,
         * unless a partly written frame is in the way. */
        fcgi_end(&recs, c->reqid);
        if (c->qlen == 0 && write(c->w.fd, recs.p, recs.len) < 0) {
            /* the connection is going away either way */
        }
        buf_free(&recs);
        conn_close(c);
    }
    for (c = handshakes.head; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
    stream_reap();
    frame_unref(ping_frame);
    ping_frame = NULL;
}

void stream_set_serving(int on)
{
    if (on && !serving)
        log_info("serving streams from the mirrored log (at id %lld)", (long long)high_water);
    serving = on;
}

int64_t stream_high_water(void)
{
    return high_water;
}
