/* proc.h - what each Pulse FastCGI process (pulse-api, pulse-batch,
 * pulse-stream) does first: name its log lines, keep its heap, load the
 * configuration, and take SIGTERM/SIGINT as "stop". */
#ifndef PULSE_PROC_H
#define PULSE_PROC_H

#include <signal.h>

struct config;

/* What proc_start checks and sets up besides the common part. */
enum proc_kind {
    PROC_PLAIN = 0,      /* pulse-api (fd 0 is checked by libfcgi), a CGI run */
    PROC_LISTENING = 1,  /* fd 0 must be the FastCGI listening socket */
    PROC_DETACHED = 2,   /* pulse work: its parent exits at once, by design */
};

/* on_stop runs on SIGTERM and SIGINT (without SA_RESTART, so blocking
 * calls return EINTR); SIGPIPE is ignored. Under lighttpd
 * (PULSE_EXIT_WITH_PARENT) the process also gets SIGTERM when its parent
 * dies, unless PROC_DETACHED. 0 with *cfg the configuration loaded
 * (process-wide, read-only: hand it on from there), or -1 (logged). */
int proc_start(const char *role, void (*on_stop)(int), enum proc_kind kind, const struct config **cfg);

/* 1 when the web server ran this process as a CGI program for one request
 * (GATEWAY_INTERFACE set, fd 0 not a listening socket), 0 when it is a
 * FastCGI process. */
int proc_is_cgi(void);

/* One of n slots of dir (created if needed, as files slot.0 .. slot.n-1),
 * held by an exclusive lock on its file until the process exits: how
 * independent CGI processes count themselves. The slot's fd (kept open by
 * the caller, close-on-exec), or -1 when all n are held (or dir cannot be
 * used: logged). */
int proc_slot(const char *dir, long n);

/* Where no pulse-batch runs (shared hosting: PULSE_SPAWN_WORKER), a
 * request that left work for it (a chat answer to generate, a message to
 * send) starts "pulse work" (pulse-batch's loop without requests),
 * detached, unless one runs: a worker holds the slot of data_dir/work
 * (proc_work_lock) while it works, and looks for work again after letting
 * it go, before it exits. Its stderr goes to data_dir/work/work.log.
 * Failures are logged; the request's answer stands. */
void proc_work_spawn(const char *data_dir);
/* The worker's hold on data_dir/work's slot (its pid written in the
 * file): the fd, or -1 when another worker holds it. */
int proc_work_lock(const char *data_dir);

#endif
