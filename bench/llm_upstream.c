/* llm_upstream.c - the AI chat benchmark's upstream: an OpenAI-compatible
 * streaming server (POST /v1/chat/completions, "stream": true) in one
 * epoll loop, so that 1,000 answers at 20 deltas/s cost the machine what
 * the real service's network side would, not what an interpreter costs.
 *
 *   llm_upstream [-p port] [-k key] [-n deltas] [-d delay_ms] [-r]
 *
 * Prints its base URL (http://127.0.0.1:PORT/v1) on the first line, then
 * serves until SIGTERM/SIGINT. It checks each request as the real service
 * does (path, method, Bearer key, the body's model, stream and messages,
 * through SQLite's JSON functions) and answers an OpenAI-style error
 * otherwise. A good request is answered with HTTP/1.1 chunked SSE: a role
 * chunk, then delta k (k = 1..n) at start + k * delay_ms, its content
 * "bench_us=<wall clock µs> w<k-1>" stamped just before it is written
 * (bench/chat_bench.py measures delta -> browser from it), the finish
 * chunk, the usage chunk when stream_options.include_usage asks for it,
 * data: [DONE] and the last chunk; the connection is kept for the next
 * request. With -r each answer's deltas start at a random phase of the
 * period (start + U[0, delay) + k * delay): answers that begin together
 * (a generator claims waiting answers in groups) do not then deliver
 * their deltas in lockstep bursts, as a real model's users would not.
 * tests/llm_standin.py is the scripted stand-in of the tests;
 * this one only streams. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BODY_MAX (1 << 20)
#define HEAD_MAX 16384

struct conn {
    int fd;
    char *in;                  /* request bytes not consumed yet (owned) */
    size_t in_len, in_cap;
    char *out;                 /* bytes not written yet (owned) */
    size_t out_len, out_cap;
    char *model;               /* the request's model, as a JSON string (owned) */
    int usage;                 /* stream_options.include_usage */
    int streaming;             /* deltas are due; in the heap */
    int want_out;              /* EPOLLOUT armed */
    int closing;               /* close once out is written */
    long n;                    /* deltas sent */
    long long t0, due;         /* CLOCK_MONOTONIC µs */
    size_t heap_at;
    long req;
};

static struct {
    int ep, lfd;
    const char *key;
    long deltas, delay_us;
    int random_phase;         /* -r */
    sqlite3 *db;
    sqlite3_stmt *check;
    struct conn **heap;
    size_t heap_len, heap_cap;
    long requests;
    volatile sig_atomic_t stop;
} up;

static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *grow(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (q == NULL)
        die("llm_upstream: out of memory");
    return q;
}

static long long now_us(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- the timer heap: streaming connections by their next delta's due time */

static void heap_set(size_t i, struct conn *c)
{
    up.heap[i] = c;
    c->heap_at = i;
}

static void heap_up(size_t i)
{
    struct conn *c = up.heap[i];

    while (i > 0 && up.heap[(i - 1) / 2]->due > c->due) {
        heap_set(i, up.heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(i, c);
}

static void heap_down(size_t i)
{
    struct conn *c = up.heap[i];
    size_t k;

    while ((k = 2 * i + 1) < up.heap_len) {
        if (k + 1 < up.heap_len && up.heap[k + 1]->due < up.heap[k]->due)
            k++;
        if (up.heap[k]->due >= c->due)
            break;
        heap_set(i, up.heap[k]);
        i = k;
    }
    heap_set(i, c);
}

static void heap_push(struct conn *c)
{
    if (up.heap_len == up.heap_cap) {
        up.heap_cap = up.heap_cap ? up.heap_cap * 2 : 1024;
        up.heap = grow(up.heap, up.heap_cap * sizeof *up.heap);
    }
    heap_set(up.heap_len++, c);
    heap_up(c->heap_at);
}

static void heap_remove(struct conn *c)
{
    size_t i = c->heap_at;
    struct conn *last = up.heap[--up.heap_len];

    if (i == up.heap_len)
        return;
    heap_set(i, last);
    heap_up(i);
    heap_down(last->heap_at);
}

/* ---- output */

static void watch(struct conn *c, int out)
{
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};

    if (c->want_out != out && epoll_ctl(up.ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        die("llm_upstream: epoll_ctl: %s", strerror(errno));
    c->want_out = out;
}

static void put(struct conn *c, const char *p, size_t n)
{
    if (c->out_len + n > c->out_cap) {
        c->out_cap = (c->out_len + n) * 2;
        c->out = grow(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, p, n);
    c->out_len += n;
}

static void putf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct conn *c, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("llm_upstream: vsnprintf");
    if (c->out_len + (size_t)n + 1 > c->out_cap) {
        c->out_cap = (c->out_len + (size_t)n + 1) * 2;
        c->out = grow(c->out, c->out_cap);
    }
    va_start(ap, fmt);
    vsnprintf(c->out + c->out_len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->out_len += (size_t)n;
}

/* One SSE event as one HTTP chunk. */
static void event(struct conn *c, const char *json)
{
    size_t n = strlen(json) + 8;   /* "data: " json "\n\n" */

    putf(c, "%zx\r\ndata: %s\n\n\r\n", n, json);
}

/* Writes what it can; -1 when the peer is gone. */
static int flush_out(struct conn *c)
{
    ssize_t w;
    size_t done = 0;

    while (done < c->out_len) {
        w = write(c->fd, c->out + done, c->out_len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN)
            break;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    memmove(c->out, c->out + done, c->out_len - done);
    c->out_len -= done;
    watch(c, c->out_len > 0);
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->streaming)
        heap_remove(c);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c->model);
    free(c);
}

/* ---- the answer */

static void chunk_json(struct conn *c, const char *delta, const char *finish, char **out)
{
    size_t n;
    FILE *f = open_memstream(out, &n);

    if (f == NULL)
        die("llm_upstream: open_memstream");
    fprintf(f,
            "{\"id\":\"chatcmpl-up-%ld\",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":%s,"
            "\"choices\":[{\"index\":0,\"delta\":%s,\"logprobs\":null,\"finish_reason\":%s}]}",
            c->req, (long long)time(NULL), c->model, delta, finish);
    if (fclose(f) != 0)
        die("llm_upstream: memstream");
}

static void send_event(struct conn *c, const char *delta, const char *finish)
{
    char *json = NULL;

    chunk_json(c, delta, finish, &json);
    event(c, json);
    free(json);
}

static void answer_end(struct conn *c)
{
    char *json = NULL;
    size_t n;
    FILE *f;

    send_event(c, "{}", "\"stop\"");
    if (c->usage) {
        if ((f = open_memstream(&json, &n)) == NULL)
            die("llm_upstream: open_memstream");
        fprintf(f,
                "{\"id\":\"chatcmpl-up-%ld\",\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":%s,"
                "\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":%ld,\"total_tokens\":%ld}}",
                c->req, (long long)time(NULL), c->model, up.deltas, up.deltas + 1);
        if (fclose(f) != 0)
            die("llm_upstream: memstream");
        event(c, json);
        free(json);
    }
    event(c, "[DONE]");
    put(c, "0\r\n\r\n", 5);
}

/* Sends the deltas that are due; the connection's next one goes back in
 * the heap. */
static void tick(long long now)
{
    struct conn *c;
    char delta[96];
    int ok;

    while (up.heap_len > 0 && up.heap[0]->due <= now) {
        c = up.heap[0];
        snprintf(delta, sizeof delta, "{\"content\":\"bench_us=%lld w%ld\"}", now_us(CLOCK_REALTIME), c->n);
        send_event(c, delta, "null");
        c->n++;
        if (c->n < up.deltas) {
            c->due = c->t0 + (c->n + 1) * up.delay_us;
            heap_down(0);
        } else {
            heap_remove(c);
            c->streaming = 0;
            answer_end(c);
        }
        ok = flush_out(c) == 0;
        if (!ok)
            conn_close(c);
    }
}

static void error_reply(struct conn *c, int status, const char *reason, const char *message)
{
    char body[512];
    int n = snprintf(body, sizeof body,
                     "{\"error\":{\"message\":\"%s\",\"type\":\"invalid_request_error\",\"param\":null,"
                     "\"code\":null}}",
                     message);

    putf(c,
         "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
         status, reason, n, body);
    c->closing = 1;
}

/* 1 when body is what the real service takes; sets the model and usage. */
static int body_ok(struct conn *c, const char *body, size_t len)
{
    int ok = 0;

    if (sqlite3_reset(up.check) != SQLITE_OK ||
        sqlite3_bind_text(up.check, 1, body, (int)len, SQLITE_STATIC) != SQLITE_OK)
        die("llm_upstream: %s", sqlite3_errmsg(up.db));
    if (sqlite3_step(up.check) == SQLITE_ROW && sqlite3_column_int(up.check, 0) == 1) {
        ok = 1;
        free(c->model);
        c->model = strdup((const char *)sqlite3_column_text(up.check, 1));
        if (c->model == NULL)
            die("llm_upstream: out of memory");
        c->usage = sqlite3_column_int(up.check, 2);
    }
    sqlite3_clear_bindings(up.check);
    return ok;
}

static const char *header(const char *head, const char *name, size_t *len)
{
    const char *p = strstr(head, "\r\n"), *e;
    size_t n = strlen(name);

    while (p != NULL && p[2] != '\r') {
        p += 2;
        e = strstr(p, "\r\n");
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            p += n + 1;
            while (*p == ' ')
                p++;
            *len = (size_t)(e - p);
            return p;
        }
        p = e;
    }
    return NULL;
}

/* Handles the request at the start of c->in when it is whole: 1 handled,
 * 0 needs more bytes. */
static int request(struct conn *c)
{
    char *end, *cl, auth[512];
    const char *v;
    size_t head, body_len = 0, vlen;

    c->in[c->in_len] = '\0';
    if ((end = strstr(c->in, "\r\n\r\n")) == NULL) {
        if (c->in_len > HEAD_MAX)
            error_reply(c, 431, "Request Header Fields Too Large", "headers too large");
        return c->in_len > HEAD_MAX;
    }
    head = (size_t)(end - c->in) + 4;
    end[2] = '\0';
    if ((v = header(c->in, "Content-Length", &vlen)) != NULL)
        body_len = strtoul(v, &cl, 10);
    if (body_len > BODY_MAX) {
        error_reply(c, 413, "Payload Too Large", "body too large");
        return 1;
    }
    if (c->in_len < head + body_len) {
        end[2] = '\r';
        return 0;
    }
    snprintf(auth, sizeof auth, "Bearer %s", up.key);
    if (strncmp(c->in, "POST ", 5) != 0 && strncmp(c->in + strcspn(c->in, " "), " /v1/chat/completions ", 22) == 0)
        error_reply(c, 405, "Method Not Allowed", "method not allowed");
    else if (strncmp(c->in, "POST /v1/chat/completions ", 26) != 0)
        error_reply(c, 404, "Not Found", "unknown path");
    else if (up.key[0] != '\0' &&
             ((v = header(c->in, "Authorization", &vlen)) == NULL || vlen != strlen(auth) || memcmp(v, auth, vlen) != 0))
        error_reply(c, 401, "Unauthorized", "Incorrect API key provided");
    else if (!body_ok(c, c->in + head, body_len))
        error_reply(c, 400, "Bad Request", "the body is not a chat completion request");
    else {
        c->req = ++up.requests;
        c->n = 0;
        c->t0 = now_us(CLOCK_MONOTONIC);
        if (up.random_phase && up.delay_us > 0)
            c->t0 -= random() % up.delay_us;   /* the first delta within one period, at a random phase */
        c->due = c->t0 + up.delay_us;
        putf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nCache-Control: no-cache\r\n"
                "Transfer-Encoding: chunked\r\n\r\n");
        send_event(c, "{\"role\":\"assistant\",\"content\":\"\"}", "null");
        if (up.deltas > 0) {
            c->streaming = 1;
            heap_push(c);
        } else {
            answer_end(c);
        }
    }
    memmove(c->in, c->in + head + body_len, c->in_len - head - body_len);
    c->in_len -= head + body_len;
    return 1;
}

static void readable(struct conn *c)
{
    ssize_t r;

    for (;;) {
        if (c->in_cap - c->in_len < 4097) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 8192;
            c->in = grow(c->in, c->in_cap);
        }
        r = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno == EAGAIN)
            break;
        if (r <= 0) {
            conn_close(c);
            return;
        }
        c->in_len += (size_t)r;
    }
    /* one request at a time: the next waits until this answer ended */
    while (!c->streaming && !c->closing && c->in_len > 0 && request(c))
        ;
    if (flush_out(c) != 0 || (c->closing && c->out_len == 0))
        conn_close(c);
}

static void accept_all(void)
{
    struct epoll_event ev = {.events = EPOLLIN};
    struct conn *c;
    int fd, one = 1;

    while ((fd = accept4(up.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
        c = calloc(1, sizeof *c);
        if (c == NULL)
            die("llm_upstream: out of memory");
        c->fd = fd;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ev.data.ptr = c;
        if (epoll_ctl(up.ep, EPOLL_CTL_ADD, fd, &ev) != 0)
            die("llm_upstream: epoll_ctl: %s", strerror(errno));
    }
}

static void on_signal(int sig)
{
    (void)sig;
    up.stop = 1;
}

static void setup(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((unsigned short)port)};
    socklen_t alen = sizeof a;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    int one = 1;

    if (sqlite3_open(":memory:", &up.db) != SQLITE_OK ||
        sqlite3_prepare_v2(up.db,
                           "SELECT CASE WHEN json_valid(?1) AND json_type(?1) = 'object' THEN"
                           " json_type(?1, '$.model') = 'text' AND length(json_extract(?1, '$.model')) > 0"
                           " AND json_type(?1, '$.stream') = 'true'"
                           " AND json_type(?1, '$.messages') = 'array' AND json_array_length(?1, '$.messages') > 0"
                           " AND NOT EXISTS (SELECT 1 FROM json_each(?1, '$.messages') WHERE type != 'object'"
                           "   OR json_extract(value, '$.role') NOT IN ('system','user','assistant','tool','developer')"
                           "   OR json_type(value, '$.content') IS NOT 'text')"
                           " ELSE 0 END,"
                           " CASE WHEN json_valid(?1) THEN json_quote(json_extract(?1, '$.model')) END,"
                           " CASE WHEN json_valid(?1) THEN json_extract(?1, '$.stream_options.include_usage') IS 1"
                           " ELSE 0 END",
                           -1, &up.check, NULL) != SQLITE_OK)
        die("llm_upstream: sqlite: %s", up.db ? sqlite3_errmsg(up.db) : "open");
    if ((up.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(up.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(up.lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(up.lfd, 4096) != 0 ||
        getsockname(up.lfd, (struct sockaddr *)&a, &alen) != 0)
        die("llm_upstream: listen: %s", strerror(errno));
    if ((up.ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || epoll_ctl(up.ep, EPOLL_CTL_ADD, up.lfd, &ev) != 0)
        die("llm_upstream: epoll: %s", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("http://127.0.0.1:%d/v1\n", ntohs(a.sin_port));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct epoll_event evs[256];
    int opt, port = 0, n, i, wait_ms;
    long long now;

    up.key = "";
    up.deltas = 100;
    up.delay_us = 50000;
    while ((opt = getopt(argc, argv, "p:k:n:d:r")) != -1) {
        if (opt == 'p')
            port = atoi(optarg);
        else if (opt == 'k')
            up.key = optarg;
        else if (opt == 'n')
            up.deltas = atol(optarg);
        else if (opt == 'd')
            up.delay_us = atol(optarg) * 1000;
        else if (opt == 'r')
            up.random_phase = 1;
        else
            die("usage: llm_upstream [-p port] [-k key] [-n deltas] [-d delay_ms] [-r]");
    }
    if (up.deltas < 0 || up.delay_us < 0 || strlen(up.key) > 400)
        die("llm_upstream: bad arguments");
    srandom((unsigned)now_us(CLOCK_REALTIME));
    setup(port);
    while (!up.stop) {
        now = now_us(CLOCK_MONOTONIC);
        tick(now);
        wait_ms = up.heap_len == 0 ? 200 : (int)((up.heap[0]->due - now + 999) / 1000);
        n = epoll_wait(up.ep, evs, 256, wait_ms < 0 ? 0 : wait_ms);
        if (n < 0 && errno != EINTR)
            die("llm_upstream: epoll_wait: %s", strerror(errno));
        for (i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (c == NULL)
                accept_all();
            else if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                readable(c);
            else if (flush_out(c) != 0 || (c->closing && c->out_len == 0))
                conn_close(c);
        }
    }
    return 0;
}
