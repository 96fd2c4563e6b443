/* libFuzzer target: query strings and form bodies (http_query_parse). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_query q;
    const char *all[HTTP_MAX_QUERY_PARAMS];
    size_t i;

    if (http_query_parse((const char *)data, size, &q) == 0) {
        for (i = 0; i < q.n; i++) {
            /* decoded strings are NUL-free C strings */
            if (strlen(q.v[i].value) > size || http_query_get(&q, q.v[i].name) == NULL)
                __builtin_trap();
            http_valid_id(q.v[i].value);
        }
        http_query_all(&q, "topic", all, HTTP_MAX_QUERY_PARAMS);
        http_query_free(&q);
    }
    return 0;
}
