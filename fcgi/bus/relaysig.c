/* relaysig.c - signing and checking the entries of <prefix>log (see relaysig.h). */
#include "bus/relaysig.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/crypto.h"

#define DOMAIN "pulse-relay-1"
#define KEY_LABEL "pulse relay key"

struct relaysig {
    struct crypto_mac *mac;
    char *stream;                 /* <prefix>log: an entry is valid in this stream only */
    buf_t msg;                    /* the signed bytes, built here: one MAC update, not 27 (OpenSSL 3's cost is per call) */
};

/* Single-letter names the relay writes, in enum relaysig_field order. */
static const char *const names[RS_NFIELDS] = {NULL, "p", "t", "y", "s", "d", "f", "v"};

struct crypto_mac *relaysig_mac_open(const struct config *cfg, const char *label)
{
    struct crypto_mac *mac = NULL;
    unsigned char derived[32];

    if (cfg->relay_secret != NULL) {
        mac = crypto_mac_open(cfg->relay_secret, strlen(cfg->relay_secret));
    } else if (cfg->jwt_secret != NULL) {
        /* Not the JWT key itself: a key derived from it for this use alone. */
        if (crypto_hmac_sha256(cfg->jwt_secret, strlen(cfg->jwt_secret), label, strlen(label), derived) != 0)
            return NULL;
        mac = crypto_mac_open(derived, sizeof derived);
        memset(derived, 0, sizeof derived);
    }
    return mac;
}

struct relaysig *relaysig_open(const struct config *cfg)
{
    struct relaysig *s;
    buf_t k = {0};
    struct crypto_mac *mac = relaysig_mac_open(cfg, KEY_LABEL);

    if (mac == NULL)
        return NULL;
    s = xcalloc(1, sizeof *s);
    s->mac = mac;
    buf_printf(&k, "%slog", cfg->redis_prefix);
    s->stream = buf_steal(&k);
    return s;
}

void relaysig_close(struct relaysig *s)
{
    if (s == NULL)
        return;
    crypto_mac_close(s->mac);
    free(s->stream);
    buf_free(&s->msg);
    free(s);
}

static int mac_of(struct relaysig *s, const struct relaysig_fields *f, unsigned char out[32])
{
    int i, rc;

    buf_reset(&s->msg);
    buf_put_ns(&s->msg, DOMAIN, strlen(DOMAIN));
    buf_put_ns(&s->msg, s->stream, strlen(s->stream));
    for (i = 0; i < RS_NFIELDS; i++) {
        if (f->v[i] != NULL)
            buf_put_ns(&s->msg, f->v[i], f->len[i]);
        else if (i != RS_VOID)
            buf_putc(&s->msg, '-');
    }
    rc = crypto_mac_begin(s->mac) == 0 && crypto_mac_add(s->mac, s->msg.p, s->msg.len) == 0 &&
                 crypto_mac_end(s->mac, out) == 0
             ? 0
             : -1;
    /* a 16 MiB event is not kept for the next small one */
    if (s->msg.cap > 65536)
        buf_free(&s->msg);
    return rc;
}

int relaysig_sign(struct relaysig *s, const struct relaysig_fields *f, char hex[RELAYSIG_HEX + 1])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char mac[32];
    size_t i;

    if (mac_of(s, f, mac) != 0)
        return -1;
    for (i = 0; i < sizeof mac; i++) {
        hex[2 * i] = digits[mac[i] >> 4];
        hex[2 * i + 1] = digits[mac[i] & 15];
    }
    hex[RELAYSIG_HEX] = '\0';
    return 0;
}

int relaysig_valid(struct relaysig *s, const struct relaysig_fields *f, const char *mac, size_t maclen)
{
    char want[RELAYSIG_HEX + 1];

    if (s == NULL || mac == NULL || maclen != RELAYSIG_HEX || relaysig_sign(s, f, want) != 0)
        return 0;
    return crypto_equal(want, RELAYSIG_HEX, mac, maclen);
}

int relaysig_fields_of(const redisReply *entry, struct relaysig_fields *f, const char **mac, size_t *maclen)
{
    const redisReply *kv;
    size_t i;
    int k;

    memset(f, 0, sizeof *f);
    *mac = NULL;
    *maclen = 0;
    if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2 || entry->element[0]->type != REDIS_REPLY_STRING ||
        entry->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    f->v[RS_ID] = entry->element[0]->str;
    f->len[RS_ID] = entry->element[0]->len;
    kv = entry->element[1];
    for (i = 0; i + 1 < kv->elements; i += 2) {
        const redisReply *name = kv->element[i], *val = kv->element[i + 1];

        if (name->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
            continue;
        /* What is checked must be what is stored, and that is read as C strings. */
        if (memchr(val->str, '\0', val->len) != NULL)
            return -1;
        if (name->len != 1)
            continue; /* every name the relay writes is one letter */
        if (name->str[0] == 'h' && *mac == NULL) {
            *mac = val->str;
            *maclen = val->len;
            continue;
        }
        for (k = 1; k < RS_NFIELDS; k++) {
            if (f->v[k] == NULL && name->str[0] == names[k][0]) {
                f->v[k] = val->str;
                f->len[k] = val->len;
            }
        }
    }
    return memchr(f->v[RS_ID], '\0', f->len[RS_ID]) == NULL ? 0 : -1;
}

int relaysig_entry_valid(struct relaysig *s, const redisReply *entry)
{
    struct relaysig_fields f;
    const char *mac;
    size_t maclen;

    return relaysig_fields_of(entry, &f, &mac, &maclen) == 0 && relaysig_valid(s, &f, mac, maclen);
}
