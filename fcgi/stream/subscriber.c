/* subscriber.c - Redis PSUBSCRIBE on the stream loop (see subscriber.h). */
#include "stream/subscriber.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/rasync.h"

static struct rasync ra;
static void (*news)(int64_t id);
static char *pattern;

/* A message is the event's id in decimal (bus.c). Anything else (an old
 * primary's envelope, or junk anyone who can write Redis PUBLISHes) still
 * wakes the responder, as news of unknown id (0): it reads the log, which
 * is the truth either way. */
static int64_t message_id(const char *s, size_t len)
{
    int64_t id = 0;
    size_t i;

    if (len == 0 || len > 18)
        return 0; /* 18 digits cannot overflow an int64_t */
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        id = id * 10 + (s[i] - '0');
    }
    return id;
}

static void on_message(redisAsyncContext *c, void *r, void *priv)
{
    redisReply *reply = r;

    (void)c;
    (void)priv;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    if (reply->element[0]->type == REDIS_REPLY_STRING && strcmp(reply->element[0]->str, "psubscribe") == 0) {
        log_info("redis: subscribed to %s", pattern);
        rasync_healthy(&ra);
        metrics_add(M_REDIS_RECONNECTS, 1);
        news(0); /* catch up on whatever was published while we were away */
        return;
    }
    if (reply->elements == 4 && reply->element[3]->type == REDIS_REPLY_STRING)
        news(message_id(reply->element[3]->str, reply->element[3]->len));
}

static void on_ready(struct rasync *r)
{
    rasync_command(r, on_message, NULL, "PSUBSCRIBE %s", pattern);
}

int subscriber_start(const struct config *cfg, void (*on_news)(int64_t id))
{
    buf_t p = {0};

    news = on_news;
    if (!config_redis_enabled(cfg))
        return 0;
    buf_printf(&p, "%sev:*", cfg->redis_prefix);
    pattern = buf_steal(&p);
    ra.name = "subscriber";
    ra.on_ready = on_ready;
    return rasync_start(&ra, cfg);
}

void subscriber_tick(long long now_ms)
{
    rasync_tick(&ra, now_ms);
}

void subscriber_stop(void)
{
    rasync_stop(&ra);
    free(pattern);
    pattern = NULL;
}
