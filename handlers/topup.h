/* topup.h - what the top-up handlers share (seed 000): settling a
 * transaction as PayOS reports it, whether the report came by its webhook
 * (topup.c) or by asking PayOS (topup_reconcile.c): one path, so a payment
 * is credited exactly once whichever comes first, on any process; and
 * what topup_link.c (cancel, the dev checkout) shares with topup.c. */
#ifndef PULSE_TOPUP_H
#define PULSE_TOPUP_H

#include "request/handler.h"
#include "store/db.h"

/* Answers 400/401/403/404 unless the caller may read tx_ref: its owner or
 * the holder of its stream token (?token=), exactly like the
 * topup:{tx_ref} topic. 0 when it may. */
int topup_readable(struct ctx *c, const char *tx_ref);

/* Moves transaction order_code (tx_ref) to status as SQL_TOPUP_SETTLE
 * allows and emits topup.status. 1 when it moved, 0 when it could not (no
 * longer PENDING), -1 on error (answered). */
int topup_settle(struct ctx *c, long long order_code, const char *tx_ref, const char *status,
                 const char *reference);

/* Settles order_code as PayOS reported it: paid (its code "00" / status
 * PAID) and amount what it paid (-1: unknown; amount_text as sent, for the
 * log). A PENDING transaction becomes PAID, the owner's wallet credited
 * once, when the amounts agree, else FAILED; each with a topup.status
 * event. *outcome: the status it has now ("PAID", "FAILED", "CANCELLED"),
 * or NULL for an order we never made. 0, or -1 answered. */
int topup_payos_settle(struct ctx *c, long long order_code, int paid, long long amount, const char *amount_text,
                       const char *reference, const char **outcome);
/* A PENDING order_code becomes CANCELLED (PayOS says it was cancelled or
 * expired), with its event; any other status stays. 0, or -1 answered. */
int topup_payos_cancelled(struct ctx *c, long long order_code);

/* ---- reconciliation (topup_reconcile.c): pulse-batch's sender runs these */
extern const struct send_hooks topup_reconcile_hooks;

/* What PayOS's answer to GET /v2/payment-requests/{orderCode} says. */
struct payos_lookup {
    long long order_code;      /* data.orderCode; -1 when not an integer */
    long long amount_paid;     /* data.amountPaid (else data.amount); -1 when not an integer */
    char *status;              /* data.status (PENDING, PROCESSING, PAID, CANCELLED, EXPIRED...) */
    char *reference;           /* the first transaction's reference, or NULL */
    char *error;               /* set when the answer is not a usable one: why */
};

/* Reads body (any bytes) as PayOS's answer, its signature checked with
 * checksum_key when that is set. 0 with l filled (l->error set when the
 * answer cannot be used); free with payos_lookup_free. */
int payos_lookup_parse(struct db *db, const char *checksum_key, const char *body, size_t len,
                       struct payos_lookup *l);
void payos_lookup_free(struct payos_lookup *l);

#endif
