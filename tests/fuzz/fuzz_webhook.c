/* libFuzzer target: the messaging webhooks (CRM inbox). The first byte
 * picks what the rest is: a Tiktok-Signature header, a Facebook delivery
 * (the statement that lists its messages), or a Zalo/TikTok body read field
 * by field as the handlers read it (nested paths, SQLite's JSON functions on
 * outside input). Signatures themselves cannot be forged by a fuzzer, so
 * the bodies are fed past them here. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "fuzz_db.h"
#include "handlers/websig.h"
#include "sql_gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_rows(sqlite3_stmt *st)
{
    int i;

    while (sqlite3_step(st) == SQLITE_ROW)
        for (i = 0; i < sqlite3_column_count(st); i++)
            (void)sqlite3_column_text(st, i);
}

static void facebook(struct db *db, const char *body, size_t len)
{
    sqlite3_stmt *st = db_stmt(db, SQL_CRM_FACEBOOK_MESSAGES);

    if (st != NULL && db_bind_text(st, 1, body, (int)len) == 0)
        read_rows(st);
    db_done(st);
}

static void fields(struct db *db, const char *body, size_t len)
{
    static const char *const paths[] = {"$.app_id", "$.timestamp", "$.event_name", "$.sender.id",
                                        "$.recipient.id", "$.message.msg_id", "$.message.text", "$.content",
                                        "$.content.business_id", "$.create_time", "$.entry"};
    size_t i;

    for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        sqlite3_stmt *st = db_stmt(db, SQL_JSON_FIELD);

        if (st != NULL && db_bind_text(st, 1, body, (int)len) == 0 && db_bind_text(st, 2, paths[i], -1) == 0 &&
            db_bind_int64(st, 3, db_json_escapes_nul(body, len)) == 0)
            read_rows(st);
        db_done(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    const char *s;
    size_t len, slen;
    long long t;

    if (size == 0)
        return 0;
    text = xstrndup((const char *)data + 1, size - 1);
    len = strlen(text);
    switch (data[0] % 3) {
    case 0:
        (void)websig_tiktok_parse(text, &t, &s, &slen);
        (void)websig_tiktok("secret", "{}", 2, text, 1795000000, 300);
        (void)websig_facebook("secret", "{}", 2, text);
        (void)websig_zalo("secret", "1", "2", "{}", 2, text);
        break;
    case 1: /* the handler holds a Facebook batch only to its shape */
        if (db_json_object_shape(fuzz_db(), text, len))
            facebook(fuzz_db(), text, len);
        break;
    default:
        if (db_json_object(fuzz_db(), text, len))
            fields(fuzz_db(), text, len);
        break;
    }
    free(text);
    return 0;
}
