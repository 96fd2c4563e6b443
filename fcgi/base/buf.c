/* buf.c - growable byte buffer (see buf.h). */
#include "base/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

void buf_reserve(buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    size_t cap;

    if (need <= b->cap)
        return;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    b->p = xrealloc(b->p, cap);
    b->cap = cap;
}

void buf_append(buf_t *b, const void *data, size_t n)
{
    buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void buf_puts(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}

void buf_putc(buf_t *b, char c)
{
    buf_append(b, &c, 1);
}

void buf_put_i64(buf_t *b, long long v)
{
    char d[24];     /* 20 digits and a sign at most */
    size_t i = sizeof d;
    /* (unsigned: the magnitude of LLONG_MIN does not fit a long long) */
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

    do {
        d[--i] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        d[--i] = '-';
    buf_append(b, d + i, sizeof d - i);
}

void buf_vprintf(buf_t *b, const char *fmt, va_list ap)
{
    va_list cp;
    int n;

    va_copy(cp, ap);
    n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n < 0)
        abort(); /* only a malformed format string can do this */
    buf_reserve(b, (size_t)n);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void buf_printf(buf_t *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void buf_reset(buf_t *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = '\0';
}

void buf_free(buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *buf_steal(buf_t *b)
{
    char *p = b->p ? b->p : xstrdup("");

    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *buf_str(const buf_t *b)
{
    return b->p ? b->p : "";
}

/* ns(v): "<len>:v," (the length by hand: vsnprintf was half the cost of
 * signing a relayed entry) */
void buf_put_ns(buf_t *b, const char *v, size_t len)
{
    char digits[24];
    size_t n = sizeof digits, x = len;

    digits[--n] = ':';
    do {
        digits[--n] = (char)('0' + x % 10);
        x /= 10;
    } while (x > 0);
    buf_append(b, digits + n, sizeof digits - n);
    buf_append(b, v, len);
    buf_putc(b, ',');
}
