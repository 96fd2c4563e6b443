/* libFuzzer target: the UTF-8 checks every outside text passes through.
 * utf8_valid is compared with a reference decoder written the other way
 * round (decode a code point, then judge it); and whatever JSON text
 * db_json_object accepts must give SQLite's JSON functions nothing but
 * UTF-8: every key and string they decode, and the text json() makes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "base/utf8.h"
#include "fuzz_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 3629 by decoding: the length from the lead byte's bits, continuation
 * bytes 10xxxxxx, then the code point must need exactly that length and be
 * a Unicode scalar value. */
static int reference_valid(const uint8_t *s, size_t n)
{
    size_t i = 0, len, k;
    uint32_t cp;

    while (i < n) {
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
            return 0;
        i += len;
    }
    return 1;
}

static void check_column(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    if (t != NULL && !utf8_valid((const char *)t, (size_t)sqlite3_column_bytes(st, i)))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xstrndup((const char *)data, size);
    size_t len = strlen(text);
    sqlite3 *h = db_handle(fuzz_db());
    sqlite3_stmt *st = NULL;

    if (utf8_valid((const char *)data, size) != reference_valid(data, size))
        __builtin_trap();
    if (utf8_json_text_ok((const char *)data, size) && !utf8_valid((const char *)data, size))
        __builtin_trap();
    if (db_json_object(fuzz_db(), text, len) &&
        sqlite3_prepare_v2(h, "SELECT key, CASE WHEN type = 'text' THEN atom END, json(?1) FROM json_tree(?1)", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, text, (int)len, SQLITE_STATIC) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            check_column(st, 0);
            check_column(st, 1);
            check_column(st, 2);
        }
    }
    sqlite3_finalize(st);
    free(text);
    return 0;
}
