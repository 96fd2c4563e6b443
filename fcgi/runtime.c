/* runtime.c - the request pipeline (see runtime.h). */
#include "runtime.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bus.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "metrics.h"
#include "routes.h"

#define PRUNE_EVERY 64      /* events between prune batches */
#define PRUNE_BATCH 1024    /* rows deleted per batch, to keep the write lock short */

struct runtime {
    const struct config *cfg;
    struct db *db;
    struct bus *bus;
};

static const struct route_table *const all_tables[] = {
    &events_routes,
    &topup_routes,
    &health_routes,
    &live_rooms_routes,
    &live_shop_routes,
    &live_chat_routes,
};

static struct route_table tables[sizeof all_tables / sizeof all_tables[0]];

struct runtime *runtime_open(const struct config *cfg, char **err)
{
    struct runtime *rt = xcalloc(1, sizeof *rt);
    size_t i;

    for (i = 0; i < sizeof tables / sizeof tables[0]; i++)
        tables[i] = *all_tables[i];
    rt->cfg = cfg;
    if (db_open(cfg->db_path, &rt->db, err) != 0) {
        free(rt);
        return NULL;
    }
    rt->bus = bus_open(cfg);
    return rt;
}

void runtime_close(struct runtime *rt)
{
    if (rt == NULL)
        return;
    bus_close(rt->bus);
    db_close(rt->db);
    free(rt);
}

const char *runtime_bus_mode(struct runtime *rt)
{
    return bus_mode(rt->bus);
}

const char *runtime_bus_health(struct runtime *rt)
{
    return bus_health(rt->bus);
}

/* Adds CORS headers when the request's Origin is allowed. */
static void cors(struct ctx *c)
{
    const char *origin = ctx_req_header(c, "HTTP_ORIGIN");

    if (http_origin_allowed(c->rt->cfg->cors_origins, origin)) {
        ctx_header(c, "Access-Control-Allow-Origin", origin);
        ctx_header(c, "Vary", "Origin");
    }
}

static void publish_events(struct runtime *rt, struct ctx *c)
{
    size_t i;
    int prune = 0;

    for (i = 0; i < c->nevents; i++) {
        metrics_add(M_EVENTS_APPENDED, 1);
        if (bus_publish(rt->bus, &c->events[i]) != 0)
            log_warn("event %lld: no bus reached; stream responders will find it by polling the log",
                     (long long)c->events[i].id);
        if (c->events[i].id % PRUNE_EVERY == 0)
            prune = 1;
    }
    if (prune && store_prune(rt->db, rt->cfg->retention, PRUNE_BATCH) < 0)
        log_warn("pruning the event log failed; will retry");
}

static void run_handler(struct runtime *rt, struct ctx *c, const struct route *r)
{
    if (db_begin(rt->db, (r->flags & ROUTE_WRITE) != 0) != 0) {
        ctx_db_error(c);
        return;
    }
    r->handler(c);
    if (c->resp->status == 0) {
        log_error("%s %s: handler gave no answer", c->req->method, c->req->path);
        ctx_error(c, 500, "internal", "internal error");
    }
    if (c->resp->status >= 400) {
        db_rollback(rt->db);
    } else if (db_commit(rt->db) != 0) {
        buf_reset(&c->resp->headers);
        ctx_db_error(c);
    } else {
        publish_events(rt, c);
    }
}

static void route(struct runtime *rt, struct ctx *c)
{
    struct route_match m;
    enum router_result res;

    res = router_find(tables, sizeof tables / sizeof tables[0], c->req->method, c->req->path, &m);
    if (res == ROUTER_OK && rt->cfg->role == ROLE_EDGE && !(m.route->flags & ROUTE_EDGE)) {
        /* An edge holds a copy of the log and nothing else: answering from
         * its empty tables would be wrong, writing to them worse. */
        ctx_error(c, 421, "wrong_host", "this is an edge instance (PULSE_ROLE=edge); send this request to the primary");
    } else if (res == ROUTER_OK) {
        memcpy(c->req->captures, m.captures, sizeof m.captures);
        c->req->ncaptures = m.ncaptures;
        run_handler(rt, c, m.route);
    } else if (res == ROUTER_BAD_ID) {
        ctx_error(c, 400, "invalid_id", "ids must match ^[A-Za-z0-9_.:-]{1,128}$");
    } else if (res == ROUTER_BAD_METHOD && strcmp(c->req->method, "OPTIONS") == 0) {
        ctx_header(c, "Allow", buf_str(&m.allow));
        ctx_header(c, "Access-Control-Allow-Methods", buf_str(&m.allow));
        ctx_header(c, "Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID");
        ctx_header(c, "Access-Control-Max-Age", "600");
        ctx_text(c, 204, NULL, "");
    } else if (res == ROUTER_BAD_METHOD) {
        ctx_header(c, "Allow", buf_str(&m.allow));
        ctx_error(c, 405, "method_not_allowed", "method not allowed for this path");
    } else {
        ctx_error(c, 404, "not_found", "no such endpoint");
    }
    router_match_free(&m);
    memset(c->req->captures, 0, sizeof c->req->captures);
    c->req->ncaptures = 0;
}

void runtime_handle(struct runtime *rt, struct http_req *req, struct http_resp *resp, int early_status,
                    long long now)
{
    struct ctx c;
    size_t i;

    memset(&c, 0, sizeof c);
    c.rt = rt;
    c.req = req;
    c.resp = resp;
    c.db = rt->db;
    c.now = now;
    cors(&c);
    if (early_status == 413) {
        ctx_error(&c, 413, "body_too_large", "the request body is over PULSE_MAX_BODY");
        ctx_header(&c, "Connection", "close");
    } else if (early_status != 0) {
        ctx_error(&c, 400, "bad_request", "malformed query string or body length");
    } else {
        route(rt, &c);
    }
    for (i = 0; i < c.nevents; i++)
        store_event_free(&c.events[i]);
    free(c.events);
    auth_claims_free(&c.claims);
}
