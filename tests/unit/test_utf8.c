/* test_utf8.c - UTF-8 validation (fcgi/utf8.c): every boundary of RFC 3629
 * (overlongs, surrogates, beyond U+10FFFF, sequences cut short) and the
 * \u escapes of JSON text that SQLite would decode into bytes that are not
 * UTF-8. */
#include "base/utf8.c"

#include "check.h"

#define VALID(lit) check_report(utf8_valid((lit), sizeof(lit) - 1) == 1, __FILE__, __LINE__, "valid: " #lit)
#define INVALID(lit) check_report(utf8_valid((lit), sizeof(lit) - 1) == 0, __FILE__, __LINE__, "invalid: " #lit)
#define JSON_OK(lit) check_report(utf8_json_text_ok((lit), sizeof(lit) - 1) == 1, __FILE__, __LINE__, "ok: " #lit)
#define JSON_BAD(lit) check_report(utf8_json_text_ok((lit), sizeof(lit) - 1) == 0, __FILE__, __LINE__, "bad: " #lit)

static void test_well_formed(void)
{
    VALID("");
    VALID("plain ASCII {\"a\":1}");
    VALID("\x00"); /* U+0000 is UTF-8; C-string callers refuse it themselves */
    VALID("\x7f");
    VALID("\xc2\x80");                 /* U+0080, the first two-byte character */
    VALID("\xdf\xbf");                 /* U+07FF */
    VALID("\xe0\xa0\x80");             /* U+0800 */
    VALID("Xin ch\xc3\xa0o, \xe1\xba\xa1");  /* Vietnamese: à, ạ */
    VALID("\xed\x9f\xbf");             /* U+D7FF, just below the surrogates */
    VALID("\xee\x80\x80");             /* U+E000, just above them */
    VALID("\xef\xbf\xbf");             /* U+FFFF */
    VALID("\xf0\x90\x80\x80");         /* U+10000 */
    VALID("\xf0\x9f\x98\x80");         /* U+1F600 */
    VALID("\xf4\x8f\xbf\xbf");         /* U+10FFFF, the last character */
}

static void test_overlong(void)
{
    INVALID("\xc0\x80");               /* U+0000 in two bytes */
    INVALID("\xc0\xaf");               /* '/' in two bytes */
    INVALID("\xc1\xbf");               /* U+007F in two bytes */
    INVALID("\xe0\x80\x80");           /* U+0000 in three */
    INVALID("\xe0\x9f\xbf");           /* U+07FF in three */
    INVALID("\xf0\x80\x80\x80");       /* U+0000 in four */
    INVALID("\xf0\x8f\xbf\xbf");       /* U+FFFF in four */
}

static void test_surrogates(void)
{
    INVALID("\xed\xa0\x80");           /* U+D800 */
    INVALID("\xed\xad\xbf");           /* U+DB7F */
    INVALID("\xed\xb0\x80");           /* U+DC00 */
    INVALID("\xed\xbf\xbf");           /* U+DFFF */
    INVALID("\xed\xa0\xbd\xed\xb8\x80"); /* a surrogate pair in CESU-8 */
}

static void test_beyond_unicode(void)
{
    INVALID("\xf4\x90\x80\x80");       /* U+110000 */
    INVALID("\xf5\x80\x80\x80");
    INVALID("\xf7\xbf\xbf\xbf");
    INVALID("\xf8\x88\x80\x80\x80");   /* old five-byte form */
    INVALID("\xfc\x84\x80\x80\x80\x80");
    INVALID("\xfe");
    INVALID("\xff");
    INVALID("ok\xffok");
}

static void test_truncated_and_stray(void)
{
    INVALID("\xc3");                   /* cut short, at the end */
    INVALID("\xe2\x82");
    INVALID("\xf0\x9f\x98");
    INVALID("\xc3 x");                 /* cut short, then ASCII */
    INVALID("\xe2\x28\xa1");           /* second byte not a continuation */
    INVALID("\xe2\x82\x28");           /* third byte not a continuation */
    INVALID("\xf0\x9f\x98\x28");
    INVALID("\x80");                   /* a continuation byte first */
    INVALID("a\xbf");
    INVALID("\xc3\xa9\xa9");           /* one continuation too many */
    /* only n bytes are read: a sequence cut by the length is cut */
    CHECK(utf8_valid("\xc3\xa9", 1) == 0);
    CHECK(utf8_valid("\xc3\xa9", 2) == 1);
}

static void test_json_escapes(void)
{
    JSON_OK("{\"a\":\"x\"}");
    JSON_OK("{\"a\":\"\\u00e9\\u4e2d\"}");
    JSON_OK("{\"a\":\"\\ud83d\\ude00\"}");       /* a pair: U+1F600 */
    JSON_OK("{\"a\":\"\\uD83D\\uDE00\"}");       /* in upper case */
    JSON_OK("{\"a\":\"\\udbff\\udfff\"}");       /* U+10FFFF */
    JSON_OK("{\"a\":\"\\\\ud800\"}");            /* an escaped backslash, then text */
    JSON_OK("{\"a\":\"\\\\\\ud83d\\ude00\"}");   /* \\ then a pair */
    JSON_OK("{\"a\":\"\\n\\t\\\"\\/\"}");
    JSON_OK("{\"\\ud83d\\ude00\":1}");           /* keys too */
    JSON_BAD("{\"a\":\"\\ud800\"}");             /* a high one alone */
    JSON_BAD("{\"a\":\"\\udbff\"}");
    JSON_BAD("{\"a\":\"\\udc00\"}");             /* a low one alone */
    JSON_BAD("{\"a\":\"\\udfff\\ud800\"}");      /* in the wrong order */
    JSON_BAD("{\"a\":\"\\ud800\\ud800\"}");      /* two high ones */
    JSON_BAD("{\"a\":\"\\ud800x\\udc00\"}");     /* not adjacent */
    JSON_BAD("{\"a\":\"\\ud800\\n\"}");
    JSON_BAD("{\"a\":\"\\ud800\\u0041\"}");      /* followed by a non-surrogate */
    JSON_BAD("{\"\\udc00\":1}");
    JSON_BAD("\\ud800");                         /* at the very end */
    JSON_BAD("{\"a\":\"\\\\\\ud800\"}");         /* \\ then a lone one */
    JSON_BAD("{\"a\":\"\xff\"}");                /* bytes are checked first */
    JSON_BAD("{\"a\":\"\xed\xa0\x80\"}");
    JSON_BAD("{\"a\":\"x\"}\\");                 /* a backslash last */
}

/* What a message shows of outside text: cut at a NUL, at max bytes and
 * never inside a character; not UTF-8 says so. */
static void test_shown(void)
{
    buf_t b = {0};

    utf8_shown(&b, "abc", 3, 10);
    CHECK_STR_EQ(buf_str(&b), "abc");
    buf_reset(&b);
    utf8_shown(&b, "ab\0cd", 5, 10);
    CHECK_STR_EQ(buf_str(&b), "ab");
    buf_reset(&b);
    utf8_shown(&b, "x\xc3\xa9y", 4, 2); /* é cut in half: dropped */
    CHECK_STR_EQ(buf_str(&b), "x");
    buf_reset(&b);
    utf8_shown(&b, "\xf0\x9f\x98\x80!", 5, 4);
    CHECK_STR_EQ(buf_str(&b), "\xf0\x9f\x98\x80");
    buf_reset(&b);
    utf8_shown(&b, "a\xff" "bcdefg", 8, 10);
    CHECK_STR_EQ(buf_str(&b), "(not UTF-8 text)");
    buf_free(&b);
}

int main(void)
{
    test_shown();
    test_well_formed();
    test_overlong();
    test_surrogates();
    test_beyond_unicode();
    test_truncated_and_stray();
    test_json_escapes();
    return check_summary("test_utf8");
}
