/* test_fetch.c - one outbound request, waited for (fcgi/out/fetch.c),
 * against a small server forked here: an answer comes back whole with its
 * status; one past max_bytes, a silent server past the timeout, a refused
 * connection and a scheme other than http(s) are errors that say why. */
#include "out/fetch.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "unit_net.h"

/* Serves connections until killed: "/big" gets 3000 bytes, "/silent" nothing
 * (the connection stays open), anything else 201 and its method and body. */
static void serve(int lfd)
{
    for (;;) {
        char req[4096], out[4200];
        size_t got = 0;
        ssize_t n;
        int fd = accept(lfd, NULL, NULL);

        if (fd < 0)
            _exit(1);
        while (got < sizeof req - 1 && (n = read(fd, req + got, sizeof req - 1 - got)) > 0) {
            got += (size_t)n;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n") && (strncmp(req, "GET", 3) == 0 || strstr(req, "\r\n\r\n")[4] != '\0'))
                break;
        }
        req[got] = '\0';
        if (strstr(req, " /silent ")) {
            sleep(30);
        } else if (strstr(req, " /s/../m ")) {
            static const char kept[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nkept";
            if (write(fd, kept, sizeof kept - 1) < 0)
                _exit(1);
        } else if (strstr(req, " /trailer ")) {
            static const char chunked[] = "HTTP/1.1 200 OK\r\nX-Head: 1\r\nTransfer-Encoding: chunked\r\n"
                                          "Trailer: X-Late\r\n\r\n2\r\nok\r\n0\r\nX-Late: 2\r\n\r\n";
            if (write(fd, chunked, sizeof chunked - 1) < 0)
                _exit(1);
        } else if (strstr(req, " /big ")) {
            int len = snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n");
            memset(out + len, 'x', 3000);
            if (write(fd, out, (size_t)len + 3000) < 0)
                _exit(1);
        } else {
            const char *body = strstr(req, "\r\n\r\n") + 4;
            int len = snprintf(out, sizeof out, "HTTP/1.1 201 Created\r\nContent-Length: %zu\r\n\r\n%.4s %s",
                               4 + 1 + strlen(body), req, body);
            if (len < 0 || write(fd, out, (size_t)len) < 0)
                _exit(1);
        }
        close(fd);
    }
}

static int run(const char *method, const char *url, const char *body, long timeout_ms, size_t max,
               struct fetch_resp *rs)
{
    const char *headers[] = {"Content-Type: application/json", NULL};
    struct fetch_req rq = {method, url, headers, body, body ? strlen(body) : 0, timeout_ms, max};

    memset(rs, 0, sizeof *rs);
    return fetch_run(&rq, rs);
}

int main(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t slen = sizeof sa;
    struct fetch_resp rs;
    char url[128];
    struct timespec t0, t1;
    int lfd = socket(AF_INET, SOCK_STREAM, 0), port;
    pid_t pid;

    CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 8) == 0 &&
          getsockname(lfd, (struct sockaddr *)&sa, &slen) == 0);
    port = ntohs(sa.sin_port);
    if ((pid = fork()) == 0)
        serve(lfd);
    close(lfd);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/x", port);
    CHECK_INT_EQ(run("POST", url, "{\"a\":1}", 2000, 1000, &rs), 0);
    CHECK_INT_EQ(rs.status, 201);
    CHECK_STR_EQ(buf_str(&rs.body), "POST {\"a\":1}");
    fetch_resp_free(&rs);

    CHECK_INT_EQ(run("GET", url, NULL, 2000, 1000, &rs), 0);
    CHECK_STR_EQ(buf_str(&rs.body), "GET  ");
    fetch_resp_free(&rs);

    /* the path goes as given: no dot segment taken out */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/s/../m", port);
    CHECK_INT_EQ(run("GET", url, NULL, 2000, 1000, &rs), 0);
    CHECK_STR_EQ(buf_str(&rs.body), "kept");
    fetch_resp_free(&rs);

    /* the header lines kept are the head's, not a trailer's */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/trailer", port);
    memset(&rs, 0, sizeof rs);
    rs.want_headers = 1;
    {
        const char *headers[] = {NULL};
        struct fetch_req rq = {"GET", url, headers, NULL, 0, 2000, 1000};

        CHECK_INT_EQ(fetch_run(&rq, &rs), 0);
    }
    CHECK_STR_EQ(buf_str(&rs.body), "ok");
    CHECK(strstr(buf_str(&rs.headers), "X-Head: 1") != NULL);
    CHECK(strstr(buf_str(&rs.headers), "X-Late: 2") == NULL);
    fetch_resp_free(&rs);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/big", port);
    CHECK_INT_EQ(run("GET", url, NULL, 2000, 1000, &rs), -1);
    CHECK(strstr(buf_str(&rs.error), "longer than 1000 bytes") != NULL);
    fetch_resp_free(&rs);

    snprintf(url, sizeof url, "http://127.0.0.1:%d/silent", port);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK_INT_EQ(run("POST", url, "{}", 300, 1000, &rs), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(rs.error.len > 0 && rs.status == 0);
    CHECK((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 2000); /* bounded */
    fetch_resp_free(&rs);

    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v2/x", unit_free_port());
    CHECK_INT_EQ(run("POST", url, "{}", 1000, 1000, &rs), -1); /* refused */
    CHECK(rs.error.len > 0);
    fetch_resp_free(&rs);

    CHECK_INT_EQ(run("GET", "file:///etc/passwd", NULL, 1000, 1000, &rs), -1);
    CHECK(rs.error.len > 0 && rs.body.len == 0);
    fetch_resp_free(&rs);
    curl_global_cleanup();
    return check_summary("test_fetch");
}
