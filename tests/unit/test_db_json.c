/* test_db_json.c - the two gates of a JSON body (fcgi/store/db_query.c): db_json_object
 * holds it to UTF-8 and to the shape of a JSON object, db_json_object_shape
 * only to the shape (a Facebook batch, whose strings are checked one by
 * one). Both refuse what SQLite cannot be given whole: a raw NUL. And
 * db_json_text_ok, db_json_object without the SQL (for a statement that
 * runs the shape's test itself): the encoding and the NUL only. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "store/db.h"

#define BOTH(d, lit, want_object, want_shape)                                                                  \
    do {                                                                                                      \
        CHECK_INT_EQ(db_json_object((d), (lit), sizeof(lit) - 1), (want_object));                             \
        CHECK_INT_EQ(db_json_object_shape((d), (lit), sizeof(lit) - 1), (want_shape));                        \
    } while (0)

static void test_gates(struct db *d)
{
    BOTH(d, "{\"a\":\"x\"}", 1, 1);
    BOTH(d, "{\"a\":\"caf\xc3\xa9 \\ud83d\\ude00\"}", 1, 1); /* UTF-8, an escaped pair */
    /* not Unicode: refused by the one, a well-formed object to the other */
    BOTH(d, "{\"a\":\"caf\xe9\"}", 0, 1);
    BOTH(d, "{\"a\":\"\xed\xa0\x80\"}", 0, 1);
    BOTH(d, "{\"a\":\"\\ud800\"}", 0, 1);
    BOTH(d, "{\"a\":[\"x\\udc00y\"],\"\xff\":1}", 0, 1);
    /* not a JSON object, whatever the encoding */
    BOTH(d, "[\"x\"]", 0, 0);
    BOTH(d, "[\"\\ud800\"]", 0, 0);
    BOTH(d, "{\"a\":\"\xff\"", 0, 0);
    BOTH(d, "\xff", 0, 0);
    BOTH(d, "", 0, 0);
    BOTH(d, "{\"a\":\"x\x00y\"}", 0, 0); /* a raw NUL: SQLite would read up to it */
    CHECK_INT_EQ(db_json_object(d, NULL, 0), 0);
    CHECK_INT_EQ(db_json_object_shape(d, NULL, 0), 0);
}

#define TEXT_OK(lit, want) CHECK_INT_EQ(db_json_text_ok((lit), sizeof(lit) - 1), (want))

static void test_text_ok(void)
{
    TEXT_OK("{\"a\":\"caf\xc3\xa9 \\ud83d\\ude00\"}", 1);
    TEXT_OK("[\"x\"]", 1);                /* no object, but its text is fine: the SQL decides */
    TEXT_OK("{not json", 1);
    TEXT_OK("", 1);
    TEXT_OK("{\"a\":\"caf\xe9\"}", 0);     /* not UTF-8 */
    TEXT_OK("{\"a\":\"\\ud800\"}", 0);    /* an escaped lone surrogate */
    TEXT_OK("{\"a\":\"x\x00y\"}", 0);      /* a raw NUL */
    CHECK_INT_EQ(db_json_text_ok(NULL, 0), 0);
}

int main(void)
{
    char dir[] = "/tmp/pulse-test-dbjson-XXXXXX", path[64], f[96];
    static const char *const ext[] = {"", "-wal", "-shm", "-lock"};
    struct db *d = NULL;
    char *err = NULL;
    int i;

    if (mkdtemp(dir) == NULL) {
        CHECK(0);
        return check_summary("test_db_json");
    }
    snprintf(path, sizeof path, "%s/j.db", dir);
    CHECK(db_open(path, &d, &err) == 0);
    if (d != NULL)
        test_gates(d);
    test_text_ok();
    db_close(d);
    free(err);
    for (i = 0; i < 4; i++) {
        snprintf(f, sizeof f, "%s%s", path, ext[i]);
        unlink(f);
    }
    rmdir(dir);
    return check_summary("test_db_json");
}
