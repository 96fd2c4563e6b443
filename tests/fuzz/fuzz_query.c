/* libFuzzer target: query strings and form bodies (http_query_parse), whose
 * decoded names and values must be UTF-8; and http_valid_url on each value. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "base/utf8.h"
#include "http/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_query q;
    const char *all[HTTP_MAX_QUERY_PARAMS];
    size_t i;

    if (http_query_parse((const char *)data, size, &q) == 0) {
        for (i = 0; i < q.n; i++) {
            /* decoded strings are NUL-free C strings */
            if (strlen(q.v[i].value) > size || http_query_get(&q, q.v[i].name) == NULL ||
                !utf8_valid(q.v[i].name, strlen(q.v[i].name)) || !utf8_valid(q.v[i].value, strlen(q.v[i].value)))
                __builtin_trap();
            http_valid_id(q.v[i].value);
            /* an accepted URL starts with a web scheme and holds no space */
            if (http_valid_url(q.v[i].value) &&
                ((strncasecmp(q.v[i].value, "http://", 7) != 0 && strncasecmp(q.v[i].value, "https://", 8) != 0) ||
                 strpbrk(q.v[i].value, " \t\r\n\"<>") != NULL || strlen(q.v[i].value) > HTTP_MAX_URL))
                __builtin_trap();
        }
        http_query_all(&q, "topic", all, HTTP_MAX_QUERY_PARAMS);
        http_query_free(&q);
    }
    return 0;
}
