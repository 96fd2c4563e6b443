/* proc.h - what each Pulse FastCGI process (pulse-api, pulse-batch,
 * pulse-stream) does first: name its log lines, keep its heap, load the
 * configuration, and take SIGTERM/SIGINT as "stop". */
#ifndef PULSE_PROC_H
#define PULSE_PROC_H

#include <signal.h>

struct config;

/* on_stop runs on SIGTERM and SIGINT (without SA_RESTART, so blocking
 * calls return EINTR); SIGPIPE is ignored. Under lighttpd
 * (PULSE_EXIT_WITH_PARENT) the process also gets SIGTERM when its parent
 * dies. listening: fd 0 must be the FastCGI listening socket. 0 with *cfg
 * the configuration loaded (process-wide, read-only: hand it on from
 * there), or -1 (logged). */
int proc_start(const char *role, void (*on_stop)(int), int listening, const struct config **cfg);

#endif
