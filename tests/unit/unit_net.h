/* unit_net.h - the unit tests' loopback ports: one that was free a moment
 * ago (for a server the test starts), which nothing listens on once it is
 * closed (for a refused connection). */
#ifndef PULSE_UNIT_NET_H
#define PULSE_UNIT_NET_H

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A 127.0.0.1 port the kernel just handed out and took back, or -1. */
static inline int unit_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

#endif
