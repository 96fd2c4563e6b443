/* test_conffile.c - pulse.conf's syntax (fcgi/base/conffile.c): a pure
 * function over a string. */
#include "base/conffile.c"

#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The keys the tests may set (the real caller passes config's table). */
static int known(const char *key)
{
    return strcmp(key, "PULSE_DATA") == 0 || strcmp(key, "PULSE_JWT_SECRET") == 0 ||
           strcmp(key, "PORT") == 0 || strcmp(key, "A_2") == 0;
}

/* Parses text; checks the outcome, and on failure the message. */
static int parse(const char *text, size_t len, struct conffile *f, const char *want_err)
{
    buf_t err = {0};
    int rc = conffile_parse(text, len, "pulse.conf", known, f, &err);

    if (want_err != NULL) {
        CHECK_INT_EQ(rc, -1);
        CHECK_STR_EQ(buf_str(&err), want_err);
        CHECK(f->n == 0 && f->v == NULL);
    } else {
        CHECK_INT_EQ(rc, 0);
        CHECK_STR_EQ(buf_str(&err), "");
    }
    buf_free(&err);
    return rc;
}

static const char *value(const struct conffile *f, const char *key)
{
    const struct conffile_entry *e = conffile_get(f, key);

    return e != NULL ? e->value : NULL;
}

static void test_good(void)
{
    static const char text[] =
        "# Pulse's settings\n"
        "\n"
        "PULSE_DATA=data\n"
        "   # an indented comment\n"
        "  PULSE_JWT_SECRET =  s3cr#t = x  \t\n"
        "\t\n"
        "PORT=\n"
        "A_2=\"  quoted  \"";
    struct conffile f;

    if (parse(text, sizeof text - 1, &f, NULL) != 0)
        return;
    CHECK_INT_EQ(f.n, 4);
    CHECK_STR_EQ(value(&f, "PULSE_DATA"), "data");
    CHECK_INT_EQ(conffile_get(&f, "PULSE_DATA")->line, 3);
    CHECK_STR_EQ(value(&f, "PULSE_JWT_SECRET"), "s3cr#t = x"); /* '#' and '=' inside a value are its own */
    CHECK_INT_EQ(conffile_get(&f, "PULSE_JWT_SECRET")->line, 5);
    CHECK_STR_EQ(value(&f, "PORT"), "");
    CHECK_STR_EQ(value(&f, "A_2"), "  quoted  "); /* the last line needs no newline */
    CHECK_INT_EQ(conffile_get(&f, "A_2")->line, 8);
    CHECK(conffile_get(&f, "PULSE_DB") == NULL);
    conffile_free(&f);
}

static void test_quotes_and_crlf(void)
{
    static const char text[] = "PULSE_DATA='a \"b\" c'\r\nPULSE_JWT_SECRET=\"x'\r\nPORT=\"\"\r\nA_2=\"\r\n";
    struct conffile f;

    if (parse(text, sizeof text - 1, &f, NULL) != 0)
        return;
    CHECK_STR_EQ(value(&f, "PULSE_DATA"), "a \"b\" c");
    CHECK_STR_EQ(value(&f, "PULSE_JWT_SECRET"), "\"x'"); /* unmatched quotes are kept */
    CHECK_STR_EQ(value(&f, "PORT"), "");
    CHECK_STR_EQ(value(&f, "A_2"), "\""); /* one quote is no pair */
    conffile_free(&f);
}

static void test_empty(void)
{
    struct conffile f;

    parse("", 0, &f, NULL);
    CHECK_INT_EQ(f.n, 0);
    parse("\n\n# only comments\n", 18, &f, NULL);
    CHECK_INT_EQ(f.n, 0);
    conffile_free(&f);
}

static void test_bad(void)
{
    struct conffile f;

    parse("PULSE_DATA=a\nJUNK\n", 18, &f, "pulse.conf:2: expected KEY=value (a KEY is upper-case letters, digits and _)");
    parse("pulse_data=a\n", 13, &f, "pulse.conf:1: expected KEY=value (a KEY is upper-case letters, digits and _)");
    parse("=a\n", 3, &f, "pulse.conf:1: expected KEY=value (a KEY is upper-case letters, digits and _)");
    parse("2PORT=1\n", 8, &f, "pulse.conf:1: expected KEY=value (a KEY is upper-case letters, digits and _)");
    parse("export PORT=1\n", 14, &f, "pulse.conf:1: expected KEY=value (a KEY is upper-case letters, digits and _)");
    parse("PORT 1\n", 7, &f, "pulse.conf:1: expected KEY=value (a KEY is upper-case letters, digits and _)");
    parse("\n\nPULSE_DTA=x\n", 14, &f,
          "pulse.conf:3: unknown key PULSE_DTA (the keys are the environment variables of the configuration)");
    parse("PORT=1\n# c\nPORT=2\n", 18, &f, "pulse.conf:3: PORT is set twice (first on line 1)");
    parse("PORT=1\nA_2=x\0y\n", 15, &f, "pulse.conf:2: a NUL byte");
    parse("PORT=1\x1b[0m\n", 11, &f, "pulse.conf:1: a control character");
    parse("PORT=1\rX=2\n", 11, &f, "pulse.conf:1: a control character"); /* a lone CR is no line end */
    parse("PORT=\x7f\n", 7, &f, "pulse.conf:1: a control character");
    parse("# a comment may not hide a NUL \0\n", 33, &f, "pulse.conf:1: a NUL byte");
}

int main(void)
{
    test_good();
    test_quotes_and_crlf();
    test_empty();
    test_bad();
    return check_summary("test_conffile");
}
