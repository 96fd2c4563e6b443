/* libFuzzer target: FastCGI records from the web server (fcgi_in_feed and
 * fcgi_param), fed in two pieces split at a position the input chooses,
 * with a small STDIN limit (the batching responder keeps request bodies)
 * and, as on a kept connection, the next request read by the same reader
 * once one is complete. What is read must not depend on where the bytes
 * were split: the same bytes fed at once give the same verdict, params,
 * body and flags. Params stay under their limit, STDIN under its own, and
 * a param found lies inside the params read. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "wire/fcgi_rec.h"

#define FUZZ_STDIN_MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_param(const struct fcgi_in *in, const char *name)
{
    const char *v = NULL;
    size_t vlen = 0;
    int rc = fcgi_param(&in->params, name, &v, &vlen);

    if (rc < -1 || rc > 1)
        __builtin_trap();
    if (rc == 1 && (v < in->params.p || vlen > in->params.len || v + vlen > in->params.p + in->params.len))
        __builtin_trap(); /* the value must lie inside the params read */
}

static void check(const struct fcgi_in *in)
{
    if (in->params.len > FCGI_REC_MAX_PARAMS || in->body.len > FUZZ_STDIN_MAX)
        __builtin_trap(); /* a limit did not hold */
    if ((in->params_done || in->stdin_done || in->params.len > 0 || in->body.len > 0) && !in->have_begin)
        __builtin_trap(); /* nothing of a request before its BEGIN_REQUEST */
    if (in->params_done) {
        check_param(in, "REQUEST_URI");
        check_param(in, "HTTP_LAST_EVENT_ID");
    }
}

static int feed(struct fcgi_in *in, const uint8_t *p, size_t n)
{
    if (fcgi_in_feed(in, p, n) != 0)
        return -1;
    check(in);
    if (in->params_done && in->stdin_done)
        fcgi_in_next(in);
    return 0;
}

static int same(const struct fcgi_in *a, const struct fcgi_in *b)
{
    return a->have_begin == b->have_begin && a->params_done == b->params_done && a->aborted == b->aborted &&
           a->keep_conn == b->keep_conn && a->stdin_done == b->stdin_done && a->stdin_over == b->stdin_over &&
           a->request_id == b->request_id && a->params.len == b->params.len && a->body.len == b->body.len &&
           (a->params.len == 0 || memcmp(a->params.p, b->params.p, a->params.len) == 0) &&
           (a->body.len == 0 || memcmp(a->body.p, b->body.p, a->body.len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fcgi_in in = {0}, whole = {0}, split = {0};
    size_t cut = size ? data[0] % (size + 1) : 0;
    int rw, rs;

    in.stdin_max = FUZZ_STDIN_MAX;
    if (feed(&in, data, cut) == 0)
        feed(&in, data + cut, size - cut);
    fcgi_in_free(&in);

    /* The same bytes at once and in two pieces (one request, no next). */
    whole.stdin_max = split.stdin_max = FUZZ_STDIN_MAX;
    rw = fcgi_in_feed(&whole, data, size);
    rs = fcgi_in_feed(&split, data, cut);
    if (rs == 0)
        rs = fcgi_in_feed(&split, data + cut, size - cut);
    if (rw != rs || (rw == 0 && !same(&whole, &split)))
        __builtin_trap();
    if (rw == 0)
        check(&whole);
    fcgi_in_free(&whole);
    fcgi_in_free(&split);
    return 0;
}
