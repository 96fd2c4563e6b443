/* websig.c - webhook signatures of Facebook, Zalo and TikTok (websig.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/crypto.h"
#include "handlers/websig.h"

/* 1 when sig (hex, sent after prefix) equals the hex in want. */
static int hex_after(const char *header, const char *prefix, const buf_t *want)
{
    size_t n = strlen(prefix);

    if (strncmp(header, prefix, n) != 0)
        return 0;
    return crypto_hex_equal(want->p, want->len, header + n, strlen(header + n));
}

int websig_facebook(const char *secret, const char *body, size_t len, const char *header)
{
    buf_t mac = {0};
    int ok;

    if (secret == NULL || header == NULL)
        return 0;
    ok = crypto_hmac_sha256_hex(secret, strlen(secret), body, len, &mac) == 0 && hex_after(header, "sha256=", &mac);
    buf_free(&mac);
    return ok;
}

int websig_zalo(const char *secret, const char *app_id, const char *timestamp, const char *body, size_t len,
                const char *header)
{
    buf_t text = {0}, mac = {0};
    int ok;

    if (secret == NULL || header == NULL || app_id == NULL || timestamp == NULL)
        return 0;
    buf_puts(&text, app_id);
    buf_append(&text, body, len);
    buf_puts(&text, timestamp);
    buf_puts(&text, secret);
    ok = crypto_sha256_hex(text.p, text.len, &mac) == 0 && hex_after(header, "mac=", &mac);
    buf_free(&text);
    buf_free(&mac);
    return ok;
}

/* Reads 1..18 decimal digits at p (the whole value up to end), without
 * leading zeros: the signed text holds t as parsed. */
static int parse_digits(const char *p, const char *end, long long *out)
{
    long long v = 0;

    if (p == end || end - p > 18 || (end - p > 1 && *p == '0'))
        return -1;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

int websig_tiktok_parse(const char *header, long long *t, const char **s, size_t *slen)
{
    const char *p = header;
    int have_t = 0, have_s = 0;

    while (p != NULL && *p) {
        const char *end = strchr(p, ',');

        if (end == NULL)
            end = p + strlen(p);
        while (p < end && *p == ' ')
            p++;
        if (end - p >= 2 && p[0] == 't' && p[1] == '=') {
            if (have_t || parse_digits(p + 2, end, t) != 0)
                return -1;
            have_t = 1;
        } else if (end - p >= 2 && p[0] == 's' && p[1] == '=') {
            if (have_s || end - p == 2)
                return -1;
            *s = p + 2;
            *slen = (size_t)(end - p - 2);
            have_s = 1;
        }
        p = *end ? end + 1 : end;
    }
    return have_t && have_s ? 0 : -1;
}

enum websig_result websig_tiktok(const char *secret, const char *body, size_t len, const char *header,
                                 long long now, long long window_s)
{
    buf_t text = {0}, mac = {0};
    const char *s = NULL;
    size_t slen = 0;
    long long t = 0;
    enum websig_result r = WEBSIG_BAD;

    if (secret == NULL || header == NULL || websig_tiktok_parse(header, &t, &s, &slen) != 0)
        return WEBSIG_BAD;
    buf_printf(&text, "%lld.", t);
    buf_append(&text, body, len);
    if (crypto_hmac_sha256_hex(secret, strlen(secret), text.p, text.len, &mac) == 0 &&
        crypto_hex_equal(mac.p, mac.len, s, slen))
        r = (t < now - window_s || t > now + window_s) ? WEBSIG_STALE : WEBSIG_OK;
    buf_free(&text);
    buf_free(&mac);
    return r;
}
