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
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/bell.h"
#include "store/db.h"
#include "stream/mirror.h"
#include "stream/owners.h"
#include "stream/relay.h"
#include "stream/stream.h"
#include "stream/stream_req.h"
#include "stream/subscriber.h"
#include "wire/fcgi_rec.h"
#include "wire/loop.h"
#include "wire/prefork.h"
#include "wire/proc.h"

#define TICK_MS 100
/* A CGI stream's longest life when PULSE_STREAM_MAX_S is 0: a host counts
 * and times out CGI processes, a stream responder it does not. */
#define CGI_STREAM_MAX_S 300

static volatile sig_atomic_t stopping; /* the signal handler's: it carries no argument */

/* What this process runs, handed to every wake-up callback. */
struct responder {
    struct watch bell;                 /* first: the loop hands on_bell &bell */
    struct stream *hub;
    struct subscriber *sub;            /* a primary's */
    struct relay *relay;               /* a primary's */
    struct mirror *mirror;             /* an edge's */
    struct owners *owners;             /* the ownership facts in Redis: kept (a primary), read (an edge) */
    int pump_wanted;
};

static void on_stop(int sig)
{
    (void)sig;
    stopping = 1;
}

/* Run as CGI, the process holds one stream: its request goes to the hub
 * over a socket pair as a web server would send it, and the hub's records
 * come back here, their STDOUT to our stdout, so the hub, its replay,
 * resets, deadlines and heartbeats are the daemon's own. */
struct cgi_bridge {
    struct watch w;                    /* first: our end of the pair */
    struct watch out;                  /* stdout: error or hang-up once the client is gone */
    buf_t recs, text;
};

/* Writes all of text to stdout: 0, or -1 once the client is gone. */
static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void on_hub_output(struct watch *w, uint32_t events)
{
    struct cgi_bridge *b = (struct cgi_bridge *)w;
    char tmp[16384];
    ssize_t n;
    int ended = 0;

    (void)events;
    while ((n = read(w->fd, tmp, sizeof tmp)) > 0)
        buf_append(&b->recs, tmp, (size_t)n);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        ended = 1;
    if (fcgi_stdout_take(&b->recs, &b->text) != 0)
        ended = 1;
    if (b->text.len > 0 && write_all(STDOUT_FILENO, b->text.p, b->text.len) != 0)
        ended = 1;
    buf_reset(&b->text);
    if (ended)
        stopping = 1;
}

static void on_client_gone(struct watch *w, uint32_t events)
{
    (void)w;
    (void)events;
    stopping = 1;
}

/* Answers 503 + Retry-After at once: every CGI stream slot is held. */
static void cgi_busy(struct db *db)
{
    struct stream_req r = {.status = 503, .code = "too_many_streams",
                           .message = "every stream this host allows is open (PULSE_CGI_STREAMS); poll, "
                                      "or retry later"};
    buf_t out = {0};

    stream_req_answer_error(&r, db, &out);
    if (write_all(STDOUT_FILENO, out.p, out.len) != 0)
        log_warn("the client left before its 503");
    buf_free(&out);
}

/* Hands this CGI process's request to hub: 0, or -1 (logged). */
static int cgi_bridge_start(struct cgi_bridge *b, struct stream *hub)
{
    int sv[2];
    buf_t req = {0};
    int rc = -1;

    b->w.fd = b->out.fd = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        log_error("socketpair: %s", strerror(errno));
        return -1;
    }
    b->w.fd = sv[0];
    fcgi_request_of_env(&req, 1, environ);
    if (write_all(sv[0], req.p, req.len) != 0 || fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(sv[1], F_SETFL, O_NONBLOCK) != 0) {
        log_error("cannot hand the request over: %s", strerror(errno));
        close(sv[1]);
        goto out;
    }
    stream_accept(hub, sv[1]);
    b->w.cb = on_hub_output;
    if (loop_add(&b->w, EPOLLIN) != 0) {
        log_error("epoll: %s", strerror(errno));
        goto out;
    }
    /* not every stdout can be watched (a file): the heartbeat's write finds a gone client then */
    b->out.fd = STDOUT_FILENO;
    b->out.cb = on_client_gone;
    if (loop_add(&b->out, 0) != 0)
        b->out.fd = -1;
    rc = 0;
out:
    buf_free(&req);
    return rc;
}

static void cgi_bridge_free(struct cgi_bridge *b)
{
    if (b->out.fd >= 0)
        loop_del(&b->out);
    if (b->w.fd >= 0) {
        loop_del(&b->w);
        close(b->w.fd);
    }
    buf_free(&b->recs);
    buf_free(&b->text);
}

static void on_news(void *data, int64_t id)
{
    struct responder *r = data;

    if (id == 0 || id > stream_high_water(r->hub))
        r->pump_wanted = 1;
}

static void on_mirrored(void *data, int64_t id, int caught_up, int voided)
{
    struct responder *r = data;

    if (voided) {
        stream_log_replaced(r->hub);
        r->pump_wanted = 1;
    }
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
        owners_tick(r->owners, now);
        if (r->mirror != NULL) {
            mirror_tick(r->mirror, now);
        } else {
            subscriber_tick(r->sub, now);
            if (r->relay != NULL)
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
    struct cgi_bridge cgi = {.w = {.fd = -1}, .out = {.fd = -1}};
    char *err = NULL, *bell_path = NULL;
    buf_t slots = {0};
    int rc = 1, as_cgi = proc_is_cgi(), slot = -1;

    if (as_cgi)
        log_set_quiet(1);
    if (proc_start("pulse-stream", on_stop, as_cgi ? PROC_PLAIN : PROC_LISTENING, &cfg) != 0)
        goto out;
    if (!as_cgi)
        raise_fd_limit(cfg);
    /* Before anything is opened: SQLite connections must not cross a fork. */
    if (!as_cgi && (rc = prefork_keep("pulse-stream", cfg->workers, &stopping)) != 0) {
        rc = rc == 1 ? 0 : 1; /* the supervisor is done */
        goto out;
    }
    rc = 1;
    metrics_open(cfg->data_dir);
    if (db_open(cfg->db_path, &db, &err) != 0) {
        log_error("%s", err);
        goto out;
    }
    if (as_cgi)
        db_keep_wal(db);
    if (cfg->role != ROLE_EDGE) /* an edge's ids are its primary's */
        db_keep_ids(db);
    if (loop_init() != 0) {
        log_error("cannot start the stream loop: %s", strerror(errno));
        goto out;
    }
    r.hub = stream_new(cfg, db, as_cgi ? -1 : 0);
    if (stream_err(r.hub)) {
        log_error("cannot start the stream loop: %s", stream_errstr(r.hub));
        goto out;
    }
    if (as_cgi) {
        stream_set_max_s(r.hub, cfg->stream_max_s > 0 ? cfg->stream_max_s : CGI_STREAM_MAX_S);
        buf_printf(&slots, "%s/cgi-streams", cfg->data_dir);
        if ((slot = proc_slot(buf_str(&slots), cfg->cgi_streams)) < 0) {
            cgi_busy(db);
            rc = 0;
            goto out;
        }
        if (cgi_bridge_start(&cgi, r.hub) != 0)
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
        /* one relay per primary's stream responder, not one per CGI request */
        if (!as_cgi)
            r.relay = relay_start(cfg, db);
    }
    if (!as_cgi)
        r.owners = owners_start(cfg, db);
    log_info("streaming (%s%s, log at id %lld, at most %ld streams)",
             cfg->role == ROLE_EDGE ? "edge mirroring " : "", config_redis_enabled(cfg) ? "redis" : "local",
             (long long)stream_high_water(r.hub), cfg->max_connections);
    run(&r, cfg);
    rc = 0;
out:
    cgi_bridge_free(&cgi);
    mirror_free(r.mirror);
    owners_stop(r.owners);
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
    buf_free(&slots);
    if (slot >= 0)
        close(slot);
    return rc;
}
