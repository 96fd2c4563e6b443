/* stream_main.c - the stream responder: one long-lived process holding
 * every SSE connection of an instance in one epoll loop.
 *
 * The web server spawns it with the listening FastCGI socket as fd 0 (as
 * lighttpd's bin-path and spawn-fcgi both do). Wake-ups come from Redis
 * (when configured), the local doorbell, and a tail poll of the log as the
 * safety net; each one just asks stream_pump() to read the log. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/bell.h"
#include "store/db.h"
#include "stream/mirror.h"
#include "stream/relay.h"
#include "stream/stream.h"
#include "stream/subscriber.h"
#include "wire/loop.h"
#include "wire/proc.h"

#define TICK_MS 100

static volatile sig_atomic_t stopping; /* the signal handler's: it carries no argument */

/* What this process runs, handed to every wake-up callback. */
struct responder {
    struct watch bell;                 /* first: the loop hands on_bell &bell */
    struct stream *hub;
    struct subscriber *sub;            /* a primary's */
    struct relay *relay;               /* a primary's */
    struct mirror *mirror;             /* an edge's */
    int pump_wanted;
};

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

static void on_news(void *data, int64_t id)
{
    struct responder *r = data;

    if (id == 0 || id > stream_high_water(r->hub))
        r->pump_wanted = 1;
}

static void on_mirrored(void *data, int64_t id, int caught_up)
{
    struct responder *r = data;

    if (caught_up)
        stream_set_serving(r->hub, 1);
    on_news(r, id);
}

static void on_bell(struct watch *w, uint32_t events)
{
    (void)events;
    on_news((struct responder *)w, bell_drain(w->fd));
}

/* Every stream is one fd: take all the kernel allows this process. */
static void raise_fd_limit(const struct config *cfg)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            log_warn("cannot raise the open-file limit: %s", strerror(errno));
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)cfg->max_connections + 32)
        log_warn("open-file limit %llu is below PULSE_MAX_CONNECTIONS=%ld; accepts will fail first",
                 (unsigned long long)rl.rlim_cur, cfg->max_connections);
}

static void run(struct responder *r, const struct config *cfg)
{
    long long next_poll = 0;

    while (!stopping) {
        long long now;

        if (loop_run_once(TICK_MS) < 0) {
            log_error("epoll: %s", strerror(errno));
            break;
        }
        now = clock_ms();
        if (now >= next_poll) {
            r->pump_wanted = 1; /* the safety net: a lost wake-up costs one poll interval */
            next_poll = now + cfg->tail_poll_ms;
        }
        if (r->pump_wanted) {
            r->pump_wanted = 0;
            stream_pump(r->hub);
            if (r->relay != NULL)
                relay_kick(r->relay);
        }
        stream_tick(r->hub, now);
        if (r->mirror != NULL) {
            mirror_tick(r->mirror, now);
        } else {
            subscriber_tick(r->sub, now);
            relay_tick(r->relay, now);
        }
        stream_reap(r->hub);
    }
}

int main(void)
{
    const struct config *cfg = NULL;
    struct db *db = NULL;
    struct responder r = {.bell = {.fd = -1}};
    char *err = NULL, *bell_path = NULL;
    int rc = 1;

    if (proc_start("pulse-stream", on_stop, 1, &cfg) != 0)
        goto out;
    raise_fd_limit(cfg);
    metrics_open(cfg->data_dir);
    if (db_open(cfg->db_path, &db, &err) != 0) {
        log_error("%s", err);
        goto out;
    }
    if (loop_init() != 0) {
        log_error("cannot start the stream loop: %s", strerror(errno));
        goto out;
    }
    r.hub = stream_new(cfg, db, 0);
    if (stream_err(r.hub)) {
        log_error("cannot start the stream loop: %s", stream_errstr(r.hub));
        goto out;
    }
    r.bell.fd = bell_listen(cfg->bell_dir, &bell_path);
    r.bell.cb = on_bell;
    if (r.bell.fd >= 0 && loop_add(&r.bell, EPOLLIN) != 0)
        log_warn("bell: epoll: %s", strerror(errno));
    if (cfg->role == ROLE_EDGE) {
        stream_set_serving(r.hub, 0);
        r.mirror = mirror_new(cfg, db);
        if (mirror_start(r.mirror, on_mirrored, &r) != 0)
            goto out;
    } else {
        r.sub = subscriber_start(cfg, on_news, &r);
        r.relay = relay_start(cfg, db);
    }
    log_info("streaming (%s%s, log at id %lld, at most %ld streams)",
             cfg->role == ROLE_EDGE ? "edge mirroring " : "", config_redis_enabled(cfg) ? "redis" : "local",
             (long long)stream_high_water(r.hub), cfg->max_connections);
    run(&r, cfg);
    rc = 0;
out:
    mirror_free(r.mirror);
    relay_stop(r.relay);
    subscriber_stop(r.sub);
    stream_free(r.hub);
    if (r.bell.fd >= 0)
        close(r.bell.fd);
    if (bell_path != NULL)
        unlink(bell_path);
    free(bell_path);
    loop_close();
    db_close(db);
    metrics_close();
    free(err);
    return rc;
}
