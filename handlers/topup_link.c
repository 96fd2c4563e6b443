/* topup_link.c - the rest of a top-up's payment link: cancelling it, and,
 * without PayOS credentials, the dev checkout that pays it.
 *
 * Cancel: POST /api/topup/cancel?tx_ref=X (the owner) cancels the link at
 * PayOS first, then marks the transaction CANCELLED, with a topup.status
 * event. PayOS unreachable or refusing: 503, nothing changes (the payer
 * could still pay a link we only believed cancelled). A payment PayOS
 * reports after the cancel is credited (SQL_TOPUP_SETTLE says why).
 *
 * Dev checkout: POST /api/topup/dev/webhook?tx_ref=X (owner or stream
 * token) answers the webhook body PayOS would send for the transaction
 * paid in full, signed as PayOS signs (payos.h), which the page then
 * delivers to POST /api/payos/webhook like PayOS: the payment goes the way
 * a real one goes, signature check and all. Refused (403) whenever PayOS's
 * credentials are set: there, only PayOS says what was paid. */
#include <stdlib.h>
#include <string.h>

#include "auth/access.h"
#include "auth/topic.h"
#include "base/alloc.h"
#include "base/config.h"
#include "base/crypto.h"
#include "base/log.h"
#include "handlers/payos.h"
#include "handlers/payos_link.h"
#include "handlers/routes.h"
#include "handlers/topup.h"
#include "request/handler.h"
#include "store/db.h"

#define CANCEL_REASON "cancelled by the payer"

struct topup_row {
    char *user;                 /* owned */
    char *status;               /* owned */
    char *link_id;              /* owned; NULL without a PayOS link */
    long long order_code;
};

static void row_free(struct topup_row *r)
{
    free(r->user);
    free(r->status);
    free(r->link_id);
}

/* Reads tx_ref's row. 1 found, 0 none, -1 answered (503). */
static int row_read(struct ctx *c, const char *tx_ref, struct topup_row *r)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_TOPUP_FOR_CANCEL);
    int found = -1;

    if (st != NULL && db_bind_text(st, 1, tx_ref, -1) == 0)
        found = db_lookup(st);
    if (found == 1) {
        r->user = xstrdup((const char *)sqlite3_column_text(st, 0));
        r->status = xstrdup((const char *)sqlite3_column_text(st, 1));
        r->link_id = sqlite3_column_type(st, 2) == SQLITE_NULL ? NULL
                                                                : xstrdup((const char *)sqlite3_column_text(st, 2));
        r->order_code = sqlite3_column_int64(st, 3);
    }
    db_done(st);
    if (found < 0)
        ctx_db_error(c);
    return found;
}

static void answer_status(struct ctx *c, int http_status, const char *tx_ref)
{
    const char *args[1] = {tx_ref};

    ctx_json_take(c, http_status, db_one_text(c->db, SQL_TOPUP_STATUS, 1, args));
}

static void settled_already(struct ctx *c, const char *status)
{
    buf_t m = {0};

    buf_printf(&m, "the transaction is %s already; it can no longer be cancelled", status);
    ctx_error(c, 409, "already_settled", m.p);
    buf_free(&m);
}

/* Cancels the PayOS link of r. 0 when PayOS says it is cancelled; 1 when
 * PayOS says it is paid (its webhook settles it); -1 answered (503). */
static int cancel_at_payos(struct ctx *c, const struct topup_row *r)
{
    struct payos_link l;
    buf_t why = {0};
    int rc = -1;

    if (payos_link_cancel(c->cfg, c->db, r->link_id, CANCEL_REASON, &l, &why) != 0) {
        log_warn("topup: PayOS did not cancel link %s (order %lld): %s", r->link_id, r->order_code, buf_str(&why));
        ctx_retry_after(c, CGI_RETRY_UPSTREAM_S);
        ctx_error(c, 503, "payos_unavailable", "PayOS did not cancel the payment link; nothing changed, try again");
    } else if (strcmp(l.status, "CANCELLED") == 0) {
        rc = 0;
    } else if (strcmp(l.status, "PAID") == 0) {
        rc = 1;
    } else {
        log_warn("topup: PayOS answered the cancel of link %s with status %s", r->link_id, l.status);
        ctx_retry_after(c, CGI_RETRY_UPSTREAM_S);
        ctx_error(c, 503, "payos_unavailable", "PayOS did not cancel the payment link; nothing changed, try again");
    }
    payos_link_free(&l);
    buf_free(&why);
    return rc;
}

static void topup_cancel(struct ctx *c)
{
    const char *tx_ref = ctx_query(c, "tx_ref"), *code, *msg;
    struct topup_row r = {0};
    char topic[TOPIC_MAX];
    int st, moved;

    if (ctx_auth(c, 0) != 0)
        return;
    if (tx_ref == NULL || !http_valid_id(tx_ref) || topic_name(topic, TOPIC_TOPUP, tx_ref) != 0) {
        ctx_error(c, 400, "invalid_tx_ref", "tx_ref must match ^[A-Za-z0-9_.:-]{1,128}$");
        return;
    }
    if ((st = access_topic(c->db, topic, &c->claims, NULL, &code, &msg)) != 0) {
        ctx_error(c, st, code, msg);
        return;
    }
    if (row_read(c, tx_ref, &r) != 1) {
        if (c->resp->status == 0)
            ctx_error(c, 404, "unknown_transaction", "no such transaction");
        goto out;
    }
    if (strcmp(r.status, "CANCELLED") == 0) {
        answer_status(c, 200, tx_ref); /* asked twice: the same answer, no second event */
        goto out;
    }
    if (strcmp(r.status, "PENDING") != 0) {
        settled_already(c, r.status);
        goto out;
    }
    if (r.link_id != NULL && config_payos_live(c->cfg)) {
        int paid = cancel_at_payos(c, &r);
        if (paid < 0)
            goto out;
        if (paid == 1) {
            settled_already(c, "PAID at PayOS");
            goto out;
        }
    }
    /* PayOS was asked with no write lock held; the change takes it now. */
    if (ctx_commit_now(c) != 0) {
        ctx_db_error(c);
        goto out;
    }
    moved = topup_settle(c, r.order_code, tx_ref, "CANCELLED", NULL);
    if (moved < 0)
        goto out;
    if (moved == 0) { /* settled meanwhile: by a webhook, or another cancel */
        row_free(&r);
        memset(&r, 0, sizeof r);
        if (row_read(c, tx_ref, &r) != 1) {
            if (c->resp->status == 0)
                ctx_db_error(c);
            goto out;
        }
        if (strcmp(r.status, "CANCELLED") != 0) {
            settled_already(c, r.status);
            goto out;
        }
    }
    answer_status(c, 200, tx_ref);
out:
    row_free(&r);
}

/* The signed webhook body for tx_ref paid in full, as PayOS would send it;
 * NULL answered. */
static char *dev_webhook_body(struct ctx *c, const char *tx_ref, const char *key)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_PAYOS_DEV_WEBHOOK);
    buf_t ref = {0}, text = {0}, mac = {0};
    char *body = NULL, *signed_body = NULL;
    const char *args[2];
    int found = -1;

    buf_puts(&ref, "DEV");
    if (crypto_random_hex(6, &ref) != 0) {
        ctx_error(c, 503, "unavailable", "no randomness available");
        goto out;
    }
    if (st != NULL && db_bind_text(st, 1, tx_ref, -1) == 0 && db_bind_text(st, 2, ref.p, -1) == 0)
        found = db_lookup(st);
    if (found != 1) {
        if (found == 0)
            ctx_error(c, 404, "unknown_transaction", "no such transaction");
        else
            ctx_db_error(c);
        goto out;
    }
    if (strcmp((const char *)sqlite3_column_text(st, 1), "PENDING") != 0) {
        settled_already(c, (const char *)sqlite3_column_text(st, 1));
        goto out;
    }
    body = xstrdup((const char *)sqlite3_column_text(st, 0));
    db_done(st);
    st = NULL;
    if (payos_signed_text(c->db, body, strlen(body), &text) != 0 ||
        crypto_hmac_sha256_hex(key, strlen(key), buf_str(&text), text.len, &mac) != 0) {
        ctx_error(c, 500, "internal", "the webhook could not be signed");
        goto out;
    }
    args[0] = body;
    args[1] = mac.p;
    if ((signed_body = db_one_text(c->db, SQL_JSON_WITH_SIGNATURE, 2, args)) == NULL)
        ctx_db_error(c);
out:
    db_done(st);
    buf_free(&ref);
    buf_free(&text);
    buf_free(&mac);
    free(body);
    return signed_body;
}

static void topup_dev_webhook(struct ctx *c)
{
    const char *tx_ref = ctx_query(c, "tx_ref"), *key = payos_checksum_key(c->cfg);
    char *body;

    if (config_payos_live(c->cfg)) {
        ctx_error(c, 403, "dev_checkout_off",
                  "PayOS's credentials are set: payments are PayOS's to confirm, there is no dev checkout");
        return;
    }
    if (key == NULL) {
        ctx_retry_after(c, CGI_RETRY_NOT_CONFIGURED_S);
        ctx_error(c, 503, "not_configured", "neither PAYOS_CHECKSUM_KEY nor PULSE_JWT_SECRET is set");
        return;
    }
    if (tx_ref == NULL) {
        ctx_error(c, 400, "invalid_tx_ref", "tx_ref is required");
        return;
    }
    if (topup_readable(c, tx_ref) != 0)
        return;
    if ((body = dev_webhook_body(c, tx_ref, key)) != NULL) {
        log_info("topup %s: dev checkout signed its payment (no PayOS credentials: development only)", tx_ref);
        ctx_json_take(c, 200, body);
    }
}

static const struct route routes[] = {
    /* neither is ROUTE_WRITE: PayOS is asked with no write lock held (ctx_commit_now takes it after) */
    {"POST", "/api/topup/cancel", topup_cancel, 0},
    {"POST", "/api/topup/dev/webhook", topup_dev_webhook, 0},
};

const struct route_table topup_link_routes = {routes, sizeof routes / sizeof routes[0]};
