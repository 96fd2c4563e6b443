/* sseload.c - the SSE load generator of `make bench`.
 *
 * One process, one epoll loop, non-blocking sockets: opens N HTTP/1.1
 * EventSource requests (GET with Accept: text/event-stream) to
 * 127.0.0.1:PORT, at most C of them connecting at once, and counts one as
 * open when it has a 200 and its first body bytes. Then, either holds
 * every stream for H seconds (a stream that closes meanwhile is a drop),
 * or waits for E events on each stream and records, for every data: line
 * of every stream, receive time minus the send time it carries: the
 * number after its first KEY (-K, default `"bench_us":`), microseconds
 * since the epoch. An event is one KEY: a data: line holding several (the
 * chat deltas one commit merged) counts each, its latency is the oldest's.
 * With -M MATCH only data: lines holding MATCH count (others are ignored).
 * Bodies may be chunked (lighttpd, nginx + FastCGI) or raw (nchan).
 *
 *   sseload -p PORT (-u PATH | -U FILE) [-n N] [-k TOPICS] [-c INFLIGHT]
 *           [-o OPEN_S] [-H HOLD_S] [-e EVENTS] [-w WAIT_S] [-K KEY]
 *           [-M MATCH] [-r MEAN_MS -L ID [-F PCT]]
 *
 * Resume mode (-r MEAN_MS, for the fault tests): see sse_resume.h.
 *
 * Paths: see sse_paths.h (-u with a %d for many topics, or -U a file).
 * When the ramp is over it prints "READY open=.. failed=.." on stderr (the
 * driver waits for that line); at the end, one JSON object on stdout.
 * Bounded: the ramp ends after OPEN_S (default 60) seconds, the hold after
 * HOLD_S, the event wait after WAIT_S (default 30), and either at SIGTERM
 * (still reporting); every socket is closed at exit.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "latency.h"
#include "sse_paths.h"
#include "sse_reader.h"
#include "sse_resume.h"

enum state { S_IDLE, S_CONNECTING, S_HEAD, S_BODY, S_DONE };
enum fail { F_CONNECT, F_STATUS, F_TIMEOUT, F_EOF_OPENING, F_DROPPED, F__N };
static const char *fail_names[F__N] = {"connect_error", "bad_status", "timeout", "closed_while_opening", "dropped"};

struct conn {
    int fd;
    uint8_t state, open;
    uint32_t events;
    uint32_t reqlen, reqoff;
    char *head;          /* response head until \r\n\r\n, then freed */
    uint32_t headlen;
    struct sse_reader rd;
    /* resume mode */
    struct resume_client rc;
    double drop_at;      /* when this client drops its stream next */
    double reopen_at;    /* reconnect time after a drop, 0 if not waiting */
};

static struct conn *conns;
static int nconn, inflight_max = 200, port;
static struct sse_paths paths = {.topics = 1};
static const char *latency_key = "\"bench_us\":", *line_match;
static volatile sig_atomic_t stopping;  /* SIGTERM: end the phase, report */
static double open_s = 60, hold_s = 0, wait_s = 30;
static int want_events;
static int epfd;
static long fails[F__N];
static int status_hist[6];  /* 1xx..5xx counts of non-200 answers */
static int nopen, nresolved, inflight;
static struct latency lat;  /* one per delivered event */
static long bad_events;     /* data lines without a parsable bench_us */
static int64_t now_us_cached;
static double resume_mean_ms;      /* > 0: resume mode */
static int64_t resume_from;        /* -L: ids before this one are not expected */
static struct resume_counts resume;
static long reconnects;
static double fresh_pct;           /* -F: share of connections opened as a fresh EventSource */
static long fresh_opens;

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

static void conn_close(struct conn *c, int why)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    free(c->head);
    c->head = NULL;
    sse_reader_reset(&c->rd);
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
        c->reopen_at = mono() + resume_rnd_exp(50) / 1000.0;
    }
}

/* Whether the next connection of a client is a fresh EventSource (-F). */
static int choose_fresh(void)
{
    int fresh = fresh_pct > 0 && resume_rnd_unit() * 100 < fresh_pct;

    fresh_opens += fresh;
    return fresh;
}

static void start_conn(int i);

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
            c->drop_at = now + resume_rnd_exp(resume_mean_ms) / 1000.0;
            resume_reopen(&c->rc, choose_fresh());
            start_conn(i);
        } else if (c->state == S_BODY && c->open && now >= c->drop_at) {
            conn_close(c, -1);
        }
    }
}

static char request_buf[4096];

/* Connection i's request into request_buf; one that does not fit ends
 * the run (no request is cut short). */
static int make_request(int i)
{
    char path[3072];
    int n;

    if (sse_paths_get(&paths, i, path, sizeof path) < 0) {
        fprintf(stderr, "sseload: the path of connection %d is longer than %zu bytes\n", i, sizeof path - 1);
        exit(2);
    }
    n = snprintf(request_buf, sizeof request_buf,
                 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n"
                 "Cache-Control: no-cache\r\nUser-Agent: sseload\r\n", path, port);
    if (resume_mean_ms > 0 && !conns[i].rc.fresh)
        n += snprintf(request_buf + n, sizeof request_buf - (size_t)n, "Last-Event-ID: %lld\r\n",
                      (long long)conns[i].rc.last_id);
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
    c->headlen = c->reqlen = c->reqoff = 0;
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

/* One complete SSE line of c's stream (sse_line_fn). */
static void sse_line(void *arg, const char *p, size_t n)
{
    struct conn *c = arg;
    int64_t v;
    int flags;

    if (resume_mean_ms > 0) {
        flags = resume_line(&c->rc, &resume, p, n);
        c->events += (flags & RESUME_EVENT) != 0;
        if (flags & RESUME_DROP)
            c->drop_at = 0;
        return;
    }
    if (n < 5 || memcmp(p, "data:", 5) != 0 ||
        (line_match != NULL && memmem(p, n, line_match, strlen(line_match)) == NULL))
        return;
    if (sse_reader_number(p, n, latency_key, &v) != 0) {
        bad_events++;
        return;
    }
    c->events += (uint32_t)sse_reader_count(p, n, latency_key);
    latency_add(&lat, now_us_cached - v);
}

/* Body bytes: a stream counts as open with its first payload byte. 0, or
 * -1 when it ended or its framing is broken. */
static int body(struct conn *c, const char *p, size_t n)
{
    int rc = sse_reader_feed(&c->rd, p, n, sse_line, c);

    if (!c->open && c->rd.body > 0) {
        c->open = 1;
        nopen++;
        nresolved++;
        inflight--;
    }
    return rc;
}

/* Bytes of the response head; what follows it goes to body(). 0 while
 * the head is incomplete or once it is read, -1 (and c closed) on failure. */
static int head(struct conn *c, const char *p, size_t n)
{
    size_t room = SSE_READER_HEAD_MAX - c->headlen, take = n < room ? n : room;
    int used, status = 0;

    if (c->head == NULL)
        c->head = xrealloc(NULL, SSE_READER_HEAD_MAX);
    memcpy(c->head + c->headlen, p, take);
    c->headlen += (uint32_t)take;
    used = sse_reader_head(&c->rd, c->head, c->headlen, &status);
    if (used > 0 && status != 200) {
        if (status >= 100 && status < 600)
            status_hist[status / 100]++;
        conn_close(c, F_STATUS);
        return -1;
    }
    if (used < 0) {
        conn_close(c, F_EOF_OPENING);
        return -1;
    }
    if (used == 0)
        return 0;
    c->state = S_BODY;
    /* the body bytes in the head buffer, then those of p past its room */
    if (body(c, c->head + used, c->headlen - (size_t)used) != 0 || (n > take && body(c, p + take, n - take) != 0)) {
        conn_close(c, c->open ? F_DROPPED : F_EOF_OPENING);
        return -1;
    }
    free(c->head);
    c->head = NULL;
    return 0;
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
            if (head(c, rbuf, (size_t)r) != 0)
                return;
        } else if (body(c, rbuf, (size_t)r) != 0) {
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

static void on_term(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: sseload -p PORT (-u PATH | -U FILE) [-n N] [-k TOPICS] [-c INFLIGHT] [-o OPEN_S] "
                    "[-H HOLD_S] [-e EVENTS] [-w WAIT_S] [-K KEY] [-M MATCH] [-r MEAN_MS -L ID [-F PCT]]\n");
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    int opt;

    while ((opt = getopt(argc, argv, "p:u:U:n:k:c:o:H:e:w:K:M:r:L:F:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'u': paths.tmpl = optarg; break;
        case 'U': if (sse_paths_load(&paths, optarg) != 0) exit(2); break;
        case 'n': nconn = atoi(optarg); break;
        case 'k': paths.topics = atoi(optarg); break;
        case 'c': inflight_max = atoi(optarg); break;
        case 'o': open_s = atof(optarg); break;
        case 'H': hold_s = atof(optarg); break;
        case 'e': want_events = atoi(optarg); break;
        case 'w': wait_s = atof(optarg); break;
        case 'K': latency_key = optarg; break;
        case 'M': line_match = optarg; break;
        case 'r': resume_mean_ms = atof(optarg); break;
        case 'L': resume_from = atoll(optarg); break;
        case 'F': fresh_pct = atof(optarg); break;
        default: usage();
        }
    }
    if (port <= 0 || (paths.tmpl == NULL) == (paths.n == 0) || nconn <= 0 || paths.topics <= 0 ||
        !*latency_key || inflight_max <= 0 || open_s > 600 ||
        hold_s > 600 || wait_s > 600 || (resume_mean_ms > 0 && want_events <= 0))
        usage();
}

/* The soft descriptor limit up to the hard one; 0 when nconn fit. */
static int raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && (rlim_t)nconn + 8 > rl.rlim_cur) {
        fprintf(stderr, "sseload: %d connections need more than the %ld descriptors allowed\n", nconn,
                (long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

/* Opens every stream, at most inflight_max opening at once, until OPEN_S;
 * those not open by then are time-outs (resuming: they open later). */
static void ramp(void)
{
    double deadline = mono() + open_s;
    int next = 0, i;

    while (nresolved < nconn && mono() < deadline) {
        while (next < nconn && inflight < inflight_max)
            start_conn(next++);
        poll_once(20);
        if (resume_mean_ms > 0)
            resume_tick();
    }
    for (i = 0; i < next; i++) /* started, but did not open in time */
        if (conns[i].state != S_DONE && !conns[i].open)
            conn_close(&conns[i], F_TIMEOUT);
    for (; next < nconn; next++) {  /* never started */
        conns[next].state = S_DONE;
        if (resume_mean_ms > 0)
            conns[next].reopen_at = mono();
        else
            fails[F_TIMEOUT]++;
    }
}

/* Whether every client has what it waits for. */
static int all_got(void)
{
    int i;

    for (i = 0; i < nconn; i++) {
        const struct conn *c = &conns[i];

        if (resume_mean_ms > 0 ? c->rc.last_id < resume_from + want_events
                               : c->open && c->state != S_DONE && (int)c->events < want_events)
            return 0;
    }
    return 1;
}

/* Holds the streams for HOLD_S, or waits (at most WAIT_S) for the events. */
static void run_phase(void)
{
    double deadline = mono() + (want_events > 0 ? wait_s : hold_s);

    while (want_events > 0) {
        poll_once(20);
        if (resume_mean_ms > 0)
            resume_tick();
        if (all_got() || mono() >= deadline || stopping)
            return;
    }
    while (mono() < deadline && !stopping)
        poll_once(50);
}

/* One JSON object on stdout (the driver's contract: bench/run.py and the
 * fault tests read it). */
static void report(int still_open, double ramp_s, double phase_s)
{
    long total_events = 0, failed = 0;
    int min_events = -1, complete = 0, i;

    for (i = 0; i < nconn; i++) {
        if (conns[i].open) {
            total_events += conns[i].events;
            if (min_events < 0 || (int)conns[i].events < min_events)
                min_events = (int)conns[i].events;
        }
        complete += conns[i].rc.last_id >= resume_from + want_events;
    }
    for (i = 0; i < F__N; i++)
        failed += fails[i];
    latency_sort(&lat);
    printf("{\"n\":%d,\"open_at_end\":%d,\"ramp_s\":%.3f,\"phase_s\":%.3f,\"failed\":%ld", nconn, still_open, ramp_s,
           phase_s, failed);
    for (i = 0; i < F__N; i++)
        printf(",\"%s\":%ld", fail_names[i], fails[i]);
    printf(",\"http_status\":{\"1xx\":%d,\"2xx\":%d,\"3xx\":%d,\"4xx\":%d,\"5xx\":%d}", status_hist[1],
           status_hist[2], status_hist[3], status_hist[4], status_hist[5]);
    printf(",\"events\":%ld,\"events_expected\":%ld,\"min_events_per_stream\":%d,\"bad_data_lines\":%ld",
           total_events, (long)want_events * (long)still_open, min_events < 0 ? 0 : min_events, bad_events);
    if (resume_mean_ms > 0)
        printf(",\"resume\":{\"clients_complete\":%d,\"gaps\":%ld,\"duplicates\":%ld,\"resets\":%ld,"
               "\"reconnects\":%ld,\"fresh_opens\":%ld,\"unpositioned\":%ld,\"bad_positions\":%ld}",
               complete, resume.gaps, resume.dups, resume.resets, reconnects, fresh_opens, resume.unpositioned,
               resume.bad_positions);
    printf(",\"latency_us\":{\"count\":%zu,\"p50\":%lld,\"p90\":%lld,\"p99\":%lld,\"max\":%lld,\"min\":%lld}}\n",
           lat.n, (long long)latency_pct(&lat, 0.50), (long long)latency_pct(&lat, 0.90),
           (long long)latency_pct(&lat, 0.99), (long long)latency_pct(&lat, 1), (long long)latency_pct(&lat, 0));
}

int main(int argc, char **argv)
{
    double t0, t_ready, t_end;
    int i, still_open;

    parse_args(argc, argv);
    signal(SIGTERM, on_term);
    if (raise_nofile() != 0)
        return 2;
    conns = calloc((size_t)nconn, sizeof *conns);
    if (conns == NULL)
        die("calloc");
    for (i = 0; i < nconn; i++) {
        conns[i].fd = -1;
        conns[i].rc.who = i;
        conns[i].rc.last_id = resume_from;
        conns[i].drop_at = mono() + resume_rnd_exp(resume_mean_ms) / 1000.0;
        resume_reopen(&conns[i].rc, choose_fresh());
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        die("epoll_create1");
    t0 = mono();
    ramp();
    t_ready = mono();
    fprintf(stderr, "READY open=%d failed=%d ramp=%.3f\n", nopen, nconn - nopen, t_ready - t0);
    fflush(stderr);
    run_phase();
    t_end = mono();
    still_open = nopen;
    for (i = 0; i < nconn; i++)
        if (conns[i].state != S_DONE) {
            conns[i].state = S_DONE; /* not a failure: we close it */
            close(conns[i].fd);
        }
    report(still_open, t_ready - t0, t_end - t_ready);
    for (i = 0; i < nconn; i++) {
        free(conns[i].head);
        sse_reader_reset(&conns[i].rd);
    }
    latency_free(&lat);
    sse_paths_free(&paths);
    free(conns);
    close(epfd);
    return 0;
}
