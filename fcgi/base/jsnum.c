/* jsnum.c - numbers as JavaScript prints them (see jsnum.h). */
#include "base/jsnum.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ECMAScript Number::toString: the shortest digits that round-trip, laid
 * out in plain notation for exponents in [-7, 21) and in e-notation else. */
void jsnum_format(double v, buf_t *out)
{
    char tmp[40], digits[20];
    int p, k = 0, exp10 = 0, n, i;
    char *e;

    if (isnan(v)) {
        buf_puts(out, "NaN");
        return;
    }
    if (isinf(v)) {
        buf_puts(out, v < 0 ? "-Infinity" : "Infinity");
        return;
    }
    if (v == 0) {
        buf_putc(out, '0');
        return;
    }
    if (v < 0) {
        buf_putc(out, '-');
        v = -v;
    }
    for (p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp is d[.ddd]e±XX: collect the digits and the exponent. */
    for (i = 0; tmp[i] && tmp[i] != 'e'; i++)
        if (tmp[i] != '.')
            digits[k++] = tmp[i];
    while (k > 1 && digits[k - 1] == '0')
        k--;
    e = strchr(tmp, 'e');
    exp10 = e ? atoi(e + 1) : 0;
    n = exp10 + 1;
    if (k <= n && n <= 21) {
        buf_append(out, digits, (size_t)k);
        for (i = k; i < n; i++)
            buf_putc(out, '0');
    } else if (0 < n && n <= 21) {
        buf_append(out, digits, (size_t)n);
        buf_putc(out, '.');
        buf_append(out, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        buf_puts(out, "0.");
        for (i = 0; i < -n; i++)
            buf_putc(out, '0');
        buf_append(out, digits, (size_t)k);
    } else {
        buf_putc(out, digits[0]);
        if (k > 1) {
            buf_putc(out, '.');
            buf_append(out, digits + 1, (size_t)(k - 1));
        }
        buf_printf(out, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
}

void jsnum_json(double v, buf_t *out)
{
    if (isfinite(v))
        jsnum_format(v, out);
    else
        buf_puts(out, "null");
}

void jsnum_int(long long v, buf_t *out)
{
    if (v >= -JSNUM_EXACT_MAX && v <= JSNUM_EXACT_MAX)
        buf_printf(out, "%lld", v);
    else
        jsnum_format((double)v, out); /* as JavaScript reads it: the nearest double */
}
