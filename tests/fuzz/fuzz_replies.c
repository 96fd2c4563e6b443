/* libFuzzer target: the services' answers to the calls pulse-batch makes
 * (handlers/crm_send.c's crm_send_reply: Facebook's Send API, Zalo OA,
 * TikTok). The first byte picks the platform and the HTTP status; the rest
 * is the answer's body, any bytes.
 *
 * What must hold: exactly one of a message id (then the answer was a 2xx)
 * or an error message comes back; an id is 1 to 256 bytes of UTF-8 without
 * NUL; an error is UTF-8, names the platform first, and holds at most a
 * few hundred bytes of what the platform said. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/utf8.h"
#include "fuzz_db.h"
#include "handlers/crm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const platforms[] = {"facebook", "zalo", "tiktok"};
static const long statuses[] = {200, 201, 400, 404, 429, 500, 503, 302};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *platform, *body;
    char *mid = NULL, *error = NULL;
    long status;
    int r;

    if (size == 0)
        return 0;
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
