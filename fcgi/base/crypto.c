/* crypto.c - HMAC, SHA-256, random bytes and base64 via OpenSSL. */
#include "base/crypto.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "base/alloc.h"

static void hex_append(buf_t *out, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    buf_reserve(out, 2 * n);
    for (i = 0; i < n; i++) {
        out->p[out->len++] = digits[p[i] >> 4];
        out->p[out->len++] = digits[p[i] & 15];
    }
    out->p[out->len] = '\0';
}

int crypto_hmac_sha256(const char *key, size_t keylen, const void *data, size_t len,
                       unsigned char mac[32])
{
    unsigned int maclen = 0;

    if (keylen > 0x7fffffff)
        return -1;
    if (HMAC(EVP_sha256(), key, (int)keylen, data, len, mac, &maclen) == NULL || maclen != 32)
        return -1;
    return 0;
}

int crypto_hmac_sha256_hex(const char *key, size_t keylen, const void *data, size_t len, buf_t *out)
{
    unsigned char mac[32];

    if (crypto_hmac_sha256(key, keylen, data, len, mac) != 0)
        return -1;
    hex_append(out, mac, sizeof mac);
    return 0;
}

struct crypto_mac {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;   /* holds the key; re-initialised per message */
};

struct crypto_mac *crypto_mac_open(const void *key, size_t keylen)
{
    struct crypto_mac *m = xcalloc(1, sizeof *m);
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    static const unsigned char none[1];

    m->mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (m->mac == NULL || (m->ctx = EVP_MAC_CTX_new(m->mac)) == NULL)
        goto fail;
    /* an empty key is still a key (EVP_MAC_init would take NULL as "keep the old one") */
    if (EVP_MAC_init(m->ctx, keylen > 0 ? key : none, keylen, params) != 1)
        goto fail;
    return m;
fail:
    crypto_mac_close(m);
    return NULL;
}

int crypto_mac_begin(struct crypto_mac *m)
{
    /* no key: the one given at open is used again */
    return EVP_MAC_init(m->ctx, NULL, 0, NULL) == 1 ? 0 : -1;
}

int crypto_mac_add(struct crypto_mac *m, const void *data, size_t len)
{
    return len == 0 || EVP_MAC_update(m->ctx, data, len) == 1 ? 0 : -1;
}

int crypto_mac_end(struct crypto_mac *m, unsigned char mac[32])
{
    size_t n = 0;

    return EVP_MAC_final(m->ctx, mac, &n, 32) == 1 && n == 32 ? 0 : -1;
}

int crypto_mac_hex(struct crypto_mac *m, const void *data, size_t len, buf_t *out)
{
    unsigned char mac[32];

    if (crypto_mac_begin(m) != 0 || crypto_mac_add(m, data, len) != 0 || crypto_mac_end(m, mac) != 0)
        return -1;
    hex_append(out, mac, sizeof mac);
    return 0;
}

void crypto_mac_close(struct crypto_mac *m)
{
    if (m == NULL)
        return;
    EVP_MAC_CTX_free(m->ctx);
    EVP_MAC_free(m->mac);
    free(m);
}

int crypto_sha256_hex(const void *data, size_t len, buf_t *out)
{
    unsigned char md[SHA256_DIGEST_LENGTH];

    if (SHA256(data, len, md) == NULL)
        return -1;
    hex_append(out, md, sizeof md);
    return 0;
}

int crypto_random_hex(size_t nbytes, buf_t *out)
{
    unsigned char tmp[64];

    if (nbytes > sizeof tmp || nbytes > 0x7fffffff)
        return -1;
    if (RAND_bytes(tmp, (int)nbytes) != 1)
        return -1;
    hex_append(out, tmp, nbytes);
    OPENSSL_cleanse(tmp, sizeof tmp);
    return 0;
}

int crypto_equal(const void *a, size_t alen, const void *b, size_t blen)
{
    return alen == blen && CRYPTO_memcmp(a, b, alen) == 0;
}

int crypto_hex_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = 0;
    size_t i;

    if (alen != blen)
        return 0;
    for (i = 0; i < alen; i++)
        diff |= (unsigned char)(tolower((unsigned char)a[i]) ^ tolower((unsigned char)b[i]));
    return diff == 0;
}

/* JWT uses base64url without padding; OpenSSL decodes standard base64, so
 * the alphabet is mapped and the padding restored before decoding. */
int crypto_base64url_decode(const char *in, size_t len, buf_t *out)
{
    size_t padded, i;
    char *tmp = NULL;
    int n, rc = -1;

    if (len % 4 == 1 || len > 0x3fffffff)
        return -1;
    padded = (len + 3) / 4 * 4;
    tmp = xmalloc(padded + 1);
    for (i = 0; i < len; i++) {
        char c = in[i];
        if (c == '-')
            c = '+';
        else if (c == '_')
            c = '/';
        else if (!isalnum((unsigned char)c))
            goto out; /* not base64url (OpenSSL would skip blanks) */
        tmp[i] = c;
    }
    for (; i < padded; i++)
        tmp[i] = '=';
    tmp[padded] = '\0';
    buf_reserve(out, padded / 4 * 3);
    n = EVP_DecodeBlock((unsigned char *)out->p + out->len, (const unsigned char *)tmp, (int)padded);
    if (n < 0)
        goto out;
    /* EVP_DecodeBlock counts the padding as zero bytes; drop them. */
    n -= (int)(padded - len);
    out->len += (size_t)n;
    out->p[out->len] = '\0';
    rc = 0;
out:
    free(tmp);
    return rc;
}

int crypto_base64url_encode(const void *data, size_t len, buf_t *out)
{
    size_t cap = (len + 2) / 3 * 4, i;
    int n;
    char *p;

    if (len > 0x3fffffff)
        return -1;
    buf_reserve(out, cap);
    p = out->p + out->len;
    n = EVP_EncodeBlock((unsigned char *)p, data, (int)len);
    if (n < 0)
        return -1;
    while (n > 0 && p[n - 1] == '=')
        n--;
    for (i = 0; i < (size_t)n; i++) {
        if (p[i] == '+')
            p[i] = '-';
        else if (p[i] == '/')
            p[i] = '_';
    }
    out->len += (size_t)n;
    out->p[out->len] = '\0';
    return 0;
}
