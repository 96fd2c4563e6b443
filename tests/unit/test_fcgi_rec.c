/* test_fcgi_rec.c - the stream responder's FastCGI framing (fcgi/wire/fcgi_rec.c):
 * a lighttpd-like request fed in every split, protocol violations, and the
 * records it writes. */
#include "wire/fcgi_rec.c"

#include <stdlib.h>

#include "base/alloc.h"
#include "check.h"

/* Appends a record of type for request id with len content bytes and pad
 * bytes of padding. */
static void rec(buf_t *b, int type, uint16_t id, const void *content, size_t len, unsigned pad)
{
    unsigned char h[8] = {FCGI_VERSION_1, (unsigned char)type, (unsigned char)(id >> 8), (unsigned char)id,
                          (unsigned char)(len >> 8), (unsigned char)len, (unsigned char)pad, 0};

    buf_append(b, h, 8);
    if (len)
        buf_append(b, content, len);
    while (pad--)
        buf_putc(b, '\x55');
}

/* Appends one name-value length: 1 byte below 128, else 4 with the top bit. */
static void nv_length(buf_t *b, size_t n)
{
    if (n < 128) {
        buf_putc(b, (char)n);
        return;
    }
    buf_putc(b, (char)(0x80 | (n >> 24)));
    buf_putc(b, (char)(n >> 16));
    buf_putc(b, (char)(n >> 8));
    buf_putc(b, (char)n);
}

static void nv(buf_t *b, const char *name, const char *value)
{
    nv_length(b, strlen(name));
    nv_length(b, strlen(value));
    buf_puts(b, name);
    buf_puts(b, value);
}

static void begin(buf_t *b, uint16_t id, int role, int flags)
{
    unsigned char body[8] = {(unsigned char)(role >> 8), (unsigned char)role, (unsigned char)flags};

    rec(b, FCGI_BEGIN_REQUEST, id, body, 8, 0);
}

static char cookie[300];

/* What lighttpd sends for GET /api/stream: a management record, BEGIN
 * (keep-conn), PARAMS split over two padded records, empty PARAMS, empty
 * STDIN. */
static void request_stream(buf_t *b)
{
    buf_t params = {0};
    size_t half;

    memset(cookie, 'c', sizeof cookie - 1);
    nv(&params, "SCRIPT_NAME", "/api/stream");
    nv(&params, "REQUEST_METHOD", "GET");
    nv(&params, "QUERY_STRING", "topic=room:a&topic=room:b");
    nv(&params, "HTTP_COOKIE", cookie); /* 4-byte value length */
    nv(&params, "HTTP_LAST_EVENT_ID", "42");
    nv(&params, "EMPTY", "");

    rec(b, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, NULL, 0, 0);
    begin(b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    half = params.len / 2;
    rec(b, FCGI_PARAMS, 1, params.p, half, 3);
    rec(b, FCGI_PARAMS, 1, params.p + half, params.len - half, 0);
    rec(b, FCGI_PARAMS, 1, NULL, 0, 0);
    rec(b, FCGI_STDIN, 1, NULL, 0, 0);
    buf_free(&params);
}

/* Checks what a fully fed request stream must have produced. */
static int request_ok(const struct fcgi_in *in)
{
    const char *v;
    size_t n;

    return in->params_done && in->have_begin && in->keep_conn && !in->aborted && in->request_id == 1 &&
           fcgi_param(&in->params, "SCRIPT_NAME", &v, &n) == 1 && n == 11 && memcmp(v, "/api/stream", 11) == 0 &&
           fcgi_param(&in->params, "QUERY_STRING", &v, &n) == 1 && n == 25 &&
           memcmp(v, "topic=room:a&topic=room:b", 25) == 0 &&
           fcgi_param(&in->params, "HTTP_COOKIE", &v, &n) == 1 && n == strlen(cookie) &&
           memcmp(v, cookie, n) == 0 &&
           fcgi_param(&in->params, "HTTP_LAST_EVENT_ID", &v, &n) == 1 && n == 2 && memcmp(v, "42", 2) == 0 &&
           fcgi_param(&in->params, "EMPTY", &v, &n) == 1 && n == 0 &&
           fcgi_param(&in->params, "HTTP_ORIGIN", &v, &n) == 0 && fcgi_param(&in->params, "SCRIPT", &v, &n) == 0;
}

/* Feeds s in chunks of the sizes next_size() gives; returns 0 or -1. */
static int feed_chunks(struct fcgi_in *in, const buf_t *s, size_t (*next_size)(void))
{
    size_t off = 0;

    while (off < s->len) {
        size_t n = next_size();
        if (n > s->len - off)
            n = s->len - off;
        if (fcgi_in_feed(in, (const unsigned char *)s->p + off, n) != 0)
            return -1;
        off += n;
    }
    return 0;
}

static size_t one(void)
{
    return 1;
}

static unsigned long rng = 12345;
static size_t random_size(void)
{
    rng = rng * 6364136223846793005UL + 1442695040888963407UL;
    return 1 + (size_t)((rng >> 33) % 40);
}

static void test_feed_splits(void)
{
    struct fcgi_in in;
    buf_t s = {0};
    size_t cut, ok;
    int i;

    request_stream(&s);

    memset(&in, 0, sizeof in);
    CHECK(fcgi_in_feed(&in, (const unsigned char *)s.p, s.len) == 0);
    CHECK(request_ok(&in));
    fcgi_in_free(&in);

    memset(&in, 0, sizeof in);
    CHECK(feed_chunks(&in, &s, one) == 0);
    CHECK(request_ok(&in));
    fcgi_in_free(&in);

    for (i = 0, ok = 0; i < 200; i++) {
        memset(&in, 0, sizeof in);
        ok += feed_chunks(&in, &s, random_size) == 0 && request_ok(&in);
        fcgi_in_free(&in);
    }
    CHECK_INT_EQ(ok, 200);

    for (cut = 0, ok = 0; cut <= s.len; cut++) { /* every two-piece split */
        memset(&in, 0, sizeof in);
        ok += fcgi_in_feed(&in, (const unsigned char *)s.p, cut) == 0 &&
              fcgi_in_feed(&in, (const unsigned char *)s.p + cut, s.len - cut) == 0 && request_ok(&in);
        fcgi_in_free(&in);
    }
    CHECK_INT_EQ(ok, s.len + 1);

    /* Before the empty PARAMS record, params are not done. */
    memset(&in, 0, sizeof in);
    CHECK(fcgi_in_feed(&in, (const unsigned char *)s.p, s.len - 16) == 0);
    CHECK(!in.params_done);
    fcgi_in_free(&in);
    buf_free(&s);
}

/* Management records (request id 0) are skipped whatever their type: a
 * PARAMS, STDIN or BEGIN_REQUEST body with id 0 is no part of the request
 * (the fuzz target found their bodies read into it). */
static void test_management_records_skipped(void)
{
    struct fcgi_in in;
    buf_t s = {0}, junk = {0};
    unsigned char role[8] = {0, 9, 0};

    nv(&junk, "HTTP_ORIGIN", "https://evil.example");
    rec(&s, FCGI_PARAMS, FCGI_NULL_REQUEST_ID, junk.p, junk.len, 1);
    rec(&s, FCGI_STDIN, FCGI_NULL_REQUEST_ID, "xy", 2, 0);
    rec(&s, FCGI_BEGIN_REQUEST, FCGI_NULL_REQUEST_ID, role, 3, 0);
    rec(&s, FCGI_PARAMS, FCGI_NULL_REQUEST_ID, NULL, 0, 0);
    request_stream(&s);
    memset(&in, 0, sizeof in);
    in.stdin_max = 64;
    CHECK(fcgi_in_feed(&in, (const unsigned char *)s.p, s.len) == 0);
    CHECK(request_ok(&in));
    CHECK_INT_EQ(in.body.len, 0);
    fcgi_in_free(&in);
    buf_free(&s);
    buf_free(&junk);
}

/* Feeds s whole to a fresh reader; returns fcgi_in_feed's result. */
static int feed_all(buf_t *s, struct fcgi_in *in)
{
    int rc;

    memset(in, 0, sizeof *in);
    rc = fcgi_in_feed(in, (const unsigned char *)s->p, s->len);
    buf_free(s);
    return rc;
}

static void test_violations(void)
{
    static unsigned char big[65535];
    struct fcgi_in in;
    buf_t s = {0};

    begin(&s, 1, FCGI_RESPONDER, 0);
    s.p[0] = 2; /* version */
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);

    begin(&s, 1, FCGI_AUTHORIZER, 0);
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);
    begin(&s, 1, 0x0101, 0); /* role 257 */
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);

    begin(&s, 1, FCGI_RESPONDER, 0);
    begin(&s, 2, FCGI_RESPONDER, 0);
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);
    begin(&s, 1, FCGI_RESPONDER, 0);
    begin(&s, 1, FCGI_RESPONDER, 0);
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);

    rec(&s, FCGI_BEGIN_REQUEST, 1, "\0\1\0\0\0\0\0\0\0", 9, 0); /* body must be 8 */
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);

    begin(&s, 1, FCGI_RESPONDER, 0);
    rec(&s, FCGI_PARAMS, 2, "\1\1ab", 4, 0);
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);
    begin(&s, 1, FCGI_RESPONDER, 0);
    rec(&s, FCGI_STDIN, 7, NULL, 0, 0);
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);

    rec(&s, FCGI_PARAMS, 1, "\1\1ab", 4, 0); /* before BEGIN_REQUEST */
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);

    /* exactly FCGI_REC_MAX_PARAMS bytes of params is fine, one more is not */
    begin(&s, 1, FCGI_RESPONDER, 0);
    rec(&s, FCGI_PARAMS, 1, big, sizeof big, 0);
    rec(&s, FCGI_PARAMS, 1, big, FCGI_REC_MAX_PARAMS - sizeof big, 0);
    CHECK(feed_all(&s, &in) == 0);
    CHECK_INT_EQ(in.params.len, FCGI_REC_MAX_PARAMS);
    fcgi_in_free(&in);
    begin(&s, 1, FCGI_RESPONDER, 0);
    rec(&s, FCGI_PARAMS, 1, big, sizeof big, 0);
    rec(&s, FCGI_PARAMS, 1, big, FCGI_REC_MAX_PARAMS - sizeof big + 1, 0);
    CHECK(feed_all(&s, &in) == -1);
    fcgi_in_free(&in);

    begin(&s, 1, FCGI_RESPONDER, 0);
    rec(&s, FCGI_ABORT_REQUEST, 1, NULL, 0, 0);
    CHECK(feed_all(&s, &in) == 0);
    CHECK(in.aborted);
    CHECK(!in.keep_conn);
    fcgi_in_free(&in);
}

static void test_param_malformed(void)
{
    buf_t p = {0};
    const char *v;
    size_t n;

    CHECK(fcgi_param(&p, "A", &v, &n) == 0); /* empty block */
    buf_append(&p, "\1\5ab", 4);             /* value runs past the end */
    CHECK(fcgi_param(&p, "X", &v, &n) == -1);
    buf_reset(&p);
    buf_append(&p, "\x80\0", 2);             /* truncated 4-byte length */
    CHECK(fcgi_param(&p, "X", &v, &n) == -1);
    buf_reset(&p);
    buf_append(&p, "\1\1ab\x80", 5);         /* good pair, then garbage */
    CHECK(fcgi_param(&p, "a", &v, &n) == 1 && n == 1 && *v == 'b');
    CHECK(fcgi_param(&p, "z", &v, &n) == -1);
    buf_free(&p);
}

/* A value holding a NUL is no value: cut at the NUL it would read as
 * another (the fuzz target found an Origin allowed so). */
static void test_param_dup(void)
{
    static const char origin_nul[] = "http://127.0.0.1:8080\0evil";
    struct fcgi_strs strs = {0};
    buf_t p = {0};
    char *v;

    nv(&p, "HTTP_LAST_EVENT_ID", "42");
    nv(&p, "EMPTY", "");
    buf_putc(&p, 11);
    buf_putc(&p, (char)(sizeof origin_nul - 1));
    buf_puts(&p, "HTTP_ORIGIN");
    buf_append(&p, origin_nul, sizeof origin_nul - 1);
    v = fcgi_param_dup(&p, "HTTP_LAST_EVENT_ID");
    CHECK(v != NULL && strcmp(v, "42") == 0);
    free(v);
    v = fcgi_param_dup(&p, "EMPTY");
    CHECK(v != NULL && *v == '\0');
    free(v);
    CHECK(fcgi_param_dup(&p, "HTTP_ORIGIN") == NULL);
    CHECK(fcgi_param_dup(&p, "HTTP_COOKIE") == NULL);
    strs.params = &p;
    CHECK(fcgi_strs_get(&strs, "HTTP_ORIGIN") == NULL);
    CHECK(fcgi_strs_get(&strs, "HTTP_LAST_EVENT_ID") != NULL && strcmp(fcgi_strs_get(&strs, "HTTP_LAST_EVENT_ID"), "42") == 0);
    fcgi_strs_free(&strs);
    buf_free(&p);
}

/* Checks the 8-byte header at h. */
static int is_header(const unsigned char *h, int type, uint16_t id, size_t len)
{
    return h[0] == FCGI_VERSION_1 && h[1] == type && h[2] == id >> 8 && h[3] == (id & 0xff) &&
           h[4] == len >> 8 && h[5] == (len & 0xff) && h[6] == 0 && h[7] == 0;
}

static void test_writers(void)
{
    static const unsigned char end_body[8] = {0};
    unsigned char *data = xmalloc(70000), *o;
    buf_t out = {0};
    size_t i;

    for (i = 0; i < 70000; i++)
        data[i] = (unsigned char)(i * 31);
    fcgi_stdout(&out, 0x0102, data, 70000);
    o = (unsigned char *)out.p;
    CHECK_INT_EQ(out.len, 8 + 65535 + 8 + 4465);
    CHECK(is_header(o, FCGI_STDOUT, 0x0102, 65535));
    CHECK(memcmp(o + 8, data, 65535) == 0);
    CHECK(is_header(o + 8 + 65535, FCGI_STDOUT, 0x0102, 4465));
    CHECK(memcmp(o + 16 + 65535, data + 65535, 4465) == 0);

    buf_reset(&out);
    fcgi_stdout(&out, 1, data, 0);
    CHECK_INT_EQ(out.len, 0); /* no empty STDOUT: that would end the stream */

    fcgi_end(&out, 0x0203);
    o = (unsigned char *)out.p;
    CHECK_INT_EQ(out.len, 24);
    CHECK(is_header(o, FCGI_STDOUT, 0x0203, 0));
    CHECK(is_header(o + 8, FCGI_END_REQUEST, 0x0203, 8));
    CHECK(memcmp(o + 16, end_body, 8) == 0); /* appStatus 0, FCGI_REQUEST_COMPLETE */

    /* rewrite ids across records, one of them padded; content untouched */
    buf_reset(&out);
    fcgi_stdout(&out, 1, "\1\6\0\1\0\0\0\0", 8);
    rec(&out, FCGI_STDOUT, 1, "pad", 3, 5);
    fcgi_stdout(&out, 1, data, 70000);
    fcgi_end(&out, 1);
    fcgi_set_request_id((unsigned char *)out.p, out.len, 0xbeef);
    o = (unsigned char *)out.p;
    CHECK(is_header(o, FCGI_STDOUT, 0xbeef, 8));
    CHECK(memcmp(o + 8, "\1\6\0\1\0\0\0\0", 8) == 0);
    CHECK(o[16 + 2] == 0xbe && o[16 + 3] == 0xef && o[16 + 6] == 5);
    o += 16 + 8 + 3 + 5;
    CHECK(is_header(o, FCGI_STDOUT, 0xbeef, 65535));
    CHECK(memcmp(o + 8, data, 65535) == 0);
    o += 8 + 65535;
    CHECK(is_header(o, FCGI_STDOUT, 0xbeef, 4465));
    o += 8 + 4465;
    CHECK(is_header(o, FCGI_STDOUT, 0xbeef, 0));
    CHECK(is_header(o + 8, FCGI_END_REQUEST, 0xbeef, 8));
    CHECK(o + 24 == (unsigned char *)out.p + out.len);
    buf_free(&out);
    free(data);
}

/* A request with a body, on a kept connection: STDIN collected up to
 * stdin_max, then fcgi_in_next readies the reader for the next request. */
static void test_body_and_next(void)
{
    struct fcgi_in in;
    buf_t s = {0}, params = {0};

    nv(&params, "REQUEST_METHOD", "POST");
    begin(&s, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    rec(&s, FCGI_PARAMS, 1, params.p, params.len, 0);
    rec(&s, FCGI_PARAMS, 1, NULL, 0, 0);
    rec(&s, FCGI_STDIN, 1, "{\"a\":", 5, 2);
    rec(&s, FCGI_STDIN, 1, "1}", 2, 0);
    rec(&s, FCGI_STDIN, 1, NULL, 0, 0);
    memset(&in, 0, sizeof in);
    in.stdin_max = 7;
    CHECK(feed_chunks(&in, &s, one) == 0);
    CHECK(in.params_done && in.stdin_done && !in.stdin_over && in.keep_conn);
    CHECK_STR_EQ(buf_str(&in.body), "{\"a\":1}");

    /* the same connection's next request, with id 2 and a body over the limit */
    fcgi_in_next(&in);
    CHECK(!in.have_begin && !in.params_done && !in.stdin_done && in.body.len == 0 && in.stdin_max == 7);
    buf_reset(&s);
    begin(&s, 2, FCGI_RESPONDER, 0);
    rec(&s, FCGI_PARAMS, 2, NULL, 0, 0);
    rec(&s, FCGI_STDIN, 2, "12345678", 8, 0);
    CHECK(fcgi_in_feed(&in, (const unsigned char *)s.p, s.len) == 0);
    CHECK(in.stdin_over && !in.stdin_done && in.body.len == 0);
    buf_reset(&s);
    rec(&s, FCGI_STDIN, 2, NULL, 0, 0);
    CHECK(fcgi_in_feed(&in, (const unsigned char *)s.p, s.len) == 0);
    CHECK(in.stdin_done && in.request_id == 2 && !in.keep_conn);

    /* a second BEGIN before the answer is a violation, not a new request */
    buf_reset(&s);
    begin(&s, 3, FCGI_RESPONDER, 0);
    CHECK(fcgi_in_feed(&in, (const unsigned char *)s.p, s.len) == -1);
    fcgi_in_free(&in);
    buf_free(&s);
    buf_free(&params);
}

/* A CGI run hands its one request to the in-process stream responder as a
 * web server would (fcgi_request_of_env), and takes the STDOUT of the
 * answer back (fcgi_stdout_take), whole records only, in any split. */
static void test_cgi_bridge(void)
{
    char big[300];
    char *env[] = {"REQUEST_METHOD=GET", "REQUEST_URI=/pulse/api/events/stream?topic=a", big, "NOEQUALS",
                   "=noname", "EMPTY=", NULL};
    struct fcgi_in in = {0};
    buf_t req = {0}, recs = {0}, text = {0};
    const char *v;
    size_t vlen, i;

    memset(big, 'v', sizeof big - 1);
    memcpy(big, "BIG=", 4);
    big[sizeof big - 1] = '\0';
    fcgi_request_of_env(&req, 1, env);
    for (i = 0; i < req.len; i++) /* a byte at a time */
        CHECK_INT_EQ(fcgi_in_feed(&in, (const unsigned char *)req.p + i, 1), 0);
    CHECK(in.have_begin && in.params_done && in.stdin_done && !in.keep_conn);
    CHECK(fcgi_param(&in.params, "REQUEST_URI", &v, &vlen) == 1 && vlen == 32 &&
          memcmp(v, "/pulse/api/events/stream?topic=a", 32) == 0);
    CHECK(fcgi_param(&in.params, "BIG", &v, &vlen) == 1 && vlen == sizeof big - 5);
    CHECK(fcgi_param(&in.params, "EMPTY", &v, &vlen) == 1 && vlen == 0);
    CHECK_INT_EQ(fcgi_param(&in.params, "NOEQUALS", &v, &vlen), 0);
    CHECK_INT_EQ(fcgi_param(&in.params, "", &v, &vlen), 0);
    fcgi_in_free(&in);

    fcgi_stdout(&recs, 1, "Status: 200 OK\r\n\r\n", 18);
    rec(&recs, FCGI_STDOUT, 1, "data", 4, 3);
    rec(&recs, FCGI_STDERR, 1, "noise", 5, 0);
    fcgi_end(&recs, 1);
    buf_puts(&recs, "after");
    {
        buf_t part = {0};
        size_t cut = 8 + 18 + 5; /* inside the padded record's header */

        buf_append(&part, recs.p, cut);
        CHECK_INT_EQ(fcgi_stdout_take(&part, &text), 0);
        CHECK_STR_EQ(buf_str(&text), "Status: 200 OK\r\n\r\n");
        CHECK_INT_EQ(part.len, 5); /* the partial record waits */
        buf_append(&part, recs.p + cut, recs.len - cut);
        CHECK_INT_EQ(fcgi_stdout_take(&part, &text), 1);
        CHECK_STR_EQ(buf_str(&text), "Status: 200 OK\r\n\r\ndata"); /* no padding, no STDERR */
        CHECK_INT_EQ(part.len, 5);
        CHECK(memcmp(part.p, "after", 5) == 0);
        buf_free(&part);
    }
    buf_reset(&recs);
    buf_append(&recs, "\2\6\0\1\0\0\0\0", 8); /* not version 1 */
    CHECK_INT_EQ(fcgi_stdout_take(&recs, &text), -1);
    buf_reset(&recs);
    CHECK_INT_EQ(fcgi_stdout_take(&recs, &text), 0); /* nothing yet */
    buf_free(&req);
    buf_free(&recs);
    buf_free(&text);
}

int main(void)
{
    test_cgi_bridge();
    test_feed_splits();
    test_management_records_skipped();
    test_body_and_next();
    test_violations();
    test_param_malformed();
    test_param_dup();
    test_writers();
    return check_summary("test_fcgi_rec");
}
