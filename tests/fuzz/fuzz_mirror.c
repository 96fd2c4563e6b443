/* libFuzzer target: what an edge reads from Redis (mirror_apply on every
 * reply hiredis's reader makes of the bytes). */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "fuzz_db.h"
#include "mirror.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* hiredis 0.14's reader allocates whatever array size a reply announces
 * (it has no element limit), so "*66666610" spends the run in calloc and
 * free inside hiredis. An XREAD of ours (COUNT 512) never comes near: such
 * inputs test hiredis, not Pulse, and are skipped. */
static int huge_aggregate(const uint8_t *data, size_t size)
{
    size_t i;

    for (i = 0; i < size; i++) {
        if (data[i] == '*' || data[i] == '%' || data[i] == '~') {
            long long n = 0;
            size_t k = i + 1;

            while (k < size && data[k] >= '0' && data[k] <= '9' && n < 1000000)
                n = n * 10 + (data[k++] - '0');
            if (n > 10000)
                return 1;
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    int64_t stored = 0;

    if (r == NULL)
        return 0;
    if (huge_aggregate(data, size)) {
        redisReaderFree(r);
        return 0;
    }
    if (redisReaderFeed(r, (const char *)data, size) == REDIS_OK) {
        while (redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL) {
            mirror_apply(fuzz_db(), reply, &stored);
            freeReplyObject(reply);
            reply = NULL;
        }
    }
    redisReaderFree(r);
    /* Every input starts from an empty log (and memory stays flat). */
    if (sqlite3_exec(db_handle(fuzz_db()), "DELETE FROM events; "
                     "UPDATE meta SET v = 0", NULL, NULL, NULL) != SQLITE_OK)
        abort();
    return 0;
}
