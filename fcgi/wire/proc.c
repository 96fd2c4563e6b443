/* proc.c - FastCGI process start-up (see proc.h). */
#include "wire/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"

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

int proc_start(const char *role, void (*on_stop)(int), int listening, const struct config **cfg)
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
    if (listening && !is_listening_socket(0)) {
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
    if ((*cfg)->exit_with_parent || proc_is_cgi()) {
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
