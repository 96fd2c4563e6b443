/* clock.c - one monotonic clock and a doubling back-off (see clock.h). */
#include "base/clock.h"

#include <time.h>

long long clock_ms(void)
{
    struct timespec ts;

    /* CLOCK_MONOTONIC cannot fail on Linux for a valid pointer */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void backoff_failed(struct backoff *b, long long now)
{
    b->wait_ms = b->wait_ms ? b->wait_ms * 2 : b->min_ms;
    if (b->wait_ms > b->max_ms)
        b->wait_ms = b->max_ms;
    b->retry_at = now + b->wait_ms;
}

void backoff_reset(struct backoff *b)
{
    b->wait_ms = 0;
    b->retry_at = 0;
}

int backoff_due(const struct backoff *b, long long now)
{
    return now >= b->retry_at;
}
