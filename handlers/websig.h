/* websig.h - the messaging platforms' webhook signatures (the CRM inbox).
 * Each is computed over the raw body bytes as received, never over a
 * re-serialisation. A NULL secret or header never matches. */
#ifndef PULSE_WEBSIG_H
#define PULSE_WEBSIG_H

#include <stddef.h>

/* Facebook: X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256 of
 * the body with the app secret. 1 when it matches. */
int websig_facebook(const char *secret, const char *body, size_t len, const char *header);

/* Zalo OA: X-ZEvent-Signature is "mac=" and the hex SHA-256 of app_id,
 * the body, timestamp and the OA secret, concatenated (app_id and
 * timestamp as the body carries them). 1 when it matches. */
int websig_zalo(const char *secret, const char *app_id, const char *timestamp, const char *body, size_t len,
                const char *header);

/* TikTok: Tiktok-Signature is "t=<unix seconds>,s=<hex>" (in any order;
 * other pairs ignored), s the HMAC-SHA256 of "<t>.<body>". */
enum websig_result { WEBSIG_OK, WEBSIG_BAD, WEBSIG_STALE };
/* WEBSIG_STALE when s matches but t is more than window_s from now. */
enum websig_result websig_tiktok(const char *secret, const char *body, size_t len, const char *header,
                                 long long now, long long window_s);

/* Parses a Tiktok-Signature header: *t and s (pointing into header, slen
 * bytes). 0, or -1 when either is missing or malformed. */
int websig_tiktok_parse(const char *header, long long *t, const char **s, size_t *slen);

#endif
