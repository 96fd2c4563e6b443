/* buf.h - a growable byte buffer. Never truncates: it grows or aborts (OOM).
 *
 * The bytes are always NUL-terminated after len so they can be used as a C
 * string when they hold text. A zeroed buf_t is a valid empty buffer. */
#ifndef PULSE_BUF_H
#define PULSE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *p;      /* owned; NULL until first append */
    size_t len;   /* bytes used, excluding the terminating NUL */
    size_t cap;   /* bytes allocated */
} buf_t;

void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *data, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
/* v in decimal (no printf: a batch publish answers up to 1,000 ids). */
void buf_put_i64(buf_t *b, long long v);
/* Appends the netstring of v: "<decimal length>:v," (what signatures sign). */
void buf_put_ns(buf_t *b, const char *v, size_t len);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_reset(buf_t *b);               /* len = 0, keeps memory */
void buf_free(buf_t *b);                /* frees memory, b is empty again */
char *buf_steal(buf_t *b);              /* caller owns the returned string; b is empty */
const char *buf_str(const buf_t *b);    /* "" when empty; valid until next change */

#endif
