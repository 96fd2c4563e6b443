/* events.c - GET /api/events (the polling fallback) and POST /api/publish. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/access.h"
#include "auth/topic.h"
#include "base/alloc.h"
#include "base/config.h"
#include "base/log.h"
#include "handlers/routes.h"
#include "http/sse.h"
#include "request/handler.h"
#include "store/db.h"
#include "store/store.h"

#define POLL_DEFAULT_LIMIT 100
#define POLL_MAX_LIMIT 1000

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

/* A page stops growing past this many bytes (it always holds one event,
 * so a client always gets further): PULSE_MAX_EVENT_BYTES bounds one
 * event, this a whole answer, which a worker builds in memory twice. */
#define POLL_MAX_BYTES (1024 * 1024)

struct poll_acc {
    buf_t json;
    int64_t last;
    int n;
    int full;         /* stopped at POLL_MAX_BYTES: events up to `last` only */
};

static int poll_row(void *arg, int64_t id, const char *topic, const char *type, const char *env, size_t len)
{
    struct poll_acc *acc = arg;

    (void)topic;
    (void)type;
    if (acc->n > 0 && acc->json.len + len + 2 > POLL_MAX_BYTES) {
        acc->full = 1;
        return 1;
    }
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

/* Where a poll starts: since, or as a stream resumes (API.md, "State reads
 * carry their log position": last_event_id=N for stream or polling, and
 * the Last-Event-ID header); NULL: from now. An empty header is none. */
static const char *poll_since(const struct ctx *c)
{
    const char *s = ctx_query(c, "since");

    if (s == NULL)
        s = ctx_query(c, "last_event_id");
    if (s == NULL && (s = ctx_req_header(c, "HTTP_LAST_EVENT_ID")) != NULL && *s == '\0')
        s = NULL;
    return s;
}

static void events_poll(struct ctx *c)
{
    const char *topics[STORE_MAX_TOPICS], *msg, *code, *since_s = poll_since(c);
    const struct auth_claims *claims;
    struct poll_acc acc = {{0}, 0, 0, 0};
    long long since = 0, limit;
    int64_t pruned, last;
    const char *reason = NULL;
    char last_s[24];
    int n, count = 0, st, expired = 0;

    if ((n = access_topics_from_query(&c->req->query, topics, &msg)) < 0) {
        ctx_error(c, 400, "invalid_topic", msg);
        goto out;
    }
    if (since_s != NULL && http_parse_i64(since_s, &since) != 0) {
        ctx_error(c, 400, "invalid_since", "since (or last_event_id) must be a non-negative integer event id");
        goto out;
    }
    if (parse_limit(c, &limit) != 0 || optional_auth(c, &claims) != 0)
        goto out;
    if ((st = access_topics(c->db, topics, n, claims, ctx_query(c, "token"), &code, &msg)) != 0) {
        ctx_error(c, st, code, msg);
        goto out;
    }
    /* Without since the poll starts now, as a stream opened without a
     * position does: no events, and the head in last_id to continue from. */
    if (store_bounds(c->db, &pruned, &last) != 0 ||
        (since_s != NULL &&
         (store_pruned_after(c->db, topics, (size_t)n, since, &expired) != 0 ||
          store_read_topics(c->db, topics, (size_t)n, since, last, (int)limit, poll_row, &acc, &count) != 0))) {
        ctx_db_error(c);
        goto out;
    }
    switch (store_resume_point(since, last, expired, c->cfg->role == ROLE_EDGE)) {
    case STORE_RESUME_EXPIRED:
        reason = "history_expired";
        break;
    case STORE_RESUME_WAIT:
        acc.last = since; /* not mirrored here yet (as a stream does): wait for it */
        break;
    case STORE_RESUME_UNKNOWN:
        reason = "unknown_id";
        break;
    case STORE_RESUME_OK:
        break;
    }
    /* A short page means every matching event up to `last` was returned, so
     * the client may continue from there instead of re-scanning; a page cut
     * at POLL_MAX_BYTES continues from its own last event. */
    if (!acc.full && count < limit && last > acc.last)
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

#define PUBLISH_BATCH_MAX 1000

/* Answers a refused event: element is -1 for the single form, else its
 * index in a batch, so that the answer names it ("events[i]: ..."). */
static void publish_refuse(struct ctx *c, int status, const char *code, long element, const char *what)
{
    buf_t msg = {0};

    if (element >= 0)
        buf_printf(&msg, "events[%ld]: ", element);
    buf_puts(&msg, what);
    ctx_error(c, status, code, buf_str(&msg));
    buf_free(&msg);
}

/* Checks one event: a row of event_publish_body or of event_publish_batch,
 * whose first seven columns are alike, so both forms take this one path
 * (event_append_batch's WHERE makes the same checks in SQL). 0, or -1
 * answered. */
static int publish_check(struct ctx *c, sqlite3_stmt *st, long element)
{
    /* (text only for a JSON string, or an object or array: see the query) */
    const char *topic = sqlite3_column_type(st, 0) == SQLITE_TEXT ? (const char *)sqlite3_column_text(st, 0) : NULL;
    const char *type = sqlite3_column_type(st, 1) == SQLITE_TEXT ? (const char *)sqlite3_column_text(st, 1) : NULL;
    const char *data_type = (const char *)sqlite3_column_text(st, 2);
    const char *data = (const char *)sqlite3_column_text(st, 3);

    if (sqlite3_column_int(st, 6) != 1) {
        publish_refuse(c, 400, "invalid_event", element, "an event must be a JSON object {\"topic\",\"type\",\"data\"}");
    } else if (topic == NULL || sqlite3_column_int(st, 4) != 1 || !http_valid_id(topic)) {
        /* (column 4, 5: no name cut short at an escaped NUL) */
        publish_refuse(c, 400, "invalid_topic", element, "topic must be a string matching ^[A-Za-z0-9_.:-]{1,128}$");
    } else if (strcmp(topic, TOPIC_OWNERS_NAME) == 0) {
        /* Its facts decide who reads a chat or a top-up, on every edge, and
         * the first one stands: only Pulse's own claims write them. */
        publish_refuse(c, 403, "reserved_topic", element, "pulse.owners is written by Pulse itself, never published");
    } else if (type == NULL || sqlite3_column_int(st, 5) != 1 || !http_valid_type(type)) {
        publish_refuse(c, 400, "invalid_type", element, "type must be a string matching ^[A-Za-z0-9_.:-]{1,64}$");
    } else if (strcmp(type, SSE_RESET_TYPE) == 0) {
        /* A stream names its own "cannot resume" event so: an event of that
         * type would make every client drop its state and refetch. */
        publish_refuse(c, 400, "reserved_type", element, "type reset is the stream's own event, never published");
    } else if (data == NULL || data_type == NULL || strcmp(data_type, "object") != 0) {
        publish_refuse(c, 400, "invalid_data", element, "data is required and must be a JSON object");
    } else if (strlen(data) > (size_t)c->cfg->max_event_bytes) {
        /* (ctx_emit refuses it too, but without naming the element) */
        publish_refuse(c, 413, "event_too_large", element, "data is over PULSE_MAX_EVENT_BYTES");
    } else {
        return 0;
    }
    return -1;
}

/* Checks one event and appends it. The id, or -1 answered. The row's
 * texts are used in place: ctx_emit steps other statements, never st. */
static int64_t publish_row(struct ctx *c, sqlite3_stmt *st, long element)
{
    if (publish_check(c, st, element) != 0)
        return -1;
    return ctx_emit(c, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
                    (const char *)sqlite3_column_text(st, 3));
}

/* The batch's elements, a row each (event_publish_batch), ready to step;
 * NULL with a 503 answered. */
static sqlite3_stmt *batch_rows(struct ctx *c, int64_t escapes_nul)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_EVENT_PUBLISH_BATCH);

    if (st == NULL || db_bind_text(st, 1, c->req->body, (int)c->req->body_len) != 0 ||
        db_bind_int64(st, 2, escapes_nul) != 0) {
        db_done(st);
        ctx_db_error(c);
        return NULL;
    }
    return st;
}

/* Answers the first refused element of a batch that event_append_batch
 * did not append whole (the answer rolls back what it did append). */
static void publish_refuse_first(struct ctx *c, int64_t escapes_nul)
{
    sqlite3_stmt *st = batch_rows(c, escapes_nul);
    long i = 0;
    int rc = SQLITE_ERROR;

    if (st == NULL)
        return;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (publish_check(c, st, i++) != 0)
            goto out;
    /* every element passed here but not there: the two checks disagree */
    log_error("publish: a batch refused by SQL but not by publish_check (%s)",
              rc == SQLITE_DONE ? "a bug" : sqlite3_errmsg(db_handle(c->db)));
    ctx_db_error(c);
out:
    db_done(st);
}

/* {"events":[...]} of n elements: every event, or none (the runtime rolls
 * back the request's unit on an error answer, and publishes only what
 * commits). Without \u0000 escapes, one statement appends them all; with
 * them, each is read and appended on its own (publish_row). */
static void publish_batch(struct ctx *c, int64_t escapes_nul, long long n)
{
    sqlite3_stmt *st = NULL;
    buf_t reply = {0};
    long i = 0;
    int64_t id, first;
    size_t added;
    int rc = SQLITE_ERROR;

    buf_puts(&reply, "{\"ids\":[");
    if (escapes_nul == 0) {
        if (ctx_emit_batch(c, c->req->body, c->req->body_len, &first, &added) != 0)
            goto out;
        if ((long long)added != n) {
            publish_refuse_first(c, escapes_nul);
            goto out;
        }
        for (i = 0; i < n; i++) {
            if (i > 0)
                buf_putc(&reply, ',');
            buf_put_i64(&reply, first + i);
        }
    } else {
        if ((st = batch_rows(c, escapes_nul)) == NULL)
            goto out;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if ((id = publish_row(c, st, i)) < 0)
                goto out;
            if (i++ > 0)
                buf_putc(&reply, ',');
            buf_put_i64(&reply, id); /* numbers only, nothing to escape */
        }
        if (rc != SQLITE_DONE) {
            ctx_db_error(c);
            goto out;
        }
    }
    buf_puts(&reply, "]}");
    ctx_json(c, 202, buf_str(&reply));
out:
    db_done(st);
    buf_free(&reply);
}

/* POST /api/publish: {"topic","type","data"} or {"events":[...]}. */
static void events_publish(struct ctx *c)
{
    sqlite3_stmt *st;
    const char *events;
    int64_t escapes_nul, id;
    long long n;
    char reply[40];
    int step;

    if (ctx_auth_role(c, ROLE_BIT(ROLE_ADMIN)) != 0 || ctx_body_text_ok(c) != 0)
        return;
    escapes_nul = db_json_escapes_nul(c->req->body, c->req->body_len);
    st = db_stmt(c->db, SQL_EVENT_PUBLISH_BODY);
    if (st == NULL || db_bind_text(st, 1, c->req->body, (int)c->req->body_len) != 0 ||
        db_bind_int64(st, 2, escapes_nul) != 0 || ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE)) {
        ctx_db_error(c);
        goto out;
    }
    if (step == SQLITE_DONE) {
        ctx_body_refused(c); /* no row: the body is no JSON object (the query's WHERE) */
        goto out;
    }
    events = (const char *)sqlite3_column_text(st, 7);
    n = sqlite3_column_int64(st, 9);
    if ((events != NULL) == (sqlite3_column_int(st, 8) != 0)) {
        /* both forms, or neither */
        ctx_error(c, 400, "invalid_body", "the body is one event {\"topic\",\"type\",\"data\"} or {\"events\":[...]}");
    } else if (events == NULL) {
        if ((id = publish_row(c, st, -1)) >= 0) {
            snprintf(reply, sizeof reply, "{\"id\":%lld}", (long long)id); /* a number: nothing to escape */
            ctx_json(c, 202, reply);
        }
    } else if (strcmp(events, "array") != 0 || n < 1 || n > PUBLISH_BATCH_MAX) {
        ctx_error(c, 400, "invalid_events", "events must be an array of 1 to 1000 events");
    } else {
        db_done(st);
        st = NULL;
        publish_batch(c, escapes_nul, n);
    }
out:
    db_done(st);
}

static const struct route routes[] = {
    {"GET", "/api/events", events_poll, ROUTE_EDGE},
    {"POST", "/api/publish", events_publish, ROUTE_WRITE | ROUTE_BULK},
};

const struct route_table events_routes = {routes, sizeof routes / sizeof routes[0]};
