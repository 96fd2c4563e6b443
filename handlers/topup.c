/* topup.c - wallet top-ups paid through PayOS (seed 000): init (with its
 * PayOS payment link), status, the webhook that settles a transaction
 * exactly once, and the wallet. Cancel and the dev checkout: topup_link.c.
 *
 * Init asks PayOS first and stores second. The order code is chosen here
 * (random, never one in use) so that PayOS can be asked before anything is
 * written, with no write lock held while PayOS takes its time; only a link
 * PayOS made is stored, in a transaction of its own. PayOS down, slow or
 * refusing: 503 and nothing stored. A crash between the two leaves at most
 * a payment link at PayOS that nobody was shown (the answer never left),
 * so nobody can pay it, and a webhook for its order code would be ignored
 * as unknown; the other order, storing first, would leave a transaction
 * with no link behind. A link made whose transaction then fails to store
 * is cancelled at PayOS at once (best effort). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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

#define TOPUP_MAX_AMOUNT 1000000000LL
#define TOPUP_MAX_DESCRIPTION 25   /* characters; PayOS's own limit */
#define TOPUP_DEFAULT_DESCRIPTION "Pulse top-up" /* what PayOS is given for "" (it requires one) */
/* Order codes: above PayOS's test order 123 and the codes of the sequence
 * used before (100001 on, migration 3), within what JavaScript (PayOS's
 * SDK) holds exactly: 2^53 - 1. */
#define ORDER_CODE_MIN 100000001LL
#define ORDER_CODE_MAX 9007199254740991LL
#define ORDER_CODE_TRIES 4

/* A transaction about to be made: its ids, and where it is paid. */
struct topup_new {
    long long order_code;
    buf_t tx_ref, token;
    struct payos_link link;    /* PayOS's (live), or the dev checkout's address */
};

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

/* A random order code no transaction has. 0, or -1 answered. */
static int new_order_code(struct ctx *c, long long *code)
{
    sqlite3_stmt *st;
    buf_t hex = {0};
    int i, taken = 1;

    for (i = 0; i < ORDER_CODE_TRIES && taken != 0; i++) {
        buf_reset(&hex);
        if (crypto_random_hex(8, &hex) != 0) {
            buf_free(&hex);
            ctx_error(c, 503, "unavailable", "no randomness available");
            return -1;
        }
        *code = ORDER_CODE_MIN + (long long)(strtoull(hex.p, NULL, 16) % (ORDER_CODE_MAX - ORDER_CODE_MIN + 1));
        st = db_stmt(c->db, SQL_TOPUP_CODE_TAKEN);
        if (st == NULL || db_bind_int64(st, 1, *code) != 0 || sqlite3_step(st) != SQLITE_ROW) {
            db_done(st);
            buf_free(&hex);
            ctx_db_error(c);
            return -1;
        }
        taken = sqlite3_column_int(st, 0);
        db_done(st);
    }
    buf_free(&hex);
    if (taken != 0) {
        ctx_error(c, 503, "unavailable", "no free order code found; try again");
        return -1;
    }
    return 0;
}

/* 1 when host is a host[:port] made of the characters a host name, an
 * IPv4 or a bracketed IPv6 address has. */
static int host_ok(const char *host)
{
    size_t n = strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]");

    return n > 0 && n <= 255 && host[n] == '\0';
}

/* Appends where the payer's browser finds the pages: PULSE_PUBLIC_URL
 * when it names a folder (https://example.com/pulse), else its origin or
 * this request's scheme and Host, followed by the prefix this request came
 * under (a sub-folder install). 0, or -1 answered (400) when neither gives
 * an origin. */
static int page_origin(struct ctx *c, buf_t *out)
{
    const char *host = ctx_req_header(c, "HTTP_HOST"), *https = ctx_req_header(c, "HTTPS");
    const char *url = c->cfg->public_url, *path;
    size_t n;

    if (url != NULL) {
        for (n = strlen(url); n > 0 && url[n - 1] == '/'; n--)
            ;
        buf_append(out, url, n);
        path = strstr(buf_str(out), "://");
        if (path != NULL && strchr(path + 3, '/') != NULL)
            return 0; /* the folder is given */
    } else if (host == NULL || !host_ok(host)) {
        ctx_error(c, 400, "invalid_host", "the Host header names no host PayOS could send the payer back to");
        return -1;
    } else {
        buf_printf(out, "%s://%s", https != NULL && strcasecmp(https, "on") == 0 ? "https" : "http", host);
    }
    buf_puts(out, c->req->base != NULL ? c->req->base : "");
    return 0;
}

/* Makes the payment link of t: PayOS's with credentials, else the dev
 * checkout's address (the top-up page itself, with its pay button). 0, or
 * -1 answered (503 with Retry-After when PayOS failed). */
static int link_make(struct ctx *c, struct topup_new *t, long long amount, const char *description)
{
    buf_t page = {0}, why = {0};
    struct payos_order o;
    int rc = -1;

    /* PayOS sends the payer back to an absolute URL; the dev checkout is on this origin, under the
     * prefix this request came by */
    if (config_payos_live(c->cfg) && page_origin(c, &page) != 0)
        goto out;
    if (!config_payos_live(c->cfg))
        buf_puts(&page, c->req->base != NULL ? c->req->base : "");
    buf_printf(&page, "/topup.html?tx_ref=%s&token=%s", t->tx_ref.p, t->token.p);
    if (!config_payos_live(c->cfg)) {
        t->link.checkout_url = buf_steal(&page);
        return 0;
    }
    o.order_code = t->order_code;
    o.amount = amount;
    o.description = description[0] ? description : TOPUP_DEFAULT_DESCRIPTION;
    o.return_url = page.p;
    o.cancel_url = page.p; /* the page shows what the server knows, whichever way the payer comes back */
    if (payos_link_create(c->cfg, c->db, &o, &t->link, &why) != 0) {
        log_warn("topup: no PayOS payment link for order %lld: %s", t->order_code, buf_str(&why));
        ctx_retry_after(c, CGI_RETRY_UPSTREAM_S);
        ctx_error(c, 503, "payos_unavailable", "PayOS could not make the payment link; nothing was created, try again");
        goto out;
    }
    rc = 0;
out:
    buf_free(&page);
    buf_free(&why);
    return rc;
}

/* A link PayOS made for a transaction that was then not stored: nobody
 * was shown it, and nobody should pay it. */
static void link_drop(struct ctx *c, struct topup_new *t)
{
    struct payos_link l;
    buf_t why = {0};

    if (t->link.payment_link_id == NULL)
        return;
    if (payos_link_cancel(c->cfg, c->db, t->link.payment_link_id, "not stored", &l, &why) != 0)
        log_warn("topup: payment link %s of order %lld (not stored) stays open at PayOS: %s",
                 t->link.payment_link_id, t->order_code, buf_str(&why));
    payos_link_free(&l);
    buf_free(&why);
}

/* Stores t in a write transaction of its own (the one PayOS was asked in
 * held no lock) and announces its topic. 0, or -1 answered. */
static int topup_store(struct ctx *c, struct topup_new *t, long long amount, const char *description)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (ctx_commit_now(c) != 0) {
        ctx_db_error(c);
        return -1;
    }
    st = db_stmt(c->db, SQL_TOPUP_INSERT);
    if (st == NULL || db_bind_text(st, 1, t->tx_ref.p, -1) || db_bind_text(st, 2, c->claims.sub, -1) ||
        db_bind_int64(st, 3, amount) || db_bind_text(st, 4, description, -1) ||
        db_bind_text(st, 5, t->token.p, -1) || db_bind_int64(st, 6, t->order_code) ||
        db_bind_text(st, 7, t->link.payment_link_id, -1) || db_bind_text(st, 8, t->link.checkout_url, -1) ||
        db_bind_text(st, 9, t->link.qr_code, -1) || sqlite3_step(st) != SQLITE_ROW ||
        sqlite3_step(st) != SQLITE_DONE) {
        ctx_db_error(c);
        goto out;
    }
    rc = announce(c, t->tx_ref.p, t->token.p);
out:
    db_done(st);
    return rc;
}

static void topup_init(struct ctx *c)
{
    sqlite3_stmt *st;
    struct topup_new t = {0};
    long long amount;
    char *description = NULL, code_s[24];
    const char *args[2] = {code_s, c->req->base != NULL ? c->req->base : ""};

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
    buf_puts(&t.tx_ref, "TX");
    if (crypto_random_hex(10, &t.tx_ref) != 0 || crypto_random_hex(16, &t.token) != 0) {
        ctx_error(c, 503, "unavailable", "no randomness available");
        goto out;
    }
    if (new_order_code(c, &t.order_code) != 0 || link_make(c, &t, amount, description) != 0)
        goto out;
    if (topup_store(c, &t, amount, description) != 0) {
        link_drop(c, &t);
        goto out;
    }
    snprintf(code_s, sizeof code_s, "%lld", t.order_code);
    ctx_json_take(c, 201, db_one_text(c->db, SQL_TOPUP_INIT_REPLY, 2, args));
out:
    db_done(st);
    free(description);
    buf_free(&t.tx_ref);
    buf_free(&t.token);
    payos_link_free(&t.link);
}

int topup_readable(struct ctx *c, const char *tx_ref)
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

/* An admin passes topup_readable without the row being looked up, so an
 * unknown transaction is told apart from a store that cannot answer here. */
static void topup_status(struct ctx *c)
{
    const char *tx_ref = ctx_query(c, "tx_ref");
    sqlite3_stmt *st = NULL;
    int found;

    if (tx_ref == NULL) {
        ctx_error(c, 400, "invalid_tx_ref", "tx_ref is required");
        return;
    }
    if (topup_readable(c, tx_ref) != 0)
        return;
    st = db_stmt(c->db, SQL_TOPUP_STATUS);
    if (st == NULL || db_bind_text(st, 1, tx_ref, -1) != 0 || (found = db_lookup(st)) < 0)
        ctx_db_error(c);
    else if (found == 0)
        ctx_error(c, 404, "unknown_transaction", "no such transaction");
    else
        ctx_json(c, 200, (const char *)sqlite3_column_text(st, 0));
    db_done(st);
}

int topup_settle(struct ctx *c, long long order_code, const char *tx_ref, const char *status,
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
    /* Top-ups are in VND: an amount in another currency (or a currency
     * that is not a string) never matches, and the log says which. */
    if (sqlite3_column_type(st, 9) != SQLITE_NULL &&
        (!col_is(st, 9, "text") || strcmp((const char *)sqlite3_column_text(st, 10), "VND") != 0)) {
        buf_t q = {0};
        buf_printf(&q, "%s in currency %s", h->amount_text ? h->amount_text : "(none)",
                   col_is(st, 9, "text") ? (const char *)sqlite3_column_text(st, 10) : "(not a string)");
        free(h->amount_text);
        h->amount_text = buf_steal(&q);
        h->amount = -1;
    }
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
    if (moved == 1 && strcmp(status, "PENDING") != 0)
        log_warn("topup %s: PayOS reports it paid after it was %s; credited (the money arrived)", tx_ref, status);
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
    if (payos_checksum_key(c->cfg) == NULL) {
        log_error("PayOS webhook refused: PAYOS_CHECKSUM_KEY is not set");
        ctx_retry_after(c, CGI_RETRY_NOT_CONFIGURED_S);
        ctx_error(c, 503, "not_configured", "PAYOS_CHECKSUM_KEY is not configured");
        goto out;
    }
    if (!payos_signature_ok(c->db, payos_checksum_key(c->cfg), c->req->body, c->req->body_len, h.signature)) {
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
    /* not ROUTE_WRITE: PayOS is asked with no write lock held (topup_store takes it) */
    {"POST", "/api/topup/init", topup_init, 0},
    {"GET", "/api/topup/status", topup_status, 0},
    {"POST", "/api/payos/webhook", payos_webhook, ROUTE_WRITE},
    {"GET", "/api/wallet", wallet_get, 0},
};

const struct route_table topup_routes = {routes, sizeof routes / sizeof routes[0]};
