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

#endif
