/* crypto.h - the few primitives Pulse needs, all from OpenSSL libcrypto. */
#ifndef PULSE_CRYPTO_H
#define PULSE_CRYPTO_H

#include <stddef.h>

#include "base/buf.h"

/* Appends lowercase hex of HMAC-SHA256(key, data) to out. Returns 0 or -1. */
int crypto_hmac_sha256_hex(const char *key, size_t keylen, const void *data, size_t len, buf_t *out);

/* Raw 32-byte HMAC-SHA256 into mac. Returns 0 or -1. */
int crypto_hmac_sha256(const char *key, size_t keylen, const void *data, size_t len,
                       unsigned char mac[32]);

/* An HMAC-SHA256 key made ready once, for many messages (the key is hashed
 * once, not per message), each fed in pieces. Open returns NULL when
 * OpenSSL refuses; the caller closes it. One message at a time:
 * crypto_mac_begin, crypto_mac_add..., crypto_mac_end. 0 or -1 each. */
struct crypto_mac;
struct crypto_mac *crypto_mac_open(const void *key, size_t keylen);
int crypto_mac_begin(struct crypto_mac *m);
int crypto_mac_add(struct crypto_mac *m, const void *data, size_t len);
int crypto_mac_end(struct crypto_mac *m, unsigned char mac[32]);
void crypto_mac_close(struct crypto_mac *m);
/* The whole message at once, its MAC appended to out as lowercase hex. 0
 * or -1. */
int crypto_mac_hex(struct crypto_mac *m, const void *data, size_t len, buf_t *out);

/* Appends lowercase hex SHA-256 of data to out. Returns 0 or -1. */
int crypto_sha256_hex(const void *data, size_t len, buf_t *out);

/* Appends nbytes of CSPRNG output as 2*nbytes lowercase hex. Returns 0 or -1. */
int crypto_random_hex(size_t nbytes, buf_t *out);

/* Constant-time equality of two byte strings (length is not secret). */
int crypto_equal(const void *a, size_t alen, const void *b, size_t blen);

/* Case-insensitive constant-time compare of hex text, for signatures sent
 * in upper case. Returns 1 when equal. */
int crypto_hex_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Decodes base64url (no padding, as in JWT) into out. Returns 0, or -1 on a
 * character outside the alphabet or a bad length. */
int crypto_base64url_decode(const char *in, size_t len, buf_t *out);

/* Appends base64url without padding of data to out. */
int crypto_base64url_encode(const void *data, size_t len, buf_t *out);

#endif
