/* runtime_noop.c - figure c's ceiling for the batching responder: the real
 * pulse-batch loop (fcgi/request/batch.c, main/batch_main.c) linked against this
 * runtime, which answers every request at once (200 to GET, 202 to anything
 * else) without routing, SQLite or a bus. `make bench` runs it behind the
 * shipped nginx.conf, so the figure shows what nginx plus a kept-alive
 * FastCGI loop can reach on this machine before Pulse does any work. A
 * publish's body is also sent, as it came, to the no-op stream responder
 * (bench/stream_noop.c: $PULSE_DATA/noop-bell), which writes it to every
 * held stream: figure b's ceiling. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/config.h"
#include "handlers/routes.h"
#include "request/runtime.h"

struct runtime {
    const struct config *cfg;
    int bell;                     /* datagrams to the no-op stream responder, or -1 */
    struct sockaddr_un to;
};

/* pulse-batch's main hands the runtime the registry; this one routes
 * nothing, so the registry it links is empty. */
const struct route_table *const routes_all[] = {NULL};
const size_t routes_all_count = 0;

struct runtime *runtime_open(const struct config *cfg, const struct route_table *const *tables, size_t ntables)
{
    struct runtime *rt = xcalloc(1, sizeof *rt);
    int n;

    (void)tables;
    (void)ntables;
    rt->cfg = cfg;
    rt->to.sun_family = AF_UNIX;
    n = snprintf(rt->to.sun_path, sizeof rt->to.sun_path, "%s/noop-bell", cfg->data_dir);
    rt->bell = n > 0 && (size_t)n < sizeof rt->to.sun_path ? socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) : -1;
    return rt;
}

int runtime_err(const struct runtime *rt)
{
    (void)rt;
    return 0;
}

const char *runtime_errstr(const struct runtime *rt)
{
    (void)rt;
    return NULL;
}

const struct config *runtime_config(const struct runtime *rt)
{
    return rt->cfg;
}

void runtime_close(struct runtime *rt)
{
    if (rt != NULL && rt->bell >= 0)
        close(rt->bell);
    free(rt);
}

void runtime_handle(struct runtime *rt, struct http_req *req, struct http_resp *resp, int early_status,
                    const char *early_why, long long now)
{
    (void)early_status;
    (void)early_why;
    (void)now;
    resp->status = strcmp(req->method, "GET") == 0 ? 200 : 202;
    /* (no stream responder listening, or a full queue: the publish is
     * answered all the same, as the ceiling of the request path) */
    if (resp->status == 202 && rt->bell >= 0 && req->body_len > 0)
        (void)sendto(rt->bell, req->body, req->body_len, MSG_DONTWAIT, (struct sockaddr *)&rt->to, sizeof rt->to);
    resp->content_type = "application/json";
    buf_puts(&resp->body, "{\"id\":1}");
}

void runtime_batch_begin(struct runtime *rt, size_t nrequests)
{
    (void)rt;
    (void)nrequests;
}

int runtime_batch_end(struct runtime *rt)
{
    (void)rt;
    return 0;
}

void runtime_batch_publish(struct runtime *rt)
{
    (void)rt;
}

void runtime_tick(struct runtime *rt)
{
    (void)rt;
}

int runtime_batch_pending(const struct runtime *rt)
{
    (void)rt;
    return 0;
}

void runtime_batch_failed(struct runtime *rt, struct http_req *req, struct http_resp *resp)
{
    (void)rt;
    (void)req;
    (void)resp;
}

/* The generator and the sender have nothing to claim here: no unit of
 * work runs (runtime_work drops each), so neither ever finds a job. */
const struct gen_hooks chat_gen_hooks = {0};
const struct send_hooks *const send_all[] = {NULL};
const size_t send_all_count = 0;

int runtime_work(struct runtime *rt, int write, int (*fn)(struct ctx *c, void *arg), void *arg, long long now)
{
    (void)rt;
    (void)write;
    (void)fn;
    (void)arg;
    (void)now;
    return -1;
}

int runtime_work_alone(struct runtime *rt, int write, int (*fn)(struct ctx *c, void *arg), void *arg)
{
    return runtime_work(rt, write, fn, arg, 0);
}

/* Every body is taken up to the batch publish's limit: nothing is routed. */
long long runtime_body_limit(const struct runtime *rt, const char *method, const char *path, const char **why)
{
    (void)method;
    (void)path;
    *why = "the request body is over PULSE_MAX_PUBLISH_BODY";
    return runtime_body_ceiling(rt);
}

long long runtime_body_ceiling(const struct runtime *rt)
{
    return rt->cfg->max_publish_body > rt->cfg->max_body ? rt->cfg->max_publish_body : rt->cfg->max_body;
}

void runtime_checkpoint_in_background(struct runtime *rt)
{
    (void)rt;
}

void runtime_lease_owner(char out[RUNTIME_OWNER_MAX])
{
    snprintf(out, RUNTIME_OWNER_MAX, "noop");
}
