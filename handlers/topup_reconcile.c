/* topup_reconcile.c - top-ups whose webhook never came (seed 000): one
 * still PENDING after PAYOS_RECONCILE_S is asked about at PayOS by
 * pulse-batch's sender (struct send_hooks, handler.h):
 *   GET {PAYOS_API_URL}/v2/payment-requests/{orderCode}
 *   x-client-id: PAYOS_CLIENT_ID, x-api-key: PAYOS_API_KEY
 * and PayOS's answer ({"code":"00","data":{...,"status"},"signature"}, the
 * signature over data as the webhook's, checked with PAYOS_CHECKSUM_KEY)
 * settles it:
 *   PAID                 -> topup_payos_settle, the webhook's own path:
 *                           credited exactly once whichever comes first
 *   CANCELLED, EXPIRED   -> CANCELLED, with its event
 *   PENDING, PROCESSING  -> asked again PAYOS_RECONCILE_S later
 *   anything else (no answer, 5xx, 4xx, a code other than "00", a bad
 *   signature)           -> asked again after a doubling wait
 * Without PAYOS_CLIENT_ID and PAYOS_API_KEY nothing is asked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/log.h"
#include "base/utf8.h"
#include "handlers/payos.h"
#include "handlers/topup.h"
#include "store/db.h"

#define RETRY_MAX_MS 3600000   /* the longest wait after errors */
#define SHOWN_MAX 200

/* ---- PayOS's answer */

static char *col_dup(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NULL : xstrdup((const char *)sqlite3_column_text(st, i));
}

static int col_is(sqlite3_stmt *st, int i, const char *type)
{
    const char *t = (const char *)sqlite3_column_text(st, i);

    return t != NULL && strcmp(t, type) == 0;
}

static void lookup_error(struct payos_lookup *l, const char *what, const char *said)
{
    buf_t e = {0};

    buf_puts(&e, what);
    if (said != NULL) {
        buf_puts(&e, ": ");
        utf8_shown(&e, said, strlen(said), SHOWN_MAX);
    }
    free(l->error);
    l->error = buf_steal(&e);
}

int payos_lookup_parse(struct db *db, const char *checksum_key, const char *body, size_t len,
                       struct payos_lookup *l)
{
    sqlite3_stmt *st = NULL;
    char *code = NULL, *sig = NULL;

    memset(l, 0, sizeof *l);
    l->order_code = l->amount_paid = -1;
    if (len > 1 << 20 || db_json_object(db, body, len) != 1) {
        lookup_error(l, "the answer is not a JSON object", NULL);
        goto out;
    }
    st = db_stmt(db, SQL_PAYOS_LOOKUP_BODY);
    if (st == NULL || db_bind_text(st, 1, body, (int)len) != 0 || sqlite3_step(st) != SQLITE_ROW) {
        lookup_error(l, "the answer could not be read", NULL);
        goto out;
    }
    code = col_dup(st, 0);
    sig = col_is(st, 2, "text") ? col_dup(st, 3) : NULL;
    l->order_code = col_is(st, 4, "integer") ? sqlite3_column_int64(st, 5) : -1;
    l->status = col_dup(st, 6);
    if (col_is(st, 7, "integer"))
        l->amount_paid = sqlite3_column_int64(st, 8);
    else if (sqlite3_column_type(st, 7) == SQLITE_NULL && col_is(st, 9, "integer"))
        l->amount_paid = sqlite3_column_int64(st, 10);
    l->reference = col_dup(st, 11);
    if (code == NULL || strcmp(code, "00") != 0 || !col_is(st, 1, "object"))
        lookup_error(l, "PayOS answered code", code != NULL ? code : "(none)");
    else if (l->status == NULL || l->order_code < 0)
        lookup_error(l, "PayOS's data has no status or orderCode", NULL);
    else if (checksum_key != NULL && !payos_signature_ok(db, checksum_key, body, len, sig))
        lookup_error(l, "PayOS's answer is not signed with PAYOS_CHECKSUM_KEY", NULL);
out:
    db_done(st);
    free(code);
    free(sig);
    return 0;
}

void payos_lookup_free(struct payos_lookup *l)
{
    free(l->status);
    free(l->reference);
    free(l->error);
    memset(l, 0, sizeof *l);
}

/* ---- the hooks */

/* Credentials that can go in a header line. */
static int configured(const struct config *cfg)
{
    return cfg->payos_client_id != NULL && cfg->payos_client_id[0] != '\0' && cfg->payos_api_key != NULL &&
           cfg->payos_api_key[0] != '\0' && strpbrk(cfg->payos_client_id, "\r\n") == NULL &&
           strpbrk(cfg->payos_api_key, "\r\n") == NULL;
}

static int reconcile_pending(struct ctx *c)
{
    sqlite3_stmt *st;
    int rc = -1;

    if (!configured(c->cfg))
        return 0;
    st = db_stmt(c->db, SQL_TOPUP_RECONCILE_PENDING);
    if (st != NULL && db_bind_int64(st, 1, c->cfg->payos_reconcile_s) == 0 && db_lookup(st) == 1)
        rc = sqlite3_column_int(st, 0) != 0;
    else
        ctx_db_error(c);
    db_done(st);
    return rc;
}

static void job_make(const struct config *cfg, long long order_code, struct send_job *j)
{
    buf_t url = {0}, h = {0};
    size_t n = strlen(cfg->payos_api_url);

    while (n > 0 && cfg->payos_api_url[n - 1] == '/')
        n--;
    buf_append(&url, cfg->payos_api_url, n);
    buf_printf(&url, "/v2/payment-requests/%lld", order_code);
    buf_printf(&h, "%lld", order_code);
    j->id = buf_steal(&h);
    j->method = xstrdup("GET");
    j->url = buf_steal(&url);
    j->headers = xcalloc(3, sizeof *j->headers);
    buf_printf(&h, "x-client-id: %s", cfg->payos_client_id);
    j->headers[0] = buf_steal(&h);
    buf_printf(&h, "x-api-key: %s", cfg->payos_api_key);
    j->headers[1] = buf_steal(&h);
}

static int reconcile_claim(struct ctx *c, const char *owner, long lease_ms, size_t max, struct send_job **jobs,
                           size_t *n)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_TOPUP_RECONCILE_ROWS);
    int step = SQLITE_ERROR;

    *jobs = NULL;
    *n = 0;
    if (st == NULL || db_bind_int64(st, 1, c->cfg->payos_reconcile_s) != 0 || sqlite3_step(st) != SQLITE_DONE)
        goto out;
    db_done(st);
    st = db_stmt(c->db, SQL_TOPUP_RECONCILE_CLAIM);
    if (st == NULL || db_bind_text(st, 1, owner, -1) || db_bind_int64(st, 2, lease_ms) ||
        db_bind_int64(st, 3, (int64_t)max))
        goto out;
    /* the RETURNING rows come from memory: nothing else runs meanwhile anyway */
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        *jobs = xrealloc(*jobs, (*n + 1) * sizeof **jobs);
        memset(&(*jobs)[*n], 0, sizeof **jobs);
        job_make(c->cfg, sqlite3_column_int64(st, 0), &(*jobs)[(*n)++]);
    }
out:
    db_done(st);
    if (step != SQLITE_DONE) {
        send_jobs_free(*jobs, *n);
        *jobs = NULL;
        *n = 0;
        ctx_db_error(c);
        return -1;
    }
    return 0;
}

/* Asks again wait_ms from now; fresh: it answered (attempts start over). */
static int later(struct ctx *c, const char *owner, const char *id, long wait_ms, int fresh)
{
    char wait[24];
    const char *args[4] = {id, owner, wait, fresh ? "1" : "0"};

    snprintf(wait, sizeof wait, "%ld", wait_ms);
    if (db_run_texts(c->db, SQL_TOPUP_RECONCILE_LATER, 4, args, NULL) != 0) {
        ctx_db_error(c);
        return -1;
    }
    return 0;
}

static int reconcile_result(struct ctx *c, const char *owner, const char *id, const struct send_reply *r)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_TOPUP_RECONCILE_ATTEMPTS);
    struct payos_lookup l = {0};
    const char *outcome = NULL;
    long long order_code = atoll(id);
    long attempts = 0;
    int found, rc = -1;

    if (st == NULL || db_bind_text(st, 1, id, -1) != 0 || db_bind_text(st, 2, owner, -1) != 0 ||
        (found = db_lookup(st)) < 0) {
        db_done(st);
        ctx_db_error(c);
        return -1;
    }
    if (found)
        attempts = (long)sqlite3_column_int64(st, 0);
    db_done(st);
    if (!found) /* settled meanwhile (its row went), or taken over */
        return 0;
    payos_lookup_parse(c->db, c->cfg->payos_checksum_key, r->body, r->len, &l);
    if (r->end != SEND_ANSWERED || r->status != 200 || l.error != NULL || l.order_code != order_code) {
        log_warn("topup order %s: PayOS could not tell its status (%s); asking again later", id,
                 r->end != SEND_ANSWERED ? r->why
                 : r->status != 200      ? "an HTTP status other than 200"
                 : l.error != NULL       ? l.error
                                         : "the answer is about another order");
        rc = later(c, owner, id, send_backoff_ms(c->cfg->send_retry_ms, attempts, RETRY_MAX_MS), 0);
    } else if (strcmp(l.status, "PAID") == 0) {
        log_info("topup order %s: PayOS says PAID; settled by reconciliation", id);
        rc = topup_payos_settle(c, order_code, 1, l.amount_paid, NULL, l.reference, &outcome);
    } else if (strcmp(l.status, "CANCELLED") == 0 || strcmp(l.status, "EXPIRED") == 0) {
        log_info("topup order %s: PayOS says %s; cancelled", id, l.status);
        rc = topup_payos_cancelled(c, order_code);
    } else {
        rc = later(c, owner, id, c->cfg->payos_reconcile_s * 1000, 1);
    }
    payos_lookup_free(&l);
    return rc;
}

const struct send_hooks topup_reconcile_hooks = {
    .name = "topup reconcile",
    .pending = reconcile_pending,
    .claim = reconcile_claim,
    .result = reconcile_result,
};
