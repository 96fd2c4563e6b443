/* db_migrate.c - opening a connection: WAL mode, the busy timeout and the
 * versioned migrations of sql/migrations (see db_migrate.h). */
#include "store/db_migrate.h"

#include <unistd.h>

#include "base/jsnum.h"
#include "base/utf8.h"
#include "sql_gen.h"
#include "store/db_ckpt.h"

#define DB_BUSY_TIMEOUT_MS 10000
#define DB_SETUP_RETRY_MS 10

/* The checks of a batch publish's event (event_append_batch), as functions
 * that hand their value on or stop the statement: a WHERE that filtered the
 * rows needed the extracted values twice, so the query kept them in a
 * temporary table (MATERIALIZED), a quarter of the statement's cost a row
 * (bench/HISTORY.md). A refusal is SQLITE_CONSTRAINT_FUNCTION: the caller
 * finds and names the element (store_append_events). */
static void refuse(sqlite3_context *ctx)
{
    sqlite3_result_error(ctx, "an event of the batch is refused", -1);
    sqlite3_result_error_code(ctx, SQLITE_CONSTRAINT_FUNCTION);
}

/* pulse_event_name(x, max): x when it is text of 1 to max characters of
 * A-Z a-z 0-9 _ . : - (a topic or a type). Where `NOT GLOB
 * '*[^A-Za-z0-9_.:-]*'` stood, 10% of pulse-batch's time: the pattern is
 * tried from every position and its class parsed each time. */
static void sql_event_name(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s;
    int n;

    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT || (s = (const char *)sqlite3_value_text(argv[0])) == NULL ||
        (n = sqlite3_value_bytes(argv[0])) < 1 || n > sqlite3_value_int(argv[1]) ||
        !utf8_name_chars(s, (size_t)n)) {
        refuse(ctx); /* (NULL text of a text value: out of memory, refused too) */
        return;
    }
    sqlite3_result_value(ctx, argv[0]);
}

/* pulse_event_data(x, max): x when it is the JSON text of an object (what
 * the -> operator gives) of at most max bytes. */
static void sql_event_data(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const char *s;

    (void)argc;
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT || (s = (const char *)sqlite3_value_text(argv[0])) == NULL ||
        s[0] != '{' || sqlite3_value_bytes(argv[0]) > sqlite3_value_int64(argv[1])) {
        refuse(ctx);
        return;
    }
    sqlite3_result_value(ctx, argv[0]);
}

/* pulse_js_json(x): a JSON number x as JSON.stringify prints it (the
 * double JavaScript reads for it: 5e4 is 50000, 9007199254740993 is
 * 9007199254740992); anything else as it is. PayOS signs arrays so
 * (payos_sign_fields). */
static void sql_js_json(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    buf_t b = {0};

    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_INTEGER)
        jsnum_int(sqlite3_value_int64(argv[0]), &b);
    else if (sqlite3_value_type(argv[0]) == SQLITE_FLOAT)
        jsnum_json(sqlite3_value_double(argv[0]), &b);
    else {
        sqlite3_result_value(ctx, argv[0]);
        return;
    }
    sqlite3_result_text(ctx, buf_str(&b), (int)b.len, SQLITE_TRANSIENT);
    buf_free(&b);
}

/* The connection's own SQL functions. */
static int db_functions(sqlite3 *h)
{
    int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;

    if (sqlite3_create_function_v2(h, "pulse_event_name", 2, flags, NULL, sql_event_name, NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function_v2(h, "pulse_js_json", 1, flags, NULL, sql_js_json, NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    return sqlite3_create_function_v2(h, "pulse_event_data", 2, flags, NULL, sql_event_data, NULL, NULL, NULL) ==
                   SQLITE_OK
               ? 0
               : -1;
}

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

    /* Up to date, as nearly every start finds it: no write lock taken (a
     * CGI host starts a process per request, and a writer holds the lock). */
    if (db_user_version(h, &version) == 0 && version == SQL_MIGRATION_COUNT)
        return SQLITE_OK;
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

int db_migrate_connect(const char *path, int memory, sqlite3 **out, buf_t *errb)
{
    sqlite3 *h = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (memory ? SQLITE_OPEN_CREATE : 0);

    if (sqlite3_open_v2(path, &h, flags, NULL) != SQLITE_OK) {
        buf_printf(errb, "opening %s: %s", path, h ? sqlite3_errmsg(h) : "out of memory");
        goto fail;
    }
    sqlite3_busy_timeout(h, DB_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(h, 1);
    if (sqlite3_wal_autocheckpoint(h, DB_CKPT_BACKSTOP_PAGES) != SQLITE_OK || db_functions(h) != 0) {
        buf_printf(errb, "opening %s: %s", path, sqlite3_errmsg(h));
        goto fail;
    }
    /* WAL lets the stream responder read while request responders write;
     * synchronous=NORMAL is durable across process crashes (the case we
     * must survive) and loses at most the last commits on power loss. */
    if (db_setup(h, errb) != 0)
        goto fail;
    buf_reset(errb); /* a retried start leaves the busy attempt's message */
    *out = h;
    return 0;
fail:
    sqlite3_close(h);
    return -1;
}
