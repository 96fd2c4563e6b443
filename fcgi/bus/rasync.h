/* rasync.h - one asynchronous Redis connection on the stream loop.
 *
 * hiredis's async API driven by our epoll loop, with what every user of it
 * needs: AUTH/SELECT from the configuration, reconnects that back off from
 * 250 ms to 5 s, and a drop that is safe from inside a reply callback.
 * The subscriber, the relay and the mirror each own one. */
#ifndef PULSE_RASYNC_H
#define PULSE_RASYNC_H

#include <hiredis/async.h>

#include "base/clock.h"
#include "bus/redis_target.h"
#include "wire/loop.h"

struct rasync {
    const char *name;                        /* for the log */
    void (*on_ready)(struct rasync *ra);     /* connecting: queue the first commands */
    void (*on_lost)(struct rasync *ra);      /* gone: forget replies in flight */
    /* private */
    struct redis_target target;
    redisAsyncContext *ac;                   /* NULL while disconnected */
    struct watch w;
    struct backoff retry;                    /* the next connect attempt is due at retry.retry_at */
    int enabled;
};

/* Starts connecting to the configured Redis; ra->name and the callbacks
 * must be set. 0, or -1 when REDIS_URL is malformed (logged). */
int rasync_start(struct rasync *ra, const struct config *cfg);
/* Sends a command; the reply (NULL when the connection is lost first)
 * goes to cb. 0, or -1 when disconnected. */
int rasync_command(struct rasync *ra, redisCallbackFn *cb, void *priv, const char *fmt, ...);
int rasync_command_argv(struct rasync *ra, redisCallbackFn *cb, void *priv, int argc, const char **argv,
                        const size_t *argvlen);
/* A good reply arrived: the next loss starts backing off from the minimum. */
void rasync_healthy(struct rasync *ra);
/* Drops the connection (protocol error, time-out) and reconnects later. */
void rasync_drop(struct rasync *ra, const char *why);
int rasync_connected(const struct rasync *ra);
/* Reconnects when due; call from the loop's tick. */
void rasync_tick(struct rasync *ra, long long now_ms);
void rasync_stop(struct rasync *ra);

#endif
