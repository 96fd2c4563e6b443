/* loop.c - epoll wrapper (see loop.h). */
#include "loop.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#define LOOP_BATCH 256

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
    return epoll_ctl(epfd, EPOLL_CTL_ADD, w->fd, &ev);
}

int loop_mod(struct watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};

    if (w->events == events)
        return 0;
    w->events = events;
    return epoll_ctl(epfd, EPOLL_CTL_MOD, w->fd, &ev);
}

void loop_del(struct watch *w)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, w->fd, NULL);
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

long long loop_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
