/* sse.c - Server-Sent Events formatting (see sse.h). */
#include "http/sse.h"

#include <inttypes.h>
#include <string.h>

void sse_event(buf_t *out, int64_t id, const char *type, const char *data, size_t len)
{
    const char *p = data, *end = data + len;

    buf_printf(out, "id: %" PRId64 "\nevent: %s\n", id, type);
    /* JSON from SQLite has no raw line breaks, but a payload that did would
     * end the field early: every CR, LF or CRLF starts a new data: line. */
    for (;;) {
        const char *q = p;

        while (q < end && *q != '\n' && *q != '\r')
            q++;
        buf_puts(out, "data: ");
        buf_append(out, p, (size_t)(q - p));
        buf_putc(out, '\n');
        if (q == end)
            break;
        p = q + (q[0] == '\r' && q + 1 < end && q[1] == '\n' ? 2 : 1);
    }
    buf_putc(out, '\n');
}

void sse_comment(buf_t *out, const char *text)
{
    buf_printf(out, ": %s\n\n", text);
}

void sse_open(buf_t *out, long retry_ms, const char *comment, int64_t id)
{
    buf_printf(out, "retry: %ld\n: %s\nid: %" PRId64 "\n\n", retry_ms, comment, id);
}
