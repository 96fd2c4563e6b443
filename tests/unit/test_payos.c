/* test_payos.c - PayOS webhook signatures (handlers/payos.c) against the
 * vector from PayOS's documentation. */
#include "handlers/payos.c"

#include <ctype.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "base/alloc.h"
#include "check.h"
#include "unit_db.h"

static const char key[] = "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7675";
static const char sig[] = "412e915d2871504ed31be63c8f62a149a4410d34c4c42affc9006ef9917eaa03";
static const char body[] =
    "{\"code\":\"00\",\"desc\":\"success\",\"success\":true,\"data\":{\"orderCode\":123,"
    "\"amount\":3000,\"description\":\"VQRIO123\",\"accountNumber\":\"12345678\","
    "\"reference\":\"TF230204212323\",\"transactionDateTime\":\"2023-02-04 18:25:00\","
    "\"currency\":\"VND\",\"paymentLinkId\":\"124c33293c43417ab7879e14c8d9eb18\",\"code\":\"00\","
    "\"desc\":\"Th\xc3\xa0nh c\xc3\xb4ng\",\"counterAccountBankId\":\"\",\"counterAccountBankName\":\"\","
    "\"counterAccountName\":\"\",\"counterAccountNumber\":\"\",\"virtualAccountName\":\"\","
    "\"virtualAccountNumber\":\"\"},"
    "\"signature\":\"412e915d2871504ed31be63c8f62a149a4410d34c4c42affc9006ef9917eaa03\"}";

static struct db *db;

/* payos_signed_text of a body given as text; NULL when it returns -1. */
static char *signed_text(const char *b)
{
    buf_t out = {0};
    char *s = NULL;

    if (payos_signed_text(db, b, strlen(b), &out) == 0)
        s = xstrdup(buf_str(&out)); /* "" for an empty data object */
    buf_free(&out);
    return s;
}

/* body with its first `from` replaced by `to` (which must occur). */
static char *replaced(const char *from, const char *to)
{
    const char *at = strstr(body, from);
    buf_t b = {0};

    if (at == NULL)
        return NULL;
    buf_append(&b, body, (size_t)(at - body));
    buf_puts(&b, to);
    buf_puts(&b, at + strlen(from));
    return buf_steal(&b);
}

static int ok(const char *b, const char *k, const char *s)
{
    return payos_signature_ok(db, k, b, strlen(b), s);
}

static void test_official_vector(void)
{
    char *t = signed_text(body);
    char upper[sizeof sig];
    size_t i;

    CHECK_STR_EQ(t, "accountNumber=12345678&amount=3000&code=00&counterAccountBankId="
                    "&counterAccountBankName=&counterAccountName=&counterAccountNumber=&currency=VND"
                    "&desc=Th\xc3\xa0nh c\xc3\xb4ng&description=VQRIO123&orderCode=123"
                    "&paymentLinkId=124c33293c43417ab7879e14c8d9eb18&reference=TF230204212323"
                    "&transactionDateTime=2023-02-04 18:25:00&virtualAccountName=&virtualAccountNumber=");
    free(t);
    CHECK(ok(body, key, sig) == 1);
    for (i = 0; i < sizeof sig; i++)
        upper[i] = (char)toupper((unsigned char)sig[i]);
    CHECK(ok(body, key, upper) == 1); /* hex in any case */
}

static void test_tampering(void)
{
    /* One character of each kind of value in data, including empty ones. */
    static const char *const edits[][2] = {
        {"\"orderCode\":123", "\"orderCode\":124"},
        {"\"amount\":3000", "\"amount\":3001"},
        {"VQRIO123", "VQRIO124"},
        {"12345678", "12345679"},
        {"TF230204212323", "TF230204212324"},
        {"18:25:00", "18:25:01"},
        {"VND", "VNC"},
        {"124c33293c43417a", "124c33293c43417b"},
        {"\"code\":\"00\",\"desc\":\"Th", "\"code\":\"01\",\"desc\":\"Th"},
        {"c\xc3\xb4ng", "cong"},
        {"\"counterAccountBankId\":\"\"", "\"counterAccountBankId\":\"x\""},
        {"\"virtualAccountNumber\":\"\"", "\"virtualAccountNumber\":\"0\""},
        {"\"amount\":3000", "\"amount\":\"3000x\""},
    };
    size_t i;
    char *b, wrong[sizeof sig];

    for (i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        b = replaced(edits[i][0], edits[i][1]);
        CHECK(b != NULL);
        if (b != NULL && ok(b, key, sig) != 0)
            fprintf(stderr, "    accepted after changing %s\n", edits[i][0]);
        CHECK(b != NULL && ok(b, key, sig) == 0);
        free(b);
    }
    /* Fields outside data are not signed. */
    b = replaced("\"desc\":\"success\"", "\"desc\":\"whatever\"");
    CHECK(ok(b, key, sig) == 1);
    free(b);

    CHECK(ok(body, "1a54716c8f0efb2744fb28b6e38b25da7f67a925d98bc1c18bd8faaecadd7676", sig) == 0);
    CHECK(ok(body, "", sig) == 0);
    CHECK(ok(body, NULL, sig) == 0);
    CHECK(ok(body, key, NULL) == 0);
    CHECK(ok(body, key, "") == 0);
    memcpy(wrong, sig, sizeof sig);
    wrong[10] = wrong[10] == '0' ? '1' : '0';
    CHECK(ok(body, key, wrong) == 0);
    wrong[sizeof sig - 2] = '\0';
    CHECK(ok(body, key, wrong) == 0); /* a prefix */
}

/* Checks the signed text of a body whose data is `data`. */
static void check_text(const char *data, const char *want, int line)
{
    buf_t b = {0};
    char *t;

    buf_printf(&b, "{\"data\":%s}", data);
    t = signed_text(buf_str(&b));
    check_str_eq(t, want, __FILE__, line, data);
    free(t);
    buf_free(&b);
}
#define CHECK_TEXT(data, want) check_text((data), (want), __LINE__)

/* Checks that the body text has no signed text (signed_text gives NULL). */
static void check_no_text(const char *text, int line)
{
    char *t = signed_text(text);

    check_report(t == NULL, __FILE__, line, text);
    free(t);
}
#define CHECK_NO_TEXT(text) check_no_text((text), __LINE__)

static void test_signed_text_rules(void)
{
    /* byte order of keys: "B" < "_" < "a"; a prefix sorts first */
    CHECK_TEXT("{\"b\":1,\"a\":2,\"B\":3,\"_\":4}", "B=3&_=4&a=2&b=1");
    CHECK_TEXT("{\"description\":\"x\",\"desc\":\"y\"}", "desc=y&description=x");
    CHECK_TEXT("{\"a\":null,\"b\":\"null\",\"c\":\"undefined\",\"d\":\"\",\"e\":\"Null\"}",
               "a=&b=&c=&d=&e=Null");
    CHECK_TEXT("{\"t\":true,\"f\":false}", "f=false&t=true");
    CHECK_TEXT("{\"i\":-42,\"r\":1.5,\"w\":2.0,\"e\":1e21,\"s\":0.1}",
               "e=1e+21&i=-42&r=1.5&s=0.1&w=2");
    CHECK_TEXT("{\"s\":\"a&b=c d\\\"\\n\"}", "s=a&b=c d\"\n"); /* raw, unescaped */
    CHECK_TEXT("{\"o\":{\"x\":1}}", "o=[object Object]");
    CHECK_TEXT("{\"b\":[{\"z\":1,\"a\":\"x\"}],\"a\":null}", "a=&b=[{\"a\":\"x\",\"z\":1}]");
    CHECK_TEXT("{\"l\":[{\"n\":null,\"t\":true,\"f\":false,\"s\":\"q\\\"\",\"r\":2.5,\"o\":{\"y\":1,\"x\":2}},{}]}",
               "l=[{\"f\":false,\"n\":null,\"o\":{\"y\":1,\"x\":2},\"r\":2.5,\"s\":\"q\\\"\",\"t\":true},{}]");
    CHECK_TEXT("{\"l\":[]}", "l=[]");
    /* numbers as JavaScript reads and prints them, in arrays too */
    CHECK_TEXT("{\"x\":[5e4,1.50,1E2,-0,7]}", "x=[50000,1.5,100,0,7]");
    CHECK_TEXT("{\"x\":[{\"b\":1.0,\"a\":9007199254740993}]}", "x=[{\"a\":9007199254740992,\"b\":1}]");
    CHECK_TEXT("{\"x\":[1e400]}", "x=[null]");
    CHECK_TEXT("{\"b\":123456789012345678901,\"i\":9007199254740993,\"j\":-42}",
               "b=123456789012345680000&i=9007199254740992&j=-42");
    CHECK_TEXT("{}", "");

    /* data missing, not an object, or a body that is not JSON */
    CHECK_NO_TEXT("{\"code\":\"00\"}");
    CHECK_NO_TEXT("{\"data\":[1,2]}");
    CHECK_NO_TEXT("{\"data\":\"x\"}");
    CHECK_NO_TEXT("{\"data\":null}");
    CHECK_NO_TEXT("{\"data\":{\"a\":1}");
}

/* Checks jsnum_format(v) prints want. */
static void check_num(double v, const char *want, int line)
{
    buf_t b = {0};

    jsnum_format(v, &b);
    check_str_eq(buf_str(&b), want, __FILE__, line, want);
    buf_free(&b);
}
#define CHECK_NUM(v, want) check_num((v), (want), __LINE__)

static void test_js_number(void)
{
    CHECK_NUM(3000, "3000");
    CHECK_NUM(1.5, "1.5");
    CHECK_NUM(0.1, "0.1");
    CHECK_NUM(1e21, "1e+21");
    CHECK_NUM(1e20, "100000000000000000000");
    CHECK_NUM(1e-7, "1e-7");
    CHECK_NUM(0.000001, "0.000001");
    CHECK_NUM(-2.5, "-2.5");
    CHECK_NUM(123456789012, "123456789012");
    CHECK_NUM(0, "0");
    CHECK_NUM(-0.0, "0");
    CHECK_NUM(123.456, "123.456");
    CHECK_NUM(0.1 + 0.2, "0.30000000000000004");
    CHECK_NUM(1.25e-10, "1.25e-10");
    CHECK_NUM(1.5e300, "1.5e+300");
    CHECK_NUM(5e-324, "5e-324");
    CHECK_NUM(1.7976931348623157e308, "1.7976931348623157e+308");
    CHECK_NUM(9007199254740993.0, "9007199254740992");
    CHECK_NUM(NAN, "NaN");
    CHECK_NUM(INFINITY, "Infinity");
    CHECK_NUM(-INFINITY, "-Infinity");
}

static void test_js_int_and_json(void)
{
    buf_t b = {0};

    jsnum_int(9007199254740992LL, &b);
    CHECK_STR_EQ(buf_str(&b), "9007199254740992");
    buf_reset(&b);
    jsnum_int(9007199254740993LL, &b); /* the nearest double */
    CHECK_STR_EQ(buf_str(&b), "9007199254740992");
    buf_reset(&b);
    jsnum_int(-9007199254740995LL, &b);
    CHECK_STR_EQ(buf_str(&b), "-9007199254740996");
    buf_reset(&b);
    jsnum_int(LLONG_MAX, &b);
    CHECK_STR_EQ(buf_str(&b), "9223372036854776000");
    buf_reset(&b);
    jsnum_json(INFINITY, &b); /* JSON.stringify([Infinity]) is [null] */
    CHECK_STR_EQ(buf_str(&b), "null");
    buf_reset(&b);
    jsnum_json(50000.0, &b);
    CHECK_STR_EQ(buf_str(&b), "50000");
    buf_free(&b);
}

/* PayOS's SDK parses the body before it signs: the number 3000.0 (or 3e3)
 * is 3000 there and signs as "3000", so the official signature holds for
 * it too. (The handler then takes it as the whole amount 3000.) */
static void test_amount_written_as_real(void)
{
    static const char *const forms[] = {"\"amount\":3000.0,", "\"amount\":3e3,", "\"amount\":3000.000,",
                                        "\"amount\":30E2,"};
    size_t i;

    for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char *b = replaced("\"amount\":3000,", forms[i]);
        check_report(b != NULL && ok(b, key, sig), __FILE__, __LINE__, forms[i]);
        free(b);
    }
    {
        char *b = replaced("\"amount\":3000,", "\"amount\":3000.5,");
        CHECK(b != NULL && !ok(b, key, sig)); /* a different number: a different text */
        free(b);
    }
}

int main(void)
{
    static unit_test_fn *const tests[] = {test_official_vector, test_tampering, test_signed_text_rules,
                                          test_js_number, test_js_int_and_json, test_amount_written_as_real, NULL};

    return unit_db_main("test_payos", &db, tests);
}
