/* chat_messages.c - an AI chat's messages (seed 004, API.md "AI chat"):
 * a user posts a message and gets 202 with it and the empty answer the
 * generator (chat_gen.c, run by pulse-batch) then writes; history pages;
 * cancel. Every step is an event on chat:{session}, with its audit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/topic.h"
#include "base/alloc.h"
#include "base/config.h"
#include "base/log.h"
#include "handlers/chat.h"
#include "handlers/routes.h"
#include "store/db.h"

#define MESSAGE_MAX 4000     /* characters of a user message */
#define PAGE_DEFAULT 50
#define PAGE_MAX 200
#define ID_BYTES 16          /* m_ and 32 hex */

/* Emits type on the session's topic with data (taken over). 0 or -1
 * (answered). */
static int emit(struct ctx *c, const char *sid, const char *type, char *data)
{
    char topic[TOPIC_MAX];
    int rc = -1;

    if (data == NULL)
        ctx_db_error(c);
    else if (topic_name(topic, TOPIC_CHAT, sid) != 0)
        ctx_error(c, 500, "internal", "a session id that names no topic");
    else
        rc = ctx_emit(c, topic, type, data) < 0 ? -1 : 0;
    free(data);
    return rc;
}

/* The data of the event that ends an answer (args as SQL_CHAT_EVENT_DONE
 * or _ENDED take them, the last left NULL). The row takes the whole text
 * in any case; an event that with it would be over PULSE_MAX_EVENT_BYTES
 * (a limit lowered while the answer ran) goes without it, content null,
 * rather than be refused, which would leave the answer streaming for good
 * and its session closed. Caller frees; NULL after an error. */
static char *end_data(struct ctx *c, enum sql_id q, const char **args, const char *mid)
{
    char *data = db_one_text(c->db, q, 8, args);

    if (data != NULL && strlen(data) > (size_t)c->cfg->max_event_bytes) {
        log_warn("chat answer %s: its end event goes without its text (over PULSE_MAX_EVENT_BYTES); the row has it",
                 mid);
        free(data);
        args[7] = "omitted";
        data = db_one_text(c->db, q, 8, args);
    }
    return data;
}

int chat_message_end(struct ctx *c, const char *mid, const struct chat_end *e)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CHAT_MESSAGE_END);
    char *sid = NULL, *content = NULL, *user = NULL, ms[24];
    int found, rc = -1;

    if (st == NULL || db_bind_text(st, 1, mid, -1) || db_bind_text(st, 2, e->status, -1) ||
        db_bind_text(st, 3, e->code, -1) || db_bind_text(st, 4, e->finish_reason, -1) ||
        db_bind_text(st, 5, e->usage_json, -1) || db_bind_text(st, 6, e->owner, -1) || (found = db_lookup(st)) < 0) {
        ctx_db_error(c);
        goto out;
    }
    rc = 0;
    if (found == 0)
        goto out;
    sid = xstrdup((const char *)sqlite3_column_text(st, 0));
    content = xstrdup((const char *)sqlite3_column_text(st, 1));
    user = xstrdup((const char *)sqlite3_column_text(st, 2));
    snprintf(ms, sizeof ms, "%lld", (long long)sqlite3_column_int64(st, 3));
    db_done(st);
    st = NULL;
    if (strcmp(e->status, "complete") == 0) {
        const char *args[8] = {mid, content, e->finish_reason, e->usage_json, user, ms, c->cfg->llm_model, NULL};
        rc = emit(c, sid, "chat.done", end_data(c, SQL_CHAT_EVENT_DONE, args, mid));
    } else {
        const char *args[8] = {mid, content, e->code, e->message, user, ms, e->by, NULL};
        rc = emit(c, sid, strcmp(e->status, "cancelled") == 0 ? "chat.cancelled" : "chat.error",
                  end_data(c, SQL_CHAT_EVENT_ENDED, args, mid));
    }
    rc = rc == 0 ? 1 : -1;
out:
    db_done(st);
    free(sid);
    free(content);
    free(user);
    return rc;
}

/* 0 when the caller may post now; else 429 answered and -1, Retry-After
 * saying when the next message is taken. */
static int rate_ok(struct ctx *c)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CHAT_MESSAGE_RATE);
    int rc = -1;

    if (st == NULL || db_bind_text(st, 1, c->claims.sub, -1) != 0 ||
        db_bind_int64(st, 2, c->cfg->chat_message_rate) != 0 || db_lookup(st) != 1)
        ctx_db_error(c);
    else if (sqlite3_column_int64(st, 0) >= c->cfg->chat_message_rate)
        ctx_retry_after(c, (int)sqlite3_column_int64(st, 1)); /* the window is a minute, not a second */
    else
        rc = 0;
    if (rc != 0 && c->resp->status == 0)
        ctx_error(c, 429, "rate_limited", "too many chat messages a minute (PULSE_CHAT_MESSAGE_RATE); slow down");
    db_done(st);
    return rc;
}

/* 0 when no answer of the session streams; else 409 answered and -1. */
static int none_streaming(struct ctx *c, const char *sid)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CHAT_MESSAGE_STREAMING);
    int found = -1;

    if (st == NULL || db_bind_text(st, 1, sid, -1) != 0 || (found = db_lookup(st)) < 0)
        ctx_db_error(c);
    else if (found)
        ctx_error(c, 409, "answer_streaming", "an answer of this session is still streaming: wait, or cancel it");
    db_done(st);
    return found == 0 ? 0 : -1;
}

static int insert(struct ctx *c, const char *mid, const char *sid, const char *role, const char *content,
                  const char *status)
{
    const char *args[6] = {mid, sid, c->claims.sub, role, content, status};
    int changed = 0;

    const char *ev[2] = {mid, c->claims.sub};

    if (db_run_texts(c->db, SQL_CHAT_MESSAGE_INSERT, 6, args, &changed) != 0 || changed != 1) {
        ctx_db_error(c);
        return -1;
    }
    return emit(c, sid, "chat.message", db_one_text(c->db, SQL_CHAT_EVENT_MESSAGE, 2, ev));
}

/* POST {"message"}: the user's message and the empty answer, streaming;
 * the generator takes it from there. */
static void message_post(struct ctx *c)
{
    const char *sid = ctx_arg(c, 0);
    char *text = NULL, *uid = NULL, *aid = NULL;

    if (ctx_auth(c, 0) != 0 || chat_session_allowed(c, sid) != 0 || ctx_body_object(c) != 0 ||
        ctx_body_text(c, "message", 1, MESSAGE_MAX, 1, &text) != 0 || rate_ok(c) != 0 ||
        none_streaming(c, sid) != 0 || (uid = ctx_random_id(c, "m_", ID_BYTES)) == NULL ||
        (aid = ctx_random_id(c, "m_", ID_BYTES)) == NULL)
        goto out;
    if (insert(c, uid, sid, "user", text, "complete") == 0 && insert(c, aid, sid, "assistant", "", "streaming") == 0) {
        const char *args[2] = {uid, aid};

        ctx_json_take(c, 202, db_one_text(c->db, SQL_CHAT_POST_ANSWER, 2, args));
    }
out:
    free(text);
    free(uid);
    free(aid);
}

/* GET [?before=ID&limit=L]: a page of history, oldest first; the runtime
 * adds the log position it reflects (Pulse-Event-Id). */
static void message_list(struct ctx *c)
{
    const char *sid = ctx_arg(c, 0), *before = ctx_query(c, "before"), *ls = ctx_query(c, "limit");
    long long limit = PAGE_DEFAULT;
    char lim[24];

    /* (who asks first: a stranger learns nothing of the session, not even
     * that its query would have been refused) */
    if (ctx_auth(c, 0) != 0 || chat_session_allowed(c, sid) != 0)
        return;
    if (ls != NULL && (http_parse_i64(ls, &limit) != 0 || limit < 1 || limit > PAGE_MAX)) {
        ctx_error(c, 400, "invalid_limit", "limit must be an integer from 1 to 200");
    } else if (before != NULL && !http_valid_id(before)) {
        ctx_error(c, 400, "invalid_before", "before must be a message id");
    } else {
        const char *args[3] = {sid, before, lim};

        snprintf(lim, sizeof lim, "%lld", limit);
        ctx_json_take(c, 200, db_one_text(c->db, SQL_CHAT_MESSAGE_PAGE, 3, args));
    }
}

/* POST .../cancel: the answer stops where it is, its text kept; the
 * generator, wherever it runs, sees the row and closes its upstream. */
static void message_cancel(struct ctx *c)
{
    const char *sid = ctx_arg(c, 0), *mid = ctx_arg(c, 1);
    struct chat_end e = {.status = "cancelled", .code = "cancelled", .message = "cancelled by the user"};
    sqlite3_stmt *st = NULL;
    int found;

    if (ctx_auth(c, 0) != 0 || chat_session_allowed(c, sid) != 0)
        return;
    e.by = c->claims.sub;
    st = db_stmt(c->db, SQL_CHAT_MESSAGE_GET);
    if (st == NULL || db_bind_text(st, 1, mid, -1) != 0 || (found = db_lookup(st)) < 0)
        ctx_db_error(c);
    else if (found == 0 || strcmp((const char *)sqlite3_column_text(st, 1), sid) != 0)
        ctx_error(c, 404, "message_not_found", "no such message in this session");
    db_done(st);
    if (c->resp->status != 0)
        return;
    found = chat_message_end(c, mid, &e);
    if (found == 0)
        ctx_error(c, 409, "already_finished", "this message is not streaming");
    else if (found == 1)
        ctx_json_take(c, 200, db_one_text(c->db, SQL_CHAT_MESSAGE_JSON, 1, &mid));
}

static const struct route routes[] = {
    {"POST", "/api/chat/sessions/{}/messages", message_post, ROUTE_WRITE | ROUTE_QUEUES},
    {"GET", "/api/chat/sessions/{}/messages", message_list, 0},
    {"POST", "/api/chat/sessions/{}/messages/{}/cancel", message_cancel, ROUTE_WRITE},
};

const struct route_table chat_message_routes = {routes, sizeof routes / sizeof routes[0]};
