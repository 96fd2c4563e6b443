/* Shared set-up of the fuzz targets that need SQLite's JSON functions or the
 * configuration: an in-memory database, opened once per fuzzing process. */
#ifndef FUZZ_DB_H
#define FUZZ_DB_H

#include <stdlib.h>

#include "base/config.h"
#include "store/db.h"

static struct db *fuzz_db(void)
{
    static struct db *db;
    char *err = NULL;

    if (db == NULL) {
        setenv("PULSE_JWT_SECRET", "fuzz-secret", 1);
        setenv("PULSE_DATA", "/tmp", 1);
        if (config_load(&err) != 0 || db_open(":memory:", &db, &err) != 0)
            abort();
    }
    return db;
}

#endif
