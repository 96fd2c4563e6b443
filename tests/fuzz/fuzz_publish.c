/* libFuzzer target: POST /api/publish bodies - the object check, then the
 * statement that reads topic, type and data (SQLite's JSON functions on
 * outside input, which is where SQLite 3.40 has crashed before). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "fuzz_db.h"
#include "sql_gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = xstrndup((const char *)data, size);
    size_t len = strlen(body);
    sqlite3_stmt *st;
    int i;

    if (db_json_object(fuzz_db(), body, len)) {
        st = db_stmt(fuzz_db(), SQL_EVENT_PUBLISH_BODY);
        if (st != NULL && db_bind_text(st, 1, body, (int)len) == 0 &&
            db_bind_int64(st, 2, db_json_escapes_nul(body, len)) == 0 && sqlite3_step(st) == SQLITE_ROW)
            for (i = 0; i < sqlite3_column_count(st); i++)
                (void)sqlite3_column_text(st, i);
        db_done(st);
    }
    free(body);
    return 0;
}
