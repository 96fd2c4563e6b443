/* libFuzzer target: PayOS's answers to our API calls (payos_link_parse),
 * and what must hold of them: an answer is taken only when it is a JSON
 * object with code "00", a data object and data's signature under the key,
 * every string taken from it is UTF-8; and the same input made right (code
 * "00", signed with the key) is taken, while with one wrong signature digit
 * it is not. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/crypto.h"
#include "base/utf8.h"
#include "fuzz_db.h"
#include "handlers/payos.h"
#include "handlers/payos_link.h"

#define KEY "fuzz-checksum-key"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_taken(const struct payos_link *l)
{
    const char *const s[] = {l->status, l->checkout_url, l->qr_code, l->payment_link_id};
    size_t i;

    for (i = 0; i < sizeof s / sizeof s[0]; i++)
        if (s[i] != NULL && !utf8_valid(s[i], strlen(s[i])))
            __builtin_trap();
}

/* json_set(body, path1, v1 [, path2, v2]) as a new string, or NULL when
 * SQLite refuses (read apart from the code under test). */
static char *json_set2(const char *body, const char *p1, const char *v1, const char *p2, const char *v2)
{
    sqlite3 *h = db_handle(fuzz_db());
    sqlite3_stmt *st = NULL;
    char *out = NULL;

    if (sqlite3_prepare_v2(h, "SELECT json_set(?1, ?2, ?3, ?4, ?5)", -1, &st, NULL) != SQLITE_OK)
        abort();
    if (sqlite3_bind_text(st, 1, body, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, p1, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, v1, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 4, p2, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 5, v2, -1, SQLITE_STATIC) != SQLITE_OK)
        abort();
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        out = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

/* The input made right: code "00" and data signed with KEY; then taken,
 * and not with a wrong digit in the signature. */
static void check_made_right(const char *body)
{
    char *b1 = json_set2(body, "$.code", "00", "$.signature", "x"), *b2 = NULL;
    buf_t text = {0}, mac = {0};
    struct payos_link l;
    buf_t why = {0};

    if (b1 == NULL || !db_json_object(fuzz_db(), b1, strlen(b1)) || db_json_escapes_nul(b1, strlen(b1)) ||
        payos_signed_text(fuzz_db(), b1, strlen(b1), &text) != 0)
        goto out;
    if (crypto_hmac_sha256_hex(KEY, strlen(KEY), text.p ? text.p : "", text.len, &mac) != 0)
        abort();
    if ((b2 = json_set2(b1, "$.signature", mac.p, "$.code", "00")) == NULL)
        goto out;
    if (payos_link_parse(fuzz_db(), KEY, b2, strlen(b2), &l, &why) != 0)
        __builtin_trap();
    check_taken(&l);
    payos_link_free(&l);
    free(b2);
    mac.p[0] = mac.p[0] == '0' ? '1' : '0';
    if ((b2 = json_set2(b1, "$.signature", mac.p, "$.code", "00")) == NULL)
        goto out;
    if (payos_link_parse(fuzz_db(), KEY, b2, strlen(b2), &l, &why) == 0)
        __builtin_trap();
    payos_link_free(&l);
out:
    free(b1);
    free(b2);
    buf_free(&text);
    buf_free(&mac);
    buf_free(&why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = xstrndup((const char *)data, size);
    size_t len = strlen(body);
    struct payos_link l;
    buf_t why = {0};
    int rc;

    rc = payos_link_parse(fuzz_db(), KEY, body, len, &l, &why);
    if (rc == 0) {
        check_taken(&l);
        if (!db_json_object(fuzz_db(), body, len))
            __builtin_trap();
    } else if (why.len == 0) {
        __builtin_trap(); /* a refusal always says why */
    }
    payos_link_free(&l);
    if (db_json_object(fuzz_db(), body, len))
        check_made_right(body);
    buf_free(&why);
    free(body);
    return 0;
}
