/* unit_peer.h - the unit tests' web server: its end of one FastCGI
 * connection to the stream responder (a socketpair): it sends a request and
 * reads the STDOUT records back. Include after check.h. */
#ifndef PULSE_UNIT_PEER_H
#define PULSE_UNIT_PEER_H

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/buf.h"
#include "stream/stream.h"

#define TURNS 20000 /* bound on every loop that waits for bytes */

/* The web server's end of one FastCGI connection. */
struct peer {
    int fd;
    buf_t raw;      /* bytes read, not yet whole records */
    buf_t text;     /* STDOUT content so far */
    int ended;      /* FCGI_END_REQUEST seen */
    int eof;        /* the responder closed the connection */
};

/* ---- the FastCGI side ---- */

static void record(buf_t *out, int type, int reqid, const void *body, size_t len)
{
    unsigned char h[8] = {1, (unsigned char)type, (unsigned char)(reqid >> 8), (unsigned char)reqid,
                          (unsigned char)(len >> 8), (unsigned char)len, 0, 0};

    buf_append(out, h, sizeof h);
    buf_append(out, body, len);
}

static void param(buf_t *out, const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);

    buf_putc(out, (char)n); /* the names and values here are under 128 bytes */
    buf_putc(out, (char)v);
    buf_append(out, name, n);
    buf_append(out, value, v);
}

/* Opens a connection to s and sends GET /api/events/stream?<qs> with an
 * optional Last-Event-ID (NULL: none) as request reqid: BEGIN_REQUEST, the
 * params and, when with_stdin, the empty STDIN record that ends it (a web
 * server may send that one later: peer_end_stdin). */
static void peer_open_req(struct stream *s, struct peer *p, int reqid, const char *qs, const char *last_id,
                          int with_stdin)
{
    static const unsigned char begin[8] = {0, 1, 0, 0, 0, 0, 0, 0};
    buf_t req = {0}, params = {0}, uri = {0};
    int sv[2], small = 4096;

    memset(p, 0, sizeof *p);
    p->fd = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
        CHECK(0);
        return;
    }
    CHECK(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small) == 0);
    CHECK(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    p->fd = sv[1];
    stream_accept(s, sv[0]);
    buf_printf(&uri, "/api/events/stream?%s", qs);
    param(&params, "REQUEST_METHOD", "GET");
    param(&params, "REQUEST_URI", buf_str(&uri));
    param(&params, "QUERY_STRING", qs);
    if (last_id != NULL)
        param(&params, "HTTP_LAST_EVENT_ID", last_id);
    record(&req, 1, reqid, begin, sizeof begin);
    record(&req, 4, reqid, params.p, params.len);
    record(&req, 4, reqid, NULL, 0);
    if (with_stdin)
        record(&req, 5, reqid, NULL, 0);
    CHECK(write(p->fd, req.p, req.len) == (ssize_t)req.len);
    buf_free(&req);
    buf_free(&params);
    buf_free(&uri);
}

/* The whole request, as every web server sends it. */
static void peer_open(struct stream *s, struct peer *p, int reqid, const char *qs, const char *last_id)
{
    peer_open_req(s, p, reqid, qs, last_id, 1);
}

/* The empty STDIN record of request reqid: the end of the request. */
static void peer_end_stdin(struct peer *p, int reqid)
{
    buf_t req = {0};

    record(&req, 5, reqid, NULL, 0);
    CHECK(write(p->fd, req.p, req.len) == (ssize_t)req.len);
    buf_free(&req);
}

/* Moves whole records from raw into text / ended. */
static void peer_parse(struct peer *p)
{
    size_t off = 0;

    while (p->raw.len - off >= 8) {
        const unsigned char *h = (const unsigned char *)p->raw.p + off;
        size_t len = ((size_t)h[4] << 8) | h[5], rec = 8 + len + h[6];

        if (p->raw.len - off < rec)
            break;
        if (h[1] == 6)
            buf_append(&p->text, h + 8, len);
        else if (h[1] == 3)
            p->ended = 1;
        off += rec;
    }
    if (off > 0) {
        memmove(p->raw.p, p->raw.p + off, p->raw.len - off);
        p->raw.len -= off;
    }
}

/* Reads what is there now. */
static void peer_read(struct peer *p)
{
    char tmp[65536];
    int i;

    for (i = 0; i < TURNS; i++) {
        ssize_t n = read(p->fd, tmp, sizeof tmp);
        if (n == 0)
            p->eof = 1;
        if (n <= 0)
            break;
        buf_append(&p->raw, tmp, (size_t)n);
    }
    peer_parse(p);
}

static void peer_close(struct peer *p)
{
    if (p->fd >= 0)
        close(p->fd);
    p->fd = -1;
    buf_free(&p->raw);
    buf_free(&p->text);
}

#endif
