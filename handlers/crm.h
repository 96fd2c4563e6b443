/* crm.h - what the CRM handlers share (seed 003): the topic agents stream
 * and emitting a row's object on it. */
#ifndef PULSE_CRM_H
#define PULSE_CRM_H

#include "auth/topic.h"
#include "request/handler.h"
#include "store/db.h"

#define CRM_TOPIC TOPIC_CRM_NAME

/* Emits type on topic crm with the object q builds for id (one text
 * column). 0, or -1 with a 503 answered. */
int crm_emit_row(struct ctx *c, const char *type, enum sql_id q, const char *id);

/* ---- answers' status on their platform (crm_status.c) */

/* Runs q, an UPDATE ... RETURNING id of messages whose status it moves,
 * with nargs text arguments (NULL binds NULL), and emits message_status for
 * each message moved. 0, or -1 answered. */
int crm_status_update(struct ctx *c, enum sql_id q, int nargs, const char *const *args);
/* The receipts in a Facebook delivery (message_deliveries: mids and a
 * watermark; message_reads: a watermark), whose body passed
 * ctx_body_object_shape. 0, or -1 answered. */
int crm_status_facebook(struct ctx *c);
/* A Zalo receipt (its body checked): the answers in message.msg_ids move
 * to status ("delivered" or "read"). 0, or -1 answered. */
int crm_status_zalo(struct ctx *c, const char *status);
/* Answer id has just become sent: the receipts told before it was (kept
 * by the above) move it on. 0, or -1 answered. */
int crm_status_sent(struct ctx *c, const char *id);

/* ---- sending answers (crm_send.c): pulse-batch's sender runs these */
extern const struct send_hooks crm_send_hooks;

/* What a platform's answer to a send says (body: any bytes): 1 sent with
 * *mid the platform's message id, 0 not sent with *error its message (the
 * platform's own words when it gave some), each caller-freed. */
int crm_send_reply(struct db *db, const char *platform, long status, const char *body, size_t len, char **mid,
                   char **error);

#endif
