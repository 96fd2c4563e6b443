/* stream_req.c - routing, auth and resume point of a stream request. */
#include "stream/stream_req.h"

#include <stdlib.h>
#include <string.h>

#include "auth/access.h"
#include "auth/auth.h"
#include "base/alloc.h"
#include "base/config.h"
#include "http/http.h"
#include "wire/fcgi_rec.h"

/* A param as a new string (caller frees), or NULL when absent. */
static char *param_dup(const buf_t *params, const char *name)
{
    const char *v;
    size_t n;

    return fcgi_param(params, name, &v, &n) == 1 ? xstrndup(v, n) : NULL;
}

static void fail(struct stream_req *r, int status, const char *code, const char *message)
{
    r->status = status;
    r->code = code;
    r->message = message;
}

/* Maps the path to topics: the generic endpoint takes topic=..., the two
 * shortcuts name one topic each. */
static void route(struct stream_req *r, const char *path, const struct http_query *q)
{
    static const char rooms[] = "/api/live/rooms/";
    const char *topics[STORE_MAX_TOPICS], *msg;
    buf_t t = {0};
    int n, i;

    if (strcmp(path, "/api/events/stream") == 0) {
        if ((n = access_topics_from_query(q, topics, &msg)) < 0) {
            fail(r, 400, "invalid_topic", msg);
            return;
        }
        for (i = 0; i < n; i++)
            r->topics[i] = xstrdup(topics[i]);
        r->ntopics = n;
        return;
    }
    if (strcmp(path, "/api/topup/stream") == 0) {
        const char *tx = http_query_get(q, "tx_ref");
        if (!http_valid_id(tx)) {
            fail(r, 400, "invalid_tx_ref", "tx_ref must match ^[A-Za-z0-9_.:-]{1,128}$");
            return;
        }
        buf_printf(&t, "topup:%s", tx);
    } else if (strncmp(path, rooms, sizeof rooms - 1) == 0) {
        const char *id = path + sizeof rooms - 1, *slash = strchr(id, '/');
        if (slash == NULL || strcmp(slash, "/stream") != 0) {
            fail(r, 404, "not_found", "no such endpoint");
            return;
        }
        if (!http_valid_id_n(id, (size_t)(slash - id))) {
            fail(r, 400, "invalid_id", "ids must match ^[A-Za-z0-9_.:-]{1,128}$");
            return;
        }
        buf_printf(&t, "room:%.*s", (int)(slash - id), id);
    } else {
        fail(r, 404, "not_found", "no such endpoint");
        return;
    }
    r->topics[0] = buf_steal(&t);
    r->ntopics = 1;
}

/* Last-Event-ID header first (what a browser sends on reconnect), else
 * ?last_event_id=. Empty means "no resume". */
static void resume_point(struct stream_req *r, const buf_t *params, const struct http_query *q)
{
    char *h = param_dup(params, "HTTP_LAST_EVENT_ID");
    const char *v = h != NULL && *h ? h : http_query_get(q, "last_event_id");

    if (v != NULL && *v) {
        if (http_parse_i64(v, &r->last_id) != 0)
            fail(r, 400, "invalid_last_event_id", "Last-Event-ID must be a non-negative integer");
        else
            r->has_last_id = 1;
    }
    free(h);
}

static void authorize(struct stream_req *r, const struct config *cfg, struct db *db, const buf_t *params,
                      const struct http_query *q, long long now)
{
    char *authz = param_dup(params, "HTTP_AUTHORIZATION");
    const char *token = NULL, *why;
    struct auth_claims claims;
    int have = 0, st;

    if (authz != NULL && (token = auth_bearer_token(authz)) == NULL) {
        fail(r, 401, "unauthorized", "Authorization must be 'Bearer <token>'");
        goto out;
    }
    if (authz == NULL)
        token = http_query_get(q, "access_token");
    if (token != NULL) {
        if (auth_jwt_verify(db, cfg->jwt_secret, token, now, &claims, &why) != 0) {
            fail(r, 401, "invalid_token", why);
            goto out;
        }
        have = 1;
        r->expires = claims.exp;
    }
    st = access_topics(db, (const char *const *)r->topics, r->ntopics, have ? &claims : NULL,
                       http_query_get(q, "token"), &r->code, &r->message);
    if (st != 0)
        r->status = st;
out:
    if (have)
        auth_claims_free(&claims);
    free(authz);
}

int stream_req_parse(const struct config *cfg, struct db *db, const buf_t *params, long long now,
                     struct stream_req *r)
{
    char *method = param_dup(params, "REQUEST_METHOD");
    char *uri = param_dup(params, "REQUEST_URI");
    char *qs = param_dup(params, "QUERY_STRING");
    char *origin = param_dup(params, "HTTP_ORIGIN");
    struct http_query q = {0};
    char *path = NULL;

    memset(r, 0, sizeof *r);
    r->status = 200;
    if (uri == NULL) {
        fail(r, 400, "bad_request", "no REQUEST_URI from the web server");
        goto out;
    }
    path = http_target_path(uri);
    if (qs == NULL) {
        const char *mark = strchr(uri, '?');
        qs = xstrdup(mark ? mark + 1 : "");
    }
    if (http_query_parse(qs, strlen(qs), &q) != 0) {
        fail(r, 400, "bad_request", "malformed query string (bad %-escape, NUL, not UTF-8)");
        goto out;
    }
    route(r, path, &q);
    if (r->status == 200 && (method == NULL || strcmp(method, "GET") != 0)) {
        fail(r, 405, "method_not_allowed", "streams are opened with GET");
        r->allow = "GET";
    }
    if (r->status == 200)
        resume_point(r, params, &q);
    if (r->status == 200)
        authorize(r, cfg, db, params, &q, now);
    if (origin != NULL && http_origin_allowed(cfg->cors_origins, origin)) {
        r->origin = origin;
        origin = NULL;
    }
out:
    http_query_free(&q);
    free(method);
    free(uri);
    free(qs);
    free(origin);
    free(path);
    return 0;
}

void stream_req_free(struct stream_req *r)
{
    int i;

    for (i = 0; i < r->ntopics; i++)
        free(r->topics[i]);
    free(r->origin);
    memset(r, 0, sizeof *r);
}
