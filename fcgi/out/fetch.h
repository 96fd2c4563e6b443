/* fetch.h - one outbound HTTP request, made at once and waited for (libcurl's
 * easy interface), for the few calls a request must make before it can
 * answer (creating a PayOS payment link while the payer waits for it). The
 * calls that need not hold up a request go on the loop instead (out.h).
 *
 * Bounded on every side: the whole exchange by timeout_ms, the answer by
 * max_bytes; HTTP and HTTPS only, no redirect followed. Anything that can
 * take longer belongs on a loop, not here: the calling process serves no
 * one else meanwhile. */
#ifndef PULSE_OUT_FETCH_H
#define PULSE_OUT_FETCH_H

#include <curl/curl.h>
#include <stddef.h>

#include "base/buf.h"

struct fetch_req {
    const char *method;            /* "GET", "POST", or any other method (sent with the body, if any) */
    const char *url;
    const char *const *headers;    /* "Name: value" lines, NULL-terminated; may be NULL */
    const char *body;              /* the body (sent as is; never with GET), or NULL */
    size_t body_len;
    long timeout_ms;               /* connecting, sending and reading, all told */
    size_t max_bytes;              /* a longer answer is an error */
};

struct fetch_resp {
    long status;                   /* the HTTP status; 0 when none arrived */
    buf_t body;                    /* the answer's body (NUL-terminated) */
    buf_t error;                   /* why there is no answer */
    int want_headers;              /* set by the caller: keep the answer's header lines */
    buf_t headers;                 /* then: its "Name: value\r\n" lines, the status line left out */
};

/* 1 when req goes with its body: a POST always (an empty one without),
 * any other method but GET when it has one; a GET never. */
int fetch_sends_body(const struct fetch_req *req);

/* Makes the request. 0 when an answer arrived, whatever its status; -1
 * when none did (refused, timed out, too long, ...) with resp->error
 * saying why. The caller frees resp with fetch_resp_free either way. */
int fetch_run(const struct fetch_req *req, struct fetch_resp *resp);
void fetch_resp_free(struct fetch_resp *resp);

/* Connections kept open between requests to the same servers (libcurl's
 * multi handle keeps them), for a process that makes many: an edge
 * forwarding writes to its primary. fetch_pool_run makes n requests at
 * once over at most max_conns connections and waits for every one: the
 * requests of one batch take about one round trip, not n. */
struct fetch_pool;
struct fetch_pool *fetch_pool_open(long max_conns);   /* NULL when libcurl cannot start */
void fetch_pool_close(struct fetch_pool *p);           /* NULL allowed */
/* For each i, rc[i] is what fetch_run would return for reqs[i] and
 * resps[i] its answer or error (the caller frees each resps[i]). */
void fetch_pool_run(struct fetch_pool *p, const struct fetch_req *reqs, struct fetch_resp *resps, int *rc, size_t n);

/* What every handle Pulse opens (out.c's too) is given: HTTP and HTTPS
 * only, whatever the URL says (the option's form changed in libcurl 7.85),
 * and the system's CA certificates where libcurl's built-in path has none
 * (the static package built on Debian, run on a host that keeps them
 * elsewhere: fetch_ca_file). */
CURLcode fetch_handle_defaults(CURL *e);
/* The CA bundle to use: NULL when libcurl's built-in one is there (or it
 * has none), else the first of the places other systems keep theirs that
 * exists, or NULL. Static text. */
const char *fetch_ca_file(void);

#endif
