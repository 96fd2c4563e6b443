/* proc.c - FastCGI process start-up (see proc.h). */
#include "wire/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"

#define WORK_LOG_MAX (1024 * 1024) /* a worker's log is emptied when it has grown past this */
#define WORK_FD_MAX 65536            /* fds closed one by one where close_range is missing */

/* What a web server or spawn-fcgi hands a FastCGI process as fd 0. */
static int is_listening_socket(int fd)
{
    int v = 0;
    socklen_t len = sizeof v;

    return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0 && v;
}

static void (*stop_handler)(int);

/* The first stop signal stops the process; the ones after it (lighttpd's
 * kill-signal, then the parent-death signal as lighttpd exits) are
 * discarded, so that none lands in the middle of the exit (a sanitizer's
 * leak check reading /proc was seen failing under such a signal). */
static void stop_once(int sig)
{
    struct sigaction ign;

    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &ign, NULL);
    sigaction(SIGINT, &ign, NULL);
    stop_handler(sig);
}

int proc_start(const char *role, void (*on_stop)(int), enum proc_kind kind, const struct config **cfg)
{
    struct sigaction sa;
    char *err = NULL;

    log_set_role(role);
    if (alloc_keep_heap() != 0)
        log_warn("mallopt refused; the heap will be trimmed eagerly");
    if (config_load(&err) != 0) {
        log_error("configuration: %s", err);
        free(err);
        return -1;
    }
    *cfg = pulse_cfg; /* the one hand-over: from here on everything is handed cfg */
    if ((*cfg)->conf_file != NULL)
        log_info("configuration: %s (the environment wins where both set a variable)", (*cfg)->conf_file);
    if (kind == PROC_LISTENING && !is_listening_socket(0)) {
        log_error("fd 0 is not a listening socket: start me from the web server (bin-path) or spawn-fcgi");
        return -1;
    }
    memset(&sa, 0, sizeof sa);
    stop_handler = on_stop;
    sa.sa_handler = stop_once;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Spawned by lighttpd: do not linger as an orphan if it dies hard.
     * (spawn-fcgi exits right after spawning, so it must not set this.)
     * A CGI stream neither: Apache stopping ends mod_cgid's daemon, whose
     * child it is, and its worker waits for the stream until killed. */
    if (kind != PROC_DETACHED && ((*cfg)->exit_with_parent || proc_is_cgi())) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() == 1)
            stop_once(SIGTERM); /* the parent was gone already */
    }
    return 0;
}

int proc_is_cgi(void)
{
    const char *gw = getenv("GATEWAY_INTERFACE");

    return gw != NULL && strncmp(gw, "CGI/", 4) == 0 && !is_listening_socket(0);
}

int proc_slot(const char *dir, long n)
{
    buf_t path = {0};
    long i;
    int fd = -1;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    for (i = 0; i < n; i++) {
        buf_reset(&path);
        buf_printf(&path, "%s/slot.%ld", dir, i);
        if ((fd = open(buf_str(&path), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
            log_error("cannot open %s: %s", buf_str(&path), strerror(errno));
            break;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        close(fd);
        fd = -1;
    }
    buf_free(&path);
    return fd;
}

/* The folder of the worker's slot and log: data_dir/work. */
static void work_dir(buf_t *dir, const char *data_dir)
{
    buf_printf(dir, "%s/work", data_dir);
}

int proc_work_lock(const char *data_dir)
{
    buf_t dir = {0};
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid()), fd;

    work_dir(&dir, data_dir);
    fd = proc_slot(buf_str(&dir), 1);
    /* (the pid only tells an operator, or a test, which process it is) */
    if (fd >= 0 && (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n))
        log_warn("%s/slot.0: cannot write the pid: %s", buf_str(&dir), strerror(errno));
    buf_free(&dir);
    return fd;
}

/* The environment a worker starts with: this one less GATEWAY_INTERFACE,
 * which would make the program take itself for a CGI request. The array
 * is the caller's to free, its strings are environ's. */
static char **work_env(void)
{
    extern char **environ;
    size_t n = 0, i, k = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    env = xcalloc(n + 1, sizeof *env);
    for (i = 0; i < n; i++)
        if (strncmp(environ[i], "GATEWAY_INTERFACE=", 18) != 0)
            env[k++] = environ[i];
    return env;
}

/* Opens dir/work.log for the worker's stderr, emptied first when it has
 * grown over WORK_LOG_MAX. The fd (close-on-exec), or -1 (logged). */
static int work_log(const char *dir)
{
    buf_t path = {0};
    struct stat st;
    int fd, trunc;

    buf_printf(&path, "%s/work.log", dir);
    trunc = stat(buf_str(&path), &st) == 0 && st.st_size > WORK_LOG_MAX;
    fd = open(buf_str(&path), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (trunc ? O_TRUNC : 0), 0600);
    if (fd < 0)
        log_error("cannot open %s: %s", buf_str(&path), strerror(errno));
    buf_free(&path);
    return fd;
}

/* The grandchild: stdin and stdout /dev/null, stderr the log, nothing
 * else of the request's open, then the program again as "pulse work"
 * (script: the CGI program's own path, for a host without /proc). Only
 * async-signal-safe calls after a fork. */
static void work_exec(int nul, int logfd, char **env, const char *script)
{
    static char *const argv[] = {"pulse", "work", NULL};
    int fd;

    if (dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(logfd, 2) < 0)
        _exit(127);
    /* (a kernel before 5.9 has no close_range: every fd a process may hold) */
    if (close_range(3, ~0U, 0) != 0)
        for (fd = 3; fd < WORK_FD_MAX; fd++)
            close(fd);
    execve("/proc/self/exe", argv, env);
    if (script != NULL)
        execve(script, argv, env);
    _exit(127);
}

void proc_work_spawn(const char *data_dir)
{
    buf_t dir = {0};
    char **env = NULL;
    const char *script = getenv("SCRIPT_FILENAME"); /* read before the fork */
    int held, nul = -1, logfd = -1;
    pid_t pid;

    work_dir(&dir, data_dir);
    if ((held = proc_slot(buf_str(&dir), 1)) < 0)
        goto out; /* one runs, and takes what was just written at its next look */
    close(held);
    if ((logfd = work_log(buf_str(&dir))) < 0)
        goto out;
    if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
        log_error("cannot open /dev/null: %s", strerror(errno));
        goto out;
    }
    env = work_env();
    if ((pid = fork()) < 0) {
        log_error("cannot start a worker: fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* its own session, and not the request's child: the web server
         * waits for neither, and its stop does not reach it */
        if (setsid() < 0 || fork() != 0)
            _exit(0);
        work_exec(nul, logfd, env, script);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
out:
    free(env);
    if (nul >= 0)
        close(nul);
    if (logfd >= 0)
        close(logfd);
    buf_free(&dir);
}
