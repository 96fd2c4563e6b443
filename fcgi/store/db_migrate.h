/* db_migrate.h - opening a connection for db.c: WAL mode, the busy
 * timeout, extended result codes and the versioned migrations of
 * sql/migrations, applied once whatever the number of processes starting
 * together on a new file. Only db.c uses it; everything else goes through
 * db.h. */
#ifndef PULSE_DB_MIGRATE_H
#define PULSE_DB_MIGRATE_H

#include <sqlite3.h>

#include "base/buf.h"

/* Opens path, which must exist unless memory (it names an in-memory
 * database), in WAL mode with the migrations applied: *out is the caller's
 * to close. 0, or -1 with errb set. */
int db_migrate_connect(const char *path, int memory, sqlite3 **out, buf_t *errb);

#endif
