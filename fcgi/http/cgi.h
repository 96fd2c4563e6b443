/* cgi.h - one HTTP exchange as a responder sees it: the request the web
 * server hands over as CGI params (FastCGI PARAMS), and the CGI response
 * head the responder answers with. The one request adapter and the one
 * response writer all three responders (pulse-api, pulse-batch,
 * pulse-stream) use. Nothing here touches a socket or libfcgi. */
#ifndef PULSE_CGI_H
#define PULSE_CGI_H

#include <stddef.h>

#include "base/buf.h"
#include "http/http.h"
#include "http/router.h"

struct http_req {
    const char *method;
    char *path;                  /* owned; not percent-decoded; the route path (cgi_route_path) */
    char *base;                  /* owned: the URL prefix Pulse is under, stripped from path ("" at
                                    the site root, "/pulse"); the URLs Pulse writes start with it.
                                    NULL in a request that did not come from a web server */
    struct http_query query;     /* owned */
    char *body;                  /* owned; NUL-terminated */
    size_t body_len;
    char *captures[ROUTER_MAX_CAPTURES]; /* borrowed from the route match */
    size_t ncaptures;
    /* Returns a request param by CGI name ("REQUEST_URI",
     * "HTTP_X_PULSE_SIGNATURE"), or NULL. The string is borrowed for the
     * request's life. */
    const char *(*header)(const struct http_req *req, const char *cgi_name);
    void *header_arg;
};

struct http_resp {
    int status;                  /* 0 until a handler answers */
    const char *content_type;    /* static string */
    buf_t headers;               /* extra "Name: value\r\n" lines */
    buf_t body;
    int forwarded;               /* an edge's request sent to the primary: its answer, which no lost batch changes */
};

/* Retry-After values (seconds), named once: what each kind of 503 (and
 * 429) tells the client. */
enum {
    CGI_RETRY_BUSY_S = 1,        /* the database was busy: a moment is enough */
    CGI_RETRY_STREAM_S = 5,      /* a stream refused (caps, an edge still copying, the log busy) */
    CGI_RETRY_HEALTH_S = 5,      /* GET /api/health found the service unhealthy */
    CGI_RETRY_RATE_S = 1,        /* a rate limit (429): its window is a second */
    CGI_RETRY_NOT_CONFIGURED_S = 60, /* a webhook secret is not configured: an operator must act */
    CGI_RETRY_UPSTREAM_S = 5,    /* a service called out to (PayOS) was down, slow or refusing */
    CGI_RETRY_PRIMARY_S = 2,     /* an edge could not reach its primary (forward.h) */
};

#define CGI_JSON_TYPE "application/json; charset=utf-8"

/* The one place a route path comes from: the path of uri (REQUEST_URI, up
 * to '?') without the prefix Pulse is installed under, into *path, and
 * that prefix into *base (both caller-freed; *base "" when none).
 * base_path (PULSE_BASE_PATH, no trailing '/') set: the path must be it or
 * under it ("/pulse", "/pulse/api/..."), which is stripped; any other path
 * returns 404 (*path is then the whole path). Unset: when script_name
 * (SCRIPT_NAME) names a script in a folder, as Apache's mod_rewrite to
 * /pulse/pulse.fcgi does, and the path starts with that folder followed by
 * "/api/", the folder is stripped; anything else is the path as it is
 * (lighttpd and nginx as shipped send a SCRIPT_NAME that is the path, or
 * none). Returns 0 or 404. */
int cgi_route_path(const char *uri, const char *script_name, const char *base_path, char **path, char **base);

/* Reads the request line's parts from req->header (which the responder
 * set): method, path and base (cgi_route_path, with SCRIPT_NAME and
 * base_path, PULSE_BASE_PATH or NULL), query (from QUERY_STRING, or
 * the part of REQUEST_URI after '?' when that is absent), and the
 * announced body length (0 when CONTENT_LENGTH is absent or empty) into
 * *content_length. Returns 0, or the status to answer with *why pointed at
 * static text: 400 for no REQUEST_METHOD or REQUEST_URI (a web server
 * always sends both), a CONTENT_LENGTH that is not a
 * non-negative integer, or a malformed query string; 413 for a
 * CONTENT_LENGTH over max_body; 404 for a path outside base_path.
 * req->path, req->base and req->query are the request's (free them with
 * cgi_req_free) whatever the outcome. */
int cgi_req_read(struct http_req *req, const char *base_path, long long max_body, long long *content_length,
                 const char **why);
/* Frees what cgi_req_read and the responder gave req (path, base, query, body). */
void cgi_req_free(struct http_req *req);

/* Appends "name: value\r\n" to the response's extra headers. */
void cgi_header(struct http_resp *resp, const char *name, const char *value);
/* Appends Retry-After: seconds, unless the response has one already. */
void cgi_retry_after(struct http_resp *resp, int seconds);
/* The CORS headers of an answer to origin, which the caller found allowed
 * (http_origin_allowed). */
void cgi_cors(struct http_resp *resp, const char *origin);
/* Makes resp an error answer: status, the JSON body (taken over; built
 * with SQLite's json_object by the caller), or when that is NULL (the
 * database is unusable) the contract's shape with code "internal", and
 * for a 503 a Retry-After of retry_s unless one was set. */
void cgi_error(struct http_resp *resp, int status, char *json, int retry_s);
/* Appends the CGI response head: Status, Content-Type (when set),
 * Cache-Control: no-store, the extra headers and the blank line. */
void cgi_resp_head(const struct http_resp *resp, buf_t *out);
void cgi_resp_free(struct http_resp *resp);

#endif
