/* test_cgi.c - the request adapter and the response writer all three
 * responders share (fcgi/http/cgi.c): CGI params in, a CGI head out. */
#include "http/cgi.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "check.h"

/* A request's params: NULL-terminated name/value pairs. */
static const char *params_of(const struct http_req *req, const char *name)
{
    const char *const *kv = req->header_arg;

    for (; kv[0] != NULL; kv += 2)
        if (strcmp(kv[0], name) == 0)
            return kv[1];
    return NULL;
}

#define MAX_BODY 1000

struct row {
    const char *params[12];
    int status;                  /* what cgi_req_read returns */
    const char *method, *path;   /* expected (path NULL: not checked) */
    long long length;
    const char *qname, *qvalue;  /* one query parameter to look up, or NULL */
};

/* a request the web server names as GET */
#define GET "REQUEST_METHOD", "GET"

static const struct row rows[] = {
    /* CONTENT_LENGTH */
    {{"REQUEST_URI", "/api/publish", "REQUEST_METHOD", "POST", NULL}, 0, "POST", "/api/publish", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "", NULL}, 0, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "0", NULL}, 0, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "17", NULL}, 0, "GET", "/a", 17, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "1000", NULL}, 0, "GET", "/a", 1000, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "1001", NULL}, 413, "GET", "/a", 1001, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "99999999999999999999", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "9223372036854775807", NULL}, 413, "GET", "/a", 9223372036854775807LL,
     NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "-1", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "+5", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "12abc", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "abc", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", " 5", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "CONTENT_LENGTH", "0x10", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    /* methods: as the web server names them; none is a broken web server: 400 */
    {{"REQUEST_URI", "/a", NULL}, 400, "", "/a", 0, NULL, NULL},
    {{"REQUEST_URI", "/a", "REQUEST_METHOD", "DELETE", NULL}, 0, "DELETE", "/a", 0, NULL, NULL},
    {{"REQUEST_URI", "/a", "REQUEST_METHOD", "OPTIONS", NULL}, 0, "OPTIONS", "/a", 0, NULL, NULL},
    {{"REQUEST_URI", "/a", "REQUEST_METHOD", "get", NULL}, 0, "get", "/a", 0, NULL, NULL},
    /* the path is the target up to '?' */
    {{GET, "REQUEST_URI", "/api/events?topic=a", "QUERY_STRING", "topic=a", NULL}, 0, "GET", "/api/events", 0, "topic",
     "a"},
    {{GET, "REQUEST_URI", "/", NULL}, 0, "GET", "/", 0, NULL, NULL},
    /* no REQUEST_URI: 400, whatever else is there */
    {{"REQUEST_METHOD", "GET", "QUERY_STRING", "a=1", NULL}, 400, "GET", "/", 0, NULL, NULL},
    /* the query: QUERY_STRING, or what follows '?' in REQUEST_URI when absent */
    {{GET, "REQUEST_URI", "/a?x=1", NULL}, 0, "GET", "/a", 0, "x", "1"},
    {{GET, "REQUEST_URI", "/a?x=1", "QUERY_STRING", "x=2", NULL}, 0, "GET", "/a", 0, "x", "2"},
    {{GET, "REQUEST_URI", "/a", "QUERY_STRING", "x=%41%42&y", NULL}, 0, "GET", "/a", 0, "x", "AB"},
    {{GET, "REQUEST_URI", "/a", "QUERY_STRING", "y", NULL}, 0, "GET", "/a", 0, "y", ""},
    {{GET, "REQUEST_URI", "/a", "QUERY_STRING", "x=a+b", NULL}, 0, "GET", "/a", 0, "x", "a b"},
    {{GET, "REQUEST_URI", "/a", "QUERY_STRING", "x=%zz", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "QUERY_STRING", "x=%00", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "QUERY_STRING", "x=%ff", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a", "QUERY_STRING", "x=%4", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    {{GET, "REQUEST_URI", "/a?x=%zz", NULL}, 400, "GET", "/a", 0, NULL, NULL},
    /* a bad length is found before a bad query: either way a 400 */
    {{GET, "REQUEST_URI", "/a", "QUERY_STRING", "x=%zz", "CONTENT_LENGTH", "-3", NULL}, 400, "GET", "/a", 0, NULL,
     NULL},
    /* an over-long body is refused before its query is read */
    {{GET, "REQUEST_URI", "/a", "QUERY_STRING", "x=%zz", "CONTENT_LENGTH", "5000", NULL}, 413, "GET", "/a", 5000, NULL,
     NULL},
};

static void test_rows(void)
{
    size_t i;

    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct row *w = &rows[i];
        struct http_req req;
        const char *why = NULL;
        long long len = -7;
        int st;

        memset(&req, 0, sizeof req);
        req.header = params_of;
        req.header_arg = (void *)(uintptr_t)w->params; /* (read only) */
        st = cgi_req_read(&req, NULL, MAX_BODY, &len, &why);
        if (st != w->status || strcmp(req.method, w->method) != 0 || len != w->length)
            fprintf(stderr, "row %zu:\n", i);
        CHECK_INT_EQ(st, w->status);
        CHECK_STR_EQ(req.method, w->method);
        CHECK_INT_EQ(len, w->length);
        CHECK(req.path != NULL);
        if (w->path != NULL)
            CHECK_STR_EQ(req.path, w->path);
        CHECK((st == 0) == (why == NULL)); /* a refusal says why */
        if (w->qname != NULL)
            CHECK_STR_EQ(http_query_get(&req.query, w->qname), w->qvalue);
        cgi_req_free(&req);
    }
}

/* The route path under a prefix: PULSE_BASE_PATH when set, else the
 * folder of a SCRIPT_NAME that names a script (Apache's mod_rewrite to
 * /pulse/pulse.fcgi), and lighttpd's and nginx's params as shipped unchanged. */
struct route_row {
    const char *uri, *script_name, *base_path;
    int status;
    const char *path, *base;
};

static const struct route_row route_rows[] = {
    /* no prefix anywhere: the path as it is */
    {"/api/health", NULL, NULL, 0, "/api/health", ""},
    {"/api/events?topic=a", NULL, NULL, 0, "/api/events", ""},
    /* lighttpd: "/api/" prefix -> SCRIPT_NAME "/api"; a regex match gives the path itself */
    {"/api/events/stream?x", "/api", NULL, 0, "/api/events/stream", ""},
    {"/api/live/rooms/R1/stream", "/api/live/rooms/R1/stream", NULL, 0, "/api/live/rooms/R1/stream", ""},
    {"/api/api/x", "/api/api/x", NULL, 0, "/api/api/x", ""},
    /* Apache, mod_rewrite to the script in the install's folder */
    {"/pulse/api/health", "/pulse/pulse.fcgi", NULL, 0, "/api/health", "/pulse"},
    {"/pulse/api/topup/status?tx_ref=1", "/pulse/pulse.fcgi", NULL, 0, "/api/topup/status", "/pulse"},
    {"/a/b/api/events", "/a/b/pulse.cgi", NULL, 0, "/api/events", "/a/b"},
    {"/pulse.fcgi/x", "/pulse.fcgi", NULL, 0, "/pulse.fcgi/x", ""},             /* at the root */
    {"/api/health", "/pulse.fcgi", NULL, 0, "/api/health", ""},
    {"/pulse/pulse.fcgi", "/pulse/pulse.fcgi", NULL, 0, "/pulse/pulse.fcgi", ""}, /* not the API */
    {"/pulse/apix/health", "/pulse/pulse.fcgi", NULL, 0, "/pulse/apix/health", ""},
    {"/pulse/api", "/pulse/pulse.fcgi", NULL, 0, "/pulse/api", ""},
    {"/other/api/health", "/pulse/pulse.fcgi", NULL, 0, "/other/api/health", ""},
    {"/pulsar/api/health", "/pulse/pulse.fcgi", NULL, 0, "/pulsar/api/health", ""},
    {"/api/health", "", NULL, 0, "/api/health", ""},
    /* a folder whose name the browser percent-encodes: REQUEST_URI is as
     * sent, SCRIPT_NAME decoded (Apache); the base is kept as sent, for URLs */
    {"/my%20pulse/api/health", "/my pulse/pulse.fcgi", NULL, 0, "/api/health", "/my%20pulse"},
    {"/n%E1%BA%A1p/api/wallet?a=%20", "/n\xe1\xba\xa1p/pulse.cgi", NULL, 0, "/api/wallet", "/n%E1%BA%A1p"},
    {"/n%e1%ba%a1p/api/wallet", "/n\xe1\xba\xa1p/pulse.cgi", NULL, 0, "/api/wallet", "/n%e1%ba%a1p"},
    {"/my%2/api/health", "/my%2/pulse.fcgi", NULL, 0, "/api/health", "/my%2"},   /* not an escape: itself */
    {"/my%20pulsar/api/health", "/my pulse/pulse.fcgi", NULL, 0, "/my%20pulsar/api/health", ""},
    {"/my%20pulse", "/my pulse/pulse.fcgi", NULL, 0, "/my%20pulse", ""},
    /* PULSE_BASE_PATH: stripped, and everything outside it is a 404 */
    {"/pulse/api/health", NULL, "/pulse", 0, "/api/health", "/pulse"},
    {"/pulse/api/health?x=/pulse", "/whatever/x.fcgi", "/pulse", 0, "/api/health", "/pulse"},
    {"/pulse", NULL, "/pulse", 0, "/", "/pulse"},
    {"/pulse?x=1", NULL, "/pulse", 0, "/", "/pulse"},
    {"/pulse/", NULL, "/pulse", 0, "/", "/pulse"},
    {"/api/health", NULL, "/pulse", 404, "/api/health", ""},
    {"/pulsar/api/health", NULL, "/pulse", 404, "/pulsar/api/health", ""},
    {"/pul", NULL, "/pulse", 404, "/pul", ""},
    {"/x/pulse/api/health", NULL, "/pulse", 404, "/x/pulse/api/health", ""},
    {"/a/b/api/events", NULL, "/a/b", 0, "/api/events", "/a/b"},
    {"/a/api/events", NULL, "/a/b", 404, "/a/api/events", ""},
};

static void test_route_path(void)
{
    size_t i;

    for (i = 0; i < sizeof route_rows / sizeof route_rows[0]; i++) {
        const struct route_row *w = &route_rows[i];
        char *path = NULL, *base = NULL;
        int st = cgi_route_path(w->uri, w->script_name, w->base_path, &path, &base);

        if (st != w->status || strcmp(path, w->path) != 0 || strcmp(base, w->base) != 0)
            fprintf(stderr, "route row %zu:\n", i);
        CHECK_INT_EQ(st, w->status);
        CHECK_STR_EQ(path, w->path);
        CHECK_STR_EQ(base, w->base);
        free(path);
        free(base);
    }
}

/* cgi_req_read reads SCRIPT_NAME, answers 404 outside PULSE_BASE_PATH
 * (after the body checks: a huge body is a 413 whatever its path) and
 * gives the request its base. */
static void test_read_prefix(void)
{
    static const char *const apache[] = {GET, "REQUEST_URI", "/pulse/api/wallet?a=1", "SCRIPT_NAME",
                                         "/pulse/pulse.fcgi", NULL};
    static const char *const outside[] = {GET, "REQUEST_URI", "/api/wallet", NULL};
    static const char *const outside_big[] = {GET, "REQUEST_URI", "/api/wallet", "CONTENT_LENGTH", "5000", NULL};
    struct http_req req;
    const char *why = NULL;
    long long len;

    memset(&req, 0, sizeof req);
    req.header = params_of;
    req.header_arg = (void *)(uintptr_t)apache;
    CHECK_INT_EQ(cgi_req_read(&req, NULL, MAX_BODY, &len, &why), 0);
    CHECK_STR_EQ(req.path, "/api/wallet");
    CHECK_STR_EQ(req.base, "/pulse");
    CHECK_STR_EQ(http_query_get(&req.query, "a"), "1");
    cgi_req_free(&req);

    memset(&req, 0, sizeof req);
    req.header = params_of;
    req.header_arg = (void *)(uintptr_t)apache;
    CHECK_INT_EQ(cgi_req_read(&req, "/pulse", MAX_BODY, &len, &why), 0);
    CHECK_STR_EQ(req.path, "/api/wallet");
    cgi_req_free(&req);

    memset(&req, 0, sizeof req);
    req.header = params_of;
    req.header_arg = (void *)(uintptr_t)outside;
    CHECK_INT_EQ(cgi_req_read(&req, "/pulse", MAX_BODY, &len, &why), 404);
    CHECK(why != NULL && strstr(why, "PULSE_BASE_PATH") != NULL);
    cgi_req_free(&req);

    memset(&req, 0, sizeof req);
    req.header = params_of;
    req.header_arg = (void *)(uintptr_t)outside_big;
    CHECK_INT_EQ(cgi_req_read(&req, "/pulse", MAX_BODY, &len, &why), 413);
    cgi_req_free(&req);
}

/* The head every responder writes: status line, type, no-store, the
 * extra headers, a blank line. */
static void test_head(void)
{
    struct http_resp resp = {0};
    buf_t out = {0};

    resp.status = 202;
    resp.content_type = CGI_JSON_TYPE;
    cgi_header(&resp, "Pulse-Event-Id", "7");
    cgi_resp_head(&resp, &out);
    CHECK_STR_EQ(buf_str(&out), "Status: 202 Accepted\r\nContent-Type: application/json; charset=utf-8\r\n"
                                "Cache-Control: no-store\r\nPulse-Event-Id: 7\r\n\r\n");
    cgi_resp_free(&resp);
    buf_free(&out);
}

/* The error answer: the JSON given, else the contract's shape; a 503 says
 * when to come back, once, and a Retry-After set before it stands. */
static void test_error(void)
{
    struct http_resp resp = {0};

    cgi_error(&resp, 400, strdup("{\"error\":{\"code\":\"x\",\"message\":\"y\"}}"), CGI_RETRY_BUSY_S);
    CHECK_INT_EQ(resp.status, 400);
    CHECK_STR_EQ(resp.content_type, CGI_JSON_TYPE);
    CHECK_STR_EQ(buf_str(&resp.body), "{\"error\":{\"code\":\"x\",\"message\":\"y\"}}");
    CHECK_STR_EQ(buf_str(&resp.headers), "");
    cgi_resp_free(&resp);

    memset(&resp, 0, sizeof resp);
    cgi_error(&resp, 503, NULL, CGI_RETRY_STREAM_S);
    CHECK_STR_EQ(buf_str(&resp.body), "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}");
    CHECK_STR_EQ(buf_str(&resp.headers), "Retry-After: 5\r\n");
    cgi_resp_free(&resp);

    memset(&resp, 0, sizeof resp);
    cgi_retry_after(&resp, CGI_RETRY_NOT_CONFIGURED_S);
    cgi_error(&resp, 503, NULL, CGI_RETRY_BUSY_S);
    CHECK_STR_EQ(buf_str(&resp.headers), "Retry-After: 60\r\n");
    cgi_resp_free(&resp);
}

static void test_cors(void)
{
    struct http_resp resp = {0};

    cgi_cors(&resp, "https://app.example");
    CHECK_STR_EQ(buf_str(&resp.headers), "Access-Control-Allow-Origin: https://app.example\r\n"
                                         "Access-Control-Expose-Headers: Pulse-Event-Id, Retry-After\r\n"
                                         "Vary: Origin\r\n");
    cgi_resp_free(&resp);
}

int main(void)
{
    test_rows();
    test_route_path();
    test_read_prefix();
    test_head();
    test_error();
    test_cors();
    return check_summary("test_cgi");
}
