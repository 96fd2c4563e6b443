/* runtime.c - the request pipeline (see runtime.h). */
#include "request/runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/bus.h"
#include "http/http.h"
#include "request/forward.h"
#include "store/db.h"

#define PRUNE_EVERY 64      /* events between prune batches */
#define PRUNE_BATCH 1024    /* rows deleted per batch, to keep the write lock short */

struct runtime {
    int err;                    /* 0, or -1 when runtime_open failed */
    char *errstr;               /* owned: why, or NULL */
    const struct config *cfg;
    struct db *db;
    struct bus *bus;
    struct auth_cache *tokens;
    /* Group commit (runtime_batch_begin/end): requests share one
     * transaction, each in a savepoint; their events wait for the commit.
     * pulse-api runs each request as a batch of one. */
    size_t batch_size;          /* requests the open batch was begun for; 0: no batch open */
    int batch_open;             /* the shared transaction was begun */
    int batch_broken;           /* the shared transaction is gone */
    int queued;                 /* a ROUTE_QUEUES request succeeded since runtime_take_queued */
    struct event *pending;      /* owned; committed or in the open batch, not yet published */
    size_t npending, pending_cap;
    size_t batch_from;          /* the open batch's first pending event */
    size_t lost_size;           /* requests of the last batch lost, 0 if it committed */
    struct store_prune_hint prune;   /* when store_prune may next find work */
    unsigned prune_gen;              /* db_generation() the hint was read from */
    struct route_table *tables;      /* owned copy of the tables runtime_open was given */
    size_t ntables;
    struct forward *fwd;             /* an edge's writes to the primary, its clients vouched for (forward.h) */
};

struct runtime *runtime_open(const struct config *cfg, const struct route_table *const *tables, size_t ntables)
{
    struct runtime *rt = xcalloc(1, sizeof *rt);
    size_t i;

    rt->cfg = cfg;
    if (db_open(cfg->db_path, &rt->db, &rt->errstr) != 0) {
        rt->err = -1;
        if (rt->errstr == NULL)
            rt->errstr = xstrdup("cannot open the database");
        return rt;
    }
    if (cfg->role != ROLE_EDGE) /* an edge's ids are its primary's */
        db_keep_ids(rt->db);
    /* router_find takes the tables side by side */
    rt->tables = xcalloc(ntables > 0 ? ntables : 1, sizeof *rt->tables);
    for (i = 0; i < ntables; i++)
        rt->tables[i] = *tables[i];
    rt->ntables = ntables;
    rt->bus = bus_open(cfg);
    rt->tokens = auth_cache_open();
    rt->fwd = forward_open(cfg);
    return rt;
}

int runtime_err(const struct runtime *rt)
{
    return rt->err;
}

const char *runtime_errstr(const struct runtime *rt)
{
    return rt->errstr;
}

void runtime_checkpoint_in_background(struct runtime *rt)
{
    db_checkpoint_in_background(rt->db);
}

void runtime_one_request(struct runtime *rt)
{
    db_keep_wal(rt->db);
}

void runtime_close(struct runtime *rt)
{
    if (rt == NULL)
        return;
    free(rt->errstr);
    bus_close(rt->bus);
    auth_cache_close(rt->tokens);
    forward_close(rt->fwd);
    db_close(rt->db);
    free(rt->pending);
    free(rt->tables);
    free(rt);
}

const struct config *runtime_config(const struct runtime *rt)
{
    return rt->cfg;
}

long long runtime_body_ceiling(const struct runtime *rt)
{
    return rt->cfg->max_publish_body > rt->cfg->max_body ? rt->cfg->max_publish_body : rt->cfg->max_body;
}

long long runtime_body_limit(const struct runtime *rt, const char *method, const char *path, const char **why)
{
    struct route_match m;
    long long limit = rt->cfg->max_body;

    memset(&m, 0, sizeof m);
    *why = "the request body is over PULSE_MAX_BODY";
    if (method != NULL && path != NULL &&
        router_find(rt->tables, rt->ntables, method, path, &m) == ROUTER_OK && (m.route->flags & ROUTE_BULK) &&
        rt->cfg->max_publish_body > limit) {
        limit = rt->cfg->max_publish_body;
        *why = "the request body is over PULSE_MAX_PUBLISH_BODY";
    }
    router_match_free(&m);
    return limit;
}

/* The health hook of handler.h: all a handler learns of the runtime. */
const char *ctx_bus_mode(const struct ctx *c)
{
    return bus_mode(c->rt->bus);
}

const char *ctx_bus_health(const struct ctx *c)
{
    return bus_health(c->rt->bus);
}

/* Adds CORS headers when the request's Origin is allowed. */
static void cors(struct ctx *c)
{
    const char *origin = ctx_req_header(c, "HTTP_ORIGIN");

    if (http_origin_allowed(c->cfg->cors_origins, origin))
        cgi_cors(c->resp, origin);
}

/* An answer says which log position the state in it reflects (API.md,
 * "State reads carry their log position"): the head of the log read in the
 * handler's own transaction, which for a write that emitted events is its
 * own newest one (ids are assigned under the write lock, so nothing newer
 * is in its view; no query needed). The state answered plus the events
 * after it is then exactly the current state, whenever the client
 * subscribes. */
static void position_header(struct runtime *rt, struct ctx *c)
{
    int64_t pruned, last;
    char id[24];

    if (c->nevents > 0) {
        last = c->events[c->nevents - 1].id;
    } else if (store_bounds(rt->db, &pruned, &last) != 0) {
        ctx_db_error(c);
        return;
    }
    snprintf(id, sizeof id, "%lld", (long long)last);
    ctx_header(c, "Pulse-Event-Id", id);
}

static void publish_events(struct runtime *rt, struct event *evs, size_t n)
{
    size_t i;
    int prune = 0;
    int64_t now;

    metrics_add(M_EVENTS_APPENDED, (int64_t)n);
    if (bus_publish(rt->bus, evs, n) != 0)
        log_warn("events %lld..%lld: no bus reached (%s); stream responders will find them by polling the log",
                 (long long)evs[0].id, (long long)evs[n - 1].id, bus_errstr(rt->bus));
    for (i = 0; i < n; i++)
        if (evs[i].id % PRUNE_EVERY == 0)
            prune = 1;
    if (!prune)
        return;
    /* Until the log holds more than retention events (so no topic can) and
     * its oldest event is younger than retention_s there is nothing to
     * delete: no transaction (and no write lock) for finding that out. */
    now = (int64_t)time(NULL);
    if (db_generation(rt->db) != rt->prune_gen) {
        /* Another file (one put back, see db.h): the hint was the old one's. */
        rt->prune_gen = db_generation(rt->db);
        memset(&rt->prune, 0, sizeof rt->prune);
    }
    if ((evs[n - 1].id - rt->cfg->retention >= rt->prune.oldest || now >= rt->prune.age_due) &&
        store_prune(rt->db, rt->cfg->retention, rt->cfg->retention_s, PRUNE_BATCH, now, &rt->prune) < 0)
        log_warn("pruning the event log failed; will retry");
}

/* The events of a released unit wait for the batch's commit: the runtime
 * takes them over from the request. */
static void keep_pending(struct runtime *rt, struct ctx *c)
{
    if (c->nevents == 0)
        return;
    if (rt->npending + c->nevents > rt->pending_cap) {
        rt->pending_cap = (rt->npending + c->nevents) * 2;
        rt->pending = xrealloc(rt->pending, rt->pending_cap * sizeof *rt->pending);
    }
    memcpy(rt->pending + rt->npending, c->events, c->nevents * sizeof *c->events);
    rt->npending += c->nevents;
    c->nevents = 0;
}

/* A request's unit of work: a savepoint in the batch's transaction. The
 * transaction begins with the batch's first unit: a batch of one takes the
 * lock its request needs (a read takes no write lock, which matters with
 * many pulse-api processes), a larger one the write lock at once (a read
 * transaction that later writes may find it taken). */
static int tx_open(struct runtime *rt, int write)
{
    if (rt->batch_size == 0) {
        log_error("runtime: a request handled outside runtime_batch_begin/end");
        return -1;
    }
    if (!rt->batch_open) {
        rt->batch_open = 1;
        rt->batch_broken = db_begin(rt->db, write || rt->batch_size > 1) != 0;
    } else if (!rt->batch_broken && !db_in_transaction(rt->db)) {
        /* Outside a transaction a savepoint would start (and its release
         * commit) one of its own: the batch is lost, not continued. */
        rt->batch_broken = 1;
    }
    return rt->batch_broken ? -1 : db_savepoint(rt->db);
}

static void tx_abandon(struct runtime *rt)
{
    if (db_rollback_to(rt->db) != 0)
        rt->batch_broken = 1; /* never commit what may hold a failed unit */
}

static int tx_close(struct runtime *rt, struct ctx *c)
{
    if (db_release(rt->db) != 0) {
        tx_abandon(rt);
        return -1;
    }
    keep_pending(rt, c);
    return 0;
}

/* c's answer replaced by the 503 of a write that did not commit, with
 * its CORS headers: a page must read that Retry-After too. */
static void answer_db_error(struct ctx *c)
{
    buf_reset(&c->resp->headers);
    cors(c);
    ctx_db_error(c);
}

static void run_handler(struct runtime *rt, struct ctx *c, const struct route *r)
{
    int write = (r->flags & ROUTE_WRITE) != 0, again = 0;

    if (tx_open(rt, write) != 0) {
        ctx_db_error(c);
        return;
    }
    /* A write an edge forwarded, sent again by its libcurl: the first
     * answer, nothing applied twice (forward.h). */
    if (write && (again = forward_replayed(c)) != 0) {
        tx_abandon(rt);
        if (again < 0)
            ctx_db_error(c);
        return;
    }
    r->handler(c);
    if (c->resp->status == 0) {
        log_error("%s %s: handler gave no answer", c->req->method, c->req->path);
        ctx_error(c, 500, "internal", "internal error");
    }
    if (c->resp->status < 400)
        position_header(rt, c);
    if (c->resp->status >= 400) {
        tx_abandon(rt);
    } else if (write && forward_record(c) != 0) {
        tx_abandon(rt);
        answer_db_error(c);
    } else if (tx_close(rt, c) != 0) {
        answer_db_error(c);
    }
    if ((r->flags & ROUTE_QUEUES) && (c->resp->status < 300 || c->resp->status == 409))
        rt->queued = 1;
}

static void route(struct runtime *rt, struct ctx *c)
{
    struct route_match m;
    enum router_result res;

    res = router_find(rt->tables, rt->ntables, http_read_method(c->req->method), c->req->path, &m);
    if (res == ROUTER_OK && rt->cfg->role == ROLE_EDGE && !(m.route->flags & ROUTE_EDGE)) {
        /* An edge holds a copy of the log and nothing else: answering from
         * its empty tables would be wrong, writing to them worse. */
        if (forward_enabled(rt->fwd))
            forward_request(rt->fwd, c);
        else
            ctx_error(c, 421, "wrong_host",
                      "this is an edge instance (PULSE_ROLE=edge) without PULSE_PRIMARY_URL; send this request to "
                      "the primary");
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
                    const char *early_why, long long now)
{
    struct ctx c;
    size_t i;

    memset(&c, 0, sizeof c);
    c.rt = rt;
    c.cfg = rt->cfg;
    c.req = req;
    c.resp = resp;
    c.db = rt->db;
    c.tokens = rt->tokens;
    c.now = now;
    cors(&c);
    if (early_status == 413) {
        ctx_error(&c, 413, "body_too_large", early_why);
        ctx_header(&c, "Connection", "close");
    } else if (early_status == 404) {
        ctx_error(&c, 404, "not_found", early_why);
    } else if (early_status != 0) {
        ctx_error(&c, 400, "bad_request", early_why);
    } else if (forward_begin(rt->fwd, &c) == 0) {
        route(rt, &c);
    }
    forward_end(&c);
    for (i = 0; i < c.nevents; i++)
        store_event_free(&c.events[i]);
    free(c.events);
    auth_claims_free(&c.claims);
}

/* A work unit's request: no method, no path, no headers. */
static const char *no_header(const struct http_req *req, const char *cgi_name)
{
    (void)req;
    (void)cgi_name;
    return NULL;
}

int runtime_work(struct runtime *rt, int write, int (*fn)(struct ctx *c, void *arg), void *arg, long long now)
{
    struct http_req req = {.method = "", .header = no_header};
    struct http_resp resp = {0};
    struct ctx c;
    size_t i;
    int rc = -1;

    memset(&c, 0, sizeof c);
    c.rt = rt;
    c.cfg = rt->cfg;
    c.req = &req;
    c.resp = &resp;
    c.db = rt->db;
    c.now = now;
    if (tx_open(rt, write) == 0) {
        rc = fn(&c, arg);
        if (rc != 0 || resp.status >= 400)
            tx_abandon(rt);
        else if (tx_close(rt, &c) != 0)
            rc = -1;
        rc = rc != 0 || resp.status >= 400 ? -1 : 0;
    }
    for (i = 0; i < c.nevents; i++)
        store_event_free(&c.events[i]);
    free(c.events);
    auth_claims_free(&c.claims);
    cgi_resp_free(&resp);
    return rc;
}

void runtime_batch_begin(struct runtime *rt, size_t nrequests)
{
    rt->batch_size = nrequests > 0 ? nrequests : 1;
    rt->batch_from = rt->npending;
    rt->batch_open = 0;
    rt->batch_broken = 0;
}

/* Frees the pending events from index from on. */
static void drop_pending(struct runtime *rt, size_t from)
{
    size_t i;

    for (i = from; i < rt->npending; i++)
        store_event_free(&rt->pending[i]);
    rt->npending = from;
}

int runtime_batch_end(struct runtime *rt)
{
    int rc = 0;

    rt->lost_size = 0;
    if (rt->batch_open && (rt->batch_broken || db_commit(rt->db) != 0)) {
        db_rollback(rt->db);
        drop_pending(rt, rt->batch_from); /* earlier batches' events stand */
        rt->lost_size = rt->batch_size;
        rc = -1;
    }
    rt->batch_size = 0;
    rt->batch_open = 0;
    rt->batch_broken = 0;
    /* An edge's forwarded requests wrote nothing here: whatever became of
     * the batch, they go now, together. */
    forward_flush(rt->fwd);
    return rc;
}

/* In a batch of one the request's work is the transaction's: commit it
 * and go on in a new one, inside a new unit (tx_close releases it). */
int ctx_commit_now(struct ctx *c)
{
    struct runtime *rt = c->rt;

    if (rt->batch_size != 1)
        return 0;
    if (db_commit(rt->db) != 0 || db_begin(rt->db, 1) != 0 || db_savepoint(rt->db) != 0) {
        rt->batch_broken = 1;
        return -1;
    }
    return 0;
}

void runtime_tick(struct runtime *rt)
{
    bus_catch_up(rt->bus);
}

int runtime_batch_pending(const struct runtime *rt)
{
    return rt->npending > 0;
}

int runtime_take_queued(struct runtime *rt)
{
    int queued = rt->queued;

    rt->queued = 0;
    return queued;
}

void runtime_batch_publish(struct runtime *rt)
{
    publish_events(rt, rt->pending, rt->npending);
    drop_pending(rt, 0);
}

void runtime_batch_failed(struct runtime *rt, struct http_req *req, struct http_resp *resp)
{
    struct ctx c;

    /* An error answer of a batch of one rests on nothing that was lost
     * (health's "db":"down" is such an answer). */
    if ((rt->lost_size == 1 && resp->status >= 400) || resp->forwarded)
        return;
    memset(&c, 0, sizeof c);
    c.rt = rt;
    c.cfg = rt->cfg;
    c.req = req; /* its Origin: a page must read this Retry-After too */
    c.db = rt->db; /* the error body is built by SQLite's json_object() */
    c.resp = resp;
    buf_reset(&resp->body);
    answer_db_error(&c);
}

void runtime_lease_owner(char out[RUNTIME_OWNER_MAX])
{
    char host[64] = "host";
    buf_t rnd = {0};

    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0'; /* 63 + ':' + a pid + ':' + 8 fit RUNTIME_OWNER_MAX */
    if (crypto_random_hex(4, &rnd) != 0)
        buf_puts(&rnd, "0");
    snprintf(out, RUNTIME_OWNER_MAX, "%s:%ld:%s", host, (long)getpid(), buf_str(&rnd));
    buf_free(&rnd);
}

int runtime_work_alone(struct runtime *rt, int write, int (*fn)(struct ctx *c, void *arg), void *arg)
{
    int ok;

    runtime_batch_begin(rt, 1);
    ok = runtime_work(rt, write, fn, arg, (long long)time(NULL)) == 0;
    ok = runtime_batch_end(rt) == 0 && ok;
    runtime_batch_publish(rt);
    return ok ? 0 : -1;
}
