/* libFuzzer target: the messaging webhooks (CRM inbox). The first byte
 * picks what the rest is: a Tiktok-Signature header, a Facebook delivery
 * (the statement that lists its messages), or a Zalo/TikTok body read field
 * by field as the handlers read it (nested paths, SQLite's JSON functions on
 * outside input), and the receipts of agents' answers: a Facebook
 * delivery's message_deliveries and message_reads items, a Zalo receipt's
 * msg_ids, each then applied to the (empty) messages as the handlers apply
 * them. Signatures themselves cannot be forged by a fuzzer, so the bodies
 * are fed past them here.
 *
 * What must hold: a header is accepted only when it carries the right MAC
 * (and carrying it, it is: with the fuzzed header's other pairs kept, and
 * stale exactly when t is outside the window); a parsed TikTok header's s
 * lies inside it, non-empty, without a comma. The statements answer every
 * body they are given without an error (the client would get a 5xx), and
 * JSON type names SQLite's own. */
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/crypto.h"
#include "fuzz_db.h"
#include "handlers/websig.h"
#include "sql_gen.h"

#define SECRET "secret"
#define NOW 1795000000LL
#define WINDOW 300

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int json_type_name(sqlite3_stmt *st, int i)
{
    static const char *const names[] = {"null", "true", "false", "integer", "real", "text", "array", "object"};
    const char *t = (const char *)sqlite3_column_text(st, i);
    size_t k;

    if (t == NULL)
        return 1; /* no such member */
    for (k = 0; k < sizeof names / sizeof names[0]; k++)
        if (strcmp(t, names[k]) == 0)
            return 1;
    return 0;
}

static void read_rows(sqlite3_stmt *st, int (*row_ok)(sqlite3_stmt *))
{
    int rc;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (!row_ok(st))
            __builtin_trap();
    if (rc != SQLITE_DONE)
        __builtin_trap();
}

static int facebook_row(sqlite3_stmt *st)
{
    int i;

    for (i = 0; i < 10; i += 2)
        if (!json_type_name(st, i))
            return 0;
    return sqlite3_column_int(st, 10) == 0 || sqlite3_column_int(st, 10) == 1;
}

static int field_row(sqlite3_stmt *st)
{
    const char *t = (const char *)sqlite3_column_text(st, 0);

    return t != NULL && (t[0] == '\0' || json_type_name(st, 0)) &&
           (sqlite3_column_int(st, 2) == 0 || sqlite3_column_int(st, 2) == 1);
}

static void facebook(struct db *db, const char *body, size_t len)
{
    sqlite3_stmt *st = db_stmt(db, SQL_CRM_FACEBOOK_MESSAGES);

    if (st == NULL || db_bind_text(st, 1, body, (int)len) != 0)
        __builtin_trap();
    read_rows(st, facebook_row);
    db_done(st);
}

/* The mids of a receipt (a JSON array SQLite extracted) applied as the
 * handlers apply them: every statement answers. */
static void apply_mids(struct db *db, const char *mids)
{
    const char *args[3] = {"facebook", mids, "read"};

    if (db_run_texts(db, SQL_CRM_STATUS_BY_MIDS, 3, args, NULL) != 0)
        __builtin_trap();
}

static int receipt_row(sqlite3_stmt *st)
{
    const char *status = (const char *)sqlite3_column_text(st, 4);

    return json_type_name(st, 0) && json_type_name(st, 2) && json_type_name(st, 5) && status != NULL &&
           (strcmp(status, "delivered") == 0 || strcmp(status, "read") == 0);
}

static void receipts(struct db *db, const char *body, size_t len)
{
    sqlite3_stmt *st = db_stmt(db, SQL_CRM_FACEBOOK_RECEIPTS);
    char *mids[16];
    size_t n = 0, i;
    int rc;

    if (st == NULL || db_bind_text(st, 1, body, (int)len) != 0)
        __builtin_trap();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (!receipt_row(st))
            __builtin_trap();
        if (n < 16 && sqlite3_column_type(st, 7) != SQLITE_NULL)
            mids[n++] = xstrdup((const char *)sqlite3_column_text(st, 7));
    }
    if (rc != SQLITE_DONE)
        __builtin_trap();
    db_done(st);
    for (i = 0; i < n; i++) {
        apply_mids(db, mids[i]);
        free(mids[i]);
    }
}

static void zalo_receipt(struct db *db, const char *body)
{
    const char *args[1] = {body};
    char *ids = db_one_text(db, SQL_CRM_ZALO_MSG_IDS, 1, args);

    if (ids != NULL)
        apply_mids(db, ids);
    free(ids);
}

static void fields(struct db *db, const char *body, size_t len)
{
    static const char *const paths[] = {"$.app_id", "$.timestamp", "$.event_name", "$.sender.id",
                                        "$.recipient.id", "$.message.msg_id", "$.message.text", "$.content",
                                        "$.content.business_id", "$.create_time", "$.entry"};
    size_t i;

    for (i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        sqlite3_stmt *st = db_stmt(db, SQL_JSON_FIELD);

        if (st == NULL || db_bind_text(st, 1, body, (int)len) != 0 || db_bind_text(st, 2, paths[i], -1) != 0 ||
            db_bind_int64(st, 3, db_json_escapes_nul(body, len)) != 0 || sqlite3_step(st) != SQLITE_ROW ||
            !field_row(st))
            __builtin_trap();
        db_done(st);
    }
}

/* 1 when header is prefix and want's hex, in any case. */
static int is_mac(const char *header, const char *prefix, const buf_t *want)
{
    size_t n = strlen(prefix), i;

    if (strncmp(header, prefix, n) != 0 || strlen(header + n) != want->len)
        return 0;
    for (i = 0; i < want->len; i++)
        if (tolower((unsigned char)header[n + i]) != want->p[i])
            return 0;
    return 1;
}

static void tiktok(const char *text, size_t len)
{
    enum websig_result r = websig_tiktok(SECRET, "{}", 2, text, NOW, WINDOW);
    buf_t signed_text = {0}, mac = {0}, header = {0};
    const char *s = NULL;
    size_t slen = 0;
    long long t = 0;
    int parsed = websig_tiktok_parse(text, &t, &s, &slen) == 0;

    if (parsed && (t < 0 || slen == 0 || s < text || s + slen > text + len || memchr(s, ',', slen) != NULL))
        __builtin_trap();
    if (!parsed) {
        if (r != WEBSIG_BAD)
            __builtin_trap();
        return;
    }
    buf_printf(&signed_text, "%lld.{}", t);
    if (crypto_hmac_sha256_hex(SECRET, strlen(SECRET), signed_text.p, signed_text.len, &mac) != 0)
        __builtin_trap();
    /* accepted only with the right MAC; stale exactly outside the window */
    if (r != WEBSIG_BAD) {
        buf_t got = {0};

        buf_puts(&got, "s=");
        buf_append(&got, s, slen);
        if (!is_mac(got.p, "s=", &mac) || (r == WEBSIG_STALE) != (t < NOW - WINDOW || t > NOW + WINDOW))
            __builtin_trap();
        buf_free(&got);
    }
    /* the same header carrying the right MAC is accepted */
    buf_append(&header, text, (size_t)(s - text));
    buf_append(&header, mac.p, mac.len);
    buf_puts(&header, s + slen);
    r = websig_tiktok(SECRET, "{}", 2, header.p, NOW, WINDOW);
    if (r == WEBSIG_BAD || (r == WEBSIG_STALE) != (t < NOW - WINDOW || t > NOW + WINDOW))
        __builtin_trap();
    buf_free(&signed_text);
    buf_free(&mac);
    buf_free(&header);
}

static void facebook_zalo_headers(const char *text)
{
    buf_t fb = {0}, zalo = {0};

    if (crypto_hmac_sha256_hex(SECRET, strlen(SECRET), "{}", 2, &fb) != 0 ||
        crypto_sha256_hex("1{}2" SECRET, 4 + strlen(SECRET), &zalo) != 0)
        __builtin_trap();
    if (websig_facebook(SECRET, "{}", 2, text) != is_mac(text, "sha256=", &fb) ||
        websig_zalo(SECRET, "1", "2", "{}", 2, text) != is_mac(text, "mac=", &zalo))
        __builtin_trap();
    buf_free(&fb);
    buf_free(&zalo);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    size_t len;

    if (size == 0)
        return 0;
    text = xstrndup((const char *)data + 1, size - 1);
    len = strlen(text);
    switch (data[0] % 3) {
    case 0:
        tiktok(text, len);
        facebook_zalo_headers(text);
        break;
    case 1: /* the handler holds a Facebook batch only to its shape */
        if (db_json_object_shape(fuzz_db(), text, len)) {
            facebook(fuzz_db(), text, len);
            receipts(fuzz_db(), text, len);
        }
        break;
    default:
        if (db_json_object(fuzz_db(), text, len)) {
            fields(fuzz_db(), text, len);
            zalo_receipt(fuzz_db(), text);
        }
        break;
    }
    free(text);
    return 0;
}
