/* sse_reader.h - the client side of one EventSource response, for the
 * load generator: the HTTP/1.1 head, then the body (chunked or raw) cut
 * into SSE lines. No sockets: bytes in, lines out.
 *
 * Lines longer than SSE_READER_LINE_MAX are cut there (a load generator
 * needs the start of a line: its field name and the numbers it carries). */
#ifndef SSE_READER_H
#define SSE_READER_H

#include <stddef.h>
#include <stdint.h>

#define SSE_READER_HEAD_MAX 4096
#define SSE_READER_LINE_MAX 8192

struct sse_reader {
    uint8_t chunked;       /* Transfer-Encoding: chunked */
    uint8_t chunk;         /* where in the chunk framing (sse_reader.c) */
    uint32_t chunk_left;   /* bytes left in the current chunk, or its size so far */
    char *line;            /* owned: the partial line carried over to the next bytes */
    uint32_t linelen, linecap;
    uint64_t body;         /* payload bytes seen (after de-chunking) */
};

/* Called with one complete line, without its \r\n or \n; p is not
 * NUL-terminated and is valid only during the call. */
typedef void (*sse_line_fn)(void *arg, const char *p, size_t n);

/* Parses a response head: returns its length with the blank line (the
 * bytes after it are body), 0 when head[0..len) does not hold all of it
 * yet, -1 when it is malformed or longer than SSE_READER_HEAD_MAX. Sets
 * *status and readies r for the body (chunked or not). */
int sse_reader_head(struct sse_reader *r, const char *head, size_t len, int *status);

/* Feeds body bytes: each complete line goes to line(arg, ...). 0, or -1
 * on a framing error or at the terminating chunk (the stream ended); the
 * payload before either was delivered. */
int sse_reader_feed(struct sse_reader *r, const char *p, size_t n, sse_line_fn line, void *arg);

/* Frees the carried-over line and readies r for another response. */
void sse_reader_reset(struct sse_reader *r);

/* The number after `"key":` in a line (the bench's "bench_us" stamp): 0
 * and *v set, or -1 when the key or a number after it is missing. */
int sse_reader_number(const char *p, size_t n, const char *key, int64_t *v);

/* How many times key occurs in a line (not overlapping): the stamps of the
 * deltas one chat.delta event carries, merged by one commit. */
size_t sse_reader_count(const char *p, size_t n, const char *key);

#endif
