/* payos_link.c - PayOS's payment links (see payos_link.h). */
#include "handlers/payos_link.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/crypto.h"
#include "handlers/payos.h"
#include "http/http.h"
#include "out/fetch.h"
#include "store/db.h"

#define ANSWER_MAX 65536   /* PayOS answers a few hundred bytes; more is not PayOS */

/* Columns of SQL_PAYOS_LINK_ANSWER: each value follows its JSON type. */
enum {
    A_CODE_T, A_CODE, A_DESC, A_DATA_T, A_SIG_T, A_SIG, A_ORDER_T, A_ORDER, A_AMOUNT_T, A_AMOUNT,
    A_STATUS_T, A_STATUS, A_URL_T, A_URL, A_QR_T, A_QR, A_LINK_T, A_LINK, A_DESC_T
};

static int col_is(sqlite3_stmt *st, int i, const char *type)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t != NULL && strcmp((const char *)t, type) == 0;
}

/* A copy of column i when its JSON type (column i - 1) is text, else NULL. */
static char *text_after(sqlite3_stmt *st, int i)
{
    return col_is(st, i - 1, "text") ? xstrdup((const char *)sqlite3_column_text(st, i)) : NULL;
}

static long long int_after(sqlite3_stmt *st, int i)
{
    return col_is(st, i - 1, "integer") ? sqlite3_column_int64(st, i) : -1;
}

void payos_link_request_text(const struct payos_order *o, buf_t *out)
{
    buf_printf(out, "amount=%lld&cancelUrl=%s&description=%s&orderCode=%lld&returnUrl=%s", o->amount,
               o->cancel_url, o->description, o->order_code, o->return_url);
}

int payos_link_parse(struct db *db, const char *key, const char *body, size_t len, struct payos_link *out,
                     buf_t *why)
{
    sqlite3_stmt *st = NULL;
    char *sig = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    out->order_code = out->amount = -1;
    if (!db_json_object(db, body, len) || db_json_escapes_nul(body, len)) {
        buf_puts(why, "PayOS's answer is not a JSON object in UTF-8");
        goto out;
    }
    st = db_stmt(db, SQL_PAYOS_LINK_ANSWER);
    if (st == NULL || db_bind_text(st, 1, body, (int)len) != 0 || sqlite3_step(st) != SQLITE_ROW) {
        buf_puts(why, "PayOS's answer could not be read");
        goto out;
    }
    if (!col_is(st, A_CODE_T, "text") || strcmp((const char *)sqlite3_column_text(st, A_CODE), "00") != 0) {
        buf_printf(why, "PayOS refused: code %s, %s",
                   col_is(st, A_CODE_T, "text") ? (const char *)sqlite3_column_text(st, A_CODE) : "(none)",
                   col_is(st, A_DESC_T, "text") ? (const char *)sqlite3_column_text(st, A_DESC) : "(no desc)");
        goto out;
    }
    if (!col_is(st, A_DATA_T, "object") || (sig = text_after(st, A_SIG)) == NULL) {
        buf_puts(why, "PayOS's answer has no data object or no signature");
        goto out;
    }
    out->order_code = int_after(st, A_ORDER);
    out->amount = int_after(st, A_AMOUNT);
    out->status = text_after(st, A_STATUS);
    out->checkout_url = text_after(st, A_URL);
    out->qr_code = text_after(st, A_QR);
    out->payment_link_id = text_after(st, A_LINK);
    db_done(st);
    st = NULL;
    if (!payos_signature_ok(db, key, body, len, sig)) {
        buf_puts(why, "PayOS's answer is not signed with PAYOS_CHECKSUM_KEY");
        goto out;
    }
    rc = 0;
out:
    db_done(st);
    free(sig);
    return rc;
}

/* POSTs json to PayOS's path; 0 with a 2xx answer's body in answer, or -1
 * with why. */
static int payos_post(const struct config *cfg, const char *path, const char *json, buf_t *answer, buf_t *why)
{
    buf_t url = {0}, id = {0}, key = {0};
    const char *headers[4];
    struct fetch_req rq = {0};
    struct fetch_resp rs = {0};
    size_t n = strlen(cfg->payos_api_url);
    int rc = -1;

    while (n > 0 && cfg->payos_api_url[n - 1] == '/')
        n--;
    buf_append(&url, cfg->payos_api_url, n);
    buf_puts(&url, path);
    buf_printf(&id, "x-client-id: %s", cfg->payos_client_id);
    buf_printf(&key, "x-api-key: %s", cfg->payos_api_key);
    headers[0] = id.p;
    headers[1] = key.p;
    headers[2] = "Content-Type: application/json";
    headers[3] = NULL;
    rq.method = "POST";
    rq.url = url.p;
    rq.headers = headers;
    rq.body = json;
    rq.body_len = strlen(json);
    rq.timeout_ms = cfg->payos_timeout_s * 1000;
    rq.max_bytes = ANSWER_MAX;
    if (fetch_run(&rq, &rs) != 0) {
        buf_printf(why, "PayOS did not answer: %s", buf_str(&rs.error));
    } else if (rs.status < 200 || rs.status > 299) {
        buf_printf(why, "PayOS answered HTTP %ld", rs.status);
    } else {
        buf_append(answer, rs.body.p, rs.body.len);
        rc = 0;
    }
    fetch_resp_free(&rs);
    buf_free(&url);
    buf_free(&id);
    buf_free(&key);
    return rc;
}

/* payos_post, then payos_link_parse of the answer into out. */
static int payos_call(const struct config *cfg, struct db *db, const char *path, const char *json,
                      struct payos_link *out, buf_t *why)
{
    buf_t answer = {0};
    int rc = -1;

    if (payos_post(cfg, path, json, &answer, why) == 0 &&
        payos_link_parse(db, cfg->payos_checksum_key, buf_str(&answer), answer.len, out, why) == 0)
        rc = 0;
    buf_free(&answer);
    return rc;
}

int payos_link_create(const struct config *cfg, struct db *db, const struct payos_order *o,
                      struct payos_link *out, buf_t *why)
{
    buf_t text = {0}, sig = {0};
    char code_s[24], amount_s[24], *json = NULL;
    const char *args[6];
    int rc = -1;

    memset(out, 0, sizeof *out);
    payos_link_request_text(o, &text);
    if (crypto_hmac_sha256_hex(cfg->payos_checksum_key, strlen(cfg->payos_checksum_key), text.p, text.len, &sig) !=
        0) {
        buf_puts(why, "the payment request could not be signed");
        goto out;
    }
    snprintf(code_s, sizeof code_s, "%lld", o->order_code);
    snprintf(amount_s, sizeof amount_s, "%lld", o->amount);
    args[0] = code_s;
    args[1] = amount_s;
    args[2] = o->description;
    args[3] = o->cancel_url;
    args[4] = o->return_url;
    args[5] = sig.p;
    if ((json = db_one_text(db, SQL_PAYOS_LINK_REQUEST, 6, args)) == NULL) {
        buf_puts(why, "the payment request could not be written");
        goto out;
    }
    if (payos_call(cfg, db, "/v2/payment-requests", json, out, why) != 0)
        goto out;
    if (out->order_code != o->order_code || out->amount != o->amount)
        buf_puts(why, "PayOS answered for another order or amount");
    else if (out->checkout_url == NULL || !http_valid_url(out->checkout_url))
        buf_puts(why, "PayOS's checkoutUrl is not an http(s) URL");
    else if (out->qr_code == NULL || out->qr_code[0] == '\0')
        buf_puts(why, "PayOS's answer has no qrCode");
    else if (out->payment_link_id == NULL || !http_valid_id(out->payment_link_id))
        buf_puts(why, "PayOS's paymentLinkId is not an id");
    else
        rc = 0;
out:
    buf_free(&text);
    buf_free(&sig);
    free(json);
    return rc;
}

int payos_link_cancel(const struct config *cfg, struct db *db, const char *id, const char *reason,
                      struct payos_link *out, buf_t *why)
{
    buf_t path = {0};
    const char *args[1] = {reason};
    char *json = NULL;
    int rc = -1;

    memset(out, 0, sizeof *out);
    if (!http_valid_id(id)) {
        buf_puts(why, "the payment link id is not an id");
        goto out;
    }
    buf_printf(&path, "/v2/payment-requests/%s/cancel", id);
    if ((json = db_one_text(db, SQL_PAYOS_CANCEL_REQUEST, 1, args)) == NULL) {
        buf_puts(why, "the cancel request could not be written");
        goto out;
    }
    if (payos_call(cfg, db, path.p, json, out, why) != 0)
        goto out;
    if (out->status == NULL)
        buf_puts(why, "PayOS's answer to the cancel has no status");
    else
        rc = 0;
out:
    buf_free(&path);
    free(json);
    return rc;
}

void payos_link_free(struct payos_link *l)
{
    free(l->status);
    free(l->checkout_url);
    free(l->qr_code);
    free(l->payment_link_id);
    memset(l, 0, sizeof *l);
}
