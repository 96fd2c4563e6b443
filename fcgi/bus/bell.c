/* bell.c - Unix datagram doorbells between processes (see bell.h). */
#include "bus/bell.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"

#define RELOAD_MS 1000

/* Fills sa with dir/name; -1 when the path does not fit sun_path (bound by
 * the kernel at 108 bytes), rather than truncating it. */
static int bell_addr(struct sockaddr_un *sa, const char *dir, const char *name)
{
    int n;

    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    n = snprintf(sa->sun_path, sizeof sa->sun_path, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= sizeof sa->sun_path ? -1 : 0;
}

int bell_listen(const char *dir, char **path)
{
    struct sockaddr_un sa;
    char name[64];
    int fd;

    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_warn("bell: cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(name, sizeof name, "stream-%d.sock", (int)getpid());
    if (bell_addr(&sa, dir, name) != 0) {
        log_warn("bell: path %s/%s is too long for a Unix socket", dir, name);
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("bell: socket: %s", strerror(errno));
        return -1;
    }
    unlink(sa.sun_path); /* a stale bell of a dead process with our pid */
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        log_warn("bell: bind %s: %s", sa.sun_path, strerror(errno));
        close(fd);
        return -1;
    }
    *path = xstrdup(sa.sun_path);
    return fd;
}

/* A publisher's view of the bells: one socket and the list of bell paths,
 * re-read when the directory changes (its mtime moves whenever a bell is
 * bound or unlinked), when a send says a bell is gone, and at least once a
 * second (mtime ticks are coarse: two changes in one tick look like one).
 * A ring is then one stat and one sendto per stream responder. */
struct bell_ringer {
    char *dir;
    int fd;
    struct timespec mtime;      /* of dir when paths were read */
    long long loaded_ms;        /* when, on CLOCK_MONOTONIC */
    struct sockaddr_un *bells;
    size_t nbells;
    int stale;
};

struct bell_ringer *bell_ringer_open(const char *dir)
{
    struct bell_ringer *r = xcalloc(1, sizeof *r);

    r->dir = xstrdup(dir);
    r->fd = -1;
    r->stale = 1;
    return r;
}

void bell_ringer_close(struct bell_ringer *r)
{
    if (r == NULL)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->bells);
    free(r->dir);
    free(r);
}

/* Re-reads the bell paths. 0, or -1 if the directory cannot be read. */
static int ringer_reload(struct bell_ringer *r, const struct stat *st)
{
    DIR *d = opendir(r->dir);
    struct dirent *de;
    size_t cap = 0;

    if (d == NULL)
        return -1;
    r->nbells = 0;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "stream-", 7) != 0)
            continue;
        if (r->nbells == cap) {
            cap = cap ? cap * 2 : 8;
            r->bells = xrealloc(r->bells, cap * sizeof *r->bells);
        }
        if (bell_addr(&r->bells[r->nbells], r->dir, de->d_name) == 0)
            r->nbells++;
    }
    closedir(d);
    r->mtime = st->st_mtim;
    r->loaded_ms = clock_ms();
    r->stale = 0;
    return 0;
}

int bell_ring(struct bell_ringer *r, int64_t id)
{
    struct stat st;
    char msg[24];
    size_t i;
    int n = 0, len;

    if (stat(r->dir, &st) != 0)
        return errno == ENOENT ? 0 : -1;  /* no stream responder ever ran here */
    if ((r->stale || st.st_mtim.tv_sec != r->mtime.tv_sec || st.st_mtim.tv_nsec != r->mtime.tv_nsec ||
         clock_ms() - r->loaded_ms > RELOAD_MS) && ringer_reload(r, &st) != 0)
        return -1;
    if (r->fd < 0 && (r->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    len = snprintf(msg, sizeof msg, "%" PRId64, id);
    for (i = 0; i < r->nbells; i++) {
        if (sendto(r->fd, msg, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&r->bells[i], sizeof r->bells[i]) >= 0) {
            n++;
        } else if (errno == ECONNREFUSED) {
            unlink(r->bells[i].sun_path); /* nobody listens: its process is gone */
            r->stale = 1;
        } else if (errno == ENOENT) {
            r->stale = 1;
        }
        /* EAGAIN: the bell is full of unread rings, so it will wake anyway. */
    }
    return n;
}

int64_t bell_drain(int fd)
{
    char msg[32];
    int64_t max = 0;
    ssize_t r;

    while ((r = recv(fd, msg, sizeof msg - 1, 0)) > 0) {
        long long v;
        char *end;

        msg[r] = '\0';
        v = strtoll(msg, &end, 10);
        if (*end == '\0' && v > max)
            max = v;
    }
    return max;
}
