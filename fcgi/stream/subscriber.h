/* subscriber.h - the stream responder's one Redis subscription.
 *
 * One PSUBSCRIBE <prefix>ev:* per process, driven by hiredis's async API on
 * the stream loop. A message (an event's id) only says "the log has news
 * up to here": the loop then pumps from the log, so order and completeness
 * come from the log, and an outage costs nothing but latency. Reconnects back off from 250 ms to 5 s;
 * each (re)subscription is followed by a catch-up pump. */
#ifndef PULSE_SUBSCRIBER_H
#define PULSE_SUBSCRIBER_H

#include <stdint.h>

struct config;

/* Starts connecting (does nothing without Redis configured). on_news is
 * called with an event id (0 = unknown, e.g. after a reconnect). */
int subscriber_start(const struct config *cfg, void (*on_news)(int64_t id));
/* Reconnects when due; call from the loop's tick. */
void subscriber_tick(long long now_ms);
void subscriber_stop(void);

#endif
