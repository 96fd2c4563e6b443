/* loop.c - epoll wrapper (see loop.h). */
#include "wire/loop.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/log.h"

#define LOOP_BATCH 256
#define ACCEPT_PAUSE_MS 250

static int epfd = -1;

int loop_init(void)
{
    epfd = epoll_create1(EPOLL_CLOEXEC);
    return epfd < 0 ? -1 : 0;
}

void loop_close(void)
{
    if (epfd >= 0)
        close(epfd);
    epfd = -1;
}

int loop_add(struct watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};

    w->events = events;
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev) != 0)
        return -1;
    w->added = 1;
    return 0;
}

int loop_mod(struct watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};

    if (!w->added)
        return loop_add(w, events);
    if (w->events == events)
        return 0;
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev) != 0)
        return -1;
    w->events = events;
    return 0;
}

void loop_del(struct watch *w)
{
    if (w->added)
        epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->added = 0;
}

int loop_run_once(int timeout_ms)
{
    struct epoll_event evs[LOOP_BATCH];
    int n, i;

    n = epoll_wait(epfd, evs, LOOP_BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (i = 0; i < n; i++) {
        struct watch *w = evs[i].data.ptr;
        w->cb(w, evs[i].events);
    }
    return n;
}

static void listener_on_io(struct watch *w, uint32_t events)
{
    struct listener *l = (struct listener *)w;

    (void)events;
    for (;;) {
        int fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                log_warn("accept: %s; pausing accepts%s", strerror(errno), l->hint ? l->hint : "");
                loop_mod(w, 0);
                l->paused_until = clock_ms() + ACCEPT_PAUSE_MS;
            } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                log_warn("accept: %s", strerror(errno));
            }
            return;
        }
        l->on_conn(l, fd);
    }
}

/* Connections a supervisor accepted (prefork.c), already non-blocking
 * (O_NONBLOCK belongs to the connection, not to the descriptor), until
 * none is waiting: all of them before the loop turns, as accepts are, so
 * that the requests arriving together are handled (pulse-batch: committed)
 * together. */
static void passed_on_io(struct watch *w, uint32_t events)
{
    struct listener *l = (struct listener *)w;

    (void)events;
    for (;;) {
        union {
            struct cmsghdr h;
            char buf[CMSG_SPACE(LOOP_PASSED_MAX * sizeof(int))];
        } ctl;
        char byte;
        struct iovec iov = {&byte, 1};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
        struct cmsghdr *c;
        ssize_t n = recvmsg(w->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

        if (n <= 0) {
            if (n == 0) {
                /* every sending end closed: the supervisor is gone (and we
                 * with it: PR_SET_PDEATHSIG); nothing more will come */
                log_warn("the supervisor's connection hand-over closed");
                loop_del(w);
            } else if (errno != EAGAIN && errno != EINTR) {
                log_warn("receiving connections: %s", strerror(errno));
            }
            return;
        }
        for (c = CMSG_FIRSTHDR(&m); c != NULL; c = CMSG_NXTHDR(&m, c)) {
            size_t i, nfd;

            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (i = 0; i < nfd; i++) {
                int fd;

                memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
                l->on_conn(l, fd);
            }
        }
        if (m.msg_flags & MSG_CTRUNC) {
            /* the kernel closed what it could not give us (out of
             * descriptors): pause, as accepting does, rather than lose
             * every connection queued behind it */
            log_warn("a connection handed over was lost: out of descriptors?%s; pausing", l->hint ? l->hint : "");
            loop_mod(w, 0);
            l->paused_until = clock_ms() + ACCEPT_PAUSE_MS;
            return;
        }
    }
}

int loop_listen(struct listener *l, int fd)
{
    /* The web server hands the socket over blocking; we accept in a loop
     * until EAGAIN, so it must not block. */
    int flags = fcntl(fd, F_GETFL), listening = 0;
    socklen_t len = sizeof listening;

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
        getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0)
        return -1;
    l->w.fd = fd;
    l->w.cb = listening ? listener_on_io : passed_on_io;
    l->paused_until = 0;
    return loop_add(&l->w, EPOLLIN);
}

void loop_listener_tick(struct listener *l, long long now_ms)
{
    if (l->paused_until && now_ms >= l->paused_until) {
        l->paused_until = 0;
        loop_mod(&l->w, EPOLLIN);
    }
}
