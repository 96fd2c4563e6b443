/* libFuzzer target: bearer tokens (auth_jwt_verify), and the verified-token
 * cache in front of it, which must answer exactly as the verification does
 * (same result, same reason, same claims) however tokens collide in it.
 * The input is also read as an Authorization header (auth_bearer_token),
 * and every claim a token yields must be UTF-8 (it is stored and echoed). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "auth/auth.h"
#include "base/alloc.h"
#include "base/utf8.h"
#include "fuzz_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same_claims(const struct auth_claims *a, const struct auth_claims *b)
{
    return strcmp(a->sub, b->sub) == 0 && strcmp(a->name, b->name) == 0 && a->role == b->role &&
           a->exp == b->exp && (a->picture == NULL ? b->picture == NULL
                                                   : b->picture != NULL && strcmp(a->picture, b->picture) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct auth_cache *cache;
    char *token = xstrndup((const char *)data, size);
    struct auth_claims c, cc;
    const char *why, *cwhy, *bearer;
    int rc, crc, i;

    if (cache == NULL)
        cache = auth_cache_open();
    /* a header: the scheme in any case and a space, then the rest of it */
    bearer = auth_bearer_token(token);
    if (bearer != NULL && (strncasecmp(token, "bearer ", 7) != 0 || bearer < token + 7 ||
                           bearer > token + strlen(token) || (bearer > token + 7 && bearer[-1] != ' ')))
        __builtin_trap();
    if (bearer == NULL && strncasecmp(token, "bearer ", 7) == 0)
        __builtin_trap();
    rc = auth_jwt_verify(fuzz_db(), "fuzz-secret", token, 1000, &c, &why);
    if (rc == 0 && (!utf8_valid(c.sub, strlen(c.sub)) || !utf8_valid(c.name, strlen(c.name)) ||
                    (c.picture != NULL && !utf8_valid(c.picture, strlen(c.picture)))))
        __builtin_trap();
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
