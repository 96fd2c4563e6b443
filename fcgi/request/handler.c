/* handler.c - helpers handlers answer with (see handler.h). */
#include "request/handler.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/topic.h"
#include "base/alloc.h"
#include "base/config.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/metrics.h"
#include "base/utf8.h"
#include "store/db.h"

static void answer(struct ctx *c, int status, const char *type)
{
    c->resp->status = status;
    c->resp->content_type = type;
    buf_reset(&c->resp->body);
}

void ctx_json(struct ctx *c, int status, const char *json)
{
    answer(c, status, CGI_JSON_TYPE);
    buf_puts(&c->resp->body, json);
}

void ctx_json_take(struct ctx *c, int status, char *json)
{
    if (json == NULL) {
        ctx_db_error(c);
        return;
    }
    ctx_json(c, status, json);
    free(json);
}

void ctx_text(struct ctx *c, int status, const char *content_type, const char *text)
{
    answer(c, status, content_type);
    buf_puts(&c->resp->body, text);
}

void ctx_error(struct ctx *c, int status, const char *code, const char *message)
{
    const char *args[2] = {code, message};

    cgi_error(c->resp, status, db_one_text(c->db, SQL_JSON_ERROR, 2, args), CGI_RETRY_BUSY_S);
}

void ctx_db_error(struct ctx *c)
{
    ctx_error(c, 503, "unavailable", "the database is busy or unavailable; retry shortly");
}

void ctx_header(struct ctx *c, const char *name, const char *value)
{
    cgi_header(c->resp, name, value);
}

void ctx_retry_after(struct ctx *c, int seconds)
{
    cgi_retry_after(c->resp, seconds);
}

int ctx_auth(struct ctx *c, int allow_query)
{
    const char *why = NULL;
    enum auth_outcome got;

    if (c->authed)
        return 0;
    got = auth_request(c->tokens, c->db, c->cfg->jwt_secret, ctx_req_header(c, "HTTP_AUTHORIZATION"),
                       allow_query ? ctx_query(c, "access_token") : NULL, c->now, &c->claims, &why);
    if (got == AUTH_INVALID) {
        ctx_header(c, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
        ctx_error(c, 401, "invalid_token", why);
        return -1;
    }
    if (got != AUTH_OK) {
        ctx_header(c, "WWW-Authenticate", "Bearer");
        ctx_error(c, 401, "unauthorized", why);
        return -1;
    }
    c->authed = 1;
    return 0;
}

int ctx_auth_role(struct ctx *c, unsigned role_mask)
{
    if (ctx_auth(c, 0) != 0)
        return -1;
    if ((ROLE_BIT(c->claims.role) & role_mask) == 0) {
        ctx_error(c, 403, "forbidden", "your role may not do this");
        return -1;
    }
    return 0;
}

/* Its encoding is told apart from other bad JSON (the sender's encoding is
 * wrong), and only now: db_json_object has scanned it once already, so an
 * accepted body, the common case, is scanned once. */
int ctx_body_refused(struct ctx *c)
{
    if (!utf8_json_text_ok(c->req->body, c->req->body_len))
        ctx_error(c, 400, "invalid_utf8",
                  "the body must be UTF-8 (RFC 8259), and a \\u escape must not be a lone surrogate");
    else
        ctx_error(c, 400, "invalid_json", "the body must be a JSON object");
    return -1;
}

int ctx_body_object(struct ctx *c)
{
    return db_json_object(c->db, c->req->body, c->req->body_len) ? 0 : ctx_body_refused(c);
}

int ctx_body_object_shape(struct ctx *c)
{
    return db_json_object_shape(c->db, c->req->body, c->req->body_len) ? 0 : ctx_body_refused(c);
}

int ctx_body_text_ok(struct ctx *c)
{
    return db_json_text_ok(c->req->body, c->req->body_len) ? 0 : ctx_body_refused(c);
}

const char *ctx_arg(const struct ctx *c, size_t i)
{
    return i < c->req->ncaptures ? c->req->captures[i] : NULL;
}

const char *ctx_query(const struct ctx *c, const char *name)
{
    return http_query_get(&c->req->query, name);
}

const char *ctx_req_header(const struct ctx *c, const char *cgi_name)
{
    return c->req->header ? c->req->header(c->req, cgi_name) : NULL;
}

/* Takes ev (its strings now c's) for the publish after the commit. */
static void keep_event(struct ctx *c, struct event *ev)
{
    /* doubled at each power of two: a batch publish emits a thousand */
    if ((c->nevents & (c->nevents - 1)) == 0)
        c->events = xrealloc(c->events, (c->nevents ? 2 * c->nevents : 1) * sizeof *c->events);
    c->events[c->nevents++] = *ev;
}

int64_t ctx_emit(struct ctx *c, const char *topic, const char *type, const char *data_json)
{
    struct event ev;

    /* Every stream, poll page and Redis entry carries the whole event:
     * one of a megabyte, emitted on every change, is what took a poll to
     * hundreds of megabytes. */
    if (strlen(data_json) > (size_t)c->cfg->max_event_bytes) {
        ctx_error(c, 413, "event_too_large", "the event this request would emit is over PULSE_MAX_EVENT_BYTES");
        return -1;
    }
    if (store_append_event(c->db, topic, type, data_json, &ev) != 0) {
        ctx_db_error(c);
        return -1;
    }
    keep_event(c, &ev);
    return ev.id;
}

int ctx_emit_batch(struct ctx *c, const char *body_json, size_t len, int64_t *first, size_t *n)
{
    struct event *evs;
    size_t i;

    if (store_append_events(c->db, body_json, len, c->cfg->max_event_bytes, &evs, n) != 0) {
        ctx_db_error(c);
        return -1;
    }
    *first = *n > 0 ? evs[0].id : 0;
    for (i = 0; i < *n; i++)
        keep_event(c, &evs[i]);
    free(evs);
    return 0;
}

size_t ctx_utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Looks up $.field of the body; *st is left on the row (caller db_done). */
static int body_field(struct ctx *c, const char *field, sqlite3_stmt **st, const char **type)
{
    char path[96];
    int n = snprintf(path, sizeof path, "$.%s", field);

    *st = db_stmt(c->db, SQL_JSON_FIELD);
    if (n < 0 || (size_t)n >= sizeof path || *st == NULL ||
        db_bind_text(*st, 1, c->req->body, (int)c->req->body_len) || db_bind_text(*st, 2, path, -1) ||
        db_bind_int64(*st, 3, db_json_escapes_nul(c->req->body, c->req->body_len)) ||
        sqlite3_step(*st) != SQLITE_ROW) {
        ctx_db_error(c);
        return -1;
    }
    *type = (const char *)sqlite3_column_text(*st, 0);
    return 0;
}

/* Answers 400 invalid_<field> with message "<field> <what>". */
static void field_fail(struct ctx *c, const char *field, const char *what)
{
    buf_t msg = {0}, code = {0};
    char *p;

    buf_printf(&msg, "%s %s", field, what);
    buf_printf(&code, "invalid_%s", field);
    /* a nested member (sender.id) gives a snake_case code (invalid_sender_id) */
    for (p = code.p; *p; p++)
        if (*p == '.')
            *p = '_';
    ctx_error(c, 400, code.p, msg.p);
    buf_free(&msg);
    buf_free(&code);
}

/* printf-like, so the compiler checks each message's arguments. */
static void field_error(struct ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void field_error(struct ctx *c, const char *field, const char *fmt, ...)
{
    buf_t what = {0};
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&what, fmt, ap);
    va_end(ap);
    field_fail(c, field, what.p);
    buf_free(&what);
}

int ctx_body_is(struct ctx *c, const char *field, const char *json_type)
{
    sqlite3_stmt *st;
    const char *type;
    int is = -1;

    if (body_field(c, field, &st, &type) == 0)
        is = type != NULL && strcmp(type, json_type) == 0;
    db_done(st);
    return is;
}

int ctx_body_has(struct ctx *c, const char *field)
{
    sqlite3_stmt *st;
    const char *type;
    int has = 0;

    if (body_field(c, field, &st, &type) == 0)
        has = type != NULL && *type != '\0' && strcmp(type, "null") != 0;
    db_done(st);
    return has;
}

/* What a typed read accepts, as its error messages name it ("a string of
 * 1 to 80 characters", "an integer from 0 to 9"). */
struct want {
    const char *lead, *tail;
    long long min, max;
};

/* Answers 400 invalid_<field>: "<field> <verb> <what w accepts>". */
static void want_error(struct ctx *c, const char *field, const char *verb, const struct want *w)
{
    field_error(c, field, "%s %s %lld to %lld%s", verb, w->lead, w->min, w->max, w->tail);
}

/* Looks field up for a typed read: 1 when it holds a value (*st on the
 * row; the caller db_done's it either way), 0 when it is absent or null
 * and optional, -1 when answered (503, or 400 for a required one missing). */
static int body_value(struct ctx *c, const char *field, int required, const struct want *w, sqlite3_stmt **st,
                      const char **type)
{
    if (body_field(c, field, st, type) != 0)
        return -1;
    if (*type != NULL && **type != '\0' && (required || strcmp(*type, "null") != 0))
        return 1;
    if (!required)
        return 0;
    want_error(c, field, "is required:", w);
    return -1;
}

int ctx_body_text(struct ctx *c, const char *field, size_t min, size_t max, int required, char **out)
{
    const struct want w = {"a string of", " characters", (long long)min, (long long)max};
    sqlite3_stmt *st = NULL;
    const char *type, *v;
    size_t n;
    int rc = body_value(c, field, required, &w, &st, &type);

    if (rc <= 0)
        goto out;
    rc = -1;
    v = (const char *)sqlite3_column_text(st, 1);
    /* (strlen: no raw NUL; column 2: not cut short at an escaped one) */
    if (strcmp(type, "text") != 0 || v == NULL || (n = ctx_utf8_len(v)) < min || n > max ||
        strlen(v) != (size_t)sqlite3_column_bytes(st, 1) || sqlite3_column_int(st, 2) != 1) {
        want_error(c, field, "must be", &w);
        goto out;
    }
    free(*out);
    *out = xstrdup(v);
    rc = 0;
out:
    db_done(st);
    return rc;
}

int ctx_body_int(struct ctx *c, const char *field, long long min, long long max, int required,
                 long long *out)
{
    const struct want w = {"an integer from", "", min, max};
    sqlite3_stmt *st = NULL;
    const char *type;
    long long v;
    int rc = body_value(c, field, required, &w, &st, &type);

    if (rc <= 0)
        goto out;
    rc = -1;
    v = sqlite3_column_int64(st, 1);
    if (strcmp(type, "integer") != 0 || v < min || v > max) {
        want_error(c, field, "must be", &w);
        goto out;
    }
    *out = v;
    rc = 0;
out:
    db_done(st);
    return rc;
}

int ctx_body_url(struct ctx *c, const char *field, char **out)
{
    if (ctx_body_text(c, field, 0, HTTP_MAX_URL, 0, out) != 0)
        return -1;
    if (*out == NULL || **out == '\0' || http_valid_url(*out))
        return 0;
    field_fail(c, field, "must be \"\" or an absolute http:// or https:// URL of at most 2048 bytes");
    return -1;
}

char *ctx_random_id(struct ctx *c, const char *prefix, size_t nbytes)
{
    buf_t b = {0};

    buf_puts(&b, prefix);
    if (crypto_random_hex(nbytes, &b) != 0) {
        buf_free(&b);
        ctx_error(c, 503, "unavailable", "no randomness available");
        return NULL;
    }
    return buf_steal(&b);
}

int64_t ctx_emit_owner(struct ctx *c, const char *topic, const char *owner, const char *token)
{
    buf_t hash = {0};
    const char *args[3] = {topic, owner, NULL};
    char *data = NULL;
    int64_t id = -1;

    if (token != NULL && crypto_sha256_hex(token, strlen(token), &hash) != 0) {
        ctx_error(c, 503, "unavailable", "hashing failed");
        goto out;
    }
    args[2] = token != NULL ? buf_str(&hash) : NULL;
    if ((data = db_one_text(c->db, SQL_TOPIC_OWNER_EVENT, 3, args)) == NULL)
        ctx_db_error(c);
    else
        id = ctx_emit(c, TOPIC_OWNERS_NAME, "topic.owner", data);
out:
    free(data);
    buf_free(&hash);
    return id;
}
