/* prefork.h - a FastCGI process as its own small process manager: with
 * PULSE_PREFORK=N the first process forks N workers, restarts any that
 * dies, and stops them all on SIGTERM or SIGINT (SIGKILL for one still
 * running 10 s later).
 *
 * pulse-api uses it where the web server spawns no pool (nginx with
 * spawn-fcgi): its workers share the listening socket (fd 0).
 * pulse-batch and pulse-stream take PULSE_PREFORK=1 behind every web
 * server: one worker, kept, and the supervisor alone holds the listening
 * socket: it accepts and passes each connection to the worker, whose fd 0
 * is the other end of a socket pair (loop_listen takes either). A worker
 * that dies leaves connections waiting (in the backlog, or passed and not
 * yet taken) for the next one instead of refused: the web server never
 * sees the backend down. A supervisor that dies closes the socket at once,
 * so lighttpd, restarting it (bin-path), finds it free; a worker that
 * shared it kept it open, and lighttpd then never spawned that backend
 * again. */
#ifndef PULSE_PREFORK_H
#define PULSE_PREFORK_H

#include <signal.h>

/* role names the process (e.g. "pulse-batch"): the workers keep it, the
 * supervisor logs as "<role>-supervisor" and shows in ps as
 * "pulse supervisor: <role without pulse->", so that looking for the
 * role's name finds the workers. Returns 0 in a worker, which goes on to
 * serve requests. In the supervisor it returns once every worker has
 * exited: 1 when *stopping became true, -1 when no worker could be forked
 * or SHORT_LIVES_MAX workers in a row died within a second of their start
 * (prefork.c: it gives up, closing the socket). */
int prefork_run(const char *role, int workers, volatile sig_atomic_t *stopping);

/* For a process that must be one (pulse-batch, pulse-stream): workers is
 * PULSE_PREFORK, 0 (returns 0 at once: no supervisor) or 1 (one worker,
 * supervised as by prefork_run, handed the connections the supervisor
 * accepts on fd 0, which must be a listening socket); more is refused
 * (logged, -1). */
int prefork_keep(const char *role, long workers, volatile sig_atomic_t *stopping);

#endif
