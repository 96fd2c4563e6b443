/* utf8.c - UTF-8 validation (see utf8.h). */
#include "base/utf8.h"

#include <string.h>

int utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    while (p < end) {
        unsigned char c = *p;
        size_t len, i;
        unsigned char lo = 0x80, hi = 0xbf; /* the second byte's range */

        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) { /* 0xc0, 0xc1 only start overlongs */
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0; /* below: an overlong of U+0000..U+07FF */
            else if (c == 0xed)
                hi = 0x9f; /* above: U+D800..U+DFFF, surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90; /* below: an overlong of U+0000..U+FFFF */
            else if (c == 0xf4)
                hi = 0x8f; /* above: beyond U+10FFFF */
        } else {
            return 0; /* a continuation byte first, 0xc0/0xc1, or 0xf5..0xff */
        }
        if ((size_t)(end - p) < len || p[1] < lo || p[1] > hi)
            return 0;
        for (i = 2; i < len; i++)
            if ((p[i] & 0xc0) != 0x80)
                return 0;
        p += len;
    }
    return 1;
}

/* The value of the 4 hex digits at p, or -1. */
static long hex4(const char *p)
{
    long v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

int utf8_json_text_ok(const char *s, size_t n)
{
    const char *p = s, *end = s + n;
    int pending = 0; /* a high surrogate escape was just read: its low one must follow */
    long v;

    if (!utf8_valid(s, n))
        return 0;
    while (p < end) {
        if (!pending) {
            if ((p = memchr(p, '\\', (size_t)(end - p))) == NULL)
                break;
        } else if (*p != '\\') {
            return 0;
        }
        if (end - p >= 6 && p[1] == 'u' && (v = hex4(p + 2)) >= 0) {
            int is_high = v >= 0xd800 && v <= 0xdbff, is_low = v >= 0xdc00 && v <= 0xdfff;

            if (pending != is_low)
                return 0; /* a high one without its low one, or a low one alone */
            pending = !pending && is_high;
            p += 6;
            continue;
        }
        if (pending || end - p < 2)
            return 0; /* (a lone backslash last: not JSON anyway) */
        p += 2; /* another escape (\n, \\, \"): its second byte is not a backslash */
    }
    return !pending;
}

void utf8_shown(buf_t *out, const char *text, size_t n, size_t max)
{
    const char *nul = memchr(text, '\0', n);
    size_t k = 0;

    if (nul != NULL)
        n = (size_t)(nul - text);
    if (n > max)
        n = max;
    while (k < 4 && k < n && !utf8_valid(text, n - k))
        k++; /* a character cut at the end */
    if (utf8_valid(text, n - k))
        buf_append(out, text, n - k);
    else
        buf_puts(out, "(not UTF-8 text)");
}

int utf8_name_chars(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];

        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
              c == ':' || c == '-'))
            return 0;
    }
    return 1;
}
