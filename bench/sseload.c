/* sseload.c - the SSE load generator of `make bench`.
 *
 * One process, one epoll loop, non-blocking sockets: opens N HTTP/1.1
 * EventSource requests (GET with Accept: text/event-stream) to
 * 127.0.0.1:PORT, at most C of them connecting at once, and counts one as
 * open when it has a 200 and its first body bytes. Then, either holds
 * every stream for H seconds (a stream that closes meanwhile is a drop),
 * or waits for E events on each stream and records, for every event on
 * every stream, receive time minus the publish time the event carries
 * (`"bench_us":<microseconds since the epoch>` anywhere in a data: line).
 * Bodies may be chunked (lighttpd, nginx + FastCGI) or raw (nchan).
 *
 *   sseload -p PORT -u PATH [-n N] [-k TOPICS] [-c INFLIGHT] [-o OPEN_S]
 *           [-H HOLD_S] [-e EVENTS] [-w WAIT_S] [-r MEAN_MS -L ID [-F PCT]]
 *
 * Resume mode (-r MEAN_MS, for the fault tests): every stream is dropped
 * at random moments (exponential, mean MEAN_MS) and, like EventSource,
 * reconnects with Last-Event-ID (starting from -L ID); a stream the server
 * ends also reconnects. Event ids must then arrive as ID+1, ID+2, ... on
 * every client: each id above the next expected is a gap, each id at or
 * below the last a duplicate. It ends when every client has id ID+EVENTS.
 * With -F PCT, that share of the connections (the first and each reconnect)
 * are a fresh EventSource instead (a page loaded anew): no Last-Event-ID,
 * and the client drops the stream as soon as its first block has come,
 * before any event, keeping the position that block gave (`id:` with no
 * data, which EventSource records), and reconnects from it. A fresh stream
 * whose first block holds no position counts as unpositioned.
 *
 * PATH may hold one %d, replaced by (i % TOPICS): many topics. When the
 * ramp is over it prints "READY open=.. failed=.." on stderr (the driver
 * waits for that line); at the end, one JSON object on stdout. Bounded:
 * the ramp ends after OPEN_S (default 60) seconds, the hold after HOLD_S,
 * the event wait after WAIT_S (default 30); every socket is closed at exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { S_IDLE, S_CONNECTING, S_HEAD, S_BODY, S_DONE };
enum chunk { C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF, C_RAW };
enum fail { F_CONNECT, F_STATUS, F_TIMEOUT, F_EOF_OPENING, F_DROPPED, F__N };
static const char *fail_names[F__N] = {"connect_error", "bad_status", "timeout", "closed_while_opening", "dropped"};

#define HEAD_MAX 4096
#define LINE_MAX_KEEP 8192

struct conn {
    int fd;
    uint8_t state, chunk, open;
    uint32_t chunk_left;
    uint32_t events;
    uint32_t reqlen, reqoff;
    char *head;          /* response head until \r\n\r\n, then freed */
    uint32_t headlen;
    char *line;          /* the SSE line being read */
    uint32_t linelen, linecap;
    /* resume mode */
    int64_t last_id;     /* highest id received (Last-Event-ID on reconnect) */
    int64_t cur_id;      /* id: of the event being read, 0 if none */
    uint8_t cur_reset;   /* the event being read is `event: reset` */
    double drop_at;      /* when this client drops its stream next */
    double reopen_at;    /* reconnect time after a drop, 0 if not waiting */
    uint32_t since_open; /* events on this connection */
    uint8_t cur_data;    /* the block being read has data (an event, not a position) */
    uint8_t fresh;       /* this connection was opened without a position (-F) */
    uint8_t muted;       /* fresh, its first block read: dropped before any event */
};

static struct conn *conns;
static int nconn, ntopics = 1, inflight_max = 200, port;
static const char *path_tmpl;
static double open_s = 60, hold_s = 0, wait_s = 30;
static int want_events;
static int epfd;
static long fails[F__N];
static int status_hist[6];  /* 1xx..5xx counts of non-200 answers */
static int nopen, nresolved, inflight;
static int64_t *lat;        /* microseconds, one per delivered event */
static size_t nlat, caplat;
static long bad_events;     /* data lines without a parsable bench_us */
static int64_t now_us_cached;
static double resume_mean_ms;      /* > 0: resume mode */
static int64_t resume_from;        /* -L: ids before this one are not expected */
static long gaps, dups, resets, reconnects;
static double fresh_pct;           /* -F: share of connections opened as a fresh EventSource */
static long fresh_opens, unpositioned, bad_positions;
static unsigned rnd_state = 12345;

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void die(const char *m)
{
    perror(m);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (p == NULL)
        die("realloc");
    return p;
}

/* Uniform in [0, 1). */
static double rnd_unit(void)
{
    rnd_state = rnd_state * 1103515245u + 12345u;
    return ((rnd_state >> 8) & 0xffffff) / (double)0x1000000;
}

static double rnd_exp(double mean)
{
    return -mean * log(1.0 - rnd_unit());
}

static void conn_close(struct conn *c, int why)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    free(c->head);
    free(c->line);
    c->head = c->line = NULL;
    c->linelen = c->linecap = 0;
    if (c->state != S_DONE) {
        if (why >= 0)
            fails[why]++;
        if (c->open)
            nopen--;
        else {
            nresolved++;
            inflight--;
        }
    }
    c->state = S_DONE;
    if (resume_mean_ms > 0) {
        /* like EventSource: reconnect after a short, jittered wait */
        c->open = 0;
        c->cur_id = 0;
        c->cur_reset = c->cur_data = c->muted = 0;
        c->reopen_at = mono() + rnd_exp(50) / 1000.0;
    }
}

static void start_conn(int i);

/* Whether the next connection of a client is a fresh EventSource (-F). */
static void choose_fresh(struct conn *c)
{
    c->fresh = fresh_pct > 0 && rnd_unit() * 100 < fresh_pct;
    fresh_opens += c->fresh;
}

/* Resume mode: drop streams whose moment has come, reopen the dropped. */
static void resume_tick(void)
{
    double now = mono();
    int i;

    for (i = 0; i < nconn; i++) {
        struct conn *c = &conns[i];

        if (c->state == S_DONE && c->reopen_at > 0 && now >= c->reopen_at) {
            c->reopen_at = 0;
            reconnects++;
            c->drop_at = now + rnd_exp(resume_mean_ms) / 1000.0;
            choose_fresh(c);
            start_conn(i);
        } else if (c->state == S_BODY && c->open && now >= c->drop_at) {
            conn_close(c, -1);
        }
    }
}

static char request_buf[1024];


static int make_request(int i)
{
    char path[512];
    const char *d = strstr(path_tmpl, "%d");
    int n;

    /* the first %d is the topic's number; the rest of the path is taken as
     * it is (it is no format: a %-escape in it stays one) */
    if (d != NULL)
        snprintf(path, sizeof path, "%.*s%d%s", (int)(d - path_tmpl), path_tmpl, i % ntopics, d + 2);
    else
        snprintf(path, sizeof path, "%s", path_tmpl);
    n = snprintf(request_buf, sizeof request_buf,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n"
                 "Cache-Control: no-cache\r\nUser-Agent: sseload\r\n", path, port);
    if (resume_mean_ms > 0 && !conns[i].fresh)
        n += snprintf(request_buf + n, sizeof request_buf - (size_t)n, "Last-Event-ID: %lld\r\n",
                      (long long)conns[i].last_id);
    n += snprintf(request_buf + n, sizeof request_buf - (size_t)n, "\r\n");
    return n;
}

static void start_conn(int i)
{
    struct conn *c = &conns[i];
    struct sockaddr_in sa;
    struct epoll_event ev;
    int fd, one = 1;

    inflight++;
    c->state = S_CONNECTING;
    c->headlen = c->reqlen = c->reqoff = c->chunk_left = c->since_open = 0;
    c->chunk = C_SIZE;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    c->fd = fd;
    if (fd < 0) {
        conn_close(c, F_CONNECT);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS) {
        conn_close(c, F_CONNECT);
        return;
    }
    ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = (uint32_t)i;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        die("epoll_ctl");
}

static void record_latency(int64_t us)
{
    if (nlat == caplat) {
        caplat = caplat ? caplat * 2 : 65536;
        lat = xrealloc(lat, caplat * sizeof *lat);
    }
    lat[nlat++] = us;
}

/* Resume mode, -F: the first block of a fresh stream must give its
 * position; the client keeps it and drops the stream before any event. */
static void fresh_block(struct conn *c)
{
    if (c->cur_id > 0 && !c->cur_data) {
        if (c->cur_id < c->last_id)
            bad_positions++; /* behind what this client has seen */
        else
            c->last_id = c->cur_id;
    } else {
        unpositioned++;
    }
    c->muted = 1;
    c->drop_at = 0;
}

/* Resume mode: the id of each event against the one expected next. A
 * block without data (the stream's position) is not an event. */
static void resume_line(struct conn *c, const char *p, size_t n)
{
    if (c->muted)
        return;
    if (n >= 5 && memcmp(p, "data:", 5) == 0) {
        c->cur_data = 1;
    } else if (n == 0 && c->fresh) {
        fresh_block(c);
    } else if (n == 0 && !c->cur_data) {
        c->cur_id = 0;   /* a position, or a comment's end */
    } else if (n >= 3 && memcmp(p, "id:", 3) == 0) {
        size_t k = 3;   /* p is not NUL-terminated: parse within n */

        while (k < n && p[k] == ' ')
            k++;
        for (c->cur_id = 0; k < n && p[k] >= '0' && p[k] <= '9'; k++)
            c->cur_id = c->cur_id * 10 + (p[k] - '0');
    } else if (n >= 12 && memcmp(p, "event: reset", 12) == 0) {
        c->cur_reset = 1;
    } else if (n == 0 && c->cur_id > 0) {   /* end of an event */
        if (c->cur_reset) {
            resets++;
        } else {
            if (c->cur_id <= c->last_id || c->cur_id > c->last_id + 1) {
                if (c->cur_id <= c->last_id)
                    dups++;
                else
                    gaps++;
                if (getenv("SSELOAD_DEBUG"))
                    fprintf(stderr, "conn %d: id %lld after %lld (%u events on this connection)\n",
                            (int)(c - conns), (long long)c->cur_id, (long long)c->last_id, c->since_open);
            }
            c->since_open++;
            if (c->cur_id > c->last_id)
                c->events++;
        }
        if (c->cur_id > c->last_id)
            c->last_id = c->cur_id;
        c->cur_id = 0;
        c->cur_reset = c->cur_data = 0;
    }
}

/* One complete SSE line (without its \n). */
static void sse_line(struct conn *c, const char *p, size_t n)
{
    static const char key[] = "\"bench_us\":";
    const char *k;

    if (n >= 1 && p[n - 1] == '\r')
        n--;
    if (resume_mean_ms > 0) {
        resume_line(c, p, n);
        return;
    }
    if (n < 5 || memcmp(p, "data:", 5) != 0)
        return;
    k = memmem(p, n, key, sizeof key - 1);
    if (k == NULL) {
        bad_events++;
        return;
    }
    k += sizeof key - 1;
    {
        int64_t v = 0;
        const char *e = p + n;

        while (k < e && *k == ' ')
            k++;
        if (k >= e || *k < '0' || *k > '9') {
            bad_events++;
            return;
        }
        while (k < e && *k >= '0' && *k <= '9')
            v = v * 10 + (*k++ - '0');
        c->events++;
        record_latency(now_us_cached - v);
    }
}

/* Payload bytes of the stream (after de-chunking). */
static void body_bytes(struct conn *c, const char *p, size_t n)
{
    size_t i, start = 0;

    if (n == 0)
        return;
    if (!c->open) {
        c->open = 1;
        nopen++;
        nresolved++;
        inflight--;
    }
    for (i = 0; i < n; i++) {
        if (p[i] != '\n')
            continue;
        if (c->linelen) {
            size_t add = i - start;

            if (c->linelen + add > LINE_MAX_KEEP)
                add = LINE_MAX_KEEP > c->linelen ? LINE_MAX_KEEP - c->linelen : 0;
            if (c->linelen + add > c->linecap) {
                c->linecap = (uint32_t)(c->linelen + add);
                c->line = xrealloc(c->line, c->linecap);
            }
            memcpy(c->line + c->linelen, p + start, add);
            c->linelen += (uint32_t)add;
            sse_line(c, c->line, c->linelen);
            c->linelen = 0;
        } else {
            sse_line(c, p + start, i - start);
        }
        start = i + 1;
    }
    if (start < n) {   /* keep the partial line */
        size_t add = n - start;

        if (c->linelen + add > LINE_MAX_KEEP)
            add = LINE_MAX_KEEP > c->linelen ? LINE_MAX_KEEP - c->linelen : 0;
        if (c->linelen + add > c->linecap) {
            c->linecap = (uint32_t)(c->linelen + add < 256 ? 256 : c->linelen + add);
            c->line = xrealloc(c->line, c->linecap);
        }
        memcpy(c->line + c->linelen, p + start, add);
        c->linelen += (uint32_t)add;
    }
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Raw bytes after the head: de-chunk when needed. -1 on a framing error
 * or the terminating chunk. */
static int stream_bytes(struct conn *c, const char *p, size_t n)
{
    size_t i = 0;

    if (c->chunk == C_RAW) {
        body_bytes(c, p, n);
        return 0;
    }
    while (i < n) {
        char ch = p[i];
        int h;

        switch (c->chunk) {
        case C_SIZE:
            h = hexval(ch);
            if (h >= 0) {
                if (c->chunk_left > 0x0fffffff)
                    return -1;
                c->chunk_left = c->chunk_left * 16 + (uint32_t)h;
            } else if (ch == ';' || ch == ' ') {
                c->chunk = C_EXT;
            } else if (ch == '\r') {
                c->chunk = C_SIZE_LF;
            } else if (ch == '\n') {
                goto size_done;
            } else {
                return -1;
            }
            i++;
            break;
        case C_EXT:
            if (ch == '\r')
                c->chunk = C_SIZE_LF;
            else if (ch == '\n')
                goto size_done;
            i++;
            break;
        case C_SIZE_LF:
            if (ch != '\n')
                return -1;
        size_done:
            i++;
            if (c->chunk_left == 0)
                return -1; /* last chunk: the stream ended */
            c->chunk = C_DATA;
            break;
        case C_DATA: {
            size_t take = n - i < c->chunk_left ? n - i : c->chunk_left;

            body_bytes(c, p + i, take);
            i += take;
            c->chunk_left -= (uint32_t)take;
            if (c->chunk_left == 0)
                c->chunk = C_DATA_CR;
            break;
        }
        case C_DATA_CR:
            if (ch == '\r') {
                c->chunk = C_DATA_LF;
                i++;
                break;
            }
            /* tolerate a bare \n */
            __attribute__((fallthrough));
        case C_DATA_LF:
            if (ch != '\n')
                return -1;
            i++;
            c->chunk = C_SIZE;
            c->chunk_left = 0;
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* Parses the response head once complete; returns bytes consumed from the
 * head buffer (the rest is body), 0 when incomplete, -1 on failure. */
static int parse_head(struct conn *c)
{
    char *end = memmem(c->head, c->headlen, "\r\n\r\n", 4), *line, *eol;
    int status;

    if (end == NULL)
        return c->headlen >= HEAD_MAX ? -1 : 0;
    *end = '\0';
    if (sscanf(c->head, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    if (status != 200) {
        if (status >= 100 && status < 600)
            status_hist[status / 100]++;
        return -2;
    }
    c->chunk = C_RAW;
    for (line = strstr(c->head, "\r\n"); line != NULL; line = eol) {
        line += 2;
        eol = strstr(line, "\r\n");
        if (strncasecmp(line, "transfer-encoding:", 18) == 0 && strcasestr(line, "chunked") != NULL &&
            (eol == NULL || strcasestr(line, "chunked") < eol)) {
            c->chunk = C_SIZE;
            c->chunk_left = 0;
        }
    }
    return (int)(end - c->head) + 4;
}

static char rbuf[65536];

static void on_readable(struct conn *c)
{
    int rounds;

    for (rounds = 0; rounds < 8 && c->state != S_DONE; rounds++) {
        ssize_t r = read(c->fd, rbuf, sizeof rbuf);

        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (r <= 0) {
            conn_close(c, c->open ? F_DROPPED : F_EOF_OPENING);
            return;
        }
        now_us_cached = wall_us();
        if (c->state == S_HEAD) {
            size_t room = HEAD_MAX - c->headlen, take = (size_t)r < room ? (size_t)r : room;
            int used;

            if (c->head == NULL)
                c->head = xrealloc(NULL, HEAD_MAX + 1);
            memcpy(c->head + c->headlen, rbuf, take);
            c->headlen += (uint32_t)take;
            used = parse_head(c);
            if (used == -2) {
                conn_close(c, F_STATUS);
                return;
            }
            if (used < 0) {
                conn_close(c, F_EOF_OPENING);
                return;
            }
            if (used == 0)
                continue;
            c->state = S_BODY;
            {
                size_t rest = c->headlen - (size_t)used;
                char tmp[HEAD_MAX];

                memcpy(tmp, c->head + used, rest);
                free(c->head);
                c->head = NULL;
                if (stream_bytes(c, tmp, rest) != 0) {
                    conn_close(c, c->open ? F_DROPPED : F_EOF_OPENING);
                    return;
                }
                /* bytes of this read past the head buffer's room */
                if ((size_t)r > take && stream_bytes(c, rbuf + take, (size_t)r - take) != 0) {
                    conn_close(c, c->open ? F_DROPPED : F_EOF_OPENING);
                    return;
                }
            }
        } else if (stream_bytes(c, rbuf, (size_t)r) != 0) {
            conn_close(c, c->open ? F_DROPPED : F_EOF_OPENING);
            return;
        }
        if ((size_t)r < sizeof rbuf)
            return;
    }
}

static void on_writable(struct conn *c, int i)
{
    struct epoll_event ev;
    int err = 0;
    socklen_t len = sizeof err;

    if (c->state == S_CONNECTING) {
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            conn_close(c, F_CONNECT);
            return;
        }
        c->reqlen = (uint32_t)make_request(i);
        c->reqoff = 0;
        c->state = S_HEAD;
    }
    if (c->state == S_HEAD && c->reqoff < c->reqlen) {
        ssize_t w;

        make_request(i);
        w = write(c->fd, request_buf + c->reqoff, c->reqlen - c->reqoff);
        if (w < 0 && errno != EAGAIN) {
            conn_close(c, F_EOF_OPENING);
            return;
        }
        if (w > 0)
            c->reqoff += (uint32_t)w;
        if (c->reqoff == c->reqlen) {
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.u32 = (uint32_t)i;
            epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
        }
    }
}

static void poll_once(int timeout_ms)
{
    struct epoll_event evs[1024];
    int n = epoll_wait(epfd, evs, 1024, timeout_ms), k;

    if (n < 0 && errno != EINTR)
        die("epoll_wait");
    for (k = 0; k < n; k++) {
        int i = (int)evs[k].data.u32;
        struct conn *c = &conns[i];

        if (c->state == S_DONE)
            continue;
        if (c->state == S_CONNECTING && (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
            if (evs[k].events & (EPOLLERR | EPOLLHUP)) {
                conn_close(c, F_CONNECT);
                continue;
            }
            on_writable(c, i);
            continue;
        }
        if (evs[k].events & EPOLLOUT)
            on_writable(c, i);
        if (c->state != S_DONE && (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
            on_readable(c);
    }
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

static int64_t pct(double p)
{
    size_t idx;

    if (nlat == 0)
        return -1;
    idx = (size_t)(p * (double)(nlat - 1) + 0.5);
    return lat[idx];
}

static void usage(void)
{
    fprintf(stderr, "usage: sseload -p PORT -u PATH [-n N] [-k TOPICS] [-c INFLIGHT] [-o OPEN_S] "
                    "[-H HOLD_S] [-e EVENTS] [-w WAIT_S] [-r MEAN_MS -L ID [-F PCT]]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct rlimit rl;
    double t0, t_ready, t_end, deadline;
    int opt, next = 0, i, all_got;
    long stragglers = 0, total_events = 0;
    int min_events = -1;

    while ((opt = getopt(argc, argv, "p:u:n:k:c:o:H:e:w:r:L:F:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'u': path_tmpl = optarg; break;
        case 'n': nconn = atoi(optarg); break;
        case 'k': ntopics = atoi(optarg); break;
        case 'c': inflight_max = atoi(optarg); break;
        case 'o': open_s = atof(optarg); break;
        case 'H': hold_s = atof(optarg); break;
        case 'e': want_events = atoi(optarg); break;
        case 'w': wait_s = atof(optarg); break;
        case 'r': resume_mean_ms = atof(optarg); break;
        case 'L': resume_from = atoll(optarg); break;
        case 'F': fresh_pct = atof(optarg); break;
        default: usage();
        }
    }
    if (port <= 0 || path_tmpl == NULL || nconn <= 0 || ntopics <= 0 || inflight_max <= 0 || open_s > 600 ||
        hold_s > 600 || wait_s > 600 || (resume_mean_ms > 0 && want_events <= 0))
        usage();
    /* The soft descriptor limit up to the hard one. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)nconn + 8 > rl.rlim_cur) {
        fprintf(stderr, "sseload: %d connections need more than the %ld descriptors allowed\n", nconn,
                (long)rl.rlim_cur);
        return 2;
    }
    conns = calloc((size_t)nconn, sizeof *conns);
    if (conns == NULL)
        die("calloc");
    for (i = 0; i < nconn; i++) {
        conns[i].fd = -1;
        conns[i].last_id = resume_from;
        conns[i].drop_at = mono() + rnd_exp(resume_mean_ms) / 1000.0;
        choose_fresh(&conns[i]);
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");

    /* Ramp: keep at most inflight_max connections opening at once. */
    t0 = mono();
    deadline = t0 + open_s;
    while (nresolved < nconn && mono() < deadline) {
        while (next < nconn && inflight < inflight_max)
            start_conn(next++);
        poll_once(20);
        if (resume_mean_ms > 0)
            resume_tick();
    }
    for (i = 0; i < next; i++) /* started, but did not open in time */
        if (conns[i].state != S_DONE && !conns[i].open) {
            conn_close(&conns[i], F_TIMEOUT);
            stragglers++;
        }
    while (next < nconn) {      /* never started: time-outs, or (resuming) started now */
        conns[next].state = S_DONE;
        if (resume_mean_ms > 0)
            conns[next].reopen_at = mono();
        else
            fails[F_TIMEOUT]++;
        next++;
    }
    t_ready = mono();
    fprintf(stderr, "READY open=%d failed=%d ramp=%.3f\n", nopen, nconn - nopen, t_ready - t0);
    fflush(stderr);

    /* Hold, or wait for the events. */
    if (want_events > 0) {
        deadline = t_ready + wait_s;
        for (;;) {
            poll_once(20);
            all_got = 1;
            if (resume_mean_ms > 0) {
                resume_tick();
                for (i = 0; i < nconn && all_got; i++)
                    if (conns[i].last_id < resume_from + want_events)
                        all_got = 0;
            }
            for (i = 0; i < nconn && all_got && resume_mean_ms <= 0; i++)
                if (conns[i].open && conns[i].state != S_DONE && (int)conns[i].events < want_events)
                    all_got = 0;
            if (all_got || mono() >= deadline)
                break;
        }
    } else {
        deadline = t_ready + hold_s;
        while (mono() < deadline)
            poll_once(50);
    }
    t_end = mono();

    for (i = 0; i < nconn; i++) {
        if (conns[i].open) {
            total_events += conns[i].events;
            if (min_events < 0 || (int)conns[i].events < min_events)
                min_events = (int)conns[i].events;
        }
    }
    {
        int still_open = nopen;

        for (i = 0; i < nconn; i++)
            if (conns[i].state != S_DONE) {
                conns[i].state = S_DONE; /* not a failure: we close it */
                close(conns[i].fd);
                free(conns[i].line);
                free(conns[i].head);
            }
        qsort(lat, nlat, sizeof *lat, cmp64);
        printf("{\"n\":%d,\"open_at_end\":%d,\"ramp_s\":%.3f,\"phase_s\":%.3f,\"failed\":%ld", nconn, still_open,
               t_ready - t0, t_end - t_ready,
               fails[F_CONNECT] + fails[F_STATUS] + fails[F_TIMEOUT] + fails[F_EOF_OPENING] + fails[F_DROPPED]);
        for (i = 0; i < F__N; i++)
            printf(",\"%s\":%ld", fail_names[i], fails[i]);
        printf(",\"http_status\":{\"1xx\":%d,\"2xx\":%d,\"3xx\":%d,\"4xx\":%d,\"5xx\":%d}", status_hist[1],
               status_hist[2], status_hist[3], status_hist[4], status_hist[5]);
        printf(",\"events\":%ld,\"events_expected\":%ld,\"min_events_per_stream\":%d,\"bad_data_lines\":%ld",
               total_events, (long)want_events * (long)(still_open), min_events < 0 ? 0 : min_events,
               bad_events);
        if (resume_mean_ms > 0) {
            int complete = 0;

            for (i = 0; i < nconn; i++)
                complete += conns[i].last_id >= resume_from + want_events;
            printf(",\"resume\":{\"clients_complete\":%d,\"gaps\":%ld,\"duplicates\":%ld,\"resets\":%ld,"
                   "\"reconnects\":%ld,\"fresh_opens\":%ld,\"unpositioned\":%ld,\"bad_positions\":%ld}",
                   complete, gaps, dups, resets, reconnects, fresh_opens, unpositioned, bad_positions);
        }
        printf(",\"latency_us\":{\"count\":%zu,\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"max\":%lld,\"min\":%lld}}\n",
               nlat, (long long)pct(0.50), (long long)pct(0.90), (long long)pct(0.99),
               (long long)(nlat ? lat[nlat - 1] : -1), (long long)(nlat ? lat[0] : -1));
    }
    (void)stragglers;
    free(lat);
    free(conns);
    close(epfd);
    return 0;
}
