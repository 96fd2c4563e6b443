/* sse.c - Server-Sent Events formatting (see sse.h). */
#include "sse.h"

#include <inttypes.h>
#include <string.h>

void sse_event(buf_t *out, int64_t id, const char *type, const char *data, size_t len)
{
    const char *p = data, *end = data + len;

    buf_printf(out, "id: %" PRId64 "\nevent: %s\n", id, type);
    /* JSON from SQLite has no raw newlines, but a payload that did would
     * end the field early: split it into one data: line per line. */
    do {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

        buf_puts(out, "data: ");
        buf_append(out, p, n);
        buf_putc(out, '\n');
        p += n + (nl != NULL);
    } while (p < end);
    buf_putc(out, '\n');
}

void sse_comment(buf_t *out, const char *text)
{
    buf_printf(out, ": %s\n\n", text);
}

void sse_retry(buf_t *out, long ms)
{
    buf_printf(out, "retry: %ld\n\n", ms);
}
