/* api_main.c - the request responder: a plain FCGX_Accept_r loop, one
 * request at a time, many such processes spawned by the web server.
 *
 * For each request: parse → route → (transaction: handler → store) →
 * commit → publish the emitted events on the bus → write the response.
 * Handlers never see sockets, libfcgi or Redis. */
#include <fastcgi.h>
#include <fcgiapp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/bus.h"
#include "http/cgi.h"
#include "handlers/routes.h"
#include "request/handler.h"
#include "request/runtime.h"
#include "store/db.h"
#include "wire/prefork.h"
#include "wire/proc.h"

static volatile sig_atomic_t stopping;

/* A stop that lands between the loop's check of `stopping` and libfcgi's
 * accept() would leave the process blocked in accept for good (seen under
 * valgrind: responders outliving their web server). Closing the listening
 * socket makes that accept fail at once; this process takes no more
 * requests either way. */
static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
    close(FCGI_LISTENSOCK_FILENO);
}

static const char *fcgi_header(const struct http_req *req, const char *name)
{
    return FCGX_GetParam(name, (FCGX_ParamArray)req->header_arg);
}

/* Reads the len bytes of body cgi_req_read announced: 0, or -1 when the
 * client sent fewer. */
static int read_body(FCGX_Request *fr, struct http_req *req, long long len)
{
    int got;

    req->body = xmalloc((size_t)len + 1);
    got = len > 0 ? FCGX_GetStr(req->body, (int)len, fr->in) : 0;
    if (got != (int)len)
        return -1;
    req->body[len] = '\0';
    req->body_len = (size_t)len;
    return 0;
}

static void write_response(FCGX_Request *fr, const struct http_resp *resp)
{
    buf_t head = {0};

    cgi_resp_head(resp, &head);
    FCGX_PutStr(head.p, (int)head.len, fr->out);
    if (resp->body.len)
        FCGX_PutStr(resp->body.p, (int)resp->body.len, fr->out);
    buf_free(&head);
}

/* Reads what is left of the request (the empty record that ends stdin):
 * 1 when all of it was read, so closing cannot reset the connection. */
static int drain_input(FCGX_Request *fr)
{
    char tmp[1024];
    int n;

    while ((n = FCGX_GetStr(tmp, sizeof tmp, fr->in)) > 0)
        ;
    return n == 0 && FCGX_GetError(fr->in) == 0;
}

/* The request line and the body's length, held to the route's own bound
 * before a byte of the body is read: 0, or the early status (why set). */
static int read_head(struct runtime *rt, struct http_req *req, long long *len, const char **why)
{
    int early = cgi_req_read(req, runtime_config(rt)->base_path, runtime_body_ceiling(rt), len, why);

    if ((early == 0 || early == 413) && *len > runtime_body_limit(rt, req->method, req->path, why))
        early = 413;
    return early;
}

/* Answers one request, as a batch of one (runtime.h): its events are
 * published before the answer goes out, as a client reading the bus right
 * after its publish expects. */
static void answer(struct runtime *rt, struct http_req *req, struct http_resp *resp, int early, const char *why)
{
    const struct config *cfg = runtime_config(rt);

    runtime_batch_begin(rt, 1);
    runtime_handle(rt, req, resp, early, why, time(NULL));
    if (runtime_batch_end(rt) != 0 && early == 0)
        runtime_batch_failed(rt, req, resp);
    runtime_batch_publish(rt);
    /* (where no pulse-batch runs: the answer to generate, the message to
     * send, or the answer a 409 waits on, whose worker may have died) */
    if (runtime_take_queued(rt) && resp->status < 500 && cfg->spawn_worker)
        proc_work_spawn(cfg->data_dir);
    metrics_count_status(resp->status);
}

/* One FastCGI request. Returns 1 when its input was read to the end. */
static int serve(FCGX_Request *fr, struct runtime *rt)
{
    struct http_req req;
    struct http_resp resp;
    const char *why = NULL;
    long long len;
    int early;

    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    req.header = fcgi_header;
    req.header_arg = fr->envp;
    early = read_head(rt, &req, &len, &why);
    if (early == 0 && read_body(fr, &req, len) != 0) {
        early = 400;
        why = "the body is shorter than CONTENT_LENGTH";
    }
    answer(rt, &req, &resp, early, why);
    write_response(fr, &resp);
    cgi_req_free(&req);
    cgi_resp_free(&resp);
    return early != 413 && drain_input(fr);
}

static const char *env_header(const struct http_req *req, const char *name)
{
    (void)req;
    return getenv(name);
}

/* A CGI answer on stdout: 0, or -1 when the client left. */
static int cgi_write(const struct http_resp *resp)
{
    buf_t head = {0};
    int ok;

    cgi_resp_head(resp, &head);
    ok = fwrite(head.p, 1, head.len, stdout) == head.len &&
         (resp->body.len == 0 || fwrite(resp->body.p, 1, resp->body.len, stdout) == resp->body.len);
    buf_free(&head);
    return ok && fflush(stdout) == 0 ? 0 : -1;
}

/* The one request of a CGI run: params from the environment, the body on
 * stdin, the answer on stdout. 0, or -1 when the answer could not be
 * written (the client left). */
static int serve_cgi(struct runtime *rt)
{
    struct http_req req;
    struct http_resp resp;
    const char *why = NULL;
    long long len;
    int early, rc;

    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    req.header = env_header;
    early = read_head(rt, &req, &len, &why);
    if (early == 0) {
        req.body = xmalloc((size_t)len + 1);
        req.body_len = len > 0 ? fread(req.body, 1, (size_t)len, stdin) : 0;
        req.body[req.body_len] = '\0';
        if (req.body_len != (size_t)len) {
            early = 400;
            why = "the body is shorter than CONTENT_LENGTH";
        }
    }
    answer(rt, &req, &resp, early, why);
    rc = cgi_write(&resp);
    cgi_req_free(&req);
    cgi_resp_free(&resp);
    return rc;
}

int main(void)
{
    FCGX_Request fr;
    struct runtime *rt = NULL;
    const struct config *cfg = NULL;
    int rc = 1, as_cgi = proc_is_cgi();

    if (as_cgi)
        log_set_quiet(1);
    /* (no SA_RESTART: libfcgi's accept() must return EINTR) */
    if (proc_start("pulse-api", on_stop, PROC_PLAIN, &cfg) != 0)
        goto out;
    if (as_cgi) {
        rt = runtime_open(cfg, routes_all, routes_all_count);
        if (runtime_err(rt)) {
            struct http_resp resp = {0};

            log_error("%s", runtime_errstr(rt));
            cgi_error(&resp, 503, NULL, CGI_RETRY_BUSY_S);
            cgi_write(&resp);
            cgi_resp_free(&resp);
        } else {
            runtime_one_request(rt);
            rc = serve_cgi(rt) == 0 ? 0 : 1;
        }
        goto out;
    }
    /* Fork before opening anything: SQLite connections must not cross a fork. */
    if (cfg->workers > 0 && (rc = prefork_run("pulse-api", (int)cfg->workers, &stopping)) != 0) {
        rc = rc == 1 ? 0 : 1; /* the supervisor is done */
        goto out;
    }
    rc = 1;
    metrics_open(cfg->data_dir);
    rt = runtime_open(cfg, routes_all, routes_all_count);
    if (runtime_err(rt)) {
        log_error("%s", runtime_errstr(rt));
        goto out;
    }
    if (FCGX_Init() != 0 || FCGX_InitRequest(&fr, 0, FCGI_FAIL_ACCEPT_ON_INTR) != 0) {
        log_error("FastCGI initialisation failed");
        goto out;
    }
    while (!stopping && FCGX_Accept_r(&fr) >= 0) {
        /* libfcgi closes a connection by shutting down its side and then
         * waiting up to 2 s for the web server to close first, so that
         * unread input cannot reset it. When we read the whole request
         * there is nothing to reset, and the wait only parked the process
         * until the web server got round to closing (17% of a publish's
         * time, measured with perf): "detached" skips it. An unread body
         * (413) keeps the careful close. */
        fr.detached = serve(&fr, rt);
        FCGX_Finish_r(&fr);
    }
    FCGX_Free(&fr, 1);
    rc = 0;
out:
    runtime_close(rt);
    metrics_close();
    return rc;
}
