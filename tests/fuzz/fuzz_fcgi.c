/* libFuzzer target: FastCGI records from the web server (fcgi_in_feed and
 * fcgi_param), fed in two pieces split at a position the input chooses. */
#include <stddef.h>
#include <stdint.h>

#include "fcgi_rec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fcgi_in in = {0};
    size_t cut = size ? data[0] % (size + 1) : 0;
    const char *v;
    size_t vlen;

    if (fcgi_in_feed(&in, data, cut) == 0 && fcgi_in_feed(&in, data + cut, size - cut) == 0) {
        fcgi_param(&in.params, "REQUEST_URI", &v, &vlen);
        fcgi_param(&in.params, "HTTP_LAST_EVENT_ID", &v, &vlen);
    }
    fcgi_in_free(&in);
    return 0;
}
