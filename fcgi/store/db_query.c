/* db_query.c - the statement helpers of db.h: checked binds, one-row and
 * no-row statements with text arguments, and the JSON checks applied to
 * anything from outside. */
#include "store/db.h"

#include <string.h>

#include "base/alloc.h"
#include "base/log.h"
#include "base/utf8.h"

int db_bind_text(sqlite3_stmt *st, int idx, const char *s, int len)
{
    int rc = s ? sqlite3_bind_text(st, idx, s, len, SQLITE_TRANSIENT) : sqlite3_bind_null(st, idx);

    if (rc != SQLITE_OK) {
        log_error("bind %d: %s", idx, sqlite3_errstr(rc));
        return -1;
    }
    return 0;
}

int db_bind_int64(sqlite3_stmt *st, int idx, int64_t v)
{
    int rc = sqlite3_bind_int64(st, idx, v);

    if (rc != SQLITE_OK) {
        log_error("bind %d: %s", idx, sqlite3_errstr(rc));
        return -1;
    }
    return 0;
}

/* The named statement with text arguments bound as ?1, ?2, ...; NULL when
 * it cannot be prepared or bound. */
static sqlite3_stmt *stmt_with_texts(struct db *db, enum sql_id id, int nargs, const char *const *args)
{
    sqlite3_stmt *st = db_stmt(db, id);
    int i;

    for (i = 0; st != NULL && i < nargs; i++) {
        if (db_bind_text(st, i + 1, args[i], -1) != 0) {
            db_done(st);
            st = NULL;
        }
    }
    return st;
}

char *db_one_text(struct db *db, enum sql_id id, int nargs, const char *const *args)
{
    sqlite3_stmt *st = stmt_with_texts(db, id, nargs, args);
    char *out = NULL;

    if (st != NULL && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        out = xstrndup((const char *)sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
    db_done(st);
    return out;
}

int db_lookup(sqlite3_stmt *st)
{
    int rc = st != NULL ? sqlite3_step(st) : SQLITE_ERROR;

    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int db_run_texts(struct db *db, enum sql_id id, int nargs, const char *const *args, int *changed)
{
    sqlite3_stmt *st = stmt_with_texts(db, id, nargs, args);
    int rc = -1;

    if (st != NULL && sqlite3_step(st) == SQLITE_DONE) {
        if (changed != NULL)
            *changed = sqlite3_changes(db_handle(db));
        rc = 0;
    }
    db_done(st);
    return rc;
}

/* What SQLite cannot be given whole: a raw NUL ends a bound string. */
static int bindable(const char *text, size_t len)
{
    return text != NULL && len <= 0x7fffffff && memchr(text, '\0', len) == NULL;
}

int db_json_text_ok(const char *text, size_t len)
{
    return bindable(text, len) && utf8_json_text_ok(text, len);
}

int db_json_object_shape(struct db *db, const char *text, size_t len)
{
    sqlite3_stmt *st;
    int ok;

    if (!bindable(text, len))
        return 0;
    st = db_stmt(db, SQL_JSON_IS_OBJECT);
    ok = st != NULL && db_bind_text(st, 1, text, (int)len) == 0 && sqlite3_step(st) == SQLITE_ROW &&
         sqlite3_column_int(st, 0) == 1;
    db_done(st);
    return ok;
}

int db_json_object(struct db *db, const char *text, size_t len)
{
    /* the scan first: it is cheaper than the SQL, and refuses alone */
    return text != NULL && utf8_json_text_ok(text, len) && db_json_object_shape(db, text, len);
}

int db_json_escapes_nul(const char *text, size_t len)
{
    const char *p = text, *end;

    if (text == NULL)
        return 0;
    end = text + len;
    /* escapes come in pairs: in \\u0000 the backslash is escaped, not the u */
    while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
        if (end - p >= 6 && memcmp(p + 1, "u0000", 5) == 0)
            return 1;
        p += 2;
        if (p >= end)
            break;
    }
    return 0;
}

int db_flag(struct db *db, enum sql_id q)
{
    sqlite3_stmt *st = db_stmt(db, q);
    int rc = -1;

    if (st != NULL && db_lookup(st) == 1)
        rc = sqlite3_column_int(st, 0) != 0;
    db_done(st);
    return rc;
}
