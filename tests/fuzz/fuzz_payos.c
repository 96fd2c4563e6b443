/* libFuzzer target: PayOS webhook bodies (signature text and check), and
 * what must hold of them: a text is made exactly when the body is a JSON
 * object whose data is an object; it names every key of data in byte order,
 * each followed by '=', the first at its start; the HMAC of that text is
 * accepted in either case of hex, and "00" never is. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/crypto.h"
#include "fuzz_db.h"
#include "handlers/payos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int by_bytes(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The keys of body's data object, read apart from the code under test
 * (body is a JSON object: SQLite's path lookups are safe on it); their
 * count, or -1 when data is no object. The caller frees keys. */
static int data_keys(const char *body, size_t len, char ***keys)
{
    sqlite3 *h = db_handle(fuzz_db());
    sqlite3_stmt *st = NULL;
    int n = -1;

    *keys = NULL;
    if (sqlite3_prepare_v2(h, "SELECT json_type(?1, '$.data')", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, body, (int)len, SQLITE_STATIC) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW)
        abort();
    if (sqlite3_column_text(st, 0) == NULL || strcmp((const char *)sqlite3_column_text(st, 0), "object") != 0)
        goto out;
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(h, "SELECT key FROM json_each(?1, '$.data')", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, body, (int)len, SQLITE_STATIC) != SQLITE_OK)
        abort();
    n = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        *keys = xrealloc(*keys, (size_t)(n + 1) * sizeof **keys);
        (*keys)[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
    }
out:
    sqlite3_finalize(st);
    return n;
}

/* Every key, sorted, stands in text as "key=" in that order, the first at
 * its start (a value may hold anything, so each is searched for from just
 * past where the one before it was found). */
static void check_keys(const buf_t *text, char **keys, int n)
{
    const char *at = text->p ? text->p : "";
    int i;

    if (n > 1)
        qsort(keys, (size_t)n, sizeof *keys, by_bytes);
    if (n == 0 && text->len != 0)
        __builtin_trap();
    for (i = 0; i < n; i++) {
        buf_t want = {0};
        const char *found;

        buf_printf(&want, "%s=", keys[i]);
        found = strstr(at, want.p);
        if (found == NULL || (i == 0 && found != text->p))
            __builtin_trap();
        at = found + 1;
        buf_free(&want);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = xstrndup((const char *)data, size), **keys = NULL;
    size_t len = strlen(body), i;
    buf_t out = {0}, mac = {0};
    int rc, n = -1;

    rc = payos_signed_text(fuzz_db(), body, len, &out);
    if (db_json_object(fuzz_db(), body, len))
        n = data_keys(body, len, &keys);
    if ((rc == 0) != (n >= 0))
        __builtin_trap();
    if (rc == 0) {
        check_keys(&out, keys, n);
        if (crypto_hmac_sha256_hex("key", 3, out.p ? out.p : "", out.len, &mac) != 0 ||
            !payos_signature_ok(fuzz_db(), "key", body, len, mac.p))
            __builtin_trap();
        for (i = 0; i < mac.len; i++)
            mac.p[i] = (char)toupper((unsigned char)mac.p[i]);
        if (!payos_signature_ok(fuzz_db(), "key", body, len, mac.p))
            __builtin_trap();
    }
    if (payos_signature_ok(fuzz_db(), "key", body, len, "00"))
        __builtin_trap();
    for (i = 0; n > 0 && i < (size_t)n; i++)
        free(keys[i]);
    free(keys);
    buf_free(&out);
    buf_free(&mac);
    free(body);
    return 0;
}
