/* libFuzzer target: PayOS webhook bodies (signature text and check). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/alloc.h"
#include "fuzz_db.h"
#include "handlers/payos.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body = xstrndup((const char *)data, size);
    buf_t out = {0};

    payos_signed_text(fuzz_db(), body, strlen(body), &out);
    payos_signature_ok(fuzz_db(), "key", body, strlen(body), "00");
    buf_free(&out);
    free(body);
    return 0;
}
