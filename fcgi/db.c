/* db.c - SQLite connection, migrations and statement cache (see db.h). */
#include "db.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"
#include "utf8.h"

#define DB_BUSY_TIMEOUT_MS 10000
#define DB_SETUP_RETRY_MS 10

struct db {
    sqlite3 *h;
    sqlite3_stmt *stmts[SQL__COUNT];   /* prepared lazily, finalized at close */
};

static int db_exec(sqlite3 *h, const char *sql, buf_t *errb)
{
    char *msg = NULL;

    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        buf_printf(errb, "%s", msg ? msg : sqlite3_errmsg(h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int db_user_version(sqlite3 *h, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;

    if (sqlite3_prepare_v2(h, sql_query_text[SQL_DB_USER_VERSION], -1, &st, NULL) != SQLITE_OK)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW)
        goto out;
    *version = sqlite3_column_int(st, 0);
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* Applies each migration newer than PRAGMA user_version in its own
 * IMMEDIATE transaction, re-reading the version under the write lock so that
 * processes starting together apply each migration exactly once. Returns
 * SQLITE_OK, or the failing statement's result code. */
static int db_migrate(sqlite3 *h, buf_t *errb)
{
    int version, i;
    int rc = SQLITE_ERROR;

    for (i = 0; i < SQL_MIGRATION_COUNT; i++) {
        if (db_exec(h, sql_query_text[SQL_TX_BEGIN_IMMEDIATE], errb) != 0) {
            rc = sqlite3_errcode(h);
            goto out;
        }
        if (db_user_version(h, &version) != 0) {
            buf_printf(errb, "reading user_version: %s", sqlite3_errmsg(h));
            goto fail;
        }
        if (version > SQL_MIGRATION_COUNT) {
            buf_printf(errb, "database schema version %d is newer than this build (%d)", version,
                       SQL_MIGRATION_COUNT);
            goto fail;
        }
        if (version <= i && db_exec(h, sql_migrations[i], errb) != 0) /* it stamps version i + 1 */
            goto fail;
        if (db_exec(h, sql_query_text[SQL_TX_COMMIT], errb) != 0)
            goto fail;
    }
    rc = SQLITE_OK;
    goto out;
fail:
    rc = sqlite3_errcode(h) != SQLITE_OK ? sqlite3_errcode(h) : SQLITE_ERROR;
    sqlite3_exec(h, sql_query_text[SQL_TX_ROLLBACK], NULL, NULL, NULL);
out:
    return rc;
}

/* WAL mode and the migrations. Processes starting together on a new file
 * contend for it, and not every step waits in the busy handler (seen under
 * load: a responder exiting on "database is locked" at start): so a start
 * that finds the file busy is retried, for as long as the busy timeout. */
static int db_setup(sqlite3 *h, buf_t *errb)
{
    int waited_ms, rc;

    for (waited_ms = 0;; waited_ms += DB_SETUP_RETRY_MS) {
        buf_reset(errb);
        if (db_exec(h, sql_query_text[SQL_DB_OPEN_PRAGMAS], errb) != 0)
            rc = sqlite3_errcode(h);
        else
            rc = db_migrate(h, errb);
        if (rc == SQLITE_OK)
            return 0;
        if ((rc & 0xff) != SQLITE_BUSY || waited_ms >= DB_BUSY_TIMEOUT_MS)
            return -1;
        usleep(DB_SETUP_RETRY_MS * 1000);
    }
}

int db_open(const char *path, struct db **out, char **err)
{
    struct db *db = xcalloc(1, sizeof *db);
    buf_t errb = {0};
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;

    /* SQLite's memory statistics take a global mutex on every malloc and
     * free (15% of a publish's instructions); nothing here reads them. Only
     * possible before SQLite initialises: later calls fail harmlessly. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (sqlite3_open_v2(path, &db->h, flags, NULL) != SQLITE_OK) {
        buf_printf(&errb, "opening %s: %s", path, db->h ? sqlite3_errmsg(db->h) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(db->h, DB_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(db->h, 1);
    /* WAL lets the stream responder read while request responders write;
     * synchronous=NORMAL is durable across process crashes (the case we
     * must survive) and loses at most the last commits on power loss. */
    if (db_setup(db->h, &errb) != 0)
        goto fail;
    buf_free(&errb); /* a retried start leaves the busy attempt's message */
    *out = db;
    return 0;
fail:
    *err = buf_steal(&errb);
    db_close(db);
    return -1;
}

void db_close(struct db *db)
{
    int i;

    if (db == NULL)
        return;
    for (i = 0; i < SQL__COUNT; i++)
        sqlite3_finalize(db->stmts[i]);
    sqlite3_close(db->h);
    free(db);
}

sqlite3 *db_handle(struct db *db)
{
    return db->h;
}

sqlite3_stmt *db_stmt(struct db *db, enum sql_id id)
{
    sqlite3_stmt *st = db->stmts[id];

    if (st == NULL) {
        if (sqlite3_prepare_v3(db->h, sql_query_text[id], -1, SQLITE_PREPARE_PERSISTENT, &st,
                               NULL) != SQLITE_OK) {
            log_error("preparing %s: %s", sql_query_name[id], sqlite3_errmsg(db->h));
            sqlite3_finalize(st);
            return NULL;
        }
        db->stmts[id] = st;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

void db_done(sqlite3_stmt *st)
{
    if (st != NULL)
        sqlite3_reset(st);
}

/* Runs a prepared statement that returns no rows. 0, or -1 (logged). */
static int db_run(struct db *db, enum sql_id id)
{
    sqlite3_stmt *st = db_stmt(db, id);
    int rc = st != NULL && sqlite3_step(st) == SQLITE_DONE ? 0 : -1;

    if (rc != 0)
        log_error("%s: %s", sql_query_name[id], sqlite3_errmsg(db->h));
    db_done(st);
    return rc;
}

int db_begin(struct db *db, int immediate)
{
    return db_run(db, immediate ? SQL_TX_BEGIN_IMMEDIATE : SQL_TX_BEGIN);
}

int db_commit(struct db *db)
{
    if (db_run(db, SQL_TX_COMMIT) == 0)
        return 0;
    db_rollback(db);
    return -1;
}

void db_rollback(struct db *db)
{
    if (db_in_transaction(db) && db_run(db, SQL_TX_ROLLBACK) != 0)
        sqlite3_exec(db->h, sql_query_text[SQL_TX_ROLLBACK], NULL, NULL, NULL); /* no memory to prepare it? */
}

int db_in_transaction(struct db *db)
{
    return !sqlite3_get_autocommit(db->h);
}

int db_savepoint(struct db *db)
{
    return db_run(db, SQL_TX_SAVEPOINT);
}

int db_release(struct db *db)
{
    return db_run(db, SQL_TX_RELEASE);
}

int db_rollback_to(struct db *db)
{
    /* Some errors (disk full, I/O) roll back the whole transaction, and
     * the savepoint with it: that is a failure for the caller too. */
    if (!db_in_transaction(db) || db_run(db, SQL_TX_ROLLBACK_TO) != 0 || db_run(db, SQL_TX_RELEASE) != 0)
        return -1;
    return 0;
}

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
        *changed = sqlite3_changes(db_handle(db));
        rc = 0;
    }
    db_done(st);
    return rc;
}

int db_json_object(struct db *db, const char *text, size_t len)
{
    sqlite3_stmt *st;
    int ok;

    if (text == NULL || len > 0x7fffffff || memchr(text, '\0', len) != NULL || !utf8_json_text_ok(text, len))
        return 0;
    st = db_stmt(db, SQL_JSON_IS_OBJECT);
    ok = st != NULL && db_bind_text(st, 1, text, (int)len) == 0 && sqlite3_step(st) == SQLITE_ROW &&
         sqlite3_column_int(st, 0) == 1;
    db_done(st);
    return ok;
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
