/* topup.h - what the top-up handlers share: topup.c (init, status, the
 * webhook, the wallet) and topup_link.c (cancel, the dev checkout). */
#ifndef PULSE_TOPUP_H
#define PULSE_TOPUP_H

struct ctx;

/* Answers 400/401/403/404 unless the caller may read tx_ref: its owner or
 * the holder of its stream token (?token=), exactly like the
 * topup:{tx_ref} topic. 0 when it may. */
int topup_readable(struct ctx *c, const char *tx_ref);

/* Moves transaction order_code (tx_ref) to status as SQL_TOPUP_SETTLE
 * allows and emits topup.status. 1 when it moved, 0 when it could not (no
 * longer PENDING), -1 on error (answered). */
int topup_settle(struct ctx *c, long long order_code, const char *tx_ref, const char *status,
                 const char *reference);

#endif
