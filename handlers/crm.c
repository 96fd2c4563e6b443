/* crm.c - the CRM inbox for agents (seed 003): customers, conversations
 * and the agents' answers. Every change is an event on topic `crm`, which
 * agents' and admins' browsers stream. (Messages arriving from Facebook,
 * Zalo and TikTok come in through crm_webhooks.c.)
 *
 * Conversation status:  OPEN ◀──▶ PENDING ◀──▶ CLOSED  (any to any; a
 * customer's new message reopens a CLOSED one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "handlers/crm.h"
#include "handlers/routes.h"
#include "store/db.h"

#define AGENTS (ROLE_BIT(ROLE_AGENT) | ROLE_BIT(ROLE_ADMIN))

int crm_emit_row(struct ctx *c, const char *type, enum sql_id q, const char *id)
{
    const char *args[1] = {id};
    char *data = db_one_text(c->db, q, 1, args);
    int rc;

    if (data == NULL) {
        ctx_db_error(c);
        return -1;
    }
    rc = ctx_emit(c, CRM_TOPIC, type, data) < 0 ? -1 : 0;
    free(data);
    return rc;
}

/* Answers 200/201 with the object q builds for id (its first column), 404
 * with code/what when there is none, 503 when the database fails. */
static void reply_row(struct ctx *c, int status, enum sql_id q, const char *id, const char *code,
                      const char *what)
{
    sqlite3_stmt *st = db_stmt(c->db, q);
    int step;

    if (st == NULL || db_bind_text(st, 1, id, -1) != 0)
        step = SQLITE_ERROR;
    else
        step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        ctx_json(c, status, (const char *)sqlite3_column_text(st, 0));
    else if (step == SQLITE_DONE)
        ctx_error(c, 404, code, what);
    else
        ctx_db_error(c);
    db_done(st);
}

/* ?limit= (1..max, default 100) and ?offset= (>= 0) as decimal text. */
static int page(struct ctx *c, long long max, char lim[24], char off[24])
{
    const char *ls = ctx_query(c, "limit"), *os = ctx_query(c, "offset");
    long long limit = 100, offset = 0;

    if ((ls != NULL && (http_parse_i64(ls, &limit) != 0 || limit < 1 || limit > max)) ||
        (os != NULL && (http_parse_i64(os, &offset) != 0 || offset < 0))) {
        ctx_error(c, 400, "invalid_page", "limit must be 1..500 and offset a non-negative integer");
        return -1;
    }
    snprintf(lim, 24, "%lld", limit);
    snprintf(off, 24, "%lld", offset);
    return 0;
}

/* 1 when s is empty or looks like a phone number: digits, spaces and
 * + - ( ) . only, with at least one digit. */
static int valid_phone(const char *s)
{
    int digits = 0;

    for (; *s; s++) {
        if (*s >= '0' && *s <= '9')
            digits++;
        else if (strchr("+-(). ", *s) == NULL)
            return 0;
    }
    return digits > 0;
}

struct customer_fields {
    char *name, *phone, *email, *notes;
};

static void customer_fields_free(struct customer_fields *f)
{
    free(f->name);
    free(f->phone);
    free(f->email);
    free(f->notes);
}

/* Reads and checks the customer members present in the body; name is
 * required when creating. 0 or -1 (answered 400). */
static int customer_fields_read(struct ctx *c, int creating, struct customer_fields *f)
{
    if (ctx_body_object(c) != 0 || ctx_body_text(c, "name", 1, 200, creating, &f->name) != 0 ||
        ctx_body_text(c, "phone", 0, 32, 0, &f->phone) != 0 ||
        ctx_body_text(c, "email", 0, 254, 0, &f->email) != 0 ||
        ctx_body_text(c, "notes", 0, 2000, 0, &f->notes) != 0)
        return -1;
    if (f->phone != NULL && *f->phone && !valid_phone(f->phone)) {
        ctx_error(c, 400, "invalid_phone", "phone may hold digits, spaces and + - ( ) . only");
        return -1;
    }
    if (f->email != NULL && *f->email && strchr(f->email, '@') == NULL) {
        ctx_error(c, 400, "invalid_email", "email must contain @");
        return -1;
    }
    if (!creating && !f->name && !f->phone && !f->email && !f->notes) {
        ctx_error(c, 400, "no_fields", "send at least one of name, phone, email, notes");
        return -1;
    }
    return 0;
}

static void customer_create(struct ctx *c)
{
    struct customer_fields f = {0};
    const char *args[4];
    char *id = NULL;

    if (ctx_auth_role(c, AGENTS) != 0 || customer_fields_read(c, 1, &f) != 0)
        goto out;
    args[0] = f.name;
    args[1] = f.phone;
    args[2] = f.email;
    args[3] = f.notes;
    if ((id = db_one_text(c->db, SQL_CRM_CUSTOMER_INSERT, 4, args)) == NULL) {
        ctx_db_error(c);
        goto out;
    }
    if (crm_emit_row(c, "customer_created", SQL_CRM_CUSTOMER_GET, id) == 0)
        reply_row(c, 201, SQL_CRM_CUSTOMER_GET, id, "customer_not_found", "no such customer");
out:
    customer_fields_free(&f);
    free(id);
}

static void customer_list(struct ctx *c)
{
    char lim[24], off[24];
    const char *args[2] = {lim, off};

    if (ctx_auth_role(c, AGENTS) == 0 && page(c, 500, lim, off) == 0)
        ctx_json_take(c, 200, db_one_text(c->db, SQL_CRM_CUSTOMER_LIST, 2, args));
}

static void customer_get(struct ctx *c)
{
    if (ctx_auth_role(c, AGENTS) == 0)
        reply_row(c, 200, SQL_CRM_CUSTOMER_GET, ctx_arg(c, 0), "customer_not_found", "no such customer");
}

/* Runs q (?1 = the captured id, then the fields when given) and answers
 * 404 when it touched no row. 0 when a row changed. */
static int change_one(struct ctx *c, enum sql_id q, const struct customer_fields *f)
{
    const char *args[5] = {ctx_arg(c, 0), f ? f->name : NULL, f ? f->phone : NULL, f ? f->email : NULL,
                           f ? f->notes : NULL};
    int changed;

    if (db_run_texts(c->db, q, f ? 5 : 1, args, &changed) != 0) {
        ctx_db_error(c);
        return -1;
    }
    if (changed == 0) {
        ctx_error(c, 404, "customer_not_found", "no such customer");
        return -1;
    }
    return 0;
}

static void customer_update(struct ctx *c)
{
    struct customer_fields f = {0};

    if (ctx_auth_role(c, AGENTS) == 0 && customer_fields_read(c, 0, &f) == 0 &&
        change_one(c, SQL_CRM_CUSTOMER_UPDATE, &f) == 0 &&
        crm_emit_row(c, "customer_updated", SQL_CRM_CUSTOMER_GET, ctx_arg(c, 0)) == 0)
        reply_row(c, 200, SQL_CRM_CUSTOMER_GET, ctx_arg(c, 0), "customer_not_found", "no such customer");
    customer_fields_free(&f);
}

static void customer_delete(struct ctx *c)
{
    const char *args[1] = {ctx_arg(c, 0)};
    char *data;

    if (ctx_auth_role(c, AGENTS) != 0 || change_one(c, SQL_CRM_CUSTOMER_DELETE, NULL) != 0)
        return;
    data = db_one_text(c->db, SQL_CRM_CUSTOMER_DELETED, 1, args);
    if (data == NULL)
        ctx_db_error(c);
    else if (ctx_emit(c, CRM_TOPIC, "customer_deleted", data) >= 0)
        ctx_json(c, 200, data);
    free(data);
}

static int valid_status(const char *s)
{
    return strcmp(s, "OPEN") == 0 || strcmp(s, "PENDING") == 0 || strcmp(s, "CLOSED") == 0;
}

static void conversation_list(struct ctx *c)
{
    const char *status = ctx_query(c, "status");
    char lim[24], off[24];
    const char *args[3] = {status, lim, off};

    if (ctx_auth_role(c, AGENTS) != 0)
        return;
    if (status != NULL && !valid_status(status)) {
        ctx_error(c, 400, "invalid_status", "status must be OPEN, PENDING or CLOSED");
        return;
    }
    if (page(c, 500, lim, off) == 0)
        ctx_json_take(c, 200, db_one_text(c->db, SQL_CRM_CONVERSATION_LIST, 3, args));
}

/* 0 when conversation id exists; otherwise answers 404. */
static int conversation_exists(struct ctx *c, const char *id)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CRM_CONVERSATION_GET);
    int rc;

    if (st == NULL || db_bind_text(st, 1, id, -1) != 0) {
        db_done(st);
        ctx_db_error(c);
        return -1;
    }
    rc = sqlite3_step(st);
    db_done(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        ctx_error(c, 404, "conversation_not_found", "no such conversation");
    else
        ctx_db_error(c);
    return -1;
}

/* PATCH {"status"}: an event only when the status really changes. */
static void conversation_update(struct ctx *c)
{
    const char *id = ctx_arg(c, 0), *args[2] = {id, NULL};
    char *status = NULL;
    int changed;

    if (ctx_auth_role(c, AGENTS) != 0 || ctx_body_object(c) != 0 ||
        ctx_body_text(c, "status", 1, 16, 1, &status) != 0 || conversation_exists(c, id) != 0)
        goto out;
    if (!valid_status(status)) {
        ctx_error(c, 400, "invalid_status", "status must be OPEN, PENDING or CLOSED");
        goto out;
    }
    args[1] = status;
    if (db_run_texts(c->db, SQL_CRM_CONVERSATION_SET_STATUS, 2, args, &changed) != 0) {
        ctx_db_error(c);
        goto out;
    }
    if (changed == 0 || crm_emit_row(c, "conversation_updated", SQL_CRM_CONVERSATION_GET, id) == 0)
        reply_row(c, 200, SQL_CRM_CONVERSATION_GET, id, "conversation_not_found", "no such conversation");
out:
    free(status);
}

static void message_list(struct ctx *c)
{
    const char *ls = ctx_query(c, "limit");
    long long limit = 100;
    char lim[24];
    const char *args[2] = {ctx_arg(c, 0), lim};

    if (ctx_auth_role(c, AGENTS) != 0)
        return;
    if (ls != NULL && (http_parse_i64(ls, &limit) != 0 || limit < 1 || limit > 1000)) {
        ctx_error(c, 400, "invalid_limit", "limit must be 1..1000");
        return;
    }
    snprintf(lim, sizeof lim, "%lld", limit);
    if (conversation_exists(c, args[0]) == 0)
        ctx_json_take(c, 200, db_one_text(c->db, SQL_CRM_MESSAGE_LIST, 2, args));
}

/* An agent's answer: stored with status sending and an outbox row that
 * pulse-batch's sender takes (crm_send.c), whichever process took the
 * request; announced as message_sent and message_status (sending). */
static void message_send(struct ctx *c)
{
    const char *conv = ctx_arg(c, 0);
    char *content = NULL, *id = NULL, *touched = NULL;
    sqlite3_stmt *st = NULL;
    const char *args[1] = {conv};

    if (ctx_auth_role(c, AGENTS) != 0 || ctx_body_object(c) != 0 ||
        ctx_body_text(c, "content", 1, 2000, 1, &content) != 0 || conversation_exists(c, conv) != 0)
        goto out;
    st = db_stmt(c->db, SQL_CRM_MESSAGE_INSERT_AGENT);
    if (st == NULL || db_bind_text(st, 1, conv, -1) != 0 || db_bind_text(st, 2, c->claims.sub, -1) != 0 ||
        db_bind_text(st, 3, content, -1) != 0 || sqlite3_step(st) != SQLITE_ROW) {
        ctx_db_error(c);
        goto out;
    }
    id = xstrdup((const char *)sqlite3_column_text(st, 0));
    db_done(st);
    st = NULL;
    touched = db_one_text(c->db, SQL_CRM_CONVERSATION_TOUCH, 1, args);
    if (touched == NULL) {
        ctx_db_error(c);
        goto out;
    }
    args[0] = id;
    if (db_run_texts(c->db, SQL_CRM_OUTBOX_ADD, 1, args, NULL) != 0) {
        ctx_db_error(c);
        goto out;
    }
    if (crm_emit_row(c, "message_sent", SQL_CRM_MESSAGE_GET, id) == 0 &&
        crm_emit_row(c, "message_status", SQL_CRM_MESSAGE_STATUS, id) == 0)
        reply_row(c, 201, SQL_CRM_MESSAGE_GET, id, "message_not_found", "no such message");
out:
    db_done(st);
    free(content);
    free(id);
    free(touched);
}

static const struct route routes[] = {
    {"GET", "/api/crm/customers", customer_list, 0},
    {"POST", "/api/crm/customers", customer_create, ROUTE_WRITE},
    {"GET", "/api/crm/customers/{}", customer_get, 0},
    {"PATCH", "/api/crm/customers/{}", customer_update, ROUTE_WRITE},
    {"DELETE", "/api/crm/customers/{}", customer_delete, ROUTE_WRITE},
    {"GET", "/api/crm/conversations", conversation_list, 0},
    {"PATCH", "/api/crm/conversations/{}", conversation_update, ROUTE_WRITE},
    {"GET", "/api/crm/conversations/{}/messages", message_list, 0},
    {"POST", "/api/crm/conversations/{}/messages", message_send, ROUTE_WRITE | ROUTE_QUEUES},
};

const struct route_table crm_routes = {routes, sizeof routes / sizeof routes[0]};
