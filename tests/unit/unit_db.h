/* unit_db.h - the unit tests' database: SQLite in memory, migrated like a
 * real one. Include after check.h. */
#ifndef PULSE_UNIT_DB_H
#define PULSE_UNIT_DB_H

#include <stdio.h>
#include <stdlib.h>

#include "store/db.h"

/* The opened database, or NULL after recording a failed check. */
static inline struct db *unit_db_open(void)
{
    struct db *d = NULL;
    char *err = NULL;

    if (db_open(":memory:", &d, &err) != 0) {
        fprintf(stderr, "db_open: %s\n", err ? err : "?");
        free(err);
        CHECK(0);
        return NULL;
    }
    return d;
}

typedef void unit_test_fn(void);

/* main() of a test over the database: opens it into *dbp, runs each test
 * of the NULL-terminated list, closes it; returns check_summary(name). */
static inline int unit_db_main(const char *name, struct db **dbp, unit_test_fn *const tests[])
{
    size_t i;

    if ((*dbp = unit_db_open()) != NULL) {
        for (i = 0; tests[i] != NULL; i++)
            tests[i]();
        db_close(*dbp);
        *dbp = NULL;
    }
    return check_summary(name);
}

/* The one integer sql answers on db, or -1. */
static inline long long unit_query_int(struct db *db, const char *sql)
{
    sqlite3_stmt *st;
    long long n = -1;

    if (sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The environment of a runtime under dir (database, bells, data) with
 * JWT secret, for config_load. */
static inline void unit_env(const char *dir, const char *secret)
{
    buf_t path = {0};

    buf_printf(&path, "%s/pulse.db", dir);
    setenv("PULSE_DB", buf_str(&path), 1);
    buf_reset(&path);
    buf_printf(&path, "%s/bells", dir);
    setenv("PULSE_BELL_DIR", buf_str(&path), 1);
    setenv("PULSE_DATA", dir, 1);
    setenv("PULSE_JWT_SECRET", secret, 1);
    buf_free(&path);
}

#endif
