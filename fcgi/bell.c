/* bell.c - Unix datagram doorbells between processes (see bell.h). */
#include "bell.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"

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

    if (mkdir(dir, 0770) != 0 && errno != EEXIST) {
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

int bell_ring(const char *dir, int64_t id)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char msg[24];
    int n = 0, len, fd;

    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        closedir(d);
        return -1;
    }
    len = snprintf(msg, sizeof msg, "%" PRId64, id);
    while ((de = readdir(d)) != NULL) {
        struct sockaddr_un sa;

        if (strncmp(de->d_name, "stream-", 7) != 0 || bell_addr(&sa, dir, de->d_name) != 0)
            continue;
        if (sendto(fd, msg, (size_t)len, MSG_DONTWAIT, (struct sockaddr *)&sa, sizeof sa) >= 0)
            n++;
        else if (errno == ECONNREFUSED)
            unlink(sa.sun_path); /* nobody listens: its process is gone */
        /* EAGAIN: the bell is full of unread rings, so it will wake anyway. */
    }
    close(fd);
    closedir(d);
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
