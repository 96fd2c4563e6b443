/* payos_link.h - PayOS's payment links, through its merchant API:
 * POST {PAYOS_API_URL}/v2/payment-requests creates one, POST .../{id}/cancel
 * cancels it. Each request carries x-client-id and x-api-key; a payment
 * request is signed (HMAC-SHA256 hex, PAYOS_CHECKSUM_KEY) over
 * amount=..&cancelUrl=..&description=..&orderCode=..&returnUrl=.. with raw
 * values; PayOS answers {"code","desc","data","signature"}, "00" for
 * success, with `signature` over `data` as its webhooks are signed
 * (payos.h), and an answer whose signature does not match is not taken.
 *
 * The calls are waited for (http/fetch.h), at most PAYOS_TIMEOUT_S each. */
#ifndef PAYOS_LINK_H
#define PAYOS_LINK_H

#include "base/buf.h"

struct config;
struct db;

/* What PayOS said of a payment link. Strings are owned (NULL when PayOS
 * sent none); free with payos_link_free. */
struct payos_link {
    long long order_code;      /* data.orderCode; -1 unless an integer */
    long long amount;          /* data.amount; -1 unless an integer */
    char *status;              /* data.status: PENDING, PAID, CANCELLED, ... */
    char *checkout_url;        /* data.checkoutUrl */
    char *qr_code;             /* data.qrCode: the VietQR text a bank app scans */
    char *payment_link_id;     /* data.paymentLinkId */
};

struct payos_order {
    long long order_code;
    long long amount;
    const char *description;
    const char *return_url;    /* where PayOS sends the payer back, paid or not */
    const char *cancel_url;
};

/* Appends the text PayOS signs for a payment request. */
void payos_link_request_text(const struct payos_order *o, buf_t *out);

/* Reads PayOS's answer body[0..len) into out: 0 when it is a JSON object
 * with code "00", a data object and the signature of that data under key;
 * else -1 with why (and out holds whatever was read). */
int payos_link_parse(struct db *db, const char *key, const char *body, size_t len, struct payos_link *out,
                     buf_t *why);

/* Creates the payment link for o: 0 with out filled (checked: the same
 * order and amount, an http(s) checkoutUrl, a qrCode, a paymentLinkId that
 * is an id), or -1 with why: PayOS unreachable, slower than its timeout,
 * refusing, or answering what is not right. */
int payos_link_create(const struct config *cfg, struct db *db, const struct payos_order *o,
                      struct payos_link *out, buf_t *why);

/* Cancels payment link id (an id as http_valid_id reads it) with reason:
 * 0 with out->status as PayOS answered it (CANCELLED, or PAID when the
 * payment came first), or -1 with why. */
int payos_link_cancel(const struct config *cfg, struct db *db, const char *id, const char *reason,
                      struct payos_link *out, buf_t *why);

void payos_link_free(struct payos_link *l);

#endif
