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

/* Reads exactly CONTENT_LENGTH bytes. Returns 0, 413 when the body is over
 * the limit (left unread: the connection is closed after the reply), or 400
 * for a length the client did not send. */
static int read_body(FCGX_Request *fr, struct http_req *req)
{
    const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
    long long len = 0;
    int got;

    if (cl != NULL && *cl != '\0' && http_parse_i64(cl, &len) != 0)
        return 400;
    if (len > pulse_cfg->max_body)
        return 413;
    req->body = xmalloc((size_t)len + 1);
    got = len > 0 ? FCGX_GetStr(req->body, (int)len, fr->in) : 0;
    if (got != (int)len)
        return 400;
    req->body[len] = '\0';
    req->body_len = (size_t)len;
    return 0;
}

static void write_response(FCGX_Request *fr, const struct http_resp *resp)
{
    buf_t head = {0};

    runtime_resp_head(resp, &head);
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

/* Answers one request. Returns 1 when its input was read to the end. */
static int serve(FCGX_Request *fr, struct runtime *rt)
{
    struct http_req req;
    struct http_resp resp;
    const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
    const char *qs = FCGX_GetParam("QUERY_STRING", fr->envp);
    int early;

    memset(&req, 0, sizeof req);
    memset(&resp, 0, sizeof resp);
    req.method = FCGX_GetParam("REQUEST_METHOD", fr->envp);
    req.header = fcgi_header;
    req.header_arg = fr->envp;
    req.path = http_target_path(uri ? uri : "/");
    if (req.method == NULL)
        req.method = "GET";
    early = read_body(fr, &req);
    if (early == 0 && http_query_parse(qs ? qs : "", qs ? strlen(qs) : 0, &req.query) != 0)
        early = 400;
    runtime_handle(rt, &req, &resp, early, time(NULL));
    write_response(fr, &resp);
    metrics_count_status(resp.status);
    http_query_free(&req.query);
    free(req.path);
    free(req.body);
    buf_free(&resp.headers);
    buf_free(&resp.body);
    return early != 413 && drain_input(fr);
}

int main(void)
{
    FCGX_Request fr;
    struct runtime *rt = NULL;
    char *err = NULL;
    int rc = 1;

    /* (no SA_RESTART: libfcgi's accept() must return EINTR) */
    if (proc_start("pulse-api", on_stop, 0) != 0)
        goto out;
    /* Fork before opening anything: SQLite connections must not cross a fork. */
    if (pulse_cfg->workers > 0 && (rc = prefork_run((int)pulse_cfg->workers, &stopping)) != 0) {
        rc = rc == 1 ? 0 : 1; /* the supervisor is done */
        goto out;
    }
    rc = 1;
    metrics_open(pulse_cfg->data_dir);
    rt = runtime_open(pulse_cfg, routes_all, routes_all_count, &err);
    if (rt == NULL) {
        log_error("%s", err);
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
    free(err);
    return rc;
}
