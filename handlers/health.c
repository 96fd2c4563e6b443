/* health.c - GET /api/health and GET /api/metrics. */
#include <stdlib.h>

#include "base/metrics.h"
#include "handlers/routes.h"
#include "request/handler.h"
#include "store/db.h"
#include "store/store.h"

/* Still 200 when Redis is down: the service degrades to local delivery
 * rather than failing. A database it cannot read or write is a 503 (a load
 * balancer takes the instance out): "db":"down". The write is real and
 * committed here (a full disk fails the commit), and the file it reached
 * must still be the one at the database's path. */
static void health(struct ctx *c)
{
    int64_t pruned, last;
    int changed = 0;
    int db_ok = store_bounds(c->db, &pruned, &last) == 0 &&
                db_run_texts(c->db, SQL_HEALTH_PROBE, 0, NULL, &changed) == 0 && changed == 1 &&
                ctx_commit_now(c) == 0 && db_healthy(c->db);
    const char *args[4] = {db_ok ? "ok" : "degraded", db_ok ? "ok" : "down", ctx_bus_health(c),
                           ctx_bus_mode(c)};
    char *json = db_one_text(c->db, SQL_HEALTH_REPLY, 4, args);

    if (json == NULL) {
        ctx_retry_after(c, CGI_RETRY_HEALTH_S);
        ctx_text(c, 503, CGI_JSON_TYPE,
                 "{\"status\":\"degraded\",\"db\":\"down\",\"redis\":\"unknown\",\"mode\":\"unknown\"}");
        return;
    }
    if (!db_ok)
        ctx_retry_after(c, CGI_RETRY_HEALTH_S);
    ctx_json_take(c, db_ok ? 200 : 503, json);
}

static void metrics(struct ctx *c)
{
    ctx_text(c, 200, "text/plain; version=0.0.4; charset=utf-8", "");
    metrics_render(&c->resp->body);
}

static const struct route routes[] = {
    {"GET", "/api/health", health, ROUTE_EDGE | ROUTE_WRITE},
    {"GET", "/api/metrics", metrics, ROUTE_EDGE},
};

const struct route_table health_routes = {routes, sizeof routes / sizeof routes[0]};
