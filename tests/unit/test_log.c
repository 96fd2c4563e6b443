/* test_log.c - log_timestamp (fcgi/base/log.c): the time of log lines and of
 * events, formatted by hand, must read exactly as strftime's. */
#include "base/log.c"

#include <string.h>

#include "check.h"

static void strftime_at(time_t t, char *out, size_t n)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

static void test_same_as_strftime(void)
{
    char got[LOG_TIMESTAMP_SIZE], before[32], after[32];
    time_t t0 = time(NULL);
    int rc = log_timestamp(got, sizeof got);
    time_t t1 = time(NULL);

    CHECK_INT_EQ(rc, 0);
    strftime_at(t0, before, sizeof before);
    strftime_at(t1, after, sizeof after);
    CHECK(strcmp(got, before) == 0 || strcmp(got, after) == 0); /* the second may turn in between */
    CHECK_INT_EQ(strlen(got), LOG_TIMESTAMP_SIZE - 1);
}

static void test_small_buffer_is_refused(void)
{
    char small[LOG_TIMESTAMP_SIZE - 1] = "x";

    CHECK_INT_EQ(log_timestamp(small, sizeof small), -1);
    CHECK_STR_EQ(small, "");
    CHECK_INT_EQ(log_timestamp(small, 0), -1);
}

int main(void)
{
    test_same_as_strftime();
    test_small_buffer_is_refused();
    return check_summary("test_log");
}
