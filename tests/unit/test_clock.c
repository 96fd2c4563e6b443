/* test_clock.c - the monotonic clock and the doubling back-off. */
#include "base/clock.c"

#include <unistd.h>

#include "check.h"

static void test_clock_moves_forward(void)
{
    long long a = clock_ms(), b;

    usleep(20 * 1000);
    b = clock_ms();
    CHECK(a > 0);
    CHECK(b - a >= 20);
    CHECK(b - a < 5000);
}

static void test_backoff_doubles_to_its_cap_and_starts_over(void)
{
    struct backoff b = {.min_ms = 250, .max_ms = 1000};

    CHECK(backoff_due(&b, 0));
    backoff_failed(&b, 10000);
    CHECK_INT_EQ(b.wait_ms, 250);
    CHECK(!backoff_due(&b, 10249));
    CHECK(backoff_due(&b, 10250));
    backoff_failed(&b, 20000);
    CHECK_INT_EQ(b.wait_ms, 500);
    backoff_failed(&b, 20000);
    CHECK_INT_EQ(b.wait_ms, 1000);
    backoff_failed(&b, 20000);
    CHECK_INT_EQ(b.wait_ms, 1000);   /* capped */
    CHECK_INT_EQ(b.retry_at, 21000);
    backoff_reset(&b);
    CHECK(backoff_due(&b, 0));
    backoff_failed(&b, 30000);
    CHECK_INT_EQ(b.wait_ms, 250);    /* a success started it over */
}

int main(void)
{
    test_clock_moves_forward();
    test_backoff_doubles_to_its_cap_and_starts_over();
    return check_summary("test_clock");
}
