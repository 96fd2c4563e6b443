/* stream_req.c - routing, auth and resume point of a stream request. */
#include "stream/stream_req.h"

#include <stdlib.h>
#include <string.h>

#include "auth/access.h"
#include "auth/auth.h"
#include "auth/topic.h"
#include "base/alloc.h"
#include "base/config.h"
#include "http/cgi.h"
#include "http/http.h"
#include "store/db.h"
#include "wire/fcgi_rec.h"

static void fail(struct stream_req *r, int status, const char *code, const char *message)
{
    r->status = status;
    r->code = code;
    r->message = message;
}

/* The stream routes: route() answers them, stream_req_is_stream_uri finds
 * them under any prefix. */
static const char events_stream[] = "/api/events/stream";
static const char topup_stream[] = "/api/topup/stream";
static const char rooms[] = "/api/live/rooms/"; /* {id}/stream */

/* Maps the path to topics: the generic endpoint takes topic=..., the two
 * shortcuts name one topic each. */
static void route(struct stream_req *r, const char *path, const struct http_query *q)
{
    const char *topics[STORE_MAX_TOPICS], *msg;
    char t[TOPIC_MAX];
    int n, i;

    if (strcmp(path, events_stream) == 0) {
        if ((n = access_topics_from_query(q, topics, &msg)) < 0) {
            fail(r, 400, "invalid_topic", msg);
            return;
        }
        for (i = 0; i < n; i++)
            r->topics[i] = xstrdup(topics[i]);
        r->ntopics = n;
        return;
    }
    if (strcmp(path, topup_stream) == 0) {
        const char *tx = http_query_get(q, "tx_ref");
        if (!http_valid_id(tx) || topic_name(t, TOPIC_TOPUP, tx) != 0) {
            fail(r, 400, "invalid_tx_ref", "tx_ref must match ^[A-Za-z0-9_.:-]{1,128}$");
            return;
        }
    } else if (strncmp(path, rooms, sizeof rooms - 1) == 0) {
        const char *id = path + sizeof rooms - 1, *slash = strchr(id, '/');
        if (slash == NULL || strcmp(slash, "/stream") != 0) {
            fail(r, 404, "not_found", "no such endpoint");
            return;
        }
        if (!http_valid_id_n(id, (size_t)(slash - id)) || topic_name_n(t, TOPIC_ROOM, id, (size_t)(slash - id)) != 0) {
            fail(r, 400, "invalid_id", "ids must match ^[A-Za-z0-9_.:-]{1,128}$");
            return;
        }
    } else {
        fail(r, 404, "not_found", "no such endpoint");
        return;
    }
    r->topics[0] = xstrdup(t);
    r->ntopics = 1;
}

/* Last-Event-ID header first (what a browser sends on reconnect), else
 * ?last_event_id=. Empty means "no resume". */
static void resume_point(struct stream_req *r, const buf_t *params, const struct http_query *q)
{
    char *h = fcgi_param_dup(params, "HTTP_LAST_EVENT_ID");
    const char *v = h != NULL && *h ? h : http_query_get(q, "last_event_id");

    if (v != NULL && *v) {
        if (http_parse_i64(v, &r->last_id) != 0)
            fail(r, 400, "invalid_last_event_id", "Last-Event-ID must be a non-negative integer");
        else
            r->has_last_id = 1;
    }
    free(h);
}

static void authorize(struct stream_req *r, const struct config *cfg, struct db *db, struct auth_cache *tokens,
                      struct http_req *req, long long now)
{
    const char *why;
    struct auth_claims claims;
    enum auth_outcome got;
    int st;

    got = auth_request(tokens, db, cfg->jwt_secret, req->header(req, "HTTP_AUTHORIZATION"),
                       http_query_get(&req->query, "access_token"), now, &claims, &why);
    if (got == AUTH_BAD_SCHEME || got == AUTH_INVALID) {
        fail(r, 401, got == AUTH_INVALID ? "invalid_token" : "unauthorized", why);
        return;
    }
    if (got == AUTH_OK)
        r->expires = claims.exp;
    st = access_topics(db, (const char *const *)r->topics, r->ntopics, got == AUTH_OK ? &claims : NULL,
                       http_query_get(&req->query, "token"), &r->code, &r->message);
    if (st != 0)
        r->status = st;
    if (got == AUTH_OK)
        auth_claims_free(&claims);
}

static const char *param(const struct http_req *req, const char *name)
{
    return fcgi_strs_get(req->header_arg, name);
}

int stream_req_parse(const struct config *cfg, struct db *db, struct auth_cache *tokens, const buf_t *params,
                     long long now, struct stream_req *r)
{
    struct fcgi_strs strs = {.params = params};
    struct http_req req = {.header = param, .header_arg = &strs};
    const char *why, *origin;
    long long len;
    int st;

    memset(r, 0, sizeof *r);
    r->status = 200;
    if ((st = cgi_req_read(&req, cfg->base_path, cfg->max_body, &len, &why)) != 0) {
        fail(r, st, st == 413 ? "body_too_large" : st == 404 ? "not_found" : "bad_request", why);
        goto out;
    }
    route(r, req.path, &req.query);
    if (r->status == 200 && strcmp(req.method, "GET") != 0) {
        fail(r, 405, "method_not_allowed", "streams are opened with GET");
        r->allow = "GET";
    }
    if (r->status == 200)
        resume_point(r, params, &req.query);
    if (r->status == 200)
        authorize(r, cfg, db, tokens, &req, now);
out:
    origin = param(&req, "HTTP_ORIGIN");
    if (origin != NULL && http_origin_allowed(cfg->cors_origins, origin))
        r->origin = xstrdup(origin);
    cgi_req_free(&req);
    fcgi_strs_free(&strs);
    return 0;
}

void stream_req_answer_error(const struct stream_req *r, struct db *db, buf_t *out)
{
    const char *args[2] = {r->code, r->message};
    struct http_resp resp = {0};

    if (r->allow)
        cgi_header(&resp, "Allow", r->allow);
    if (r->status == 401)
        cgi_header(&resp, "WWW-Authenticate", "Bearer");
    if (r->origin)
        cgi_cors(&resp, r->origin);
    if (r->status == 429)
        cgi_retry_after(&resp, CGI_RETRY_STREAM_S);
    cgi_error(&resp, r->status, db_one_text(db, SQL_JSON_ERROR, 2, args), CGI_RETRY_STREAM_S);
    cgi_resp_head(&resp, out);
    buf_append(out, resp.body.p, resp.body.len);
    cgi_resp_free(&resp);
}

void stream_req_free(struct stream_req *r)
{
    int i;

    for (i = 0; i < r->ntopics; i++)
        free(r->topics[i]);
    free(r->origin);
    memset(r, 0, sizeof *r);
}

int stream_req_is_stream_uri(const char *uri)
{
    const char *q, *api = NULL, *p;
    size_t n;

    if (uri == NULL)
        return 0;
    q = strchr(uri, '?');
    n = q != NULL ? (size_t)(q - uri) : strlen(uri);
    /* the route starts at the last "/api/" (a room id holds no '/') */
    for (p = uri; (p = memmem(p, n - (size_t)(p - uri), "/api/", 5)) != NULL; p++)
        api = p;
    if (api == NULL)
        return 0;
    n -= (size_t)(api - uri);
    if ((n == sizeof events_stream - 1 && memcmp(api, events_stream, n) == 0) ||
        (n == sizeof topup_stream - 1 && memcmp(api, topup_stream, n) == 0))
        return 1;
    if (n > sizeof rooms - 1 + 7 && memcmp(api, rooms, sizeof rooms - 1) == 0 &&
        memcmp(api + n - 7, "/stream", 7) == 0)
        return memchr(api + sizeof rooms - 1, '/', n - (sizeof rooms - 1) - 7) == NULL;
    return 0;
}
