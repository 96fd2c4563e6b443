/* test_http.c - query strings, ids, integers, origins and paths (fcgi/http/http.c). */
#include "http/http.c"

#include "check.h"

/* Parses s; returns http_query_parse's result. */
static int parse(const char *s, struct http_query *q)
{
    return http_query_parse(s, strlen(s), q);
}

static void test_query_decoding(void)
{
    struct http_query q;

    CHECK(parse("a=1&b=hello%20world&c=x+y&d=%41%42%c3%a9&e=a%2Bb%26c%3Dd", &q) == 0);
    CHECK_INT_EQ(q.n, 5);
    CHECK_STR_EQ(http_query_get(&q, "a"), "1");
    CHECK_STR_EQ(http_query_get(&q, "b"), "hello world");
    CHECK_STR_EQ(http_query_get(&q, "c"), "x y");
    CHECK_STR_EQ(http_query_get(&q, "d"), "AB\xc3\xa9");
    CHECK_STR_EQ(http_query_get(&q, "e"), "a+b&c=d");
    CHECK(http_query_get(&q, "missing") == NULL);
    http_query_free(&q);

    /* Names are decoded too; only the first '=' splits. */
    CHECK(parse("my%20name=x=y", &q) == 0);
    CHECK_STR_EQ(http_query_get(&q, "my name"), "x=y");
    http_query_free(&q);

    /* Only len bytes are read. */
    CHECK(http_query_parse("a=1&b=2", 3, &q) == 0);
    CHECK_INT_EQ(q.n, 1);
    CHECK(http_query_get(&q, "b") == NULL);
    http_query_free(&q);
}

static void test_query_shapes(void)
{
    struct http_query q;
    const char *vals[2];

    CHECK(parse("flag&x=1&empty=", &q) == 0);
    CHECK_STR_EQ(http_query_get(&q, "flag"), "");
    CHECK_STR_EQ(http_query_get(&q, "empty"), "");
    CHECK_STR_EQ(http_query_get(&q, "x"), "1");
    http_query_free(&q);

    CHECK(parse("&&a=1&&b=2&", &q) == 0);
    CHECK_INT_EQ(q.n, 2);
    http_query_free(&q);

    CHECK(parse("", &q) == 0);
    CHECK_INT_EQ(q.n, 0);
    http_query_free(&q);

    CHECK(parse("topic=a&x=0&topic=b&topic=c", &q) == 0);
    CHECK_STR_EQ(http_query_get(&q, "topic"), "a");
    CHECK_INT_EQ(http_query_all(&q, "topic", vals, 2), 3); /* counts all, stores max */
    CHECK_STR_EQ(vals[0], "a");
    CHECK_STR_EQ(vals[1], "b");
    CHECK_INT_EQ(http_query_all(&q, "nope", vals, 2), 0);
    http_query_free(&q);
}

static void test_query_rejects(void)
{
    static const char *const bad[] = {
        "a=%zz", "a=%4", "a=%", "a=%&b=1", "%zz=1", "a=%4g", "a=x%00y", "%00=1", "a=%0",
    };
    struct http_query q;
    buf_t s = {0};
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse(bad[i], &q) == -1);
        CHECK(q.n == 0 && q.v == NULL); /* left empty */
    }
    /* A raw NUL inside len is refused too. */
    CHECK(http_query_parse("a=x\0y", 5, &q) == -1);

    for (i = 0; i < HTTP_MAX_QUERY_PARAMS; i++)
        buf_printf(&s, "%sp%zu=%zu", i ? "&" : "", i, i);
    CHECK(parse(buf_str(&s), &q) == 0);
    CHECK_INT_EQ(q.n, HTTP_MAX_QUERY_PARAMS);
    http_query_free(&q);
    buf_puts(&s, "&one=more");
    CHECK(parse(buf_str(&s), &q) == -1);
    CHECK(q.n == 0 && q.v == NULL);
    buf_free(&s);
}

/* valid takes names of up to max characters: one of max, not one of
 * max + 1, nor "" or NULL. */
static void check_length(int (*valid)(const char *), size_t max, const char *what, int line)
{
    char s[HTTP_MAX_ID + 2];

    if (max > HTTP_MAX_ID) {
        check_report(0, __FILE__, line, "a limit the test's buffer holds");
        return;
    }
    memset(s, 'x', max + 1);
    s[max] = '\0';
    check_report(valid(s), __FILE__, line, what);
    s[max] = 'x';
    s[max + 1] = '\0';
    check_report(!valid(s), __FILE__, line, what);
    check_report(!valid(""), __FILE__, line, what);
    check_report(!valid(NULL), __FILE__, line, what);
}
#define CHECK_LENGTH(valid, max) check_length((valid), (max), #valid " up to " #max, __LINE__)

static void test_valid_id(void)
{
    CHECK(http_valid_id("abc"));
    CHECK(http_valid_id("room:lobby"));
    CHECK(http_valid_id("A-Z_0.9:x"));
    CHECK_LENGTH(http_valid_id, HTTP_MAX_ID);     /* 128, not 129 */
    CHECK(!http_valid_id("a/b"));
    CHECK(!http_valid_id("a b"));
    CHECK(!http_valid_id("a%20b"));
    CHECK(!http_valid_id("a\nb"));
    CHECK(!http_valid_id("caf\xc3\xa9"));
    /* event types: the same characters, at most 64 */
    CHECK_LENGTH(http_valid_type, HTTP_MAX_TYPE); /* 64, not 65 */
    CHECK(!http_valid_type("x\nid: 9"));
    CHECK(http_valid_id_n("ab/cd", 2));
    CHECK(!http_valid_id_n("ab", 0));
}

static void test_parse_i64(void)
{
    long long v = -5;

    CHECK(http_parse_i64("0", &v) == 0 && v == 0);
    CHECK(http_parse_i64("123", &v) == 0 && v == 123);
    CHECK(http_parse_i64("007", &v) == 0 && v == 7);
    CHECK(http_parse_i64("9223372036854775807", &v) == 0 && v == 9223372036854775807LL);
    v = 42;
    CHECK(http_parse_i64("9223372036854775808", &v) == -1);
    CHECK(http_parse_i64("99999999999999999999999", &v) == -1);
    CHECK(http_parse_i64("-1", &v) == -1);
    CHECK(http_parse_i64("+1", &v) == -1);
    CHECK(http_parse_i64(" 1", &v) == -1);
    CHECK(http_parse_i64("1 ", &v) == -1);
    CHECK(http_parse_i64("12a", &v) == -1);
    CHECK(http_parse_i64("0x10", &v) == -1);
    CHECK(http_parse_i64("", &v) == -1);
    CHECK(http_parse_i64(NULL, &v) == -1);
    CHECK_INT_EQ(v, 42); /* untouched on failure */
}

static void test_origin(void)
{
    const char *list = "https://a.example, https://b.example ,http://localhost:8080";

    CHECK(http_origin_allowed("*", "https://anything.example"));
    CHECK(http_origin_allowed(" * ", "https://anything.example"));
    CHECK(http_origin_allowed(list, "https://a.example"));
    CHECK(http_origin_allowed(list, "https://b.example"));
    CHECK(http_origin_allowed(list, "http://localhost:8080"));
    CHECK(!http_origin_allowed(list, "https://c.example"));
    CHECK(!http_origin_allowed(list, "https://a.exampl"));
    CHECK(!http_origin_allowed(list, "https://a.example.evil"));
    CHECK(!http_origin_allowed(list, ""));
    CHECK(!http_origin_allowed("", "https://a.example"));
    CHECK(!http_origin_allowed(NULL, "https://a.example"));
    CHECK(!http_origin_allowed("*", NULL));
}

static void test_origin_cap(void)
{
    char origin[HTTP_ORIGIN_MAX + 2];

    memset(origin, 'a', sizeof(origin) - 1);
    memcpy(origin, "https://", 8);
    origin[HTTP_ORIGIN_MAX] = '\0';
    CHECK(http_origin_allowed("*", origin));
    CHECK(http_origin_allowed(origin, origin));
    origin[HTTP_ORIGIN_MAX] = 'a';
    origin[HTTP_ORIGIN_MAX + 1] = '\0';
    CHECK(!http_origin_allowed("*", origin));
    CHECK(!http_origin_allowed(origin, origin));
}

static void test_status_text(void)
{
    CHECK_STR_EQ(http_status_text(200), "OK");
    CHECK_STR_EQ(http_status_text(404), "Not Found");
    CHECK_STR_EQ(http_status_text(405), "Method Not Allowed");
    CHECK_STR_EQ(http_status_text(999), "Unknown");
}

/* Decoded names and values are UTF-8 (they are stored and sent on in
 * JSON): a percent-escape or a raw byte that makes them otherwise is bad. */
static void test_query_utf8(void)
{
    static const char *const bad[] = {
        "a=%ff", "a=%FF", "a=x%c3", "a=%c3x", "a=%c0%af", "a=%ed%a0%80", "a=%f4%90%80%80", "a=%80",
        "%ff=1", "a=1&b=\xff", "name=\xc3", "a=\xed\xa0\x80",
    };
    struct http_query q;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = parse(bad[i], &q);
        check_report(rc == -1, __FILE__, __LINE__, bad[i]);
        check_report(q.n == 0 && q.v == NULL, __FILE__, __LINE__, bad[i]);
        if (rc == 0)
            http_query_free(&q);
    }
    CHECK(parse("a=%c3%a9&b=\xe1\xba\xa1&c=%f0%9f%98%80&%e4%b8%ad=1", &q) == 0);
    CHECK_STR_EQ(http_query_get(&q, "a"), "\xc3\xa9");
    CHECK_STR_EQ(http_query_get(&q, "b"), "\xe1\xba\xa1");
    CHECK_STR_EQ(http_query_get(&q, "c"), "\xf0\x9f\x98\x80");
    CHECK_STR_EQ(http_query_get(&q, "\xe4\xb8\xad"), "1");
    http_query_free(&q);
}

static void test_valid_url(void)
{
    static const char *const good[] = {
        "https://cdn.example.com/t.jpg", "http://example.com", "HTTPS://EXAMPLE.COM/A.PNG", "Http://x",
        "https://127.0.0.1:8080/img?size=2&x=%20#top", "https://[::1]/a", "https://user@example.com/a",
        "https://v\xc3\xad.d\xe1\xbb\xa5/\xe1\xba\xa3nh.png", "http://a/b(c)d;e,f!g*h~i$j+k=l",
    };
    static const char *const bad[] = {
        "", "javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "data:image/png;base64,AAAA",
        "vbscript:x", "file:///etc/passwd", "ftp://example.com/a", "//example.com/a.jpg", "/a.jpg", "a.jpg",
        "https:example.com", "https:/example.com", "https://", "http:///a", "https://?a", "https://#a",
        "https://@host", "https://:80/a", "https://exa mple.com", "https://example.com/a b", "https://a/\tb",
        "https://a/\nb", "https://a/\x7f", "https://a/\"onerror=\"x", "https://a/'x", "https://a/<x>",
        "https://a/\\b", "https://a/`b", "https:\\\\evil.com", "javascript://example.com/%0aalert(1)x",
    };
    char *big;
    size_t i;

    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        check_report(http_valid_url(good[i]) == 1, __FILE__, __LINE__, good[i]);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        check_report(http_valid_url(bad[i]) == 0, __FILE__, __LINE__, bad[i]);
    CHECK(http_valid_url(NULL) == 0);
    /* the length bound: HTTP_MAX_URL bytes, not one more */
    big = malloc(HTTP_MAX_URL + 2);
    memcpy(big, "https://a/", 10);
    memset(big + 10, 'x', HTTP_MAX_URL - 10);
    big[HTTP_MAX_URL] = '\0';
    CHECK(http_valid_url(big) == 1);
    big[HTTP_MAX_URL] = 'x';
    big[HTTP_MAX_URL + 1] = '\0';
    CHECK(http_valid_url(big) == 0);
    free(big);
}

static const char *client_key(const char *addr)
{
    static char out[128];
    buf_t b = {0};

    http_client_key(addr, &b);
    snprintf(out, sizeof out, "%s", buf_str(&b));
    buf_free(&b);
    return out;
}

static void test_client_key(void)
{
    CHECK_STR_EQ(client_key("203.0.113.7"), "203.0.113.7");
    CHECK_STR_EQ(client_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
    CHECK_STR_EQ(client_key("2001:db8:1:2::1"), "2001:db8:1:2::/64"); /* one /64, one client */
    CHECK_STR_EQ(client_key("::ffff:203.0.113.7"), "::ffff:203.0.113.7");
    CHECK_STR_EQ(client_key("unix:"), "unix:");
    CHECK_STR_EQ(client_key(NULL), "");
}

static void test_escape(void)
{
    buf_t b = {0};

    http_escape("AZaz09-._~", &b);
    CHECK_STR_EQ(buf_str(&b), "AZaz09-._~");
    buf_reset(&b);
    http_escape("a b&c=d/é+%", &b);
    CHECK_STR_EQ(buf_str(&b), "a%20b%26c%3Dd%2F%C3%A9%2B%25");
    buf_free(&b);
}

static void test_read_method(void)
{
    CHECK_STR_EQ(http_read_method("HEAD"), "GET");
    CHECK_STR_EQ(http_read_method("GET"), "GET");
    CHECK_STR_EQ(http_read_method("POST"), "POST");
    CHECK_STR_EQ(http_read_method("head"), "head"); /* methods are case-sensitive (RFC 9110) */
    CHECK_STR_EQ(http_read_method(""), "");
}

int main(void)
{
    test_escape();
    test_read_method();
    test_query_decoding();
    test_query_shapes();
    test_query_rejects();
    test_valid_id();
    test_parse_i64();
    test_client_key();
    test_origin();
    test_origin_cap();
    test_status_text();
    test_query_utf8();
    test_valid_url();
    return check_summary("test_http");
}
