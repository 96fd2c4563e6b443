/* stream_noop.c - the ceiling of "web server -> FastCGI stream responder"
 * on this machine: `make bench` runs it as pulse-stream (beside the no-op
 * pulse-api and pulse-batch in build/bench/noop) behind the shipped
 * lighttpd.conf and nginx.conf, so figures a and b show what the web server
 * itself costs a held stream and a relayed frame, with no log, bus, replay
 * or topic index in the way.
 *
 * It reads each FastCGI request, answers the stream head and one comment
 * (the first body bytes that count a stream as open), and holds it. A
 * publish answered by the no-op pulse-batch arrives on the datagram socket
 * $PULSE_DATA/noop-bell as the request's raw body; it becomes one prepared
 * frame ("data: <body>\n\n" in a STDOUT record) written to every held
 * stream: figure b's subscribers of a run all hold one topic, so sending
 * to all is what a topic index would pick. No heartbeat: the holds are
 * shorter than the web servers' read timeouts. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "wire/fcgi_rec.h"
#include "wire/loop.h"

#define READ_CHUNK 4096
#define BELL_MAX (1 << 20)

struct conn {
    struct watch w;                 /* first: the loop hands back &w */
    struct fcgi_in in;
    int streaming;                  /* the head was sent: held */
    buf_t out;                      /* what the socket did not take yet */
    struct conn *prev, *next;       /* the held streams */
};

static struct conn *held;
static const char head[] = "Status: 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                           "X-Accel-Buffering: no\r\n\r\n: noop stream open\n\n";

static void conn_close(struct conn *c)
{
    loop_del(&c->w);
    close(c->w.fd);
    if (c->streaming) {
        if (c->prev != NULL)
            c->prev->next = c->next;
        else
            held = c->next;
        if (c->next != NULL)
            c->next->prev = c->prev;
    }
    fcgi_in_free(&c->in);
    buf_free(&c->out);
    free(c);
}

/* Writes what is pending, then watches for room if some is left. 0, or -1
 * when the connection was closed. */
static int conn_flush(struct conn *c)
{
    while (c->out.len > 0) {
        ssize_t n = write(c->w.fd, c->out.p, c->out.len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            conn_close(c);
            return -1;
        }
        memmove(c->out.p, c->out.p + n, c->out.len - (size_t)n);
        c->out.len -= (size_t)n;
    }
    if (c->out.len == 0)
        buf_free(&c->out); /* nothing kept between frames */
    return loop_mod(&c->w, EPOLLIN | EPOLLRDHUP | (c->out.len > 0 ? EPOLLOUT : 0));
}

static void conn_send(struct conn *c, const void *data, size_t len)
{
    buf_append(&c->out, data, len);
    conn_flush(c);
}

/* 1 when the query holds topic=NAME with NAME as Pulse takes it
 * ([A-Za-z0-9_.:-]{1,128}, no escapes): the harness knows the stream
 * responder is up when a bad topic gets its 400. */
static int topic_ok(const buf_t *params)
{
    const char *q, *t;
    size_t qlen, n;

    if (fcgi_param(params, "QUERY_STRING", &q, &qlen) != 1)
        return 0;
    for (t = q; t + 6 <= q + qlen && memcmp(t, "topic=", 6) != 0; t++)
        ;
    if (t + 6 > q + qlen)
        return 0;
    t += 6;
    for (n = 0; t + n < q + qlen && t[n] != '&'; n++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-", t[n]))
            return 0;
    return n >= 1 && n <= 128;
}

/* Answers c's request: a refusal (400), or the stream head, after which c
 * is held. 0, or -1 when c is closed (or no longer watched). */
static int conn_start(struct conn *c)
{
    static const char bad[] = "Status: 400 Bad Request\r\nContent-Type: text/plain\r\n\r\nbad topic\n";
    buf_t rec = {0};
    int keep = c->in.keep_conn;

    if (!topic_ok(&c->in.params)) {
        fcgi_stdout(&rec, c->in.request_id, bad, sizeof bad - 1);
        fcgi_end(&rec, c->in.request_id);
        buf_append(&c->out, rec.p, rec.len);
        buf_free(&rec);
        if (conn_flush(c) != 0)
            return -1;
        if (keep) {
            fcgi_in_next(&c->in); /* the web server may send the next request on it */
            return 0;
        }
        conn_close(c);
        return -1;
    }
    fcgi_stdout(&rec, c->in.request_id, head, sizeof head - 1);
    c->streaming = 1;
    c->prev = NULL;
    c->next = held;
    if (held != NULL)
        held->prev = c;
    held = c;
    /* a held stream keeps nothing of its request (as pulse-stream keeps
     * only what it needs): the reader's state alone, to see an abort */
    buf_free(&c->in.params);
    buf_free(&c->in.body);
    buf_append(&c->out, rec.p, rec.len);
    buf_free(&rec);
    return conn_flush(c);
}

static void conn_on_io(struct watch *w, uint32_t events)
{
    struct conn *c = (struct conn *)w;
    unsigned char tmp[READ_CHUNK];

    if ((events & EPOLLOUT) && conn_flush(c) != 0)
        return;
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        return;
    for (;;) {
        ssize_t n = read(c->w.fd, tmp, sizeof tmp);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0 || fcgi_in_feed(&c->in, tmp, (size_t)n) != 0 || c->in.aborted) {
            conn_close(c); /* the web server hung up, or the client left */
            return;
        }
        if (!c->streaming && c->in.params_done && c->in.stdin_done && conn_start(c) != 0)
            return;
    }
}

static void on_conn(struct listener *l, int fd)
{
    struct conn *c = xcalloc(1, sizeof *c);

    (void)l;
    c->w.fd = fd;
    c->w.cb = conn_on_io;
    if (loop_add(&c->w, EPOLLIN | EPOLLRDHUP) != 0) {
        close(fd);
        free(c);
        return;
    }
    conn_on_io(&c->w, EPOLLIN); /* the request usually came with the connect */
}

/* One publish: the same frame to every held stream (request id 1, what
 * both web servers use on a connection of their own; others get theirs). */
static void on_bell(struct watch *w, uint32_t events)
{
    static char msg[BELL_MAX];
    buf_t text = {0}, rec = {0}, own = {0};
    struct conn *c, *next;
    ssize_t n;

    (void)events;
    while ((n = recv(w->fd, msg, sizeof msg, MSG_DONTWAIT)) > 0) {
        buf_reset(&text);
        buf_reset(&rec);
        buf_puts(&text, "data: ");
        buf_append(&text, msg, (size_t)n);
        buf_puts(&text, "\n\n");
        fcgi_stdout(&rec, 1, text.p, text.len);
        for (c = held; c != NULL; c = next) {
            next = c->next; /* (a failed write closes c) */
            if (c->in.request_id == 1) {
                conn_send(c, rec.p, rec.len);
            } else {
                buf_reset(&own);
                fcgi_stdout(&own, c->in.request_id, text.p, text.len);
                conn_send(c, own.p, own.len);
            }
        }
    }
    buf_free(&text);
    buf_free(&rec);
    buf_free(&own);
}

static int bell_open(struct watch *w)
{
    const char *dir = getenv("PULSE_DATA");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n;

    n = snprintf(a.sun_path, sizeof a.sun_path, "%s/noop-bell", dir != NULL ? dir : ".");
    if (n < 0 || (size_t)n >= sizeof a.sun_path)
        return -1;
    unlink(a.sun_path);
    w->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    w->cb = on_bell;
    if (w->fd < 0 || bind(w->fd, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    n = 4 << 20; /* a burst of publishes waits here, not in a dropped datagram */
    setsockopt(w->fd, SOL_SOCKET, SO_RCVBUF, &n, sizeof n);
    return loop_add(w, EPOLLIN);
}

int main(void)
{
    struct listener l = {.on_conn = on_conn, .hint = "stream_noop"};
    struct watch bell = {.fd = -1};
    struct rlimit rl;

    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (loop_init() != 0 || loop_listen(&l, 0) != 0 || bell_open(&bell) != 0) {
        perror("stream_noop");
        return 1;
    }
    for (;;) {
        if (loop_run_once(1000) < 0)
            break;
        loop_listener_tick(&l, clock_ms());
    }
    return 1;
}
