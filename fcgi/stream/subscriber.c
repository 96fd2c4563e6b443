/* subscriber.c - Redis PSUBSCRIBE on the stream loop (see subscriber.h). */
#include "stream/subscriber.h"

#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/rasync.h"

struct subscriber {
    struct rasync ra;                  /* first: rasync's callbacks hand us &ra */
    subscriber_news_fn *news;
    void *data;                        /* news's argument */
    char *pattern;                     /* owned: <prefix>ev:* */
};

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
    struct subscriber *s = priv;
    redisReply *reply = r;

    (void)c;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    if (reply->element[0]->type == REDIS_REPLY_STRING && strcmp(reply->element[0]->str, "psubscribe") == 0) {
        log_info("redis: subscribed to %s", s->pattern);
        rasync_healthy(&s->ra);
        metrics_add(M_REDIS_RECONNECTS, 1);
        s->news(s->data, 0); /* catch up on whatever was published while we were away */
        return;
    }
    if (reply->elements == 4 && reply->element[3]->type == REDIS_REPLY_STRING)
        s->news(s->data, message_id(reply->element[3]->str, reply->element[3]->len));
}

static void on_ready(struct rasync *ra)
{
    struct subscriber *s = (struct subscriber *)ra;

    rasync_command(ra, on_message, s, "PSUBSCRIBE %s", s->pattern);
}

struct subscriber *subscriber_start(const struct config *cfg, subscriber_news_fn *on_news, void *data)
{
    struct subscriber *s = xcalloc(1, sizeof *s);
    buf_t p = {0};

    s->news = on_news;
    s->data = data;
    if (!config_redis_enabled(cfg))
        return s;
    buf_printf(&p, "%sev:*", cfg->redis_prefix);
    s->pattern = buf_steal(&p);
    s->ra.name = "subscriber";
    s->ra.on_ready = on_ready;
    rasync_start(&s->ra, cfg); /* (a REDIS_URL it cannot use is logged, and s stays idle) */
    return s;
}

void subscriber_tick(struct subscriber *s, long long now_ms)
{
    rasync_tick(&s->ra, now_ms);
}

void subscriber_stop(struct subscriber *s)
{
    if (s == NULL)
        return;
    rasync_stop(&s->ra);
    free(s->pattern);
    free(s);
}
