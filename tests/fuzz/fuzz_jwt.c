/* libFuzzer target: bearer tokens (auth_jwt_verify), and the verified-token
 * cache in front of it, which must answer exactly as the verification does
 * (same result, same reason, same claims) however tokens collide in it. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "auth.h"
#include "fuzz_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_claims(const struct auth_claims *a, const struct auth_claims *b)
{
    return strcmp(a->sub, b->sub) == 0 && strcmp(a->name, b->name) == 0 && a->role == b->role && a->exp == b->exp;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct auth_cache *cache;
    char *token = xstrndup((const char *)data, size);
    struct auth_claims c, cc;
    const char *why, *cwhy;
    int rc, crc, i;

    if (cache == NULL)
        cache = auth_cache_open();
    rc = auth_jwt_verify(fuzz_db(), "fuzz-secret", token, 1000, &c, &why);
    for (i = 0; i < 2; i++) { /* a miss, then (when valid) a hit */
        crc = auth_jwt_verify_cached(cache, fuzz_db(), "fuzz-secret", token, 1000, &cc, &cwhy);
        if (crc != rc || (rc != 0 && strcmp(why, cwhy) != 0) || (rc == 0 && !same_claims(&c, &cc)))
            __builtin_trap();
        if (crc == 0)
            auth_claims_free(&cc);
    }
    if (rc == 0)
        auth_claims_free(&c);
    free(token);
    return 0;
}
