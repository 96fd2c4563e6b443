/* libFuzzer target: bearer tokens (auth_jwt_verify). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "auth.h"
#include "fuzz_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *token = xstrndup((const char *)data, size);
    struct auth_claims c;
    const char *why;

    if (auth_jwt_verify(fuzz_db(), "fuzz-secret", token, 1000, &c, &why) == 0)
        auth_claims_free(&c);
    free(token);
    return 0;
}
