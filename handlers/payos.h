/* payos.h - PayOS webhook signatures.
 *
 * PayOS signs the webhook's `data` object: its keys sorted by byte order,
 * joined as key=value&key=value with raw values, null/"null"/"undefined" as
 * empty, numbers and booleans as JavaScript prints them, arrays as compact
 * JSON with each element's keys sorted; the HMAC-SHA256 hex of that string
 * with the checksum key is `signature`. */
#ifndef PAYOS_H
#define PAYOS_H

#include "base/buf.h"

struct config;
struct db;

/* The key PayOS signs with: PAYOS_CHECKSUM_KEY. Without it and without
 * PayOS's credentials (`make run`: the dev checkout signs the webhooks), a
 * key derived from PULSE_JWT_SECRET for that use alone; NULL when there is
 * neither (the webhook is then refused). Lives as long as the process. */
const char *payos_checksum_key(const struct config *cfg);

/* Appends the string PayOS signs for the webhook body (a JSON object with a
 * `data` object) to out. 0, or -1 if data is missing or not an object. */
int payos_signed_text(struct db *db, const char *body, size_t len, buf_t *out);

/* 1 when sig (hex, any case) is the HMAC of body's data under key. */
int payos_signature_ok(struct db *db, const char *key, const char *body, size_t len, const char *sig);

#endif
