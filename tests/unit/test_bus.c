/* test_bus.c - the publishing bus (fcgi/bus/bus.c) against a real
 * redis-server that the test starts on a free loopback port and stops by
 * PID: what a PUBLISH carries (the id), the fall-back to the local bells
 * while Redis is down, the back-off (no reconnect before the retry time, on
 * the test's clock through the bus's clock seam), the catch-up PUBLISH of
 * the owed event once Redis is back, the one immediate retry of a
 * connection gone stale across a Redis restart, and the err/errstr pair.
 * Without redis-server the test fails: it skips nothing. */
#include "bus/bus.c"

#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "unit_net.h"
#include "unit_db.h"

static char dir[] = "/tmp/pulse-unit-bus-XXXXXX";
static struct config cfg;       /* with Redis */
static int redis_port;
static pid_t redis_pid = -1;
static int bell_fd = -1;
static long long fake_now;      /* the bus's clock once a test takes it over */

static long long fake_clock(void)
{
    return fake_now;
}

/* ---- redis-server ---- */

static int redis_answers(void)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    redisReply *r = c && !c->err ? redisCommand(c, "PING") : NULL;
    int ok = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;

    freeReplyObject(r);
    redisFree(c);
    return ok;
}

/* Starts redis-server on redis_port (the same one again after a stop);
 * 0 once it answers PING, -1 if it cannot be started. */
static int redis_start(void)
{
    char port[16], rdir[300];
    int i, status;

    snprintf(port, sizeof port, "%d", redis_port);
    snprintf(rdir, sizeof rdir, "%s/redis", dir);
    mkdir(rdir, 0700);
    redis_pid = fork();
    if (redis_pid == 0) {
        int null = open("/dev/null", O_RDWR);

        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "", "--appendonly",
               "no", "--dir", rdir, (char *)NULL);
        _exit(127);
    }
    if (redis_pid < 0)
        return -1;
    for (i = 0; i < 250; i++) {
        if (redis_answers())
            return 0;
        if (waitpid(redis_pid, &status, WNOHANG) == redis_pid) {
            fprintf(stderr, "redis-server exited (status %d): is it installed?\n", status);
            redis_pid = -1;
            return -1;
        }
        usleep(20000);
    }
    return -1;
}

static void redis_stop(void)
{
    if (redis_pid <= 0)
        return;
    kill(redis_pid, SIGTERM);
    waitpid(redis_pid, NULL, 0);
    redis_pid = -1;
}

/* ---- a subscriber, as another host's stream responder ---- */

static redisContext *sub_open(void)
{
    redisContext *c = redisConnect("127.0.0.1", redis_port);
    redisReply *r = c && !c->err ? redisCommand(c, "PSUBSCRIBE %sev:*", cfg.redis_prefix) : NULL;

    CHECK(r != NULL && r->type == REDIS_REPLY_ARRAY);
    freeReplyObject(r);
    return c;
}

/* The next message within timeout_ms as "channel=payload" in out; 0 when
 * none came, -1 on error. */
static int sub_next(redisContext *c, int timeout_ms, char *out, size_t cap)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    redisReply *r = NULL;
    int rc = -1;

    out[0] = '\0';
    if (redisReaderGetReply(c->reader, (void **)&r) != REDIS_OK)
        return -1;
    if (r == NULL) {
        if (poll(&pfd, 1, timeout_ms) == 0)
            return 0;
        if (redisGetReply(c, (void **)&r) != REDIS_OK)
            return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 4) {
        snprintf(out, cap, "%s=%s", r->element[2]->str, r->element[3]->str);
        rc = 1;
    }
    freeReplyObject(r);
    return rc;
}

/* ---- tests ---- */

static void test_local(void)
{
    struct config local = cfg;
    struct event ev = {.id = 7, .topic = (char *)"room:a"};
    char notdir[300];
    struct bus *b;
    FILE *f;

    local.redis_url = NULL;
    local.redis_host = NULL;
    b = bus_open(&local);
    CHECK_STR_EQ(bus_mode(b), "local");
    CHECK_STR_EQ(bus_health(b), "disabled");
    CHECK_INT_EQ(bus_publish(b, &ev, 1), 0);
    CHECK_INT_EQ(bell_drain(bell_fd), 7);
    CHECK_INT_EQ(bus_err(b), BUS_OK);
    CHECK_STR_EQ(bus_errstr(b), "");
    bus_close(b);

    /* a bell directory that cannot be read (here a file): -1, and the
     * error says where */
    snprintf(notdir, sizeof notdir, "%s/not-a-dir", dir);
    f = fopen(notdir, "w");
    CHECK(f != NULL);
    if (f != NULL)
        fclose(f);
    local.bell_dir = notdir;
    b = bus_open(&local);
    CHECK_INT_EQ(bus_publish(b, &ev, 1), -1);
    CHECK_INT_EQ(bus_err(b), BUS_ERR_BELLS);
    CHECK(strstr(bus_errstr(b), notdir) != NULL);
    CHECK_INT_EQ(bus_publish(b, &ev, 0), 0);
    bus_close(b);
}

static void test_publishes_ids(void)
{
    struct event evs[2] = {{.id = 5, .topic = (char *)"room:a"}, {.id = 6, .topic = (char *)"room:b"}};
    redisContext *sub = sub_open();
    struct bus *b = bus_open(&cfg);
    char msg[256];

    CHECK_STR_EQ(bus_mode(b), "redis");
    CHECK_INT_EQ(bus_publish(b, evs, 2), 0);
    CHECK_INT_EQ(sub_next(sub, 2000, msg, sizeof msg), 1);
    CHECK_STR_EQ(msg, "pulse:ev:room:a=5");
    CHECK_INT_EQ(sub_next(sub, 2000, msg, sizeof msg), 1);
    CHECK_STR_EQ(msg, "pulse:ev:room:b=6");
    CHECK_INT_EQ(bell_drain(bell_fd), 0); /* Redis reached: no local ring */
    CHECK_STR_EQ(bus_health(b), "ok");
    CHECK_INT_EQ(bus_err(b), BUS_OK);
    CHECK_INT_EQ(bus_publish(b, evs, 0), 0);
    CHECK_INT_EQ(sub_next(sub, 100, msg, sizeof msg), 0);
    bus_close(b);
    redisFree(sub);
}

/* A connection that sat through a Redis restart is retried at once: the
 * event reaches the new server and no bell. */
static void test_stale_connection_retried(void)
{
    struct event ev = {.id = 10, .topic = (char *)"room:a"};
    struct bus *b = bus_open(&cfg);
    redisContext *sub = sub_open();
    char msg[256];

    CHECK_INT_EQ(bus_publish(b, &ev, 1), 0);
    CHECK_INT_EQ(sub_next(sub, 2000, msg, sizeof msg), 1);
    redisFree(sub);
    redis_stop();
    CHECK(redis_start() == 0);
    sub = sub_open();
    ev.id = 11;
    CHECK_INT_EQ(bus_publish(b, &ev, 1), 0);
    CHECK_INT_EQ(sub_next(sub, 2000, msg, sizeof msg), 1);
    CHECK_STR_EQ(msg, "pulse:ev:room:a=11");
    CHECK_INT_EQ(bell_drain(bell_fd), 0);
    CHECK_INT_EQ(bus_err(b), BUS_OK);
    CHECK_INT_EQ(b->retry.wait_ms, 0);
    CHECK_INT_EQ(b->owed_id, 0);
    bus_close(b);
    redisFree(sub);
}

/* Redis down: the bells ring, health says down, nothing is retried before
 * the back-off ends (even with Redis back), and then one catch-up PUBLISH
 * tells the other hosts of the newest event they missed, once. */
static void test_outage_and_catch_up(void)
{
    struct event ev = {.id = 20, .topic = (char *)"room:a"};
    struct event two[2] = {{.id = 21, .topic = (char *)"room:b"}, {.id = 22, .topic = (char *)"room:c"}};
    struct bus *b = bus_open(&cfg);
    redisContext *sub;
    char msg[256];

    b->now = fake_clock;
    fake_now = 1000;
    CHECK_INT_EQ(bus_publish(b, &ev, 1), 0); /* connects */
    CHECK(b->rc != NULL);
    redis_stop();

    CHECK_INT_EQ(bus_publish(b, two, 2), 0); /* stale, retried at once, refused: bells */
    CHECK_INT_EQ(bell_drain(bell_fd), 22);
    CHECK_INT_EQ(bus_err(b), BUS_ERR_CONNECT);
    CHECK(strstr(bus_errstr(b), "connecting to 127.0.0.1:") != NULL);
    CHECK(b->rc == NULL && b->retry.retry_at > fake_now);
    CHECK_INT_EQ(b->owed_id, 22);
    CHECK_STR_EQ(b->owed_topic, "room:c");
    CHECK_STR_EQ(bus_health(b), "down");

    /* Redis is back, but the back-off holds: no connection is tried */
    CHECK(redis_start() == 0);
    sub = sub_open();
    ev.id = 23;
    CHECK_INT_EQ(bus_publish(b, &ev, 1), 0);
    CHECK_INT_EQ(bell_drain(bell_fd), 23);
    CHECK(b->rc == NULL);
    CHECK_INT_EQ(bus_err(b), BUS_ERR_CONNECT); /* still the failure that started the back-off */
    CHECK_INT_EQ(b->owed_id, 23);
    CHECK_STR_EQ(bus_health(b), "down");
    bus_catch_up(b);
    CHECK(b->rc == NULL);
    CHECK_INT_EQ(sub_next(sub, 200, msg, sizeof msg), 0);

    /* the back-off is over: one PUBLISH of the owed event, then no more */
    fake_now = b->retry.retry_at;
    bus_catch_up(b);
    CHECK_INT_EQ(sub_next(sub, 2000, msg, sizeof msg), 1);
    CHECK_STR_EQ(msg, "pulse:ev:room:a=23");
    CHECK_INT_EQ(b->owed_id, 0);
    CHECK_INT_EQ(bus_err(b), BUS_OK);
    CHECK_STR_EQ(bus_errstr(b), "");
    bus_catch_up(b);
    CHECK_INT_EQ(sub_next(sub, 200, msg, sizeof msg), 0);
    CHECK_INT_EQ(bell_drain(bell_fd), 0);
    CHECK_STR_EQ(bus_health(b), "ok");
    bus_close(b);
    redisFree(sub);
}

/* The back-off doubles from 250 ms to its 1 s cap; no attempt before it. */
static void test_backoff_grows(void)
{
    struct event ev = {.id = 30, .topic = (char *)"room:a"};
    struct bus *b = bus_open(&cfg);
    static const long want[] = {250, 500, 1000, 1000};
    size_t i;

    b->now = fake_clock;
    fake_now = 0;
    redis_stop();
    for (i = 0; i < sizeof want / sizeof want[0]; i++) {
        CHECK_INT_EQ(bus_publish(b, &ev, 1), 0);
        CHECK_INT_EQ(b->retry.wait_ms, want[i]);
        CHECK_INT_EQ(b->retry.retry_at, fake_now + want[i]);
        fake_now = b->retry.retry_at - 1;
        CHECK_INT_EQ(bus_publish(b, &ev, 1), 0); /* too early: unchanged */
        CHECK_INT_EQ(b->retry.wait_ms, want[i]);
        fake_now++;
    }
    CHECK_INT_EQ(bell_drain(bell_fd), 30);
    bus_close(b);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    char *err = NULL, *bell_path = NULL, url[64];

    if (mkdtemp(dir) == NULL)
        return 1;
    signal(SIGPIPE, SIG_IGN); /* as proc_start does: a write to a dropped Redis is EPIPE */
    redis_port = unit_free_port();
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", redis_port);
    unit_env(dir, "unit-bus-secret");
    setenv("REDIS_URL", url, 1);
    CHECK(config_load(&err) == 0);
    free(err);
    CHECK(redis_start() == 0);
    if (pulse_cfg != NULL && redis_pid > 0) {
        cfg = *pulse_cfg;
        bell_fd = bell_listen(cfg.bell_dir, &bell_path);
        CHECK(bell_fd >= 0);
        test_local();
        test_publishes_ids();
        test_stale_connection_retried();
        test_outage_and_catch_up();
        test_backoff_grows();
    }
    redis_stop();
    if (bell_fd >= 0)
        close(bell_fd);
    free(bell_path);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return check_summary("test_bus");
}
