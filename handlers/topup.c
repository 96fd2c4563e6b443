/* topup.c - wallet top-ups paid through PayOS (seed 000): init, status,
 * the webhook that settles a transaction exactly once, and the wallet. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/access.h"
#include "auth/topic.h"
#include "base/alloc.h"
#include "base/config.h"
#include "base/crypto.h"
#include "base/log.h"
#include "handlers/payos.h"
#include "handlers/topup.h"
#include "handlers/routes.h"
#include "request/handler.h"
#include "store/db.h"

#define TOPUP_MAX_AMOUNT 1000000000LL
#define TOPUP_MAX_DESCRIPTION 25   /* characters; PayOS's own limit */

static int col_is(sqlite3_stmt *st, int i, const char *type)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t != NULL && strcmp((const char *)t, type) == 0;
}

/* Tells the log who may read the transaction's topic (its owner, and
 * whoever holds its stream token), for edges. */
static int announce(struct ctx *c, const char *tx_ref, const char *token)
{
    char topic[TOPIC_MAX];

    if (topic_name(topic, TOPIC_TOPUP, tx_ref) != 0) {
        ctx_error(c, 500, "internal", "a tx_ref that names no topic");
        return -1;
    }
    return ctx_emit_owner(c, topic, c->claims.sub, token) < 0 ? -1 : 0;
}

/* Inserts the transaction; fills *order_code. 0, or -1 with an answer. */
static int topup_create(struct ctx *c, long long amount, const char *description, long long *order_code)
{
    buf_t tx = {0}, token = {0};
    sqlite3_stmt *st = NULL;
    int rc = -1;

    buf_puts(&tx, "TX");
    if (crypto_random_hex(10, &tx) != 0 || crypto_random_hex(16, &token) != 0) {
        ctx_error(c, 503, "unavailable", "no randomness available");
        goto out;
    }
    st = db_stmt(c->db, SQL_TOPUP_INSERT);
    if (st == NULL || db_bind_text(st, 1, tx.p, -1) || db_bind_text(st, 2, c->claims.sub, -1) ||
        db_bind_int64(st, 3, amount) || db_bind_text(st, 4, description, -1) ||
        db_bind_text(st, 5, token.p, -1) || sqlite3_step(st) != SQLITE_ROW) {
        ctx_db_error(c);
        goto out;
    }
    *order_code = sqlite3_column_int64(st, 0);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    if (rc != 0)
        ctx_db_error(c);
    else
        rc = announce(c, tx.p, token.p);
out:
    db_done(st);
    buf_free(&tx);
    buf_free(&token);
    return rc;
}

static void topup_init(struct ctx *c)
{
    sqlite3_stmt *st;
    long long amount, order_code;
    char *description = NULL, code_s[24];
    const char *args[1] = {code_s};

    if (ctx_auth(c, 0) != 0 || ctx_body_object(c) != 0)
        return;
    st = db_stmt(c->db, SQL_TOPUP_INIT_BODY);
    if (st == NULL || db_bind_text(st, 1, c->req->body, (int)c->req->body_len) != 0 ||
        sqlite3_step(st) != SQLITE_ROW) {
        ctx_db_error(c);
        goto out;
    }
    amount = sqlite3_column_int64(st, 1);
    if (!col_is(st, 0, "integer") || amount < 1 || amount > TOPUP_MAX_AMOUNT) {
        ctx_error(c, 400, "invalid_amount", "amount must be an integer from 1 to 1000000000 (VND)");
        goto out;
    }
    if (sqlite3_column_type(st, 2) != SQLITE_NULL && !col_is(st, 2, "text")) {
        ctx_error(c, 400, "invalid_description", "description must be a string");
        goto out;
    }
    description = xstrdup(sqlite3_column_text(st, 3) ? (const char *)sqlite3_column_text(st, 3) : "");
    if (ctx_utf8_len(description) > TOPUP_MAX_DESCRIPTION) {
        ctx_error(c, 400, "invalid_description", "description is limited to 25 characters");
        goto out;
    }
    db_done(st);
    st = NULL;
    if (topup_create(c, amount, description, &order_code) != 0)
        goto out;
    snprintf(code_s, sizeof code_s, "%lld", order_code);
    ctx_json_take(c, 201, db_one_text(c->db, SQL_TOPUP_INIT_REPLY, 1, args));
out:
    db_done(st);
    free(description);
}

/* Answers 400/401/403/404 unless the caller may read tx_ref: its owner or
 * the holder of its stream token, exactly like the topup:{tx_ref} topic. */
static int topup_readable(struct ctx *c, const char *tx_ref)
{
    const char *code, *msg, *token = ctx_query(c, "token");
    const struct auth_claims *claims = NULL;
    char topic[TOPIC_MAX];
    int st;

    if (!http_valid_id(tx_ref) || topic_name(topic, TOPIC_TOPUP, tx_ref) != 0) {
        ctx_error(c, 400, "invalid_tx_ref", "tx_ref must match ^[A-Za-z0-9_.:-]{1,128}$");
        return -1;
    }
    if (ctx_req_header(c, "HTTP_AUTHORIZATION") != NULL || token == NULL) {
        if (ctx_auth(c, 1) != 0)
            return -1;
        claims = &c->claims;
    }
    if ((st = access_topic(c->db, topic, claims, token, &code, &msg)) != 0) {
        ctx_error(c, st, code, msg);
        return -1;
    }
    return 0;
}

static void topup_status(struct ctx *c)
{
    const char *tx_ref = ctx_query(c, "tx_ref");
    const char *args[1] = {tx_ref};

    if (tx_ref == NULL) {
        ctx_error(c, 400, "invalid_tx_ref", "tx_ref is required");
        return;
    }
    if (topup_readable(c, tx_ref) != 0)
        return;
    ctx_json_take(c, 200, db_one_text(c->db, SQL_TOPUP_STATUS, 1, args));
}

/* Moves a PENDING transaction to status and emits topup.status. Returns 1
 * when it moved, 0 when it was no longer PENDING, -1 on error (answered). */
static int topup_settle(struct ctx *c, long long order_code, const char *tx_ref, const char *status,
                        const char *reference)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_TOPUP_SETTLE);
    const char *args[1] = {tx_ref};
    char *data, topic[TOPIC_MAX];
    int changed, rc = -1;

    if (st == NULL || db_bind_int64(st, 1, order_code) || db_bind_text(st, 2, status, -1) ||
        db_bind_text(st, 3, reference, -1) || sqlite3_step(st) != SQLITE_DONE) {
        db_done(st);
        ctx_db_error(c);
        return -1;
    }
    changed = sqlite3_changes(db_handle(c->db));
    db_done(st);
    if (changed == 0)
        return 0;
    data = db_one_text(c->db, SQL_TOPUP_STATUS, 1, args);
    if (data == NULL || topic_name(topic, TOPIC_TOPUP, tx_ref) != 0)
        ctx_db_error(c);
    else if (ctx_emit(c, topic, "topup.status", data) >= 0)
        rc = 1;
    free(data);
    return rc;
}

/* Credits the owner's wallet once per transaction: the credit row's primary
 * key is the tx_ref, so a second credit cannot happen. 0 or -1 (answered). */
static int wallet_credit(struct ctx *c, const char *tx_ref, const char *user, long long amount)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_WALLET_CREDIT_ONCE);
    int inserted;

    if (st == NULL || db_bind_text(st, 1, tx_ref, -1) || db_bind_text(st, 2, user, -1) ||
        db_bind_int64(st, 3, amount) || sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    inserted = sqlite3_changes(db_handle(c->db));
    db_done(st);
    if (inserted == 0)
        return 0;
    st = db_stmt(c->db, SQL_WALLET_ADD);
    if (st == NULL || db_bind_text(st, 1, user, -1) || db_bind_int64(st, 2, amount) ||
        sqlite3_step(st) != SQLITE_DONE)
        goto fail;
    db_done(st);
    return 0;
fail:
    db_done(st);
    ctx_db_error(c);
    return -1;
}

struct payos_hook {
    long long order_code;
    long long amount;                     /* -1 unless a whole number */
    char *amount_text;                    /* owned; as sent, for the log */
    char *signature, *code, *reference;   /* owned */
};

static void hook_free(struct payos_hook *h)
{
    free(h->amount_text);
    free(h->signature);
    free(h->code);
    free(h->reference);
}

static char *col_dup_or_null(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : xstrdup((const char *)sqlite3_column_text(st, i));
}

/* Reads the fields the webhook needs. 0, or -1 with a 400/401 answered. */
static int hook_parse(struct ctx *c, struct payos_hook *h)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_PAYOS_WEBHOOK_BODY);
    int rc = -1;

    if (st == NULL || db_bind_text(st, 1, c->req->body, (int)c->req->body_len) != 0 ||
        sqlite3_step(st) != SQLITE_ROW) {
        ctx_db_error(c);
        goto out;
    }
    if (!col_is(st, 0, "object")) {
        ctx_error(c, 400, "invalid_webhook", "data must be an object");
        goto out;
    }
    if (!col_is(st, 1, "text")) {
        ctx_error(c, 401, "invalid_signature", "signature is missing");
        goto out;
    }
    h->signature = col_dup_or_null(st, 2);
    h->order_code = col_is(st, 3, "integer") ? sqlite3_column_int64(st, 4) : -1;
    h->amount = -1;
    if (col_is(st, 5, "integer")) {
        h->amount = sqlite3_column_int64(st, 6);
    } else if (col_is(st, 5, "real")) {
        /* A JSON number, however written: 50000.0 and 5e4 are 50000, as
         * PayOS's own JavaScript reads them (and signs them: "50000").
         * Only a whole number within a double's exact range can match. */
        double d = sqlite3_column_double(st, 6);
        if (d == floor(d) && fabs(d) <= 9007199254740992.0)
            h->amount = (long long)d;
    }
    if (col_is(st, 5, "text")) { /* quoted in the log: "50000" is not 50000 */
        buf_t q = {0};
        buf_printf(&q, "\"%s\"", (const char *)sqlite3_column_text(st, 6));
        h->amount_text = buf_steal(&q);
    } else {
        h->amount_text = col_dup_or_null(st, 6);
    }
    h->code = col_dup_or_null(st, 7);
    h->reference = col_dup_or_null(st, 8);
    rc = 0;
out:
    db_done(st);
    return rc;
}

int topup_payos_settle(struct ctx *c, long long order_code, int paid, long long amount, const char *amount_text,
                       const char *reference, const char **outcome)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_TOPUP_BY_ORDER);
    char *tx_ref = NULL, *user = NULL, *status = NULL;
    long long want;
    int moved, found, rc = -1;

    if (st == NULL || db_bind_int64(st, 1, order_code) != 0 || (found = db_lookup(st)) < 0) {
        /* not "unknown order": a 2xx would stop PayOS retrying a payment */
        ctx_db_error(c);
        goto out;
    }
    if (found == 0) {
        *outcome = NULL;
        rc = 0;
        goto out;
    }
    tx_ref = xstrdup((const char *)sqlite3_column_text(st, 0));
    user = xstrdup((const char *)sqlite3_column_text(st, 1));
    want = sqlite3_column_int64(st, 2);
    status = xstrdup((const char *)sqlite3_column_text(st, 3));
    db_done(st);
    st = NULL;
    *outcome = paid && amount == want ? "PAID" : "FAILED";
    moved = topup_settle(c, order_code, tx_ref, *outcome, reference);
    if (moved < 0 || (moved == 1 && strcmp(*outcome, "PAID") == 0 && wallet_credit(c, tx_ref, user, want) != 0))
        goto out;
    /* (logged once the database said whether anything changed) */
    if (paid && amount != want && moved == 1)
        log_warn("topup %s: paid amount %s differs from %lld; marked FAILED", tx_ref,
                 amount_text ? amount_text : "(none)", want);
    else if (paid && amount != want)
        log_warn("topup %s: a delivery paying %s (not %lld) changed nothing: the transaction was already %s",
                 tx_ref, amount_text ? amount_text : "(none)", want, status);
    /* A repeated delivery reports the status the first one set. */
    if (!moved)
        *outcome = strcmp(status, "PAID") == 0 ? "PAID" : strcmp(status, "FAILED") == 0 ? "FAILED" : "CANCELLED";
    rc = 0;
out:
    db_done(st);
    free(tx_ref);
    free(user);
    free(status);
    return rc;
}

int topup_payos_cancelled(struct ctx *c, long long order_code)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_TOPUP_BY_ORDER);
    char *tx_ref = NULL;
    int found, rc = -1;

    if (st == NULL || db_bind_int64(st, 1, order_code) != 0 || (found = db_lookup(st)) < 0) {
        ctx_db_error(c);
        goto out;
    }
    if (found)
        tx_ref = xstrdup((const char *)sqlite3_column_text(st, 0));
    db_done(st);
    st = NULL;
    rc = tx_ref == NULL || topup_settle(c, order_code, tx_ref, "CANCELLED", NULL) >= 0 ? 0 : -1;
out:
    db_done(st);
    free(tx_ref);
    return rc;
}

static void payos_webhook(struct ctx *c)
{
    struct payos_hook h = {0};
    const char *outcome = NULL;

    if (ctx_body_object(c) != 0 || hook_parse(c, &h) != 0)
        goto out;
    if (c->cfg->payos_checksum_key == NULL) {
        log_error("PayOS webhook refused: PAYOS_CHECKSUM_KEY is not set");
        ctx_retry_after(c, CGI_RETRY_NOT_CONFIGURED_S);
        ctx_error(c, 503, "not_configured", "PAYOS_CHECKSUM_KEY is not configured");
        goto out;
    }
    if (!payos_signature_ok(c->db, c->cfg->payos_checksum_key, c->req->body, c->req->body_len, h.signature)) {
        ctx_error(c, 401, "invalid_signature", "the webhook signature does not match");
        goto out;
    }
    if (h.order_code <= 0) {
        ctx_error(c, 400, "invalid_webhook", "data.orderCode must be a positive integer");
        goto out;
    }
    if (topup_payos_settle(c, h.order_code, h.code && strcmp(h.code, "00") == 0, h.amount, h.amount_text,
                           h.reference, &outcome) != 0)
        goto out;
    if (outcome == NULL) {
        /* PayOS's own test delivery (orderCode 123) lands here too. */
        ctx_json_take(c, 200, db_one_text(c->db, SQL_PAYOS_IGNORED_REPLY, 0, NULL));
    } else {
        const char *args[1] = {outcome};

        ctx_json_take(c, 200, db_one_text(c->db, SQL_PAYOS_OK_REPLY, 1, args));
    }
out:
    hook_free(&h);
}

static void wallet_get(struct ctx *c)
{
    const char *args[1];

    if (ctx_auth(c, 0) != 0)
        return;
    args[0] = c->claims.sub;
    ctx_json_take(c, 200, db_one_text(c->db, SQL_WALLET_GET, 1, args));
}

static const struct route routes[] = {
    {"POST", "/api/topup/init", topup_init, ROUTE_WRITE},
    {"GET", "/api/topup/status", topup_status, 0},
    {"POST", "/api/payos/webhook", payos_webhook, ROUTE_WRITE},
    {"GET", "/api/wallet", wallet_get, 0},
};

const struct route_table topup_routes = {routes, sizeof routes / sizeof routes[0]};
