/* libFuzzer target: FastCGI records from the web server (fcgi_in_feed and
 * fcgi_param), fed in two pieces split at a position the input chooses,
 * with a small STDIN limit (the batching responder keeps request bodies)
 * and, as on a kept connection, the next request read by the same reader
 * once one is complete. */
#include <stddef.h>
#include <stdint.h>

#include "wire/fcgi_rec.h"

#define FUZZ_STDIN_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int feed(struct fcgi_in *in, const uint8_t *p, size_t n)
{
    const char *v;
    size_t vlen;

    if (fcgi_in_feed(in, p, n) != 0)
        return -1;
    if (in->params_done) {
        fcgi_param(&in->params, "REQUEST_URI", &v, &vlen);
        fcgi_param(&in->params, "HTTP_LAST_EVENT_ID", &v, &vlen);
    }
    if (in->body.len > FUZZ_STDIN_MAX)
        __builtin_trap(); /* the limit did not hold */
    if (in->params_done && in->stdin_done)
        fcgi_in_next(in);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fcgi_in in = {0};
    size_t cut = size ? data[0] % (size + 1) : 0;

    in.stdin_max = FUZZ_STDIN_MAX;
    if (feed(&in, data, cut) == 0)
        feed(&in, data + cut, size - cut);
    fcgi_in_free(&in);
    return 0;
}
