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

void conn_free(struct conn *c)
{
    while (c->qlen > 0) {
        conn_frame_unref(c->q[c->qhead]);
        c->qhead = (c->qhead + 1) % c->qcap;
        c->qlen--;
    }
    free(c->q);
    topics_unsubscribe(c->s, c);
    clients_release(c->s, c);
    fcgi_in_free(&c->in);
    free(c);
}

static int queue_push(struct conn *c, struct frame *f)
{
    if (c->qlen >= (uint32_t)c->s->cfg->stream_queue)
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
int conn_flush(struct conn *c)
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
            conn_frame_unref(f);
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
    uint32_t keep = c->qoff > 0 ? 1 : 0;

    while (c->qlen > keep) {
        c->qlen--;
        conn_frame_unref(c->q[(c->qhead + c->qlen) % c->qcap]);
    }
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
    if (c->state == C_CLOSING && conn_flush(c) == 0 && c->qlen == 0)
        conn_close(c);
    if (c->state == C_CLOSING)
        conn_set_deadline(c, clock_ms() + HUB_CLOSE_GRACE_MS);
    buf_free(&text);
    buf_free(&recs);
}

/* Queues f for c (a private copy when c's request id differs) and writes.
 * A client that has fallen stream_queue frames behind is let go (see
 * conn_end). 0, or -1 if the stream is over. */
int conn_send(struct conn *c, struct frame *f)
{
    struct frame *own = NULL;

    if (c->state == C_DEAD)
        return -1;
    if (c->reqid != HUB_SHARED_REQUEST_ID) {
        own = frame_new(f->wire, f->len);
        fcgi_set_request_id(own->wire, own->len, c->reqid);
        f = own;
    }
    if (queue_push(c, f) != 0) {
        conn_frame_unref(own);
        metrics_add(M_SLOW_CONSUMERS, 1);
        conn_end(c, "too far behind: reconnect to resume");
        return -1;
    }
    conn_frame_unref(own);
    return c->qlen > 1 ? 0 : conn_flush(c);
}
