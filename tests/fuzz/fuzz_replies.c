/* libFuzzer target: the services' answers to the calls pulse-batch makes:
 * crm_send_reply (handlers/crm_send.c: Facebook's Send API, Zalo OA,
 * TikTok) and payos_lookup_parse (handlers/topup_reconcile.c: PayOS's
 * GET /v2/payment-requests/{id}). The first byte picks which, the platform
 * and the HTTP status; the rest is the answer's body, any bytes.
 *
 * What must hold: exactly one of a message id (then the answer was a 2xx)
 * or an error message comes back; an id is 1 to 256 bytes of UTF-8 without
 * NUL; an error is UTF-8, names the platform first, and holds at most a
 * few hundred bytes of what the platform said. A PayOS answer is usable
 * only with a status and an orderCode, and never when a checksum key is
 * set (a fuzzer cannot sign); its strings are UTF-8. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/utf8.h"
#include "fuzz_db.h"
#include "handlers/crm.h"
#include "handlers/topup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const platforms[] = {"facebook", "zalo", "tiktok"};
static const long statuses[] = {200, 201, 400, 404, 429, 500, 503, 302};

static int text_ok(const char *s)
{
    return s == NULL || utf8_valid(s, strlen(s));
}

static void payos(const uint8_t *data, size_t size)
{
    struct payos_lookup l;
    const char *key = data[0] & 1 ? "key" : NULL;

    if (payos_lookup_parse(fuzz_db(), key, size > 1 ? (const char *)data + 1 : "", size - 1, &l) != 0 ||
        !text_ok(l.status) || !text_ok(l.reference) || !text_ok(l.error))
        __builtin_trap();
    if (l.error == NULL && (l.status == NULL || l.order_code < 0 || key != NULL))
        __builtin_trap();
    payos_lookup_free(&l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *platform, *body;
    char *mid = NULL, *error = NULL;
    long status;
    int r;

    if (size == 0)
        return 0;
    if (data[0] >= 240) {
        payos(data, size);
        return 0;
    }
    platform = platforms[data[0] % 3];
    status = statuses[(data[0] / 3) % 8];
    body = size > 1 ? (const char *)data + 1 : "";
    r = crm_send_reply(fuzz_db(), platform, status, body, size - 1, &mid, &error);
    if (r == 1) {
        if (mid == NULL || error != NULL || status < 200 || status > 299 || mid[0] == '\0' || strlen(mid) > 256 ||
            !utf8_valid(mid, strlen(mid)))
            __builtin_trap();
    } else {
        if (r != 0 || mid != NULL || error == NULL || strncmp(error, platform, strlen(platform)) != 0 ||
            !utf8_valid(error, strlen(error)) || strlen(error) > 400)
            __builtin_trap();
    }
    free(mid);
    free(error);
    return 0;
}
