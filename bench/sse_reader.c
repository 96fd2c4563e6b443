/* sse_reader.c - the client side of one EventSource response (see
 * sse_reader.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sse_reader.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { C_SIZE, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF };

void sse_reader_reset(struct sse_reader *r)
{
    free(r->line);
    memset(r, 0, sizeof *r);
}

int sse_reader_head(struct sse_reader *r, const char *head, size_t len, int *status)
{
    const char *end = memmem(head, len, "\r\n\r\n", 4), *line, *eol, *te;

    if (end == NULL)
        return len >= SSE_READER_HEAD_MAX ? -1 : 0;
    /* "HTTP/1.x NNN": head is not NUL-terminated, so no sscanf */
    if (end - head < 12 || memcmp(head, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)head[7]) ||
        head[8] != ' ' || !isdigit((unsigned char)head[9]) || !isdigit((unsigned char)head[10]) ||
        !isdigit((unsigned char)head[11]))
        return -1;
    *status = (head[9] - '0') * 100 + (head[10] - '0') * 10 + (head[11] - '0');
    r->chunked = 0;
    for (line = memmem(head, (size_t)(end - head), "\r\n", 2); line != NULL && line < end; line = eol) {
        line += 2;
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        te = eol != NULL ? memmem(line, (size_t)(eol - line), "chunked", 7) : NULL;
        if (te != NULL && eol - line >= 18 && strncasecmp(line, "transfer-encoding:", 18) == 0)
            r->chunked = 1;
    }
    r->chunk = C_SIZE;
    r->chunk_left = 0;
    return (int)(end - head) + 4;
}

/* Appends to the carried-over line, cut at SSE_READER_LINE_MAX. */
static void keep(struct sse_reader *r, const char *p, size_t n)
{
    size_t room = SSE_READER_LINE_MAX - r->linelen;

    if (n > room)
        n = room;
    if (r->linelen + n > r->linecap) {
        size_t cap = r->linelen + n < 256 ? 256 : r->linelen + n;
        char *grown = realloc(r->line, cap);

        if (grown == NULL) {
            perror("sse_reader");
            exit(2);
        }
        r->line = grown;
        r->linecap = (uint32_t)cap;
    }
    memcpy(r->line + r->linelen, p, n);
    r->linelen += (uint32_t)n;
}

static void emit(const char *p, size_t n, sse_line_fn line, void *arg)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    line(arg, p, n);
}

/* Payload bytes (after de-chunking) cut into lines. */
static void payload(struct sse_reader *r, const char *p, size_t n, sse_line_fn line, void *arg)
{
    size_t i, start = 0;

    r->body += n;
    for (i = 0; i < n; i++) {
        if (p[i] != '\n')
            continue;
        if (r->linelen > 0) {
            keep(r, p + start, i - start);
            emit(r->line, r->linelen, line, arg);
            r->linelen = 0;
        } else {
            emit(p + start, i - start, line, arg);
        }
        start = i + 1;
    }
    if (start < n)
        keep(r, p + start, n - start);
}

/* One byte of the chunk-size line; 1 when the line has ended. */
static int size_byte(struct sse_reader *r, char ch, int *bad)
{
    if (isxdigit((unsigned char)ch)) {
        *bad = r->chunk_left > 0x0fffffff;
        r->chunk_left = r->chunk_left * 16 + (uint32_t)(isdigit((unsigned char)ch) ? ch - '0'
                                                                                    : (ch | 0x20) - 'a' + 10);
    } else if (ch == ';' || ch == ' ') {
        r->chunk = C_EXT;
    } else if (ch == '\r') {
        r->chunk = C_SIZE_LF;
    } else {
        *bad = ch != '\n';
        return 1;
    }
    return 0;
}

int sse_reader_feed(struct sse_reader *r, const char *p, size_t n, sse_line_fn line, void *arg)
{
    size_t i = 0, take;
    int bad = 0, size_done;

    if (!r->chunked) {
        payload(r, p, n, line, arg);
        return 0;
    }
    while (i < n && !bad) {
        char ch = p[i];

        size_done = 0;
        switch (r->chunk) {
        case C_SIZE:
            size_done = size_byte(r, ch, &bad);
            i++;
            break;
        case C_EXT:
            size_done = ch == '\n';
            r->chunk = ch == '\r' ? C_SIZE_LF : C_EXT;
            i++;
            break;
        case C_SIZE_LF:
            size_done = 1;
            bad = ch != '\n';
            i++;
            break;
        case C_DATA:
            take = n - i < r->chunk_left ? n - i : r->chunk_left;
            payload(r, p + i, take, line, arg);
            i += take;
            r->chunk_left -= (uint32_t)take;
            r->chunk = r->chunk_left == 0 ? C_DATA_CR : C_DATA;
            break;
        case C_DATA_CR:   /* a bare \n is tolerated */
        case C_DATA_LF:
            bad = ch != '\n' && !(ch == '\r' && r->chunk == C_DATA_CR);
            r->chunk = ch == '\r' ? C_DATA_LF : C_SIZE;
            r->chunk_left = 0;
            i++;
            break;
        default:
            bad = 1;
        }
        if (size_done && !bad) {
            bad = r->chunk_left == 0; /* the last chunk: the stream ended */
            r->chunk = C_DATA;
        }
    }
    return bad ? -1 : 0;
}

int sse_reader_number(const char *p, size_t n, const char *key, int64_t *v)
{
    size_t klen = strlen(key);
    const char *k = memmem(p, n, key, klen), *e = p + n;

    if (k == NULL)
        return -1;
    for (k += klen; k < e && *k == ' '; k++)
        ;
    if (k >= e || !isdigit((unsigned char)*k))
        return -1;
    for (*v = 0; k < e && isdigit((unsigned char)*k); k++)
        *v = *v * 10 + (*k - '0');
    return 0;
}

size_t sse_reader_count(const char *p, size_t n, const char *key)
{
    size_t klen = strlen(key), count = 0;
    const char *k, *e = p + n;

    if (klen == 0)
        return 0;
    while ((k = memmem(p, (size_t)(e - p), key, klen)) != NULL) {
        count++;
        p = k + klen;
    }
    return count;
}
