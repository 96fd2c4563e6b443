/* prefork.c - forking and supervising request responders (see prefork.h). */
#include "wire/prefork.h"

#include <errno.h> /* (and program_invocation_name: -D_GNU_SOURCE) */
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/log.h"

#define RESTART_PAUSE_NS 200000000L  /* before restarting a worker that lived less than... */
#define SHORT_LIFE_MS 1000             /* ...this: so a crash loop cannot spin */
#define SHORT_LIVES_MAX 5              /* short lives in a row after which we give up */
#define POLL_MS 100                    /* between looks for a dead worker or a stop */
#define POLL_NS (POLL_MS * 1000000L)
#define STOP_GRACE_MS 10000            /* a stopping worker's time to exit before SIGKILL */
#define STOP_TICK_NS 10000000L         /* 10 ms between looks at stopping workers */

static volatile sig_atomic_t child_exited;

/* SIGCHLD cuts the supervisor's sleep (or accept) short, so that a dead
 * worker's successor is forked at once: the requests waiting in the
 * socket's backlog wait for it. (One landing just before nanosleep or
 * accept waits out POLL_MS, as a stop landing there does; relay_wait
 * looks at child_exited.) */
static void on_child(int sig)
{
    (void)sig;
    child_exited = 1;
}

static long long now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0; /* (cannot fail for CLOCK_MONOTONIC on Linux) */
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- handing connections over (prefork_keep) ----
 *
 * A kept worker does not hold the listening socket: the supervisor alone
 * accepts, and passes each connection (SCM_RIGHTS) over a SOCK_SEQPACKET
 * pair whose far end is the worker's fd 0 (loop_listen takes either).
 * When the supervisor dies the socket is closed with it, at once, before
 * its parent hears of the death: lighttpd, restarting it, then finds the
 * socket free and spawns it (with the worker sharing the socket, lighttpd
 * found it "already used" and never spawned that backend again). The
 * supervisor keeps the far end open too, so connections passed but not
 * yet taken by a worker that dies wait there for the next one. */
struct relay {
    int lfd;                          /* the listening socket (fd 0) */
    int sv[2];                        /* [0]: we send; [1]: each worker's fd 0 */
    int held;                         /* accepted, not passed yet (the pair was full), or -1 */
};

static void relay_close(struct relay *r)
{
    if (r->held >= 0)
        close(r->held);
    r->held = -1;
    if (r->sv[0] >= 0)
        close(r->sv[0]);
    if (r->sv[1] >= 0)
        close(r->sv[1]);
    r->sv[0] = r->sv[1] = -1;
}

static int relay_open(struct relay *r, int lfd)
{
    struct timeval tick = {0, POLL_MS * 1000};
    int flags = fcntl(lfd, F_GETFL), listening = 0;
    socklen_t len = sizeof listening;

    r->lfd = lfd;
    r->held = -1;
    r->sv[0] = r->sv[1] = -1;
    if (getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
        log_error("PULSE_PREFORK=1: fd %d is not a listening socket (a FastCGI server hands one over)", lfd);
        return -1;
    }
    /* accept blocks, for POLL_MS at most (SO_RCVTIMEO), and SIGCHLD cuts
     * it short: one system call a connection where poll and a last accept
     * that finds none cost three, and the supervisor's time is a
     * publish's (bench/HISTORY.md) */
    if (flags < 0 || fcntl(lfd, F_SETFL, flags & ~O_NONBLOCK) != 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick) != 0 ||
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r->sv) != 0 ||
        fcntl(r->sv[0], F_SETFL, O_NONBLOCK) != 0) {
        log_error("preparing the hand-over of connections: %s", strerror(errno));
        relay_close(r);
        return -1;
    }
    return 0;
}

/* In a new worker: fd 0 becomes its end of the pair, in place of the
 * listening socket. 0 or -1. */
static int relay_worker(struct relay *r)
{
    if (dup2(r->sv[1], 0) < 0) /* (dup2 leaves fd 0 without FD_CLOEXEC) */
        return -1;
    relay_close(r); /* (what it held stays the supervisor's to pass) */
    return 0;
}

/* Passes the held connection. 0 when passed (or dropped: logged), 1
 * when the pair is full for now. */
static int relay_send(struct relay *r)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    char byte = 0;
    struct iovec iov = {&byte, 1};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);

    memset(ctl.buf, 0, sizeof ctl.buf);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &r->held, sizeof(int));
    if (sendmsg(r->sv[0], &m, MSG_NOSIGNAL) < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return 1;
        log_warn("passing a connection to the worker: %s; closing it", strerror(errno));
    }
    close(r->held); /* (the worker has its own copy now) */
    r->held = -1;
    return 0;
}

/* Accepts a connection, waiting POLL_MS at most. */
static void relay_accept(struct relay *r)
{
    struct timespec pause = {0, POLL_NS};
    int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd >= 0) {
        r->held = fd;
    } else if (errno == EAGAIN) { /* (EWOULDBLOCK is EAGAIN) */
        /* the timeout; or the socket was made non-blocking again (its file
         * is shared with whoever else holds it): waiting, not spinning */
        struct pollfd p = {r->lfd, POLLIN, 0};
        int flags = fcntl(r->lfd, F_GETFL);

        if (flags >= 0 && (flags & O_NONBLOCK))
            poll(&p, 1, POLL_MS);
    } else if (errno != EINTR && errno != ECONNABORTED) {
        log_warn("accept: %s", strerror(errno));
        nanosleep(&pause, NULL); /* (out of descriptors, say: no spinning) */
    }
}

/* Accepts and passes connections until a worker exits, a stop, or
 * timeout_ms. While the pair is full the socket is left alone:
 * connections wait in its backlog. (A worker's death just before accept
 * blocks is seen POLL_MS later at most.) */
static void relay_wait(struct relay *r, int timeout_ms, volatile sig_atomic_t *stopping)
{
    long long until = now_ms() + timeout_ms, left;

    while (!child_exited && !*stopping && (left = until - now_ms()) > 0) {
        struct pollfd p = {r->sv[0], POLLOUT, 0};

        if (r->held < 0)
            relay_accept(r);
        if (r->held >= 0 && relay_send(r) == 1 && poll(&p, 1, (int)left) < 0 && errno != EINTR)
            log_warn("poll: %s", strerror(errno));
    }
}

/* Forks one worker. In the child returns 0; in the parent the pid, or -1. */
static pid_t spawn(pid_t parent)
{
    pid_t pid = fork();

    if (pid == 0) {
        signal(SIGCHLD, SIG_DFL); /* (cannot fail for a valid signal) */
        /* A worker must not outlive its supervisor, not even for the time
         * a graceful stop takes: while it lives the socket still accepts,
         * and lighttpd, restarting the dead supervisor, would find the
         * socket "already used" and never spawn again (seen: every request
         * 503 after the supervisor was killed). SIGKILL closes it at once;
         * a supervisor's own stop (stop_all) still ends its workers with
         * SIGTERM. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
            _exit(1);
        if (getppid() != parent)
            _exit(0);
        return 0;
    }
    if (pid < 0)
        log_error("fork: %s", strerror(errno));
    return pid;
}

/* Names the supervisor in ps and /proc/<pid>/cmdline, as nginx's master
 * does: the command line is the argv[0] string itself (glibc's
 * program_invocation_name points at it), so the title is written over it,
 * cut to its length (argv[0] is the program's path, as lighttpd and
 * spawn-fcgi give it: "/usr/bin/pulse-batch" shows "pulse supervisor: ba";
 * it never holds the worker's name), and the thread name
 * (ps -o comm, top) follows. Tools and tests that look for "pulse-batch"
 * then find the worker that serves, not its keeper. A worker, forked from
 * the titled supervisor, puts back the saved name (put_name). */
static void set_title(const char *role)
{
    const char *what = strncmp(role, "pulse-", 6) == 0 ? role + 6 : role;
    char *arg0 = program_invocation_name;
    buf_t title = {0};
    size_t room = strlen(arg0);

    buf_printf(&title, "pulse supervisor: %s", what);
    memset(arg0, 0, room);
    memcpy(arg0, buf_str(&title), title.len < room ? title.len : room);
    if (prctl(PR_SET_NAME, "pulse-super", 0, 0, 0) != 0)
        log_warn("prctl(PR_SET_NAME): %s", strerror(errno));
    buf_free(&title);
}

/* In a worker: argv[0] and the thread name as they were at exec. */
static void put_name(const char *arg0)
{
    const char *base = strrchr(arg0, '/');

    memcpy(program_invocation_name, arg0, strlen(arg0));
    if (prctl(PR_SET_NAME, base != NULL ? base + 1 : arg0, 0, 0, 0) != 0)
        log_warn("prctl(PR_SET_NAME): %s", strerror(errno));
}

/* Stops the workers: SIGTERM, then SIGKILL to those still running after
 * STOP_GRACE_MS, so that one stuck in its exit cannot hold the supervisor
 * (and whoever waits for it: the launcher, the web server) for ever. */
static void stop_all(pid_t *pids, int n)
{
    struct timespec tick = {0, STOP_TICK_NS};
    long long deadline = now_ms() + STOP_GRACE_MS;
    int i, st, left;

    for (i = 0; i < n; i++)
        if (pids[i] > 0 && kill(pids[i], SIGTERM) != 0)
            pids[i] = 0; /* (ESRCH: gone, and reaped by us already) */
    do {
        left = 0;
        for (i = 0; i < n; i++) {
            if (pids[i] > 0 && waitpid(pids[i], &st, WNOHANG) == 0)
                left++;
            else
                pids[i] = 0;
        }
    } while (left > 0 && now_ms() < deadline && (nanosleep(&tick, NULL) == 0 || errno == EINTR));
    for (i = 0; i < n; i++) {
        if (pids[i] <= 0)
            continue;
        log_warn("worker %d still running %d ms after SIGTERM; killing it", (int)pids[i], STOP_GRACE_MS);
        if (kill(pids[i], SIGKILL) == 0)
            while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
                ;
    }
}

/* prefork_run's loop; relay (prefork_keep) when the supervisor accepts and
 * passes the connections, NULL when the workers accept on fd 0 themselves. */
static int supervise(const char *role, int workers, struct relay *relay, volatile sig_atomic_t *stopping)
{
    pid_t *pids = xcalloc((size_t)workers, sizeof *pids), me = getpid();
    long long *born = xcalloc((size_t)workers, sizeof *born);
    struct timespec pause = {0, RESTART_PAUSE_NS}, idle = {0, POLL_NS};
    struct sigaction sa;
    buf_t sup = {0};
    char *arg0 = xstrdup(program_invocation_name); /* (owned here) */
    int i, rc = 1, short_lives = 0;

    buf_printf(&sup, "%s-supervisor", role);
    log_set_role(buf_str(&sup)); /* (log keeps the pointer: sup lives until we return) */
    set_title(role);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child; /* (no SA_RESTART: nanosleep and accept return) */
    sa.sa_flags = SA_NOCLDSTOP; /* (a worker stopped is not one that died) */
    if (sigaction(SIGCHLD, &sa, NULL) != 0) /* (then a death is seen within POLL_NS) */
        log_warn("sigaction(SIGCHLD): %s", strerror(errno));
    while (!*stopping) {
        pid_t dead;
        int st, crashed = 0;

        for (i = 0; i < workers; i++) {
            if (pids[i] > 0)
                continue;
            pids[i] = spawn(me);
            if (pids[i] == 0) {
                put_name(arg0);
                rc = 0; /* a worker: goes on to serve */
                if (relay != NULL && relay_worker(relay) != 0) {
                    log_error("taking over the hand-over of connections: %s", strerror(errno));
                    rc = -1;
                }
                goto out;
            }
            born[i] = now_ms();
        }
        /* Polled, not blocking: a stop that lands between the loop's check
         * and a blocking waitpid would wait for a worker to die first. A
         * death after the flag is cleared ends relay_wait's accept. */
        child_exited = 0;
        dead = waitpid(-1, &st, WNOHANG);
        if (dead < 0 && errno == ECHILD) {
            rc = -1;
            break;
        }
        if (dead <= 0) {
            if (relay != NULL)
                relay_wait(relay, POLL_MS, stopping);
            else
                nanosleep(&idle, NULL); /* (EINTR: a signal; the loop re-checks *stopping) */
            continue;
        }
        for (i = 0; i < workers; i++) {
            if (pids[i] == dead) {
                pids[i] = 0;
                crashed |= now_ms() - born[i] < SHORT_LIFE_MS;
                if (!*stopping)
                    log_warn("worker %d exited (status %d); restarting", (int)dead, st);
            }
        }
        /* A worker that cannot start (its database unwritable, say) would
         * be restarted for ever while requests wait in the backlog for an
         * answer that never comes. Giving up closes the socket: the web
         * server then sees the backend down and answers 503 at once. */
        short_lives = crashed ? short_lives + 1 : 0;
        if (short_lives >= SHORT_LIVES_MAX) {
            log_error("%d workers in a row exited within %d ms of their start; giving up", short_lives,
                      SHORT_LIFE_MS);
            rc = -1;
            break;
        }
        if (crashed)
            nanosleep(&pause, NULL);
    }
    stop_all(pids, workers);
out:
    free(pids);
    free(born);
    free(arg0);
    log_set_role(role);
    buf_free(&sup);
    return rc;
}

int prefork_run(const char *role, int workers, volatile sig_atomic_t *stopping)
{
    return supervise(role, workers, NULL, stopping);
}

int prefork_keep(const char *role, long workers, volatile sig_atomic_t *stopping)
{
    struct relay relay;
    int rc;

    if (workers > 1) {
        log_error("PULSE_PREFORK=%ld: %s is one process (0, or 1 to keep it under a supervisor)", workers, role);
        return -1;
    }
    if (workers == 0)
        return 0;
    if (relay_open(&relay, 0) != 0)
        return -1;
    rc = supervise(role, 1, &relay, stopping);
    if (rc != 0)
        relay_close(&relay); /* (a worker closed its copies: relay_worker) */
    return rc;
}
