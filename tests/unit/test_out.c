/* test_out.c - the outbound HTTP client (fcgi/out/out.c) on a real epoll
 * loop against a loopback HTTP server forked here, one process per
 * connection, answering by path: what was sent (method, headers, body)
 * echoed back, a body over the limit, a 500, a stall, a connection dropped
 * mid-body, a stream the sink ends early, a refused port, a cancel (no done
 * comes, release does), and 20 calls at once. */
#include "out/out.c"

#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "unit_net.h"

static pid_t server_pid = -1;
static int port;

/* ---- the server ---- */

static void say(int fd, const char *s)
{
    size_t n = strlen(s);

    while (n > 0) {
        ssize_t w = write(fd, s, n);

        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

/* Reads one request (headers, and a body by Content-Length) into req. */
static size_t read_request(int fd, char *req, size_t cap)
{
    size_t got = 0;
    char *eoh = NULL, *cl;
    long want = 0;

    while (got < cap - 1) {
        ssize_t n = read(fd, req + got, cap - 1 - got);

        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if (eoh == NULL && (eoh = strstr(req, "\r\n\r\n")) != NULL) {
            cl = strcasestr(req, "Content-Length:");
            want = cl != NULL && cl < eoh ? atol(cl + 15) : 0;
        }
        if (eoh != NULL && (long)(got - (size_t)(eoh + 4 - req)) >= want)
            break;
    }
    req[got] = '\0';
    return got;
}

static void serve(int fd)
{
    static char req[65536], head[256];
    size_t n = read_request(fd, req, sizeof req);
    int i;

    alarm(5);
    if (n == 0)
        return;
    if (strncmp(strchr(req, ' ') + 1, "/echo", 5) == 0) {
        snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
        say(fd, head);
        say(fd, req);
    } else if (strstr(req, " /big ") != NULL) {
        say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        for (i = 0; i < 1000; i++)
            say(fd, "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789");
    } else if (strstr(req, " /fail ") != NULL) {
        say(fd, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom");
    } else if (strstr(req, " /stall ") != NULL) {
        sleep(4);
    } else if (strstr(req, " /drop ") != NULL) {
        say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b");
    } else if (strstr(req, " /stream ") != NULL) {
        say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc END");
        sleep(4); /* the rest never comes: the client must not wait for it */
    } else {
        say(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    }
}

static int server_start(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 64) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    port = ntohs(sa.sin_port);
    server_pid = fork();
    if (server_pid == 0) {
        signal(SIGCHLD, SIG_IGN); /* no zombies */
        for (;;) {
            int fd = accept(lfd, NULL, NULL);

            if (fd < 0)
                continue;
            if (fork() == 0) {
                close(lfd);
                serve(fd);
                close(fd);
                _exit(0);
            }
            close(fd);
        }
    }
    close(lfd);
    return server_pid > 0 ? 0 : -1;
}

/* ---- calls ---- */

struct got {
    int done, released, progress, after;
    struct out_result r;
    buf_t body, why, streamed;
    long long ended_ms;
};

static int on_stream_h(void *arg, const char *data, size_t n)
{
    struct got *g = arg;

    buf_append(&g->streamed, data, n);
    return strstr(buf_str(&g->streamed), "END") != NULL ? 1 : 0;
}

static void on_progress_h(void *arg)
{
    struct got *g = arg;

    g->progress++;
}

static void on_done_h(void *arg, const struct out_result *r)
{
    struct got *g = arg;

    if (g->done || g->released)
        g->after++;
    g->done++;
    g->r = *r;
    buf_append(&g->body, r->body, r->len);
    buf_puts(&g->why, r->why);
    g->r.body = NULL;
    g->r.why = NULL;
    g->ended_ms = clock_ms();
}

static void on_release_h(void *arg)
{
    struct got *g = arg;

    g->released++;
}

static const struct out_sink collect = {NULL, on_progress_h, on_done_h, on_release_h};
static const struct out_sink streamed = {on_stream_h, on_progress_h, on_done_h, on_release_h};

static void got_free(struct got *g)
{
    buf_free(&g->body);
    buf_free(&g->why);
    buf_free(&g->streamed);
}

static void run(struct out *o, struct got *g, int n, long ms)
{
    long long until = clock_ms() + ms;
    int i, open;

    do {
        long w = out_next_ms(o, clock_ms());

        loop_run_once(w < 0 || w > 20 ? 20 : (int)w);
        out_tick(o, clock_ms());
        for (i = 0, open = 0; i < n; i++)
            open += !g[i].released;
    } while (open > 0 && clock_ms() < until);
}

static struct out_call *call(struct out *o, struct got *g, const char *method, const char *path, const char *body,
                             const struct out_sink *sink, long timeout_ms, size_t max_body)
{
    static const char *const headers[] = {"X-Test: yes", "Content-Type: application/json", NULL};
    char url[128];
    struct out_req req = {.method = method, .url = url, .headers = headers, .body = body,
                          .body_len = body != NULL ? strlen(body) : 0, .timeout_ms = timeout_ms,
                          .max_body = max_body};

    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    return out_start(o, &req, sink, g);
}

static void test_echo(struct out *o)
{
    struct got g = {0}, h = {0}, p = {0};

    CHECK(call(o, &g, "POST", "/echo", "{\"a\":1}", &collect, 2000, 0) != NULL);
    CHECK(call(o, &h, "GET", "/echo?x=1", NULL, &collect, 2000, 0) != NULL);
    CHECK(call(o, &p, "PUT", "/echo", "put body", &collect, 2000, 0) != NULL);
    CHECK_INT_EQ(g.done + h.done + p.done, 0); /* never from out_start */
    run(o, &g, 1, 3000);
    run(o, &h, 1, 3000);
    run(o, &p, 1, 3000);
    CHECK_INT_EQ(g.done, 1);
    CHECK_INT_EQ(g.released, 1);
    CHECK_INT_EQ(g.r.end, OUT_ANSWERED);
    CHECK_INT_EQ(g.r.status, 200);
    CHECK(strncmp(buf_str(&g.body), "POST /echo HTTP/1.1\r\n", 21) == 0);
    CHECK(strstr(buf_str(&g.body), "X-Test: yes\r\n") != NULL);
    CHECK(strstr(buf_str(&g.body), "Content-Length: 7\r\n") != NULL);
    CHECK(strstr(buf_str(&g.body), "Expect:") == NULL);
    CHECK(strstr(buf_str(&g.body), "\r\n\r\n{\"a\":1}") != NULL);
    CHECK(g.progress >= 1);
    CHECK(strncmp(buf_str(&h.body), "GET /echo?x=1 HTTP/1.1\r\n", 24) == 0);
    CHECK(strstr(buf_str(&h.body), "Content-Length") == NULL);
    CHECK(strncmp(buf_str(&p.body), "PUT /echo HTTP/1.1\r\n", 20) == 0);
    CHECK(strstr(buf_str(&p.body), "\r\n\r\nput body") != NULL);
    got_free(&g);
    got_free(&h);
    got_free(&p);
}

static void test_failures(struct out *o)
{
    struct got big = {0}, fail = {0}, stall = {0}, drop = {0}, refused = {0};
    char url[64];
    struct out_req req = {.method = "GET", .url = url, .timeout_ms = 2000};
    long long t0 = clock_ms();

    call(o, &big, "GET", "/big", NULL, &collect, 2000, 1000);
    call(o, &fail, "GET", "/fail", NULL, &collect, 2000, 0);
    call(o, &stall, "GET", "/stall", NULL, &collect, 300, 0);
    call(o, &drop, "GET", "/drop", NULL, &collect, 2000, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", unit_free_port());
    CHECK(out_start(o, &req, &collect, &refused) != NULL);
    run(o, &big, 1, 3000);
    run(o, &fail, 1, 3000);
    run(o, &stall, 1, 3000);
    run(o, &drop, 1, 3000);
    run(o, &refused, 1, 3000);
    CHECK_INT_EQ(big.r.end, OUT_TOO_LARGE);
    CHECK_INT_EQ(big.body.len, 1000);
    CHECK_INT_EQ(fail.r.end, OUT_ANSWERED);
    CHECK_INT_EQ(fail.r.status, 500);
    CHECK_STR_EQ(buf_str(&fail.body), "boom");
    CHECK_INT_EQ(stall.r.end, OUT_TIMEOUT);
    CHECK(stall.ended_ms - t0 >= 280 && stall.ended_ms - t0 < 1500);
    CHECK_INT_EQ(drop.r.end, OUT_TRUNCATED);
    CHECK_INT_EQ(drop.r.status, 200);
    CHECK(drop.why.len > 0);
    CHECK_INT_EQ(refused.r.end, OUT_REFUSED);
    CHECK_INT_EQ(refused.r.status, 0);
    CHECK_INT_EQ(big.done + fail.done + stall.done + drop.done + refused.done, 5);
    CHECK_INT_EQ(big.after + fail.after + stall.after + drop.after + refused.after, 0);
    got_free(&big);
    got_free(&fail);
    got_free(&stall);
    got_free(&drop);
    got_free(&refused);
}

/* The sink says the answer is complete: done at once, though the server
 * would send the rest only after seconds. */
static void test_stream(struct out *o)
{
    struct got g = {0};
    long long t0 = clock_ms();

    call(o, &g, "GET", "/stream", NULL, &streamed, 5000, 0);
    while (!g.done && clock_ms() - t0 < 3000)
        run(o, &g, 1, 20);
    CHECK_INT_EQ(g.done, 1);
    CHECK_INT_EQ(g.r.end, OUT_ANSWERED);
    CHECK_INT_EQ(g.r.status, 200);
    CHECK_STR_EQ(buf_str(&g.streamed), "abc END");
    CHECK(g.ended_ms - t0 < 1000);
    run(o, &g, 1, 3000); /* the linger ends, the call goes */
    CHECK_INT_EQ(g.released, 1);
    CHECK_INT_EQ(g.after, 0);
    got_free(&g);
}

static void test_cancel(struct out *o)
{
    struct got g = {0};
    struct out_call *c = call(o, &g, "GET", "/stall", NULL, &collect, 5000, 0);

    run(o, &g, 1, 200);
    out_cancel(o, c);
    CHECK_INT_EQ(g.released, 1);
    run(o, &g, 1, 300);
    CHECK_INT_EQ(g.done, 0);
    CHECK_INT_EQ(out_running(o), 0);
    got_free(&g);
}

static void test_many(struct out *o)
{
    struct got g[20];
    int i, ok = 0;

    memset(g, 0, sizeof g);
    for (i = 0; i < 20; i++)
        CHECK(call(o, &g[i], "POST", "/echo", "x", &collect, 3000, 0) != NULL);
    run(o, g, 20, 5000);
    for (i = 0; i < 20; i++) {
        ok += g[i].done == 1 && g[i].r.status == 200 && strstr(buf_str(&g[i].body), "\r\n\r\nx") != NULL;
        got_free(&g[i]);
    }
    CHECK_INT_EQ(ok, 20);
}

/* A close with calls under way: release for each, no done. */
static void test_close(void)
{
    struct out *o = out_open();
    struct got g[2];

    memset(g, 0, sizeof g);
    call(o, &g[0], "GET", "/stall", NULL, &collect, 5000, 0);
    call(o, &g[1], "GET", "/stall", NULL, &collect, 5000, 0);
    run(o, g, 2, 100);
    out_close(o);
    CHECK_INT_EQ(g[0].released + g[1].released, 2);
    CHECK_INT_EQ(g[0].done + g[1].done, 0);
}

int main(void)
{
    struct out *o;

    signal(SIGPIPE, SIG_IGN);
    if (loop_init() != 0 || server_start() != 0) {
        CHECK(!"a loop and a loopback server");
        return check_summary("test_out");
    }
    o = out_open();
    CHECK(o != NULL);
    if (o != NULL) {
        test_echo(o);
        test_failures(o);
        test_stream(o);
        test_cancel(o);
        test_many(o);
        out_close(o);
    }
    test_close();
    kill(server_pid, SIGKILL);
    waitpid(server_pid, NULL, 0);
    loop_close();
    return check_summary("test_out");
}
