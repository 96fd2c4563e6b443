/* bus.c - Redis and local publishers (see bus.h). */
#include "bus/bus.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/bell.h"

#define BUS_CONNECT_TIMEOUT_MS 300
#define BUS_COMMAND_TIMEOUT_MS 500
#define BUS_BACKOFF_MIN_MS 250
/* Short: while a publisher waits to retry a Redis that is back, its events
 * wake only the local stream responders; other hosts find them by their
 * tail poll. A refused connect once a second costs next to nothing. */
#define BUS_BACKOFF_MAX_MS 1000

struct bus {
    const struct bus_ops *ops;
    const struct config *cfg;
    struct redis_target target;
    redisContext *rc;           /* NULL while disconnected */
    struct bell_ringer *bells;  /* the local doorbells, used by both modes */
    long long (*now)(void);     /* clock_ms; a seam for the unit test's clock */
    struct backoff retry;       /* no connect attempt before retry.retry_at */
    /* The newest event only the local bells heard of (Redis was down):
     * other hosts learn of it at the next PUBLISH, or from bus_catch_up. */
    int64_t owed_id;            /* 0 when nothing is owed */
    char *owed_topic;           /* owned */
    int err;                    /* enum bus_err of the last failure, BUS_OK after a success */
    char errstr[128];           /* its detail, as hiredis keeps one */
};

static void bus_clear_err(struct bus *b)
{
    b->err = BUS_OK;
    b->errstr[0] = '\0';
}

/* Records a failure. A detail longer than errstr ends in "..." rather
 * than being cut silently. */
static void bus_set_err(struct bus *b, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void bus_set_err(struct bus *b, int err, const char *fmt, ...)
{
    va_list ap;
    int n;

    b->err = err;
    va_start(ap, fmt);
    n = vsnprintf(b->errstr, sizeof b->errstr, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(b->errstr, sizeof b->errstr, "(error detail unavailable)");
    else if ((size_t)n >= sizeof b->errstr)
        memcpy(b->errstr + sizeof b->errstr - 4, "...", 4);
}

/* One ring for the lot: it only says "read the log up to here". */
static int ring_local(struct bus *b, const struct event *evs, size_t n)
{
    int64_t top = 0;
    size_t i;

    for (i = 0; i < n; i++)
        if (evs[i].id > top)
            top = evs[i].id;
    if (n == 0 || bell_ring(b->bells, top) >= 0)
        return 0;
    bus_set_err(b, BUS_ERR_BELLS, "the bell directory %s cannot be read", b->cfg->bell_dir);
    return -1;
}

/* ---- local ---- */

static int local_publish(struct bus *b, const struct event *evs, size_t n)
{
    if (ring_local(b, evs, n) != 0)
        return -1;
    bus_clear_err(b);
    return 0;
}

static const char *local_health(struct bus *b)
{
    (void)b;
    return "disabled";
}

static void local_close(struct bus *b)
{
    (void)b;
}

static const struct bus_ops bus_local_ops = {
    .mode = "local",
    .publish = local_publish,
    .health = local_health,
    .close = local_close,
};

/* ---- redis ---- */

/* Drops the connection after the failure bus_set_err recorded and backs
 * off. */
static void redis_drop(struct bus *b)
{
    if (b->rc != NULL) {
        log_warn("redis: %s; falling back to local delivery", b->errstr);
        redisFree(b->rc);
        b->rc = NULL;
    }
    backoff_failed(&b->retry, b->now());
}

/* Sends one command and checks for an error reply; 0, or -1 with the
 * detail recorded as err. */
static int redis_ok(struct bus *b, int err, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    int ok;

    va_start(ap, fmt);
    r = redisvCommand(b->rc, fmt, ap);
    va_end(ap);
    ok = r != NULL && r->type != REDIS_REPLY_ERROR;
    if (r == NULL)
        bus_set_err(b, err, "%s", b->rc->errstr);
    else if (!ok)
        bus_set_err(b, err, "%.*s", (int)r->len, r->str);
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Connects when needed and allowed by the back-off; 0 when connected. */
static int redis_ensure(struct bus *b)
{
    struct timeval ct = {0, BUS_CONNECT_TIMEOUT_MS * 1000};
    struct timeval wt = {0, BUS_COMMAND_TIMEOUT_MS * 1000};

    if (b->rc != NULL)
        return 0;
    if (!backoff_due(&b->retry, b->now()))
        return -1; /* err still tells the failure that started the back-off */
    b->rc = redisConnectWithTimeout(b->target.host, b->target.port, ct);
    if (b->rc == NULL || b->rc->err) {
        bus_set_err(b, BUS_ERR_CONNECT, "connecting to %s:%d: %s", b->target.host, b->target.port,
                    b->rc ? b->rc->errstr : "out of memory");
        if (b->rc != NULL) {
            redisFree(b->rc);
            b->rc = NULL;
        }
        redis_drop(b);
        return -1;
    }
    if (redisSetTimeout(b->rc, wt) != REDIS_OK) {
        bus_set_err(b, BUS_ERR_HANDSHAKE, "setting the timeout: %s", b->rc->errstr);
        redis_drop(b);
        return -1;
    }
    if ((b->target.password && redis_ok(b, BUS_ERR_HANDSHAKE, "AUTH %s", b->target.password) != 0) ||
        (b->target.db && redis_ok(b, BUS_ERR_HANDSHAKE, "SELECT %ld", b->target.db) != 0)) {
        redis_drop(b);
        return -1;
    }
    backoff_reset(&b->retry);
    metrics_add(M_REDIS_RECONNECTS, 1);
    return 0;
}

static void owed_clear(struct bus *b)
{
    free(b->owed_topic);
    b->owed_topic = NULL;
    b->owed_id = 0;
}

static void owed_keep(struct bus *b, const struct event *ev)
{
    owed_clear(b);
    b->owed_id = ev->id;
    b->owed_topic = xstrdup(ev->topic);
}

/* The PUBLISHes of a batch in one pipeline: one round trip for all. Each
 * carries only the event's id: a PUBLISH only wakes the stream
 * responders, which read the events from the log. */
static int redis_publish_once(struct bus *b, const struct event *evs, size_t n)
{
    redisReply *r = NULL;
    size_t i, sent = 0;
    int ok = 1;

    if (redis_ensure(b) != 0)
        return -1;
    for (i = 0; i < n && ok; i++) {
        ok = redisAppendCommand(b->rc, "PUBLISH %s%s%s %lld", b->cfg->redis_prefix, "ev:", evs[i].topic,
                                (long long)evs[i].id) == REDIS_OK;
        sent += ok;
    }
    for (i = 0; i < sent && ok; i++) {
        ok = redisGetReply(b->rc, (void **)&r) == REDIS_OK && r != NULL && r->type == REDIS_REPLY_INTEGER;
        if (!ok && r != NULL)
            bus_set_err(b, BUS_ERR_COMMAND, "PUBLISH refused: %.*s", r->str ? (int)r->len : 0, r->str ? r->str : "");
        freeReplyObject(r);
        r = NULL;
    }
    if (!ok) {
        if (b->rc->err || sent < n)
            bus_set_err(b, BUS_ERR_COMMAND, "PUBLISH: %s", b->rc->err ? b->rc->errstr : "out of memory");
        redis_drop(b);
        return -1;
    }
    bus_clear_err(b);
    return 0;
}

/* A connection that sat idle through a Redis restart fails on first use;
 * one immediate reconnect tells a stale connection from a dead server.
 * (A retried batch may reach some subscribers twice: a PUBLISH only wakes
 * a stream responder, which reads the events from the log.) */
static int redis_publish(struct bus *b, const struct event *evs, size_t n)
{
    int was_connected = b->rc != NULL, rc;

    if (n == 0)
        return 0;
    rc = redis_publish_once(b, evs, n);
    if (rc != 0 && was_connected) {
        b->retry.retry_at = 0; /* one immediate reconnect, whatever the back-off */
        rc = redis_publish_once(b, evs, n);
    }
    if (rc == 0) {
        owed_clear(b); /* this PUBLISH makes other hosts read past the owed one */
        return 0;
    }
    owed_keep(b, &evs[n - 1]);
    return ring_local(b, evs, n);
}

static const char *redis_health(struct bus *b)
{
    if (redis_ensure(b) != 0)
        return "down";
    if (redis_ok(b, BUS_ERR_COMMAND, "PING") != 0) {
        redis_drop(b);
        return "down";
    }
    bus_clear_err(b);
    return "ok";
}

static void redis_close(struct bus *b)
{
    if (b->rc != NULL)
        redisFree(b->rc);
    b->rc = NULL;
    redis_target_free(&b->target);
}

static const struct bus_ops bus_redis_ops = {
    .mode = "redis",
    .publish = redis_publish,
    .health = redis_health,
    .close = redis_close,
};

/* ---- public ---- */

struct bus *bus_open(const struct config *cfg)
{
    struct bus *b = xcalloc(1, sizeof *b);

    b->cfg = cfg;
    b->now = clock_ms;
    b->retry.min_ms = BUS_BACKOFF_MIN_MS;
    b->retry.max_ms = BUS_BACKOFF_MAX_MS;
    b->ops = &bus_local_ops;
    b->bells = bell_ringer_open(cfg->bell_dir);
    if (config_redis_enabled(cfg)) {
        if (redis_target_load(cfg, &b->target) == 0)
            b->ops = &bus_redis_ops;
        else
            log_error("REDIS_URL is malformed; using local delivery only");
    }
    return b;
}

void bus_close(struct bus *b)
{
    if (b == NULL)
        return;
    b->ops->close(b);
    bell_ringer_close(b->bells);
    owed_clear(b);
    free(b);
}

void bus_catch_up(struct bus *b)
{
    struct event ev = {0};

    if (b->ops != &bus_redis_ops || b->owed_id == 0 || !backoff_due(&b->retry, b->now()))
        return;
    ev.id = b->owed_id;
    ev.topic = b->owed_topic;
    if (redis_publish_once(b, &ev, 1) == 0)
        owed_clear(b);
}

int bus_publish(struct bus *b, const struct event *evs, size_t n)
{
    return b->ops->publish(b, evs, n);
}

const char *bus_mode(const struct bus *b)
{
    return b->ops->mode;
}

const char *bus_health(struct bus *b)
{
    return b->ops->health(b);
}

int bus_err(const struct bus *b)
{
    return b->err;
}

const char *bus_errstr(const struct bus *b)
{
    return b->errstr;
}
