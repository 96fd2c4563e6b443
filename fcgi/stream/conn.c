/* conn.c - one stream connection's frames, queue and writes, its ending and
 * its deadlines (see hub.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "http/sse.h"
#include "stream/hub.h"

#define IOV_BATCH 64

/* ---- frames ---- */

struct frame *conn_frame_sse(const buf_t *sse, uint16_t reqid)
{
    buf_t wire = {0};
    struct frame *f;

    fcgi_stdout(&wire, reqid, sse->p, sse->len);
    f = conn_frame_records(&wire);
    buf_free(&wire);
    return f;
}

static struct frame *frame_new(const void *wire, size_t len)
{
    struct frame *f = xmalloc(sizeof *f + len);

    f->refs = 1;
    f->len = len;
    memcpy(f->wire, wire, len);
    return f;
}

struct frame *conn_frame_records(const buf_t *recs)
{
    return frame_new(recs->p, recs->len);
}

void conn_frame_unref(struct frame *f)
{
    if (f != NULL && --f->refs == 0)
        free(f);
}

/* ---- lists ---- */

void conn_list_add(struct conn_list *l, struct conn *c)
{
    c->prev = NULL;
    c->next = l->head;
    if (l->head)
        l->head->prev = c;
    l->head = c;
    l->count++;
}

void conn_list_del(struct conn_list *l, struct conn *c)
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

static struct conn_list *list_of(struct conn *c)
{
    return c->state == C_HANDSHAKE ? &c->s->handshakes : &c->s->streams;
}

/* ---- connections ---- */

/* Closes the socket at once (the client sees it promptly); the struct
 * lives on as a zombie until stream_reap so that iterations and pending
 * epoll events in this loop turn never touch freed memory. */
void conn_close(struct conn *c)
{
    if (c->state == C_DEAD)
        return;
    conn_list_del(list_of(c), c);
    conn_list_add(&c->s->zombies, c);
    c->state = C_DEAD;
    clients_release(c->s, c); /* its place is free at once, not at the reap */
    loop_del(&c->w);
    close(c->w.fd);
    metrics_set(M_STREAMS_OPEN, c->s->streams.count);
}

/* Drops the frames queued from position keep on (keep 0: all of them),
 * freeing the queue when none is left. */
static void queue_cut(struct conn *c, uint32_t keep)
{
    struct queue *q = c->q;

    if (q == NULL)
        return;
    while (q->len > keep) {
        q->len--;
        conn_frame_unref(q->f[(q->head + q->len) % q->cap]);
    }
    if (q->len == 0) {
        free(q);
        c->q = NULL;
    }
}

void conn_free(struct conn *c)
{
    queue_cut(c, 0);
    topics_unsubscribe(c->s, c);
    clients_release(c->s, c);
    fcgi_in_free(&c->in);
    free(c);
}

static int queue_push(struct conn *c, struct frame *f)
{
    struct queue *q = c->q;
    uint32_t len = conn_queued(c);

    if (len >= (uint32_t)c->s->cfg->stream_queue)
        return -1;
    if (q == NULL || len == q->cap) {
        uint32_t cap = q != NULL ? q->cap * 2 : 8, i;
        struct queue *nq = xmalloc(sizeof *nq + cap * sizeof nq->f[0]);

        for (i = 0; i < len; i++)
            nq->f[i] = q->f[(q->head + i) % q->cap];
        nq->head = 0;
        nq->len = len;
        nq->cap = cap;
        nq->off = q != NULL ? q->off : 0;
        free(q);
        c->q = q = nq;
    }
    f->refs++;
    q->f[(q->head + q->len) % q->cap] = f;
    q->len++;
    return 0;
}

/* Watches c for write space while frames wait. 0, or -1 when it could not
 * be watched (and was closed). */
static int watch_writes(struct conn *c)
{
    if (loop_mod(&c->w, EPOLLIN | EPOLLRDHUP | (conn_queued(c) ? EPOLLOUT : 0)) != 0) {
        /* watched by nothing it would never be written or reaped */
        log_warn("epoll: %s; closing a stream (it resumes)", strerror(errno));
        conn_close(c);
        return -1;
    }
    return 0;
}

/* Writes as much of the queue as the socket takes. 0, or -1 when the
 * connection broke (and was closed). */
int conn_flush(struct conn *c)
{
    struct queue *q = c->q;

    while (q != NULL && q->len > 0) {
        struct iovec iov[IOV_BATCH];
        int n = 0;
        ssize_t w;

        while (n < IOV_BATCH && (uint32_t)n < q->len) {
            struct frame *f = q->f[(q->head + (uint32_t)n) % q->cap];
            size_t off = n == 0 ? q->off : 0;
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
            struct frame *f = q->f[q->head];
            size_t left = f->len - q->off;
            if ((size_t)w < left) {
                q->off += (size_t)w;
                break;
            }
            w -= (ssize_t)left;
            q->off = 0;
            conn_frame_unref(f);
            q->head = (q->head + 1) % q->cap;
            q->len--;
        }
    }
    if (conn_queued(c) == 0)
        queue_cut(c, 0); /* idle connections keep no queue memory */
    return watch_writes(c);
}

const char *conn_deadline_text(const struct conn *c)
{
    switch (c->deadline_why) {
    case DEADLINE_TOKEN:
        return "token expired: reconnect with a fresh one";
    case DEADLINE_LIFETIME:
        return "stream time limit (PULSE_STREAM_MAX_S): reconnect to resume";
    default:
        return "stream ended: reconnect to resume";
    }
}

/* A connection's next deadline on the loop's clock: its token's expiry
 * while it streams, the last moment to finish ending once it ends.
 * stream_tick looks only when the earliest one is due. */
void conn_set_deadline(struct conn *c, long long at_ms)
{
    c->deadline = at_ms;
    if (c->s->next_expiry == 0 || at_ms < c->s->next_expiry)
        c->s->next_expiry = at_ms;
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
 * HUB_CLOSE_GRACE_MS (a client that stopped reading keeps no slot long). */
void conn_end(struct conn *c, const char *why)
{
    buf_t text = {0}, recs = {0};
    struct frame *end;

    queue_cut(c, c->q != NULL && c->q->off > 0 ? 1 : 0);
    c->state = C_CLOSING; /* no more events, pings or replay */
    c->replaying = 0;
    sse_comment(&text, why);
    fcgi_stdout(&recs, c->reqid, text.p, text.len);
    fcgi_end(&recs, c->reqid);
    end = conn_frame_records(&recs);
    /* Cannot fail: at most one frame is left and stream_queue >= 128. */
    if (queue_push(c, end) != 0)
        conn_close(c);
    conn_frame_unref(end);
    if (c->state == C_CLOSING && conn_flush(c) == 0 && conn_queued(c) == 0)
        conn_close(c);
    if (c->state == C_CLOSING)
        conn_set_deadline(c, clock_ms() + HUB_CLOSE_GRACE_MS);
    buf_free(&text);
    buf_free(&recs);
}

/* Nothing queued: f is written at once, and only what the socket does not
 * take is queued. Most sends to a reading client end here with one write
 * and no queue made and freed. 0, or -1 when the connection broke. */
static int send_now(struct conn *c, struct frame *f)
{
    ssize_t w = write(c->w.fd, f->wire, f->len);

    if (w == (ssize_t)f->len)
        return 0;
    if (w < 0 && errno != EAGAIN && errno != EINTR) {
        conn_close(c);
        return -1;
    }
    if (queue_push(c, f) != 0) { /* cannot fail: the queue was empty, stream_queue >= 128 */
        conn_close(c);
        return -1;
    }
    c->q->off = w > 0 ? (size_t)w : 0;
    return watch_writes(c); /* the socket is full: no second write now */
}

/* Sends f to c (a private copy when c's request id differs): at once when
 * nothing waits before it, else queued behind. A client that has fallen
 * stream_queue frames behind is let go (see conn_end). 0, or -1 if the
 * stream is over. */
int conn_send(struct conn *c, struct frame *f)
{
    struct frame *own = NULL;
    int rc = 0;

    if (c->state == C_DEAD)
        return -1;
    if (c->reqid != HUB_SHARED_REQUEST_ID) {
        own = frame_new(f->wire, f->len);
        fcgi_set_request_id(own->wire, own->len, c->reqid);
        f = own;
    }
    if (conn_queued(c) == 0) {
        rc = send_now(c, f);
    } else if (queue_push(c, f) != 0) {
        metrics_add(M_SLOW_CONSUMERS, 1);
        conn_end(c, "too far behind: reconnect to resume");
        rc = -1;
    }
    conn_frame_unref(own);
    return rc;
}
