/* batch.c - the batching request responder's connections (see batch.h). */
#include "request/batch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/config.h"
#include "http/cgi.h"
#include "base/log.h"
#include "base/metrics.h"
#include "request/handler.h"
#include "request/runtime.h"
#include "wire/fcgi_rec.h"
#include "wire/loop.h"

#define BATCH_MAX 256              /* requests per transaction */
#define REQUEST_TIMEOUT_MS 30000   /* a started request must arrive whole, and an
                                      * answer be taken, by then */
#define READ_CHUNK 16384
#define OUT_KEEP 16384             /* answer buffer a kept connection may keep */
/* Commits are announced (doorbell ring or Redis PUBLISH) at most this
 * often: under a stream of publishes one ring covers several commits, and
 * the stream responders wake once for them. When idle the first commit is
 * announced at once, so this only ever delays delivery under load. */
#define ANNOUNCE_MS 1

enum bstate {
    B_READING,   /* waiting for (the rest of) a request */
    B_READY,     /* request complete, queued for the next flush */
    B_WRITING,   /* answer partly written */
    B_DEAD,      /* closed; freed by batch_tick */
};

struct bconn {
    struct watch w;              /* first: the loop hands back &w */
    struct batch *b;             /* the responder it belongs to */
    enum bstate state;
    struct fcgi_in in;
    buf_t out;                   /* records not yet written */
    size_t sent;
    int close_after;             /* the web server did not ask to keep it */
    int bounded;                 /* in.stdin_max is the request's route's bound */
    long long deadline;          /* closed if still reading or writing then; 0 when idle */
    struct bconn *prev, *next;   /* in conns or dead */
    struct bconn *ready_next;
};

struct blist {
    struct bconn *head;
};

/* One request of a batch: its parsed form and answer. */
struct breq {
    struct bconn *c;
    struct http_req req;
    struct http_resp resp;
    struct fcgi_strs params;     /* the values handed out by req.header */
    int early;
    const char *why;             /* what the early answer says */
};

/* The batching responder: created by batch_start, owned by its main,
 * handed to everything below (the loop's callbacks find it from the
 * listener or the connection). */
struct batch {
    struct listener listener;    /* first: on_conn hands us &listener */
    struct runtime *rt;          /* borrowed */
    struct blist conns, dead;
    struct bconn *ready_head, **ready_tail;   /* requests complete, in arrival order */
    long long announced_ms;      /* when events were last announced */
};

static void blist_add(struct blist *l, struct bconn *c)
{
    c->prev = NULL;
    c->next = l->head;
    if (l->head != NULL)
        l->head->prev = c;
    l->head = c;
}

static void blist_del(struct blist *l, struct bconn *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* Closes the socket now; the struct waits in dead until batch_tick, so a
 * pending epoll event of this loop turn never touches freed memory. */
static void conn_close(struct bconn *c)
{
    if (c->state == B_DEAD)
        return;
    blist_del(&c->b->conns, c);
    blist_add(&c->b->dead, c);
    c->state = B_DEAD;
    loop_del(&c->w);
    close(c->w.fd);
}

static void conn_free(struct bconn *c)
{
    fcgi_in_free(&c->in);
    buf_free(&c->out);
    free(c);
}

/* Writes what the socket takes; once all is out, the connection closes or
 * waits for its next request. */
static void conn_write(struct bconn *c)
{
    while (c->sent < c->out.len) {
        ssize_t n = write(c->w.fd, c->out.p + c->sent, c->out.len - c->sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            /* (not EPOLLRDHUP: a half-closed peer would wake us forever) */
            c->state = B_WRITING;
            c->deadline = clock_ms() + REQUEST_TIMEOUT_MS;
            if (loop_mod(&c->w, EPOLLOUT) != 0)
                conn_close(c);
            return;
        }
        if (n < 0) {
            conn_close(c);
            return;
        }
        c->sent += (size_t)n;
    }
    if (c->close_after) {
        conn_close(c);
        return;
    }
    if (c->out.cap > OUT_KEEP)
        buf_free(&c->out); /* a kept connection does not hold a large answer's buffer */
    else
        buf_reset(&c->out);
    c->sent = 0;
    c->deadline = 0;
    c->state = B_READING;
    if (loop_mod(&c->w, EPOLLIN | EPOLLRDHUP) != 0) {
        /* watched by nothing, a kept connection would hang its web server */
        log_warn("epoll: %s; closing a FastCGI connection", strerror(errno));
        conn_close(c);
    }
}

/* Once the params are in, the body is held to its route's bound (runtime.h):
 * until then it was kept up to runtime_body_ceiling, and at most one read
 * of it has arrived. Over the bound, breq_open answers 413. */
static void conn_bound(struct bconn *c)
{
    struct fcgi_strs p = {&c->in.params, NULL, 0, 0};
    const char *uri = fcgi_strs_get(&p, "REQUEST_URI"), *why;
    char *path = NULL, *base = NULL;
    long long limit;

    if (uri != NULL)
        cgi_route_path(uri, fcgi_strs_get(&p, "SCRIPT_NAME"), runtime_config(c->b->rt)->base_path, &path, &base);
    limit = runtime_body_limit(c->b->rt, fcgi_strs_get(&p, "REQUEST_METHOD"), path, &why);

    c->bounded = 1;
    c->in.stdin_max = (size_t)limit;
    if (c->in.body.len > c->in.stdin_max) {
        c->in.stdin_over = 1;
        buf_free(&c->in.body);
    }
    free(path);
    free(base);
    fcgi_strs_free(&p);
}

static void conn_read(struct bconn *c)
{
    unsigned char tmp[READ_CHUNK];

    for (;;) {
        ssize_t n = read(c->w.fd, tmp, sizeof tmp);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            conn_close(c); /* the web server hung up */
            return;
        }
        if (c->deadline == 0)
            c->deadline = clock_ms() + REQUEST_TIMEOUT_MS;
        if (fcgi_in_feed(&c->in, tmp, (size_t)n) != 0) {
            /* e.g. a second request before the answer: we do not pipeline */
            log_warn("FastCGI protocol violation from the web server; closing its connection");
            conn_close(c);
            return;
        }
        if (c->in.aborted) {
            conn_close(c);
            return;
        }
        if (c->in.params_done && !c->bounded)
            conn_bound(c);
        if (c->in.params_done && c->in.stdin_done) {
            c->state = B_READY;
            c->ready_next = NULL;
            *c->b->ready_tail = c;
            c->b->ready_tail = &c->ready_next;
            return;
        }
    }
}

static void conn_on_io(struct watch *w, uint32_t events)
{
    struct bconn *c = (struct bconn *)w;

    if (c->state == B_READING && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        conn_read(c);
    else if (c->state == B_WRITING && (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)))
        conn_write(c);
}

/* The request is usually there already (lighttpd connects per request and
 * writes at once): read before watching, and a connection answered and
 * closed in this loop turn never enters the epoll set. */
static void accept_conn(struct listener *l, int fd)
{
    struct batch *b = (struct batch *)l;
    struct bconn *c = xcalloc(1, sizeof *c);

    metrics_add(M_BATCH_CONNECTIONS, 1);
    c->b = b;
    c->w.fd = fd;
    c->w.cb = conn_on_io;
    c->state = B_READING;
    c->in.stdin_max = (size_t)runtime_body_ceiling(b->rt);
    blist_add(&b->conns, c);
    conn_read(c);
    if (c->state == B_READING && loop_mod(&c->w, EPOLLIN | EPOLLRDHUP) != 0) {
        log_warn("epoll add: %s", strerror(errno));
        conn_close(c);
    }
}

/* ---- one request ---- */

/* req->header: a copy of the param, owned by the request until it ends. */
static const char *breq_param(const struct http_req *req, const char *name)
{
    struct breq *b = req->header_arg;

    return fcgi_strs_get(&b->params, name);
}

/* The request as pulse-api reads it (cgi_req_read), with the body it
 * announced: CONTENT_LENGTH bytes exactly, at most PULSE_MAX_BODY (413),
 * or 400. */
static void breq_open(struct breq *b, struct bconn *c)
{
    long long len;

    b->c = c;
    b->params.params = &c->in.params;
    b->req.header = breq_param;
    b->req.header_arg = b;
    b->early = cgi_req_read(&b->req, runtime_config(c->b->rt)->base_path, runtime_body_ceiling(c->b->rt), &len,
                            &b->why);
    if ((b->early == 0 || b->early == 413) &&
        (len > runtime_body_limit(c->b->rt, b->req.method, b->req.path, &b->why) || c->in.stdin_over))
        b->early = 413;
    if (b->early != 0)
        return;
    if ((size_t)len != c->in.body.len) {
        b->early = 400;
        b->why = "the body is not CONTENT_LENGTH bytes long";
    } else {
        b->req.body_len = c->in.body.len;
        b->req.body = b->req.body_len ? buf_steal(&c->in.body) : xstrdup("");
    }
}

/* Queues the answer as FastCGI records and readies the connection for its
 * next request. */
static void breq_close(struct breq *b)
{
    struct bconn *c = b->c;
    uint16_t id = c->in.request_id;
    buf_t head = {0};

    cgi_resp_head(&b->resp, &head);
    fcgi_stdout(&c->out, id, head.p, head.len);
    fcgi_stdout(&c->out, id, b->resp.body.p, b->resp.body.len);
    fcgi_end(&c->out, id);
    metrics_count_status(b->resp.status);
    c->close_after = !c->in.keep_conn;
    c->deadline = 0;
    fcgi_in_next(&c->in);
    c->in.stdin_max = (size_t)runtime_body_ceiling(c->b->rt);
    c->bounded = 0;
    buf_free(&head);
    fcgi_strs_free(&b->params);
    cgi_req_free(&b->req);
    cgi_resp_free(&b->resp);
}

/* ---- public ---- */

struct batch *batch_start(struct runtime *rt, int listen_fd)
{
    struct batch *b = xcalloc(1, sizeof *b);

    b->rt = rt;
    b->ready_tail = &b->ready_head;
    b->listener.on_conn = accept_conn;
    if (loop_listen(&b->listener, listen_fd) != 0) {
        int e = errno;

        free(b);
        errno = e;
        return NULL;
    }
    return b;
}

void batch_flush(struct batch *bt)
{
    struct runtime *rt = bt->rt;

    while (bt->ready_head != NULL) {
        long long now = (long long)time(NULL);
        size_t want = 0, n = 0, i;
        struct bconn *c;
        struct breq *bs;
        int lost;

        for (c = bt->ready_head; c != NULL && want < BATCH_MAX; c = c->ready_next)
            want++;
        bs = xcalloc(want, sizeof *bs);

        runtime_batch_begin(rt, want);
        for (; n < want; n++) {
            struct breq *b = &bs[n];
            breq_open(b, bt->ready_head);
            bt->ready_head = bt->ready_head->ready_next;
            runtime_handle(rt, &b->req, &b->resp, b->early, b->why, now);
        }
        if (bt->ready_head == NULL)
            bt->ready_tail = &bt->ready_head;
        lost = runtime_batch_end(rt) != 0;
        if (!lost)
            metrics_add(M_GROUP_COMMITS, 1);
        for (i = 0; i < n; i++) {
            if (lost && bs[i].early == 0)
                runtime_batch_failed(rt, &bs[i].req, &bs[i].resp);
            breq_close(&bs[i]);
            conn_write(bs[i].c);
        }
        free(bs);
    }
}

int batch_announce(struct batch *b, long long now_ms)
{
    if (!runtime_batch_pending(b->rt))
        return -1;
    if (now_ms - b->announced_ms < ANNOUNCE_MS)
        return (int)(b->announced_ms + ANNOUNCE_MS - now_ms);
    runtime_batch_publish(b->rt);
    b->announced_ms = now_ms;
    return -1;
}

void batch_tick(struct batch *b, long long now_ms)
{
    struct bconn *c, *next;

    runtime_tick(b->rt);
    loop_listener_tick(&b->listener, now_ms);
    for (c = b->conns.head; c != NULL; c = next) {
        next = c->next;
        if ((c->state == B_READING || c->state == B_WRITING) && c->deadline != 0 && now_ms >= c->deadline)
            conn_close(c);
    }
    while ((c = b->dead.head) != NULL) {
        blist_del(&b->dead, c);
        conn_free(c);
    }
}

void batch_stop(struct batch *b)
{
    struct bconn *c;

    if (b == NULL)
        return;
    runtime_batch_publish(b->rt);
    while ((c = b->conns.head) != NULL)
        conn_close(c);
    batch_tick(b, 0);
    loop_del(&b->listener.w);
    free(b);
}
