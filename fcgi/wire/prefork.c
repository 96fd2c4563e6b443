/* prefork.c - forking and supervising request responders (see prefork.h). */
#include "wire/prefork.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/log.h"

#define RESTART_PAUSE_NS 200000000L  /* between restarts, so a crash loop cannot spin */
#define POLL_NS 100000000L /* 100 ms between looks for a dead worker or a stop */

/* Forks one worker. In the child returns 0; in the parent the pid, or -1. */
static pid_t spawn(pid_t parent)
{
    pid_t pid = fork();

    if (pid == 0) {
        /* A worker must not outlive its supervisor. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(0);
        return 0;
    }
    if (pid < 0)
        log_error("fork: %s", strerror(errno));
    return pid;
}

static void stop_all(pid_t *pids, int n)
{
    int i, st;

    for (i = 0; i < n; i++)
        if (pids[i] > 0)
            kill(pids[i], SIGTERM);
    for (i = 0; i < n; i++)
        if (pids[i] > 0)
            while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR)
                ;
}

int prefork_run(int workers, volatile sig_atomic_t *stopping)
{
    pid_t *pids = xcalloc((size_t)workers, sizeof *pids), me = getpid();
    struct timespec pause = {0, RESTART_PAUSE_NS}, idle = {0, POLL_NS};
    int i, rc = 1;

    log_set_role("pulse-api-supervisor");
    while (!*stopping) {
        pid_t dead;
        int st;

        for (i = 0; i < workers; i++) {
            if (pids[i] > 0)
                continue;
            pids[i] = spawn(me);
            if (pids[i] == 0) {
                free(pids);
                log_set_role("pulse-api");
                return 0;
            }
        }
        /* Polled, not blocking: a stop that lands between the loop's check
         * and a blocking waitpid would wait for a worker to die first. */
        dead = waitpid(-1, &st, WNOHANG);
        if (dead < 0 && errno == ECHILD) {
            rc = -1;
            break;
        }
        if (dead <= 0) {
            nanosleep(&idle, NULL); /* (EINTR: a signal; the loop re-checks *stopping) */
            continue;
        }
        for (i = 0; i < workers; i++) {
            if (pids[i] == dead) {
                pids[i] = 0;
                if (!*stopping)
                    log_warn("worker %d exited (status %d); restarting", (int)dead, st);
            }
        }
        nanosleep(&pause, NULL);
    }
    stop_all(pids, workers);
    free(pids);
    return rc;
}
