/* unit_fcgi.h - FastCGI records as a web server sends them, for the tests
 * that feed a responder (test_batch) or its request parser (test_bearer). */
#ifndef PULSE_UNIT_FCGI_H
#define PULSE_UNIT_FCGI_H

#include <fastcgi.h>
#include <string.h>

#include "base/buf.h"

/* A PARAMS name-value pair: a name under 128 bytes; a value of 128 or more
 * takes a 4-byte length. */
static inline void unit_nv(buf_t *b, const char *name, const char *value)
{
    size_t n = strlen(value);

    buf_putc(b, (char)strlen(name));
    if (n < 128) {
        buf_putc(b, (char)n);
    } else {
        buf_putc(b, (char)(0x80 | (n >> 24)));
        buf_putc(b, (char)(n >> 16));
        buf_putc(b, (char)(n >> 8));
        buf_putc(b, (char)n);
    }
    buf_puts(b, name);
    buf_puts(b, value);
}

/* A record of request 1 (body under 64 KiB, no padding). */
static inline void unit_record(buf_t *b, int type, const void *body, size_t len)
{
    unsigned char h[8] = {FCGI_VERSION_1, (unsigned char)type, 0, 1,
                          (unsigned char)(len >> 8), (unsigned char)len, 0, 0};

    buf_append(b, h, sizeof h);
    buf_append(b, body, len);
}

#endif
