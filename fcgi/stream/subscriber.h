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
struct subscriber;

/* Called with an event id (0 = unknown, e.g. after a reconnect) and the
 * data given to subscriber_start. */
typedef void subscriber_news_fn(void *data, int64_t id);

/* A subscription of cfg's Redis (what it needs of cfg is copied),
 * connecting at once; idle without Redis configured or with a REDIS_URL it
 * cannot use (logged).
 * Never NULL; owned by the caller, freed by subscriber_stop. */
struct subscriber *subscriber_start(const struct config *cfg, subscriber_news_fn *on_news, void *data);
/* Reconnects when due; call from the loop's tick. */
void subscriber_tick(struct subscriber *s, long long now_ms);
/* Disconnects and frees s. NULL is a no-op. */
void subscriber_stop(struct subscriber *s);

#endif
