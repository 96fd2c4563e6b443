/* test_buf.c - the growable buffer (fcgi/base/buf.c): decimal integers
 * written without printf, checked against printf's own at every edge. */
#include <limits.h>
#include <stdio.h>

#include "base/buf.c"

#include "check.h"

static void check_i64(long long v)
{
    buf_t b = {0};
    char want[32];

    buf_puts(&b, "x");
    buf_put_i64(&b, v);
    snprintf(want, sizeof want, "x%lld", v);
    CHECK_STR_EQ(buf_str(&b), want);
    buf_free(&b);
}

static void test_put_i64(void)
{
    static const long long edges[] = {0, 1, -1, 9, 10, -10, 99, 100, 12345, 1000000000000LL,
                                      LLONG_MAX, LLONG_MAX - 1, LLONG_MIN, LLONG_MIN + 1};
    size_t i;
    long long v;

    for (i = 0; i < sizeof edges / sizeof edges[0]; i++)
        check_i64(edges[i]);
    for (v = 1; v > 0 && v < LLONG_MAX / 7; v = v * 7 + 3) {
        check_i64(v);
        check_i64(-v);
    }
}

int main(void)
{
    test_put_i64();
    return check_summary("test_buf");
}
