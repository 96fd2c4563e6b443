/* test_log.c - log_timestamp (fcgi/base/log.c): the time of log lines and of
 * events, formatted by hand, must read as the calendar does: leap days,
 * month and year ends, and exactly as strftime's for every day. */
#include "base/log.c"

#include <string.h>

#include "check.h"

static void strftime_at(time_t t, char *out, size_t n)
{
    struct tm tm;

    if (gmtime_r(&t, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        out[0] = '\0';
}

static void check_at(time_t t, const char *want)
{
    char got[LOG_TIMESTAMP_SIZE] = "x";

    CHECK_INT_EQ(log_timestamp(t, got, sizeof got), 0);
    CHECK_STR_EQ(got, want);
}

/* The expected strings are written out, not computed: a calendar error in
 * the formatter and in a reference built the same way would agree. */
static void test_leap_days_and_month_ends(void)
{
    check_at(1709164800, "2024-02-29T00:00:00Z");   /* a leap day */
    check_at(1709251199, "2024-02-29T23:59:59Z");
    check_at(1709251200, "2024-03-01T00:00:00Z");   /* the day after it */
    check_at(1677628799, "2023-02-28T23:59:59Z");   /* no leap day in 2023 */
    check_at(1677628800, "2023-03-01T00:00:00Z");
    check_at(951825600, "2000-02-29T12:00:00Z");    /* divisible by 400: a leap year */
    check_at(4107542399, "2100-02-28T23:59:59Z");   /* divisible by 100: not one */
    check_at(4107542400, "2100-03-01T00:00:00Z");
    check_at(1769903999, "2026-01-31T23:59:59Z");   /* a 31-day month ends */
    check_at(1769904000, "2026-02-01T00:00:00Z");
    check_at(1777593599, "2026-04-30T23:59:59Z");   /* a 30-day month ends */
    check_at(1777593600, "2026-05-01T00:00:00Z");
    check_at(1798761599, "2026-12-31T23:59:59Z");   /* the year ends */
    check_at(1798761600, "2027-01-01T00:00:00Z");
    check_at(0, "1970-01-01T00:00:00Z");
    check_at(-1, "1969-12-31T23:59:59Z");
}

static void test_four_digit_years_only(void)
{
    char got[LOG_TIMESTAMP_SIZE] = "x";

    check_at(253402300799, "9999-12-31T23:59:59Z");
    check_at(-62167219200, "0000-01-01T00:00:00Z");
    CHECK_INT_EQ(log_timestamp(253402300800, got, sizeof got), -1);   /* year 10000 */
    CHECK_STR_EQ(got, "");
    strcpy(got, "x");
    CHECK_INT_EQ(log_timestamp(-62167219201, got, sizeof got), -1);   /* year -1 */
    CHECK_STR_EQ(got, "");
}

/* The first and the last second of every day from 1970 to 2100 read as
 * strftime reads them (47,847 days: bounded). */
static void test_every_day_as_strftime(void)
{
    const time_t day = 86400, end = 4133980800; /* 2101-01-01 */
    char got[LOG_TIMESTAMP_SIZE], want[32];
    int bad = 0;
    time_t t;

    for (t = 0; t < end; t += day) {
        time_t edge[2] = {t, t + day - 1};
        int i;

        for (i = 0; i < 2; i++) {
            strftime_at(edge[i], want, sizeof want);
            if (log_timestamp(edge[i], got, sizeof got) != 0 || strcmp(got, want) != 0) {
                if (bad++ == 0)
                    CHECK_STR_EQ(got, want);   /* the first difference, shown */
            }
        }
    }
    CHECK_INT_EQ(bad, 0);
}

static void test_now_same_as_strftime(void)
{
    char got[LOG_TIMESTAMP_SIZE], want[32];
    time_t now = time(NULL);

    CHECK_INT_EQ(log_timestamp(now, got, sizeof got), 0);
    strftime_at(now, want, sizeof want);
    CHECK_STR_EQ(got, want);
    CHECK_INT_EQ(strlen(got), LOG_TIMESTAMP_SIZE - 1);
}

static void test_small_buffer_is_refused(void)
{
    char small[LOG_TIMESTAMP_SIZE - 1] = "x";

    CHECK_INT_EQ(log_timestamp(1709164800, small, sizeof small), -1);
    CHECK_STR_EQ(small, "");
    CHECK_INT_EQ(log_timestamp(1709164800, small, 0), -1);
}

int main(void)
{
    test_leap_days_and_month_ends();
    test_four_digit_years_only();
    test_every_day_as_strftime();
    test_now_same_as_strftime();
    test_small_buffer_is_refused();
    return check_summary("test_log");
}
