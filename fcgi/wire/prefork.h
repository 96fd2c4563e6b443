/* prefork.h - pulse-api as its own small process manager, for web servers
 * that do not spawn FastCGI pools themselves (nginx with spawn-fcgi): with
 * PULSE_PREFORK=N the first process forks N workers that share the listening
 * socket (fd 0), restarts any that dies, and stops them all on SIGTERM or
 * SIGINT. lighttpd spawns its pool itself and leaves PULSE_PREFORK unset. */
#ifndef PULSE_PREFORK_H
#define PULSE_PREFORK_H

#include <signal.h>

/* Returns 0 in a worker, which goes on to serve requests. In the supervisor
 * it returns only when *stopping became true and every worker has exited:
 * 1 then, or -1 if no worker could be forked. */
int prefork_run(int workers, volatile sig_atomic_t *stopping);

#endif
