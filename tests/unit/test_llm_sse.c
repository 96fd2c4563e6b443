/* test_llm_sse.c - the upstream answer parser (fcgi/llm/llm_sse.c): a
 * sample stream gives the same deltas, finish_reason and usage however its
 * bytes are split, with CRLF, LF or CR line ends; [DONE], error objects,
 * malformed data and over-long lines end it as they should. */
#include "llm/llm_sse.c"

#include "check.h"

struct got {
    buf_t text;        /* every delta, concatenated */
    buf_t parts;       /* every delta, each followed by '|' */
    int deltas;
    int stop_after;    /* >0: the callback asks to stop after this many deltas */
};

static int on_delta(void *arg, const char *t, size_t n)
{
    struct got *g = arg;

    CHECK(n > 0);
    CHECK(utf8_valid(t, n));
    buf_append(&g->text, t, n);
    buf_append(&g->parts, t, n);
    buf_putc(&g->parts, '|');
    g->deltas++;
    return g->stop_after > 0 && g->deltas >= g->stop_after;
}

struct result {
    enum llm_sse_state state;
    char *text, *finish, *usage, *why;
    int deltas;
};

static void result_free(struct result *r)
{
    free(r->text);
    free(r->finish);
    free(r->usage);
    free(r->why);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

/* Feeds s in pieces of at most `piece` bytes after a first piece of
 * `first` bytes; max_line bounds lines. */
static struct result parse(struct llm_sse_db *d, const char *s, size_t len, size_t first, size_t piece,
                           size_t max_line, int stop_after)
{
    struct got g = {.stop_after = stop_after};
    struct llm_sse *p = llm_sse_new(d, max_line, on_delta, &g);
    struct result r;
    size_t at = 0, n;

    n = first < len ? first : len;
    llm_sse_feed(p, s, n);
    at = n;
    while (at < len) {
        n = len - at < piece ? len - at : piece;
        llm_sse_feed(p, s + at, n);
        at += n;
    }
    r.state = llm_sse_state(p);
    r.text = buf_steal(&g.text);
    r.finish = dup_or_null(llm_sse_finish_reason(p));
    r.usage = dup_or_null(llm_sse_usage(p));
    r.why = xstrdup(llm_sse_why(p));
    r.deltas = g.deltas;
    buf_free(&g.parts);
    llm_sse_free(p);
    return r;
}

static struct result parse_all(struct llm_sse_db *d, const char *s)
{
    return parse(d, s, strlen(s), strlen(s), 1, 1 << 16, 0);
}

/* Role first (an empty content: no delta), a comment, other fields, text
 * with escapes and multi-byte characters (é, 日本, an emoji), the finish,
 * then the usage chunk with no choice, then [DONE] and bytes after it. */
static const char sample[] =
    ": keep-alive\n"
    "event: message\n"
    "id: 7\n"
    "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"finish_reason\":null}],\"usage\":null}\n"
    "\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"Caf\xc3\xa9 \\\"\xe6\x97\xa5\xe6\x9c\xac\\\"\"},"
    "\"finish_reason\":null}]}\n"
    "\n"
    "retry: 100\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"\\n\\u00e9 \xf0\x9f\x98\x80\"},\"finish_reason\":null}]}\n"
    "\n"
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}]}\n"
    "\n"
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}}\n"
    "\n"
    "data: [DONE]\n"
    "\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"after\"}}]}\n\n";

static const char sample_text[] = "Caf\xc3\xa9 \"\xe6\x97\xa5\xe6\x9c\xac\"\n\xc3\xa9 \xf0\x9f\x98\x80";
static const char sample_usage[] = "{\"prompt_tokens\":3,\"completion_tokens\":5,\"total_tokens\":8}";

static void check_sample(const struct result *r, const char *how)
{
    int ok = r->state == LLM_SSE_DONE && strcmp(r->text, sample_text) == 0 && r->deltas == 2 &&
             r->finish != NULL && strcmp(r->finish, "stop") == 0 && r->usage != NULL &&
             strcmp(r->usage, sample_usage) == 0;

    check_report(ok, __FILE__, __LINE__, how);
    if (!ok)
        fprintf(stderr, "    state %d text \"%s\" deltas %d finish %s usage %s why %s\n", r->state, r->text,
                r->deltas, r->finish ? r->finish : "(null)", r->usage ? r->usage : "(null)", r->why);
}

/* Every split of s into two pieces, then byte by byte. */
static void check_every_split(struct llm_sse_db *d, const char *s, const char *how)
{
    size_t len = strlen(s), i;
    int before = check_failed;

    for (i = 0; i <= len && check_failed == before; i++) {
        struct result r = parse(d, s, len, i, len, 1 << 16, 0);

        check_sample(&r, how);
        if (check_failed != before)
            fprintf(stderr, "    split at %zu\n", i);
        result_free(&r);
    }
    {
        struct result r = parse(d, s, len, 0, 1, 1 << 16, 0);

        check_sample(&r, how);
        result_free(&r);
    }
}

/* s with every "\n" replaced by eol. */
static char *with_eol(const char *s, const char *eol)
{
    buf_t b = {0};

    for (; *s; s++) {
        if (*s == '\n')
            buf_puts(&b, eol);
        else
            buf_putc(&b, *s);
    }
    return buf_steal(&b);
}

static void test_splits(struct llm_sse_db *d)
{
    char *crlf = with_eol(sample, "\r\n"), *cr = with_eol(sample, "\r");

    check_every_split(d, sample, "LF: the sample");
    check_every_split(d, crlf, "CRLF: the sample");
    check_every_split(d, cr, "CR: the sample");
    free(crlf);
    free(cr);
}

static void expect(struct llm_sse_db *d, const char *s, enum llm_sse_state state, const char *text, const char *why,
                   int line)
{
    struct result r = parse_all(d, s);

    check_int_eq(r.state, state, __FILE__, line, "state");
    check_str_eq(r.text, text, __FILE__, line, "text");
    if (why != NULL && strstr(r.why, why) == NULL) {
        check_report(0, __FILE__, line, "why");
        fprintf(stderr, "    why \"%s\", want it to hold \"%s\"\n", r.why, why);
    }
    result_free(&r);
}

#define EXPECT(s, state, text, why) expect(d, (s), (state), (text), (why), __LINE__)
#define CHUNK(content) "data: {\"choices\":[{\"delta\":{\"content\":" content "}}]}\n\n"

static void test_malformed(struct llm_sse_db *d)
{
    EXPECT(CHUNK("\"a\"") "data: not json\n\n" CHUNK("\"b\""), LLM_SSE_MALFORMED, "a", "not a JSON object");
    EXPECT("data: {\"id\":1}\n\n", LLM_SSE_MALFORMED, "", "without choices");
    EXPECT("data: {\"choices\":{}}\n\n", LLM_SSE_MALFORMED, "", "without choices");
    EXPECT("data: [1,2]\n\n", LLM_SSE_MALFORMED, "", "not a JSON object");
    EXPECT("data: \"text\"\n\n", LLM_SSE_MALFORMED, "", "not a JSON object");
    EXPECT("data: {\"choices\":[]\n\n", LLM_SSE_MALFORMED, "", "not a JSON object");
    EXPECT("data:\n\n", LLM_SSE_MALFORMED, "", "not a JSON object");
    EXPECT(CHUNK("5"), LLM_SSE_MALFORMED, "", "not a string");
    EXPECT(CHUNK("[\"a\"]"), LLM_SSE_MALFORMED, "", "not a string");
    /* A lone surrogate escape would decode into bytes that are not UTF-8. */
    EXPECT(CHUNK("\"\\ud800\""), LLM_SSE_MALFORMED, "", "UTF-8");
    EXPECT(CHUNK("\"\xc3\""), LLM_SSE_MALFORMED, "", "UTF-8");
    EXPECT(CHUNK("\"a\\u0000b\""), LLM_SSE_MALFORMED, "", "u0000");
    /* A pair of escapes is one character, and fine. */
    EXPECT(CHUNK("\"\\ud83d\\ude00\""), LLM_SSE_MORE, "\xf0\x9f\x98\x80", NULL);
    /* null content (a role or tool call delta) and null finish: nothing. */
    EXPECT("data: {\"choices\":[{\"delta\":{\"content\":null},\"finish_reason\":null}]}\n\n", LLM_SSE_MORE, "",
           NULL);
}

static void test_bounds(struct llm_sse_db *d)
{
    const char *s = CHUNK("\"0123456789\"");
    struct result r = parse(d, s, strlen(s), 0, 1, 40, 0);

    CHECK_INT_EQ(r.state, LLM_SSE_TOO_LONG);
    CHECK(strstr(r.why, "longer than the bound") != NULL);
    result_free(&r);
    r = parse(d, s, strlen(s), 0, 1, strlen(s), 0);
    CHECK_INT_EQ(r.state, LLM_SSE_MORE);
    CHECK_STR_EQ(r.text, "0123456789");
    result_free(&r);
    /* Short lines, one long event: its data is bounded too. */
    s = "data: {\"choices\":\ndata: [{\"delta\":\ndata: {\"content\":\"xy\"}}]}\n\n";
    r = parse(d, s, strlen(s), 0, 3, 30, 0);
    CHECK_INT_EQ(r.state, LLM_SSE_TOO_LONG);
    result_free(&r);
    /* Without the bound the data lines join with '\n': still JSON. */
    r = parse(d, s, strlen(s), 0, 3, 1000, 0);
    CHECK_INT_EQ(r.state, LLM_SSE_MORE);
    CHECK_STR_EQ(r.text, "xy");
    result_free(&r);
}

static void test_error_object(struct llm_sse_db *d)
{
    EXPECT(CHUNK("\"so far\"") "data: {\"error\":{\"message\":\"The server is overloaded\",\"type\":\"server\"}}\n\n",
           LLM_SSE_ERROR, "so far", "The server is overloaded");
    EXPECT("data: {\"error\":{\"code\":500}}\n\n", LLM_SSE_ERROR, "", "\"code\":500");
    EXPECT("data: {\"error\":\"quota exceeded\"}\n\n", LLM_SSE_ERROR, "", "quota exceeded");
    EXPECT("data: {\"error\":null,\"choices\":[{\"delta\":{\"content\":\"ok\"}}]}\n\n", LLM_SSE_MORE, "ok", NULL);
}

static void test_ends(struct llm_sse_db *d)
{
    struct result r;
    const char *s;

    /* No [DONE]: the finish_reason alone is known; the last event has no
     * blank line after it, so it never happened. */
    r = parse_all(d, CHUNK("\"a\"") "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
                     "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\n");
    CHECK_INT_EQ(r.state, LLM_SSE_MORE);
    CHECK_STR_EQ(r.text, "a");
    CHECK_STR_EQ(r.finish, "length");
    CHECK(r.usage == NULL);
    result_free(&r);
    /* [DONE] with no blank line yet is not an event yet either. */
    r = parse_all(d, "data: [DONE]\n");
    CHECK_INT_EQ(r.state, LLM_SSE_MORE);
    result_free(&r);
    r = parse_all(d, "data:[DONE]\r\n\r\n");
    CHECK_INT_EQ(r.state, LLM_SSE_DONE);
    result_free(&r);
    /* "data: [DONE] " is not [DONE]: only one space after the colon goes. */
    EXPECT("data:  [DONE]\n\n", LLM_SSE_MALFORMED, "", NULL);
    /* The callback stops the parser: nothing after it. */
    s = CHUNK("\"a\"") CHUNK("\"b\"") CHUNK("\"c\"");
    r = parse(d, s, strlen(s), strlen(s), 1, 1000, 2);
    CHECK_INT_EQ(r.state, LLM_SSE_STOPPED);
    CHECK_STR_EQ(r.text, "ab");
    result_free(&r);
    /* Empty deltas never reach the callback. */
    r = parse_all(d, CHUNK("\"\"") CHUNK("\"\"") CHUNK("\"x\""));
    CHECK_INT_EQ(r.deltas, 1);
    CHECK_STR_EQ(r.text, "x");
    result_free(&r);
}

/* A multi-byte character cut between pieces at each of its bytes. */
static void test_utf8_split(struct llm_sse_db *d)
{
    const char *s = CHUNK("\"\xf0\x9f\x98\x80\xe6\x97\xa5\"");
    size_t at = strstr(s, "\xf0") - s, i;

    for (i = at; i <= at + 7; i++) {
        struct result r = parse(d, s, strlen(s), i, 1 << 20, 1000, 0);

        CHECK_STR_EQ(r.text, "\xf0\x9f\x98\x80\xe6\x97\xa5");
        result_free(&r);
    }
}

/* The request's body and an error answer's message, by the same JSON
 * functions. */
#define ERROR_OF(d, lit) llm_sse_error_of((d), (lit), sizeof(lit) - 1)

static void test_request_and_error(struct llm_sse_db *d)
{
    char *body = llm_sse_request_body(d, "m\"1", "[{\"role\":\"user\",\"content\":\"hi \\u00e9\"}]");
    char *e;

    CHECK_STR_EQ(body, "{\"model\":\"m\\\"1\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi \\u00e9\"}]}");
    free(body);
    CHECK(llm_sse_request_body(d, "m", "{\"role\":\"user\"}") == NULL);
    CHECK(llm_sse_request_body(d, "m", "[1,") == NULL);
    e = ERROR_OF(d, "{\"error\":{\"message\":\"Incorrect API key\",\"code\":\"x\"}}");
    CHECK_STR_EQ(e, "Incorrect API key");
    free(e);
    e = ERROR_OF(d, "{\"error\":\"busy\"}");
    CHECK_STR_EQ(e, "busy");
    free(e);
    CHECK(ERROR_OF(d, "<html>Bad Gateway</html>") == NULL);
    CHECK(ERROR_OF(d, "{\"detail\":\"no\"}") == NULL);
    CHECK(ERROR_OF(d, "{\"error\":{\"message\":\"a\\u0000b\"}}") == NULL);
}

/* What rides in the answer's last event besides its text is kept short:
 * an error's message (cut between characters), a finish_reason; a usage
 * object too long is not kept at all. */
static void test_what_is_kept_is_short(struct llm_sse_db *d)
{
    buf_t s = {0}, want = {0};
    struct result r;
    int i;

    buf_puts(&s, "data: {\"error\":{\"message\":\"\xc3\xa9");
    for (i = 0; i < 1000; i++)
        buf_puts(&s, "ab");
    buf_puts(&s, "\"}}\n\n");
    r = parse(d, s.p, s.len, s.len, 1, 1 << 16, 0);
    CHECK_INT_EQ(r.state, LLM_SSE_ERROR);
    CHECK_INT_EQ(strlen(r.why), WHY_MAX);
    CHECK(strncmp(r.why, "\xc3\xa9" "abab", 6) == 0);
    result_free(&r);

    buf_reset(&s);
    buf_puts(&s, "data: {\"error\":\"\xc3\xa9");   /* a 2-byte character across the cut */
    for (i = 0; i < WHY_MAX - 3; i++)
        buf_putc(&s, 'a');
    buf_puts(&s, "\xc3\xa9\"}\n\n");
    r = parse(d, s.p, s.len, s.len, 7, 1 << 16, 0);
    CHECK_INT_EQ(r.state, LLM_SSE_ERROR);
    CHECK_INT_EQ(strlen(r.why), WHY_MAX - 1);
    CHECK(utf8_valid(r.why, strlen(r.why)));
    result_free(&r);

    buf_reset(&s);
    buf_puts(&s, "data: {\"choices\":[{\"delta\":{\"content\":\"x\"},\"finish_reason\":\"");
    for (i = 0; i < 100; i++)
        buf_putc(&s, 'r');
    buf_puts(&s, "\"}],\"usage\":{\"note\":\"");
    for (i = 0; i < USAGE_MAX; i++)
        buf_putc(&s, 'u');
    buf_puts(&s, "\"}}\n\ndata: [DONE]\n\n");
    r = parse(d, s.p, s.len, s.len, 1000, 1 << 16, 0);
    CHECK_INT_EQ(r.state, LLM_SSE_DONE);
    CHECK_STR_EQ(r.text, "x");
    for (i = 0; i < FINISH_MAX; i++)
        buf_putc(&want, 'r');
    CHECK_STR_EQ(r.finish, buf_str(&want));
    CHECK(r.usage == NULL);
    result_free(&r);
    buf_free(&s);
    buf_free(&want);
}

int main(void)
{
    struct llm_sse_db *d = llm_sse_db_open();

    CHECK(d != NULL);
    if (d == NULL)
        return check_summary("test_llm_sse");
    test_splits(d);
    test_malformed(d);
    test_bounds(d);
    test_error_object(d);
    test_ends(d);
    test_utf8_split(d);
    test_request_and_error(d);
    test_what_is_kept_is_short(d);
    llm_sse_db_close(d);
    return check_summary("test_llm_sse");
}
