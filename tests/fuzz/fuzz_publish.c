/* libFuzzer target: POST /api/publish bodies - the object check, then the
 * statement that reads topic, type and data (SQLite's JSON functions on
 * outside input, which is where SQLite 3.40 has crashed before) - and what
 * the handler relies on from it: for every object it answers a row (never
 * an error: the client would get a 5xx for a valid body); a topic or type
 * it calls whole is the very string sent (nothing cut short at an escaped
 * NUL, as SQLite 3.40 cuts it); data it calls an object
 * is a JSON object, in UTF-8, which is what gets stored. The batch form
 * ({"events":[...]}, whose events array the body statement reports) is held
 * to the same, element by element: the batch statement answers one row per
 * element, in order, never an error, and calls an element an object only
 * when it is one. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "fuzz_db.h"
#include "sql_gen.h"
#include "base/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int hex4(const char *p, unsigned *v)
{
    int i;

    for (*v = 0, i = 0; i < 4; i++) {
        char c = p[i];
        *v = *v * 16 + (unsigned)(c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99);
        if (*v > 0xffff)
            return -1;
    }
    return 0;
}

static void put_utf8(buf_t *out, unsigned cp)
{
    if (cp < 0x80) {
        buf_putc(out, (char)cp);
    } else if (cp < 0x800) {
        buf_putc(out, (char)(0xc0 | cp >> 6));
        buf_putc(out, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        buf_putc(out, (char)(0xe0 | cp >> 12));
        buf_putc(out, (char)(0x80 | (cp >> 6 & 0x3f)));
        buf_putc(out, (char)(0x80 | (cp & 0x3f)));
    } else {
        buf_putc(out, (char)(0xf0 | cp >> 18));
        buf_putc(out, (char)(0x80 | (cp >> 12 & 0x3f)));
        buf_putc(out, (char)(0x80 | (cp >> 6 & 0x3f)));
        buf_putc(out, (char)(0x80 | (cp & 0x3f)));
    }
}

/* The JSON string literal lit decoded into out (NULs kept: out->len says
 * how long), written here apart from SQLite. 0, or -1 when lit is no
 * string or not one this decoder reads (a lone surrogate). */
static int json_string(const char *lit, buf_t *out)
{
    const char *p = lit;
    unsigned cp, lo;

    if (*p++ != '"')
        return -1;
    while (*p && *p != '"') {
        if (*p != '\\') {
            buf_putc(out, *p++);
            continue;
        }
        p++;
        switch (*p) {
        case '"': case '\\': case '/': buf_putc(out, *p); break;
        case 'b': buf_putc(out, '\b'); break;
        case 'f': buf_putc(out, '\f'); break;
        case 'n': buf_putc(out, '\n'); break;
        case 'r': buf_putc(out, '\r'); break;
        case 't': buf_putc(out, '\t'); break;
        case 'u':
            if (hex4(p + 1, &cp) != 0)
                return -1;
            p += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return -1;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (p[1] != '\\' || p[2] != 'u' || hex4(p + 3, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
                    return -1;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }
            put_utf8(out, cp);
            break;
        default:
            return -1;
        }
        p++;
    }
    return *p == '"' && p[1] == '\0' ? 0 : -1;
}

/* A topic or type the statement calls whole (column whole_col) is exactly
 * the string the client sent at path: nothing cut short at an escaped NUL,
 * nothing changed. */
static void check_name(const char *body, size_t len, sqlite3_stmt *st, int col, int whole_col, const char *path)
{
    sqlite3_stmt *raw = NULL;
    buf_t sent = {0};

    if (sqlite3_column_type(st, col) != SQLITE_TEXT || sqlite3_column_int(st, whole_col) != 1)
        return;
    if (sqlite3_prepare_v2(db_handle(fuzz_db()), "SELECT ?1 -> ?2", -1, &raw, NULL) != SQLITE_OK ||
        sqlite3_bind_text(raw, 1, body, (int)len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(raw, 2, path, -1, SQLITE_STATIC) != SQLITE_OK || sqlite3_step(raw) != SQLITE_ROW)
        abort();
    if (sqlite3_column_text(raw, 0) != NULL && json_string((const char *)sqlite3_column_text(raw, 0), &sent) == 0 &&
        (sent.len != (size_t)sqlite3_column_bytes(st, col) ||
         memcmp(sent.p ? sent.p : "", sqlite3_column_text(st, col), sent.len) != 0))
        __builtin_trap();
    sqlite3_finalize(raw);
    buf_free(&sent);
}

/* A row of event_publish_body or event_publish_batch (the same first
 * seven columns) for the event at path at ("$" or "$.events[i]"). */
static void check_row(const char *body, size_t len, sqlite3_stmt *st, const char *at)
{
    const char *type, *obj;
    char *copy;
    buf_t path = {0};

    buf_printf(&path, "%s.topic", at);
    check_name(body, len, st, 0, 4, buf_str(&path));
    buf_reset(&path);
    buf_printf(&path, "%s.type", at);
    check_name(body, len, st, 1, 5, buf_str(&path));
    buf_free(&path);
    type = (const char *)sqlite3_column_text(st, 2);
    if (type != NULL && strcmp(type, "object") == 0) {
        obj = (const char *)sqlite3_column_text(st, 3);
        /* (copied: db_json_object runs a statement of its own) */
        copy = obj != NULL ? xstrdup(obj) : NULL;
        if (copy == NULL || !utf8_valid(copy, strlen(copy)) || !db_json_object(fuzz_db(), copy, strlen(copy)))
            __builtin_trap();
        free(copy);
    }
}

/* The 1 in column 6 of a batch row: the element at is an object. */
static int is_object(const char *body, size_t len, const char *at)
{
    sqlite3_stmt *t = NULL;
    int yes;

    if (sqlite3_prepare_v2(db_handle(fuzz_db()), "SELECT json_type(?1, ?2) = 'object'", -1, &t, NULL) != SQLITE_OK ||
        sqlite3_bind_text(t, 1, body, (int)len, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(t, 2, at, -1, SQLITE_STATIC) != SQLITE_OK || sqlite3_step(t) != SQLITE_ROW)
        abort();
    yes = sqlite3_column_int(t, 0);
    sqlite3_finalize(t);
    return yes;
}

static void check_batch(const char *body, size_t len, int64_t escapes_nul, long long n)
{
    sqlite3_stmt *st = db_stmt(fuzz_db(), SQL_EVENT_PUBLISH_BATCH);
    buf_t at = {0};
    long long i = 0;
    int rc;

    if (st == NULL || db_bind_text(st, 1, body, (int)len) != 0 || db_bind_int64(st, 2, escapes_nul) != 0)
        abort();
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        buf_reset(&at);
        buf_printf(&at, "$.events[%lld]", i++);
        if (sqlite3_column_int(st, 6) != is_object(body, len, buf_str(&at)))
            __builtin_trap();
        check_row(body, len, st, buf_str(&at));
    }
    if (rc != SQLITE_DONE || i != n)
        __builtin_trap();
    db_done(st);
    buf_free(&at);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = xstrndup((const char *)data, size);
    size_t len = strlen(body);
    int64_t escapes_nul = db_json_escapes_nul(body, len);
    sqlite3_stmt *st;
    const char *events;
    long long n;

    if (db_json_object(fuzz_db(), body, len)) {
        st = db_stmt(fuzz_db(), SQL_EVENT_PUBLISH_BODY);
        if (st == NULL || db_bind_text(st, 1, body, (int)len) != 0 || db_bind_int64(st, 2, escapes_nul) != 0 ||
            sqlite3_step(st) != SQLITE_ROW)
            __builtin_trap();
        check_row(body, len, st, "$");
        events = (const char *)sqlite3_column_text(st, 7);
        n = events != NULL && strcmp(events, "array") == 0 ? sqlite3_column_int64(st, 9) : -1;
        db_done(st);
        if (n >= 0)
            check_batch(body, len, escapes_nul, n);
    }
    free(body);
    return 0;
}
