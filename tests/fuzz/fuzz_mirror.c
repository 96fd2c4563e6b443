/* libFuzzer target: what an edge reads from Redis (mirror_apply on every
 * reply hiredis's reader makes of the bytes). */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_db.h"
#include "mirror.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    int64_t stored = 0;

    if (r == NULL)
        return 0;
    if (redisReaderFeed(r, (const char *)data, size) == REDIS_OK) {
        while (redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL) {
            mirror_apply(fuzz_db(), reply, &stored);
            freeReplyObject(reply);
            reply = NULL;
        }
    }
    redisReaderFree(r);
    /* Every input starts from an empty log (and memory stays flat). */
    if (sqlite3_exec(db_handle(fuzz_db()), "DELETE FROM events; DELETE FROM sqlite_sequence; "
                     "UPDATE meta SET v = 0", NULL, NULL, NULL) != SQLITE_OK)
        abort();
    return 0;
}
