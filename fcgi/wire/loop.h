/* loop.h - the stream responder's epoll loop: every fd it watches is a
 * struct watch whose callback runs when the fd is ready. One loop, one
 * thread: nothing in the stream responder needs a lock. */
#ifndef PULSE_LOOP_H
#define PULSE_LOOP_H

#include <stdint.h>
#include <sys/epoll.h>

struct watch {
    int fd;
    uint32_t events;                                 /* current interest */
    int added;                                       /* in the epoll set */
    void (*cb)(struct watch *w, uint32_t events);
};

int loop_init(void);
void loop_close(void);
int loop_add(struct watch *w, uint32_t events);
/* No-op when unchanged; adds w when it is not watched yet (a connection
 * served at once, as a FastCGI request that arrived with its connect, never
 * costs an epoll_ctl). */
int loop_mod(struct watch *w, uint32_t events);
void loop_del(struct watch *w);                      /* no-op when not added */
/* Waits up to timeout_ms and runs the callbacks of ready fds. Returns the
 * number handled, or -1 on an error other than EINTR. */
int loop_run_once(int timeout_ms);

/* A FastCGI listening socket on the loop (the stream and the batching
 * responders' fd 0): accepts until EAGAIN and hands each connection, non-
 * blocking, to on_conn (or takes them from a supervisor: loop_listen).
 * Out of descriptors it stops being watched for a moment instead of
 * spinning (a listening socket stays readable; connections passed over a
 * pair would be closed by the kernel one after another):
 * loop_listener_tick watches it again. */
struct listener {
    struct watch w;                                  /* first: the loop hands back &w */
    void (*on_conn)(struct listener *l, int fd);    /* the owner finds its context from l */
    const char *hint;                                /* added to the out-of-descriptors warning */
    long long paused_until;
};

/* Descriptors taken from one message at most (prefork.c sends one). */
#define LOOP_PASSED_MAX 64

/* Makes fd non-blocking and watches it. fd is a listening socket, or the
 * end of a SOCK_SEQPACKET pair over which a supervisor (prefork.c) passes
 * the connections it accepted (SCM_RIGHTS): each is handed to on_conn
 * alike. 0, or -1 with errno set. */
int loop_listen(struct listener *l, int fd);
void loop_listener_tick(struct listener *l, long long now_ms);

#endif
