/* subscriber.c - Redis PSUBSCRIBE on the stream loop (see subscriber.h). */
#include "subscriber.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "bus.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#define SUB_BACKOFF_MIN_MS 250
#define SUB_BACKOFF_MAX_MS 5000

static const struct config *cfg;
static struct redis_target target;
static redisAsyncContext *ac;        /* NULL while disconnected */
static struct watch rwatch;
static void (*news)(int64_t id);
static long long retry_at;
static long backoff;
static int enabled;
static char *pattern;

/* hiredis event hooks: map its read/write interest onto our epoll watch. */
static void ev_update(uint32_t add, uint32_t del)
{
    uint32_t want = (rwatch.events | add) & ~del;

    loop_mod(&rwatch, want);
}

static void ev_add_read(void *p) { (void)p; ev_update(EPOLLIN, 0); }
static void ev_del_read(void *p) { (void)p; ev_update(0, EPOLLIN); }
static void ev_add_write(void *p) { (void)p; ev_update(EPOLLOUT, 0); }
static void ev_del_write(void *p) { (void)p; ev_update(0, EPOLLOUT); }

static void ev_cleanup(void *p)
{
    (void)p;
    loop_del(&rwatch);
    rwatch.fd = -1;
}

static void on_io(struct watch *w, uint32_t events)
{
    (void)w;
    if (ac != NULL && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        redisAsyncHandleRead(ac);
    if (ac != NULL && (events & EPOLLOUT))
        redisAsyncHandleWrite(ac);
}

static void schedule_retry(void)
{
    backoff = backoff ? backoff * 2 : SUB_BACKOFF_MIN_MS;
    if (backoff > SUB_BACKOFF_MAX_MS)
        backoff = SUB_BACKOFF_MAX_MS;
    retry_at = loop_now_ms() + backoff;
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
        backoff = 0;
        metrics_add(M_REDIS_RECONNECTS, 1);
        news(0); /* catch up on whatever was published while we were away */
        return;
    }
    if (reply->elements == 4 && reply->element[3]->type == REDIS_REPLY_STRING) {
        /* The envelope starts {"id":N,...}: N is enough to skip stale news. */
        const char *s = strstr(reply->element[3]->str, "\"id\":");
        news(s ? strtoll(s + 5, NULL, 10) : 0);
    }
}

static void on_auth(redisAsyncContext *c, void *r, void *priv)
{
    redisReply *reply = r;

    (void)priv;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        log_error("redis: AUTH/SELECT refused: %s", reply ? reply->str : "no reply");
        redisAsyncDisconnect(c);
    }
}

static void on_connect(const redisAsyncContext *c, int status)
{
    if (status != REDIS_OK) {
        log_warn("redis: connect failed: %s", c->errstr);
        ac = NULL; /* hiredis frees the context after this callback */
        schedule_retry();
    }
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    if (status != REDIS_OK)
        log_warn("redis: subscriber lost: %s; local delivery and the log poll carry on", c->errstr);
    ac = NULL;
    schedule_retry();
}

static void connect_now(void)
{
    ac = redisAsyncConnect(target.host, target.port);
    if (ac == NULL || ac->err) {
        log_warn("redis: %s", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        ac = NULL;
        schedule_retry();
        return;
    }
    rwatch.fd = ac->c.fd;
    rwatch.cb = on_io;
    rwatch.events = 0;
    if (loop_add(&rwatch, 0) != 0) {
        redisAsyncFree(ac);
        ac = NULL;
        schedule_retry();
        return;
    }
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (target.password)
        redisAsyncCommand(ac, on_auth, NULL, "AUTH %s", target.password);
    if (target.db)
        redisAsyncCommand(ac, on_auth, NULL, "SELECT %ld", target.db);
    redisAsyncCommand(ac, on_message, NULL, "PSUBSCRIBE %s", pattern);
}

int subscriber_start(const struct config *config, void (*on_news)(int64_t id))
{
    buf_t p = {0};

    cfg = config;
    news = on_news;
    if (!config_redis_enabled(cfg))
        return 0;
    if (bus_redis_target(cfg, &target) != 0) {
        log_error("REDIS_URL is malformed; streaming without Redis");
        return -1;
    }
    buf_printf(&p, "%sev:*", cfg->redis_prefix);
    pattern = buf_steal(&p);
    enabled = 1;
    connect_now();
    return 0;
}

void subscriber_tick(long long now_ms)
{
    if (enabled && ac == NULL && now_ms >= retry_at)
        connect_now();
}

void subscriber_stop(void)
{
    if (ac != NULL) {
        redisAsyncContext *c = ac;
        ac = NULL;
        redisAsyncSetDisconnectCallback(c, NULL);
        redisAsyncFree(c);
    }
    enabled = 0;
    bus_redis_target_free(&target);
    free(pattern);
    pattern = NULL;
}
