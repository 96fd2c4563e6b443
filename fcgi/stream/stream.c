/* stream.c - the stream responder's hub: the handshake, the accept loop,
 * fan-out of new events, heartbeats and deadlines (see stream.h; its parts
 * in hub.h). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "base/alloc.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/http.h"
#include "http/sse.h"
#include "store/db.h"
#include "store/store.h"
#include "stream/hub.h"

#define HANDSHAKE_TIMEOUT_MS 10000
#define PUMP_BATCH 256

void stream_set_err(struct stream *s, int err, const char *fmt, ...)
{
    buf_t text = {0};
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&text, fmt, ap);
    va_end(ap);
    free(s->errstr);
    s->err = err;
    s->errstr = buf_steal(&text);
}

int stream_err(const struct stream *s)
{
    return s->err;
}

const char *stream_errstr(const struct stream *s)
{
    return s->errstr != NULL ? s->errstr : "";
}

/* ---- handshake ---- */

/* A refused or ended request's connection is closed once its answer is
 * written and the web server has sent all of the request (the empty STDIN
 * record): Apache's mod_proxy_fcgi sends that record after the params and,
 * finding the socket closed, throws the answer away and says 503 instead. */
static int closing_done(const struct conn *c)
{
    return conn_queued(c) == 0 && c->in.stdin_done;
}

static void respond_error(struct conn *c, const struct stream_req *r)
{
    buf_t text = {0}, recs = {0};
    struct frame *f;

    stream_req_answer_error(r, c->s->db, &text);
    fcgi_stdout(&recs, c->reqid, text.p, text.len);
    fcgi_end(&recs, c->reqid);
    f = conn_frame_records(&recs);
    metrics_count_status(r->status);
    conn_list_del(&c->s->handshakes, c);
    c->state = C_CLOSING;
    conn_list_add(&c->s->streams, c);
    if (conn_send(c, f) == 0 && closing_done(c))
        conn_close(c);
    if (c->state == C_CLOSING)
        conn_set_deadline(c, clock_ms() + HUB_CLOSE_GRACE_MS);
    conn_frame_unref(f);
    buf_free(&text);
    buf_free(&recs);
}

/* Caps: PULSE_MAX_CONNECTIONS streams per process, PULSE_MAX_PER_TOPIC per
 * topic. Refusing costs the client a 503 and leaves others untouched. */
static int over_cap(struct stream *s, struct stream_req *r)
{
    int i;

    if (s->streams.count >= (unsigned)s->cfg->max_connections) {
        r->message = "too many streams on this instance; retry later or poll /api/events";
        goto full;
    }
    for (i = 0; i < r->ntopics; i++) {
        struct topic *t = topics_find(s, r->topics[i]);
        if (t != NULL && t->count >= (unsigned)s->cfg->max_per_topic) {
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

/* PULSE_MAX_PER_CLIENT streams per address, counted across every web
 * server process that passes REMOTE_ADDR: 429, as nginx's limit_conn. */
static int over_client_limit(struct stream *s, struct conn *c, const char *remote_addr, struct stream_req *r)
{
    if (clients_hold(s, c, remote_addr) == 0)
        return 0;
    r->status = 429;
    r->code = "too_many_connections";
    r->message = "this address holds too many connections; close some or retry later";
    metrics_add(M_STREAMS_REJECTED, 1);
    return 1;
}

static void unavailable(struct stream_req *r, const char *message)
{
    r->status = 503;
    r->code = "unavailable";
    r->message = message;
}

/* Duplicate topics would deliver an event twice: keep the first. */
static void dedupe_topics(struct stream_req *r)
{
    int i, j, n = 0;

    for (i = 0; i < r->ntopics; i++) {
        for (j = 0; j < n && strcmp(r->topics[j], r->topics[i]) != 0; j++)
            ;
        if (j < n) {
            free(r->topics[i]);
            continue;
        }
        r->topics[n++] = r->topics[i];
    }
    r->ntopics = n;
}

static void handshake_done(struct conn *c)
{
    struct stream *s = c->s;
    struct stream_req r;
    int64_t pruned = 0, last = 0;
    int expired = 0;
    char *addr = fcgi_param_dup(&c->in.params, "REMOTE_ADDR");

    stream_req_parse(s->cfg, s->db, s->tokens, &c->in.params, (long long)time(NULL), &r);
    buf_free(&c->in.params);
    c->reqid = c->in.request_id;
    dedupe_topics(&r);
    if (r.status == 200 && !s->serving)
        unavailable(&r, "this edge is still copying the event log from Redis; retry shortly");
    /* Started without the file: it may be back now (the first request
     * after it is there reads it, as in the other processes). */
    if (r.status == 200 && s->log_unread && replay_log_begin(s, &pruned, &last) == 0)
        db_rollback(s->db);
    if (r.status == 200 && s->log_unread)
        unavailable(&r, "the database is busy or unavailable; retry shortly");
    /* The log's bounds decide a resume; unreadable now, the client retries. */
    if (r.status == 200 && r.has_last_id) {
        int busy = replay_log_begin(s, &pruned, &last) != 0;

        if (!busy) {
            busy = store_pruned_after(s->db, (const char *const *)r.topics, (size_t)r.ntopics, r.last_id,
                                      &expired) != 0;
            db_rollback(s->db);
        }
        if (busy)
            unavailable(&r, "the event log is busy; retry shortly");
    }
    if (r.status != 200 || over_cap(s, &r) || over_client_limit(s, c, addr, &r)) {
        respond_error(c, &r);
    } else {
        conn_list_del(&s->handshakes, c);
        c->state = C_STREAM;
        c->deadline = 0; /* the handshake's; the token's, if any, comes next */
        conn_list_add(&s->streams, c);
        topics_subscribe(s, c, r.topics, r.ntopics);
        metrics_set(M_STREAMS_OPEN, s->streams.count);
        replay_start(c, &r, expired, last);
    }
    stream_req_free(&r);
    free(addr);
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
            if (c->state == C_CLOSING && closing_done(c)) {
                conn_close(c);
                return;
            }
        }
    }
    if ((events & EPOLLOUT) && conn_flush(c) == 0 && conn_queued(c) == 0) {
        if (c->state == C_CLOSING && closing_done(c))
            conn_close(c);
        else if (c->replaying)
            replay_step(c);
    }
}

/* ---- the hub ---- */

static void on_accept(struct listener *l, int fd)
{
    stream_accept((struct stream *)((char *)l - offsetof(struct stream, listener)), fd);
}

struct stream *stream_new(const struct config *cfg, struct db *db, int listen_fd)
{
    struct stream *s = xcalloc(1, sizeof *s);
    int64_t pruned;
    buf_t ping = {0};

    s->cfg = cfg;
    s->db = db;
    s->tokens = auth_cache_open();
    s->serving = 1;
    s->stream_max_s = cfg->stream_max_s;
    s->buckets = xcalloc(HUB_TOPIC_BUCKETS, sizeof *s->buckets);
    s->clients = xcalloc(HUB_CLIENT_BUCKETS, sizeof *s->clients);
    s->listener.on_conn = on_accept;
    s->listener.hint = " (raise the fd limit or lower PULSE_MAX_CONNECTIONS)";
    s->listener.w.fd = -1;
    sse_comment(&ping, "ping");
    s->ping_frame = conn_frame_sse(&ping, HUB_SHARED_REQUEST_ID);
    buf_free(&ping);
    s->next_heartbeat = clock_ms() + cfg->heartbeat_s * 1000;
    /* A process started while the file is missing (db_open: deleted while
     * the others run) waits for it like them, answering new streams 503,
     * instead of exiting to be restarted over and over: its first read of
     * the file put back (replay_log_begin) sets the high-water mark. */
    if (store_bounds(db, &pruned, &s->high_water) != 0) {
        if (db_healthy(db)) {
            stream_set_err(s, STREAM_ERR_DB, "cannot read the event log's bounds");
            return s;
        }
        s->log_unread = 1;
    }
    if (listen_fd >= 0 && loop_listen(&s->listener, listen_fd) != 0)
        stream_set_err(s, STREAM_ERR_IO, "listening on fd %d: %s", listen_fd, strerror(errno));
    return s;
}

void stream_accept(struct stream *s, int fd)
{
    struct conn *c = xcalloc(1, sizeof *c);

    c->s = s;
    c->w.fd = fd;
    c->w.cb = conn_on_io;
    c->state = C_HANDSHAKE;
    c->deadline = clock_ms() + HANDSHAKE_TIMEOUT_MS;
    conn_list_add(&s->handshakes, c);
    if (loop_add(&c->w, EPOLLIN | EPOLLRDHUP) != 0) {
        log_warn("epoll add: %s", strerror(errno));
        conn_close(c);
    }
}

static struct frame *event_frame(int64_t id, const char *type, const char *env, size_t len)
{
    buf_t sse = {0};
    struct frame *f;

    sse_event(&sse, id, type, env, len);
    f = conn_frame_sse(&sse, HUB_SHARED_REQUEST_ID);
    buf_free(&sse);
    return f;
}

static int dispatch_row(void *arg, int64_t id, const char *topic, const char *type, const char *env, size_t len)
{
    struct stream *s = arg;
    struct topic *t = topics_find(s, topic);
    struct frame *f = NULL;
    struct sub *sub, *next;

    s->high_water = id;
    if (t == NULL)
        return 0;
    for (sub = t->subs; sub != NULL; sub = next) {
        struct conn *c = sub->c;
        next = sub->next; /* c may close; its struct (and sub) live until reap */
        if (c->state != C_STREAM || c->replaying || id <= c->last_sent)
            continue;
        if (f == NULL)
            f = event_frame(id, type, env, len);
        c->last_sent = id;
        if (conn_send(c, f) == 0)
            metrics_add(M_EVENTS_DELIVERED, 1);
    }
    conn_frame_unref(f);
    return 0;
}

void stream_pump(struct stream *s)
{
    int64_t pruned, last;
    int count, rc;

    do {
        if (replay_log_begin(s, &pruned, &last) != 0)
            return; /* busy database: the next wake-up or tail poll retries */
        if (replay_reset_pruned(s, pruned, last) != 0) {
            db_rollback(s->db);
            return;
        }
        if (s->streams.head == NULL) {
            /* Nobody to deliver to (a new stream replays from the log up
             * to high_water first): no envelopes to build. */
            if (last > s->high_water)
                s->high_water = last;
            rc = count = 0;
        } else {
            rc = store_read_after(s->db, s->high_water, PUMP_BATCH, dispatch_row, s, &count);
        }
        db_rollback(s->db);
    } while (rc == 0 && count == PUMP_BATCH);
    if (rc == 0 && s->replays_waiting)
        replay_resume_waiting(s);
}

/* Ends the streams whose token expired and closes the ended ones the web
 * server has not finished reading; keeps next_expiry the earliest deadline
 * left, so the scan runs only when one is due. */
static void expire_streams(struct stream *s, long long now_ms)
{
    struct conn *c, *next;

    if (s->next_expiry == 0 || now_ms < s->next_expiry)
        return;
    s->next_expiry = 0;
    for (c = s->streams.head; c != NULL; c = next) {
        next = c->next;
        if (c->deadline == 0 || (c->state != C_STREAM && c->state != C_CLOSING))
            continue;
        if (c->deadline > now_ms)
            conn_set_deadline(c, c->deadline);
        else if (c->state == C_STREAM)
            conn_end(c, conn_deadline_text(c));
        else
            conn_close(c);
    }
}

void stream_tick(struct stream *s, long long now_ms)
{
    struct conn *c, *next;

    loop_listener_tick(&s->listener, now_ms);
    for (c = s->handshakes.head; c != NULL; c = next) {
        next = c->next;
        if (now_ms >= c->deadline)
            conn_close(c);
    }
    expire_streams(s, now_ms);
    if (now_ms < s->next_heartbeat)
        return;
    s->next_heartbeat = now_ms + s->cfg->heartbeat_s * 1000;
    for (c = s->streams.head; c != NULL; c = next) {
        next = c->next;
        if (c->state == C_STREAM)
            conn_send(c, s->ping_frame);
    }
}

void stream_reap(struct stream *s)
{
    struct conn *c;

    while ((c = s->zombies.head) != NULL) {
        conn_list_del(&s->zombies, c);
        conn_free(c);
    }
}

void stream_free(struct stream *s)
{
    struct conn *c, *next;

    if (s == NULL)
        return;
    for (c = s->streams.head; c != NULL; c = next) {
        buf_t recs = {0};
        next = c->next;
        /* Best effort: tell the web server the response is complete,
         * unless a partly written frame is in the way. */
        fcgi_end(&recs, c->reqid);
        if (conn_queued(c) == 0 && write(c->w.fd, recs.p, recs.len) < 0) {
            /* the connection is going away either way */
        }
        buf_free(&recs);
        conn_close(c);
    }
    for (c = s->handshakes.head; c != NULL; c = next) {
        next = c->next;
        conn_close(c);
    }
    stream_reap(s);
    loop_del(&s->listener.w);
    conn_frame_unref(s->ping_frame);
    auth_cache_close(s->tokens);
    free(s->buckets);
    free(s->clients);
    free(s->errstr);
    free(s);
}

void stream_set_serving(struct stream *s, int on)
{
    if (on && !s->serving)
        log_info("serving streams from the mirrored log (at id %lld)", (long long)s->high_water);
    s->serving = on;
}

void stream_set_max_s(struct stream *s, long max_s)
{
    s->stream_max_s = max_s;
}

int64_t stream_high_water(const struct stream *s)
{
    return s->high_water;
}

void stream_log_replaced(struct stream *s)
{
    s->log_replaced = 1;
}
