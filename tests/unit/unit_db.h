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

#endif
