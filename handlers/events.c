/* events.c - GET /api/events (the polling fallback) and POST /api/publish. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "alloc.h"
#include "config.h"
#include "db.h"
#include "handler.h"
#include "routes.h"
#include "store.h"

#define POLL_DEFAULT_LIMIT 100
#define POLL_MAX_LIMIT 1000
#define TYPE_MAX 64

/* Authenticates when the request carries a token at all: polling a public
 * topic needs none, but a bad token is still a 401. */
static int optional_auth(struct ctx *c, const struct auth_claims **claims)
{
    *claims = NULL;
    if (ctx_req_header(c, "HTTP_AUTHORIZATION") == NULL && ctx_query(c, "access_token") == NULL)
        return 0;
    if (ctx_auth(c, 1) != 0)
        return -1;
    *claims = &c->claims;
    return 0;
}

struct poll_acc {
    buf_t json;
    int64_t last;
    int n;
};

static int poll_row(void *arg, int64_t id, const char *topic, const char *type, const char *env, size_t len)
{
    struct poll_acc *acc = arg;

    (void)topic;
    (void)type;
    buf_putc(&acc->json, acc->n++ ? ',' : '[');
    buf_append(&acc->json, env, len);
    acc->last = id;
    return 0;
}

static int parse_limit(struct ctx *c, long long *limit)
{
    const char *s = ctx_query(c, "limit");

    *limit = POLL_DEFAULT_LIMIT;
    if (s != NULL && (http_parse_i64(s, limit) != 0 || *limit < 1 || *limit > POLL_MAX_LIMIT)) {
        ctx_error(c, 400, "invalid_limit", "limit must be an integer from 1 to 1000");
        return -1;
    }
    return 0;
}

static void events_poll(struct ctx *c)
{
    const char *topics[STORE_MAX_TOPICS], *msg, *code, *since_s = ctx_query(c, "since");
    const struct auth_claims *claims;
    struct poll_acc acc = {{0}, 0, 0};
    long long since = 0, limit;
    int64_t pruned, last;
    const char *reason = NULL;
    char last_s[24];
    int n, count, st;

    if ((n = access_topics_from_query(&c->req->query, topics, &msg)) < 0) {
        ctx_error(c, 400, "invalid_topic", msg);
        goto out;
    }
    if (since_s != NULL && http_parse_i64(since_s, &since) != 0) {
        ctx_error(c, 400, "invalid_since", "since must be a non-negative integer event id");
        goto out;
    }
    if (parse_limit(c, &limit) != 0 || optional_auth(c, &claims) != 0)
        goto out;
    if ((st = access_topics(c->db, topics, n, claims, ctx_query(c, "token"), &code, &msg)) != 0) {
        ctx_error(c, st, code, msg);
        goto out;
    }
    if (store_bounds(c->db, &pruned, &last) != 0 ||
        store_read_topics(c->db, topics, (size_t)n, since, last, (int)limit, poll_row, &acc, &count) != 0) {
        ctx_db_error(c);
        goto out;
    }
    if (since_s != NULL && since < pruned)
        reason = "history_expired";
    else if (since > last && pulse_cfg->role == ROLE_EDGE)
        acc.last = since; /* not mirrored here yet (see stream.c): wait for it */
    else if (since > last)
        reason = "unknown_id";
    /* A short page means every matching event up to `last` was returned, so
     * the client may continue from there instead of re-scanning. */
    if (count < limit && last > acc.last)
        acc.last = last;
    buf_puts(&acc.json, acc.n ? "]" : "[]");
    snprintf(last_s, sizeof last_s, "%lld", (long long)acc.last);
    {
        const char *args[3] = {buf_str(&acc.json), last_s, reason};
        ctx_json_take(c, 200, db_one_text(c->db, SQL_EVENT_POLL_REPLY, 3, args));
    }
out:
    buf_free(&acc.json);
}

static int valid_type(const char *s)
{
    return s != NULL && strlen(s) <= TYPE_MAX && http_valid_id(s);
}

/* One member of the publish body: its JSON type and value, both owned. */
struct member {
    char *type, *value;
};

/* Reads topic, type and data (in that order into m) from the body. 0, or -1
 * with a 503 answered. */
static int publish_members(struct ctx *c, struct member m[3])
{
    static const char *const names[3] = {"topic", "type", "data"};
    sqlite3_stmt *st = db_stmt(c->db, SQL_EVENT_PUBLISH_MEMBERS);
    int rc, i;

    if (st == NULL || db_bind_text(st, 1, c->req->body, (int)c->req->body_len) != 0) {
        db_done(st);
        ctx_db_error(c);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        const char *type = (const char *)sqlite3_column_text(st, 1);
        const char *value = (const char *)sqlite3_column_text(st, 2);

        for (i = 0; i < 3; i++) {
            if (key == NULL || type == NULL || strcmp(key, names[i]) != 0 || m[i].type != NULL)
                continue;
            m[i].type = xstrdup(type);
            /* a cut-short string is no valid name: left NULL */
            if (value != NULL && sqlite3_column_int(st, 3) == 1)
                m[i].value = xstrdup(value);
        }
    }
    db_done(st);
    if (rc != SQLITE_DONE) {
        ctx_db_error(c);
        return -1;
    }
    return 0;
}

static int member_is(const struct member *m, const char *type)
{
    return m->type != NULL && m->value != NULL && strcmp(m->type, type) == 0;
}

static void events_publish(struct ctx *c)
{
    struct member m[3] = {{0}};
    char reply[40];
    int i;

    if (ctx_auth_role(c, ROLE_BIT(ROLE_ADMIN)) != 0 || ctx_body_object(c) != 0 || publish_members(c, m) != 0)
        goto out;
    if (!member_is(&m[0], "text") || !http_valid_id(m[0].value)) {
        ctx_error(c, 400, "invalid_topic", "topic must be a string matching ^[A-Za-z0-9_.:-]{1,128}$");
    } else if (!member_is(&m[1], "text") || !valid_type(m[1].value)) {
        ctx_error(c, 400, "invalid_type", "type must be a string matching ^[A-Za-z0-9_.:-]{1,64}$");
    } else if (!member_is(&m[2], "object")) {
        ctx_error(c, 400, "invalid_data", "data is required and must be a JSON object");
    } else if (ctx_emit(c, m[0].value, m[1].value, m[2].value) == 0) {
        /* {"id":N}: a number only, nothing to escape */
        snprintf(reply, sizeof reply, "{\"id\":%lld}", (long long)c->events[c->nevents - 1].id);
        ctx_json(c, 202, reply);
    }
out:
    for (i = 0; i < 3; i++) {
        free(m[i].type);
        free(m[i].value);
    }
}

static const struct route routes[] = {
    {"GET", "/api/events", events_poll, ROUTE_EDGE},
    {"POST", "/api/publish", events_publish, ROUTE_WRITE},
};

const struct route_table events_routes = {routes, sizeof routes / sizeof routes[0]};
