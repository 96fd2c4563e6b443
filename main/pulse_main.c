/* pulse_main.c - pulse: every Pulse program in one binary, for hosts where
 * one file is what an account can install (make dist: shared hosting under
 * Apache with mod_fcgid or CGI).
 *
 *   run as CGI          a stream route is held by the stream responder,
 *                       anything else is answered by the request responder
 *   under FastCGI       the request responder (mod_fcgid, spawn-fcgi), or
 *                       the one named: pulse stream | pulse batch
 *   pulse work          pulse-batch's generator and sender without
 *                       requests, started by a request that left them
 *                       work where no pulse-batch runs (wire/proc.h)
 *   pulse token ...     pulse-token
 *
 * Each program's main is compiled again under its own name (build.mk). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream_req.h"
#include "wire/proc.h"

int pulse_api_main(void);
int pulse_batch_main(void);
int batch_work_main(void);
int pulse_stream_main(void);
int pulse_token_main(int argc, char **argv);

int main(int argc, char **argv)
{
    const char *sub = argc > 1 ? argv[1] : "";

    if (proc_is_cgi())
        return stream_req_is_stream_uri(getenv("REQUEST_URI")) ? pulse_stream_main() : pulse_api_main();
    if (strcmp(sub, "token") == 0)
        return pulse_token_main(argc - 1, argv + 1);
    if (strcmp(sub, "stream") == 0)
        return pulse_stream_main();
    if (strcmp(sub, "batch") == 0)
        return pulse_batch_main();
    if (strcmp(sub, "work") == 0)
        return batch_work_main();
    if (argc == 1 || strcmp(sub, "api") == 0)
        return pulse_api_main();
    fprintf(stderr, "usage: pulse [api | stream | batch | work | token SUB [ROLE [NAME [TTL_SECONDS]]]]\n"
                    "  (run as CGI it answers the request it was given)\n");
    return 2;
}
