/* rasync.c - an async Redis connection on the stream loop (see rasync.h). */
#include "bus/rasync.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"

#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000

/* hiredis event hooks: map its read/write interest onto our epoll watch. */
static void ev_update(struct rasync *ra, uint32_t add, uint32_t del)
{
    /* hiredis's hooks return nothing to report a failure to */
    if (loop_mod(&ra->w, (ra->w.events | add) & ~del) != 0)
        log_warn("redis: epoll: %s", strerror(errno));
}

static void ev_add_read(void *p) { ev_update(p, EPOLLIN, 0); }
static void ev_del_read(void *p) { ev_update(p, 0, EPOLLIN); }
static void ev_add_write(void *p) { ev_update(p, EPOLLOUT, 0); }
static void ev_del_write(void *p) { ev_update(p, 0, EPOLLOUT); }

static void ev_cleanup(void *p)
{
    struct rasync *ra = p;

    loop_del(&ra->w);
    ra->w.fd = -1;
}

static void on_io(struct watch *w, uint32_t events)
{
    struct rasync *ra = (struct rasync *)((char *)w - offsetof(struct rasync, w));

    if (ra->ac != NULL && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        redisAsyncHandleRead(ra->ac);
    if (ra->ac != NULL && (events & EPOLLOUT))
        redisAsyncHandleWrite(ra->ac);
}

static void schedule_retry(struct rasync *ra)
{
    backoff_failed(&ra->retry, clock_ms());
}

/* The connection is gone (or going): forget it once, tell the owner. */
static void lost(struct rasync *ra)
{
    ra->ac = NULL;
    schedule_retry(ra);
    if (ra->on_lost)
        ra->on_lost(ra);
}

static void on_connect(const redisAsyncContext *c, int status)
{
    struct rasync *ra = c->data;

    if (status != REDIS_OK && ra->ac == c) {
        log_warn("redis %s: connect failed: %s", ra->name, c->errstr);
        lost(ra); /* hiredis frees the context after this callback */
    }
}

static void on_disconnect(const redisAsyncContext *c, int status)
{
    struct rasync *ra = c->data;

    if (ra->ac != c)
        return; /* dropped on purpose: already handled */
    if (status != REDIS_OK)
        log_warn("redis %s: connection lost: %s", ra->name, c->errstr);
    lost(ra);
}

static void on_auth(redisAsyncContext *c, void *r, void *priv)
{
    struct rasync *ra = priv;
    redisReply *reply = r;

    if (reply != NULL && reply->type == REDIS_REPLY_ERROR && ra->ac == c)
        rasync_drop(ra, "AUTH/SELECT refused");
}

static void connect_now(struct rasync *ra)
{
    redisAsyncContext *ac = redisAsyncConnect(ra->target.host, ra->target.port);

    if (ac == NULL || ac->err) {
        log_warn("redis %s: %s", ra->name, ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        schedule_retry(ra);
        return;
    }
    ra->w.fd = ac->c.fd;
    ra->w.cb = on_io;
    ra->w.events = 0;
    if (loop_add(&ra->w, 0) != 0) {
        redisAsyncFree(ac);
        schedule_retry(ra);
        return;
    }
    ac->data = ra;
    ac->ev.data = ra;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    ra->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* Commands queue until the connection is up, and run in order. */
    if (ra->target.password)
        redisAsyncCommand(ac, on_auth, ra, "AUTH %s", ra->target.password);
    if (ra->target.db)
        redisAsyncCommand(ac, on_auth, ra, "SELECT %ld", ra->target.db);
    ra->on_ready(ra);
}

int rasync_start(struct rasync *ra, const struct config *cfg)
{
    ra->ac = NULL;
    ra->w.fd = -1;
    ra->retry = (struct backoff){.min_ms = BACKOFF_MIN_MS, .max_ms = BACKOFF_MAX_MS};
    if (redis_target_load(cfg, &ra->target) != 0) {
        log_error("REDIS_URL is malformed; %s disabled", ra->name);
        return -1;
    }
    ra->enabled = 1;
    connect_now(ra);
    return 0;
}

int rasync_command(struct rasync *ra, redisCallbackFn *cb, void *priv, const char *fmt, ...)
{
    va_list ap;
    int rc;

    if (ra->ac == NULL)
        return -1;
    va_start(ap, fmt);
    rc = redisvAsyncCommand(ra->ac, cb, priv, fmt, ap);
    va_end(ap);
    return rc == REDIS_OK ? 0 : -1;
}

int rasync_command_argv(struct rasync *ra, redisCallbackFn *cb, void *priv, int argc, const char **argv,
                        const size_t *argvlen)
{
    if (ra->ac == NULL)
        return -1;
    return redisAsyncCommandArgv(ra->ac, cb, priv, argc, argv, argvlen) == REDIS_OK ? 0 : -1;
}

void rasync_healthy(struct rasync *ra)
{
    if (ra->retry.wait_ms)
        log_info("redis %s: connected", ra->name);
    backoff_reset(&ra->retry);
}

/* Safe inside a reply callback: hiredis defers the free until the
 * callback returns, and pending callbacks get NULL replies. */
void rasync_drop(struct rasync *ra, const char *why)
{
    redisAsyncContext *c = ra->ac;

    if (c == NULL)
        return;
    log_warn("redis %s: %s; reconnecting", ra->name, why);
    lost(ra);
    redisAsyncFree(c);
}

int rasync_connected(const struct rasync *ra)
{
    return ra->ac != NULL;
}

void rasync_tick(struct rasync *ra, long long now_ms)
{
    if (ra->enabled && ra->ac == NULL && backoff_due(&ra->retry, now_ms))
        connect_now(ra);
}

void rasync_stop(struct rasync *ra)
{
    redisAsyncContext *c = ra->ac;

    ra->enabled = 0;
    ra->on_lost = NULL;
    if (c != NULL) {
        ra->ac = NULL;
        redisAsyncFree(c);
    }
    redis_target_free(&ra->target);
}
