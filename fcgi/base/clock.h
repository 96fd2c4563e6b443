/* clock.h - the one clock every timer, deadline and back-off reads
 * (CLOCK_MONOTONIC: wall-clock jumps move no deadline), and the doubling
 * back-off every part that reconnects to something uses. */
#ifndef PULSE_CLOCK_H
#define PULSE_CLOCK_H

/* Milliseconds of CLOCK_MONOTONIC. */
long long clock_ms(void);

/* Retries after a failure wait min_ms, then twice as long each time up to
 * max_ms; a success starts over. The owner sets min_ms and max_ms. */
struct backoff {
    long min_ms, max_ms;
    long wait_ms;          /* the current wait; 0 while healthy */
    long long retry_at;    /* clock_ms() before which no retry is due */
};

/* Records a failure at now: the next retry is due one (doubled) wait later. */
void backoff_failed(struct backoff *b, long long now);
/* Records a success: the next failure waits min_ms again. */
void backoff_reset(struct backoff *b);
/* 1 when a retry is due at now. */
int backoff_due(const struct backoff *b, long long now);

#endif
