/* libFuzzer target: the upstream's answer stream (llm_sse_feed), fed at
 * once and in pieces whose size the input's first byte chooses. Deltas
 * must be UTF-8 without NUL and never more, in total, than the bytes fed
 * (a JSON string is never shorter than what it decodes into); and the
 * reading must not depend on where the bytes were split: the same deltas,
 * end state, finish_reason, usage and reason. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/utf8.h"
#include "llm/llm_sse.h"

#define FUZZ_MAX_LINE 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct llm_sse_db *db;

struct got {
    buf_t parts;     /* each delta followed by '|' */
    size_t total;    /* the deltas' bytes */
};

static int on_delta(void *arg, const char *t, size_t n)
{
    struct got *g = arg;

    if (n == 0 || !utf8_valid(t, n) || memchr(t, '\0', n) != NULL)
        __builtin_trap();
    buf_append(&g->parts, t, n);
    buf_putc(&g->parts, '|');
    g->total += n;
    return 0;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct got w = {0}, sp = {0};
    struct llm_sse *whole, *split;
    const char *s = (const char *)data;
    size_t piece = size ? (size_t)data[0] % 17 + 1 : 1, at;

    if (db == NULL && (db = llm_sse_db_open()) == NULL)
        __builtin_trap();
    whole = llm_sse_new(db, FUZZ_MAX_LINE, on_delta, &w);
    split = llm_sse_new(db, FUZZ_MAX_LINE, on_delta, &sp);
    llm_sse_feed(whole, s, size);
    for (at = 0; at < size; at += piece)
        llm_sse_feed(split, s + at, size - at < piece ? size - at : piece);
    if (w.total > size)
        __builtin_trap();
    if (w.parts.len != sp.parts.len || (w.parts.len && memcmp(w.parts.p, sp.parts.p, w.parts.len) != 0))
        __builtin_trap();
    if (llm_sse_state(whole) != llm_sse_state(split) ||
        !same_str(llm_sse_finish_reason(whole), llm_sse_finish_reason(split)) ||
        !same_str(llm_sse_usage(whole), llm_sse_usage(split)) || strcmp(llm_sse_why(whole), llm_sse_why(split)))
        __builtin_trap();
    if (llm_sse_usage(whole) != NULL && !utf8_valid(llm_sse_usage(whole), strlen(llm_sse_usage(whole))))
        __builtin_trap();
    if (llm_sse_finish_reason(whole) != NULL &&
        !utf8_valid(llm_sse_finish_reason(whole), strlen(llm_sse_finish_reason(whole))))
        __builtin_trap();
    llm_sse_free(whole);
    llm_sse_free(split);
    buf_free(&w.parts);
    buf_free(&sp.parts);
    return 0;
}
