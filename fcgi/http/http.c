/* http.c - query strings, ids and status lines (see http.h). */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/utf8.h"

int http_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes s[0..n) into a new string; NULL for bad escapes, a NUL byte, or
 * a result that is not UTF-8 (query values are stored and sent on in JSON). */
static char *url_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    size_t i;

    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            int hi, lo;
            if (i + 2 >= n)
                goto bad;
            hi = http_hex_digit(s[i + 1]);
            lo = http_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                goto bad;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0')
            goto bad;
        *o++ = c;
    }
    *o = '\0';
    if (!utf8_valid(out, (size_t)(o - out)))
        goto bad;
    return out;
bad:
    free(out);
    return NULL;
}

int http_query_parse(const char *s, size_t len, struct http_query *q)
{
    size_t start = 0, cap = 0;

    q->v = NULL;
    q->n = 0;
    while (start < len) {
        const char *part = s + start;
        const char *amp = memchr(part, '&', len - start);
        size_t plen = amp ? (size_t)(amp - part) : len - start;
        const char *eq = memchr(part, '=', plen);
        size_t nlen = eq ? (size_t)(eq - part) : plen;
        char *name, *value;

        start += plen + 1;
        if (plen == 0)
            continue; /* "a=1&&b=2" */
        if (q->n == HTTP_MAX_QUERY_PARAMS)
            goto bad;
        name = url_decode(part, nlen);
        value = eq ? url_decode(eq + 1, plen - nlen - 1) : xstrdup("");
        if (name == NULL || value == NULL) {
            free(name);
            free(value);
            goto bad;
        }
        if (q->n == cap) {
            cap = cap ? cap * 2 : 8;
            q->v = xrealloc(q->v, cap * sizeof *q->v);
        }
        q->v[q->n].name = name;
        q->v[q->n].value = value;
        q->n++;
    }
    return 0;
bad:
    http_query_free(q);
    return -1;
}

void http_query_free(struct http_query *q)
{
    size_t i;

    for (i = 0; i < q->n; i++) {
        free(q->v[i].name);
        free(q->v[i].value);
    }
    free(q->v);
    q->v = NULL;
    q->n = 0;
}

const char *http_query_get(const struct http_query *q, const char *name)
{
    size_t i;

    for (i = 0; i < q->n; i++)
        if (strcmp(q->v[i].name, name) == 0)
            return q->v[i].value;
    return NULL;
}

size_t http_query_all(const struct http_query *q, const char *name, const char **out, size_t max)
{
    size_t i, n = 0;

    for (i = 0; i < q->n; i++) {
        if (strcmp(q->v[i].name, name) != 0)
            continue;
        if (n < max)
            out[n] = q->v[i].value;
        n++;
    }
    return n;
}

int http_valid_id_n(const char *s, size_t n)
{
    return n > 0 && n <= HTTP_MAX_ID && utf8_name_chars(s, n);
}

int http_valid_id(const char *s)
{
    return s != NULL && http_valid_id_n(s, strnlen(s, HTTP_MAX_ID + 1));
}

int http_valid_type(const char *s)
{
    size_t n = s != NULL ? strnlen(s, HTTP_MAX_TYPE + 1) : 0;

    return n <= HTTP_MAX_TYPE && http_valid_id_n(s, n);
}

int http_valid_url(const char *s)
{
    const unsigned char *p;
    size_t n, skip, host;

    if (s == NULL || (n = strnlen(s, HTTP_MAX_URL + 1)) > HTTP_MAX_URL)
        return 0;
    if (strncasecmp(s, "https://", 8) == 0)
        skip = 8;
    else if (strncasecmp(s, "http://", 7) == 0)
        skip = 7;
    else
        return 0;
    host = strcspn(s + skip, "/?#");
    if (host == 0 || s[skip] == '@' || s[skip] == ':')
        return 0; /* no host: http:///x, http://?x, http://@x, http://:80 */
    for (p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || strchr("\"'<>\\`", *p) != NULL)
            return 0;
    return 1;
}

int http_parse_i64(const char *s, long long *out)
{
    char *end;
    long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

const char *http_read_method(const char *method)
{
    return strcmp(method, "HEAD") == 0 ? "GET" : method;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 421: return "Misdirected Request";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

int http_origin_allowed(const char *allowed, const char *origin)
{
    size_t olen;
    const char *p;

    if (allowed == NULL || origin == NULL)
        return 0;
    olen = strlen(origin);
    if (olen > HTTP_ORIGIN_MAX)
        return 0;
    for (p = allowed; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *q = p;

        while (n && *q == ' ') {
            q++;
            n--;
        }
        while (n && q[n - 1] == ' ')
            n--;
        if ((n == 1 && *q == '*') || (n == olen && memcmp(q, origin, n) == 0))
            return 1;
        p = end ? end + 1 : p + strlen(p);
    }
    return 0;
}

void http_client_key(const char *remote_addr, buf_t *out)
{
    struct in6_addr a;
    char text[INET6_ADDRSTRLEN];

    if (remote_addr == NULL)
        return;
    if (inet_pton(AF_INET6, remote_addr, &a) == 1 && !IN6_IS_ADDR_V4MAPPED(&a)) {
        memset(a.s6_addr + 8, 0, 8);
        if (inet_ntop(AF_INET6, &a, text, sizeof text) != NULL) {
            buf_printf(out, "%s/64", text);
            return;
        }
    }
    buf_puts(out, remote_addr);
}

void http_escape(const char *s, buf_t *out)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;

        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || strchr("-._~", ch))
            buf_putc(out, (char)ch);
        else
            buf_printf(out, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
    }
}
