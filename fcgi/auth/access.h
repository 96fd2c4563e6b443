/* access.h - who may read which topic; the one rule both the stream
 * responder and the polling endpoint apply.
 *
 *   room:*         public
 *   topup:{tx}     the transaction's owner (JWT sub) or its stream_token
 *   crm            roles agent and admin
 *   chat:{sid}     the user who claimed the session (POST /api/chat/sessions)
 *   anything else  admin
 * An admin may read every topic. Names are read with topic_kind (topic.h). */
#ifndef PULSE_ACCESS_H
#define PULSE_ACCESS_H

#include "auth/auth.h"

struct db;

/* Returns 0 when allowed, else the HTTP status to answer (401, 403, 404)
 * with *code and *message pointed at static text. claims is NULL when the
 * request has no valid token; token is the ?token= value or NULL. */
int access_topic(struct db *db, const char *topic, const struct auth_claims *claims, const char *token,
                 const char **code, const char **message);

/* Reads the topic=... parameters of a subscription: 1..16 valid ids.
 * Returns the count, or -1 with *message set (a 400). topics borrow from q. */
struct http_query;
int access_topics_from_query(const struct http_query *q, const char **topics, const char **message);

/* access_topic for each topic; the first refusal wins. */
int access_topics(struct db *db, const char *const *topics, int n, const struct auth_claims *claims,
                  const char *token, const char **code, const char **message);

#endif
