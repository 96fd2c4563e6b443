/* fcgi_noop.c - the ceiling of "web server -> FastCGI request responder" on
 * this machine: a libfcgi responder that reads the request and answers at
 * once (200 to GET, 202 to anything else), doing no work at all. `make
 * bench` runs it as pulse-api behind the shipped nginx.conf, so figure c
 * shows what any FastCGI request responder could reach at best. Like
 * pulse-api, PULSE_PREFORK=N runs N processes on the one socket; the
 * forked ones end with the first (stopped by its PID, it must not leave
 * them serving the socket: `make bench` waited 15 s for each, then killed
 * it). */
#include <fcgiapp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(void)
{
    FCGX_Request r;
    const char *n_s = getenv("PULSE_PREFORK");
    int i, n = n_s ? atoi(n_s) : 1;
    char buf[4096];

    for (i = 1; i < n; i++)
        if (fork() == 0) {
            if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() == 1)
                return 1; /* the first is gone already, or we could not follow it */
            break;
        }
    if (FCGX_Init() != 0 || FCGX_InitRequest(&r, 0, 0) != 0)
        return 1;
    while (FCGX_Accept_r(&r) == 0) {
        const char *m = FCGX_GetParam("REQUEST_METHOD", r.envp);

        while (FCGX_GetStr(buf, sizeof buf, r.in) > 0)
            ;
        FCGX_PutS(m && strcmp(m, "GET") == 0 ? "Status: 200 OK\r\n" : "Status: 202 Accepted\r\n", r.out);
        FCGX_PutS("Content-Type: application/json\r\n\r\n{\"id\":1}", r.out);
        FCGX_Finish_r(&r);
    }
    return 0;
}
