/* cgi.c - the request adapter and the response writer (see cgi.h). */
#include "http/cgi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "http/http.h"

static const char *param(const struct http_req *req, const char *name)
{
    return req->header != NULL ? req->header(req, name) : NULL;
}

/* The length of the start of uri (of plen bytes) that is folder (of n
 * bytes) once percent-decoded, or 0 when it does not start with it: the
 * web server decodes SCRIPT_NAME ("/my pulse/pulse.cgi"), REQUEST_URI is
 * as the browser sent it ("/my%20pulse/api/..."). */
static size_t folder_prefix(const char *uri, size_t plen, const char *folder, size_t n)
{
    size_t i, j = 0;
    int hi, lo, ch;

    for (i = 0; i < n; i++) {
        if (j >= plen)
            return 0;
        ch = (unsigned char)uri[j++];
        if (ch == '%' && j + 1 < plen && (hi = http_hex_digit(uri[j])) >= 0 && (lo = http_hex_digit(uri[j + 1])) >= 0) {
            ch = hi << 4 | lo;
            j += 2;
        }
        if (ch != (unsigned char)folder[i])
            return 0;
    }
    return j;
}

int cgi_route_path(const char *uri, const char *script_name, const char *base_path, char **path, char **base)
{
    size_t plen = strcspn(uri, "?"), n, m;
    const char *slash;

    if (base_path != NULL) {
        n = strlen(base_path);
        if (plen >= n && memcmp(uri, base_path, n) == 0 && (plen == n || uri[n] == '/')) {
            *base = xstrndup(base_path, n);
            *path = plen == n ? xstrdup("/") : xstrndup(uri + n, plen - n);
            return 0;
        }
        *base = xstrdup("");
        *path = xstrndup(uri, plen);
        return 404;
    }
    /* the folder of the script: "/pulse" of "/pulse/pulse.fcgi"; "" of
     * "/pulse.fcgi" or "/api" strips nothing. The base is the folder as
     * the browser wrote it: it goes into URLs. */
    slash = script_name != NULL ? strrchr(script_name, '/') : NULL;
    n = slash != NULL ? (size_t)(slash - script_name) : 0;
    m = n > 0 ? folder_prefix(uri, plen, script_name, n) : 0;
    if (m > 0 && plen >= m + 5 && memcmp(uri + m, "/api/", 5) == 0) {
        *base = xstrndup(uri, m);
        *path = xstrndup(uri + m, plen - m);
        return 0;
    }
    *base = xstrdup("");
    *path = xstrndup(uri, plen);
    return 0;
}

int cgi_req_read(struct http_req *req, const char *base_path, long long max_body, long long *content_length,
                 const char **why)
{
    const char *uri = param(req, "REQUEST_URI");
    const char *qs = param(req, "QUERY_STRING");
    const char *cl = param(req, "CONTENT_LENGTH");
    int outside;

    req->method = param(req, "REQUEST_METHOD");
    *content_length = 0;
    if (req->method == NULL)
        req->method = "";
    if (uri == NULL) {
        req->path = xstrdup("/");
        req->base = xstrdup("");
        *why = "no REQUEST_URI from the web server";
        return 400;
    }
    outside = cgi_route_path(uri, param(req, "SCRIPT_NAME"), base_path, &req->path, &req->base);
    if (*req->method == '\0') {
        *why = "no REQUEST_METHOD from the web server";
        return 400;
    }
    if (qs == NULL) {
        qs = strchr(uri, '?');
        qs = qs != NULL ? qs + 1 : "";
    }
    if (cl != NULL && *cl != '\0' && http_parse_i64(cl, content_length) != 0) {
        *content_length = 0;
        *why = "CONTENT_LENGTH must be a non-negative integer";
        return 400;
    }
    if (*content_length > max_body) {
        *why = "the request body is over PULSE_MAX_BODY";
        return 413;
    }
    if (outside) {
        *why = "no such endpoint: the path is outside PULSE_BASE_PATH";
        return 404;
    }
    if (http_query_parse(qs, strlen(qs), &req->query) != 0) {
        *why = "malformed query string (bad %-escape, NUL, not UTF-8)";
        return 400;
    }
    return 0;
}

void cgi_req_free(struct http_req *req)
{
    http_query_free(&req->query);
    free(req->path);
    free(req->base);
    free(req->body);
    req->path = NULL;
    req->base = NULL;
    req->body = NULL;
}

void cgi_header(struct http_resp *resp, const char *name, const char *value)
{
    buf_printf(&resp->headers, "%s: %s\r\n", name, value);
}

void cgi_retry_after(struct http_resp *resp, int seconds)
{
    char s[16];

    if (strstr(buf_str(&resp->headers), "Retry-After:") != NULL)
        return;
    snprintf(s, sizeof s, "%d", seconds);
    cgi_header(resp, "Retry-After", s);
}

void cgi_cors(struct http_resp *resp, const char *origin)
{
    cgi_header(resp, "Access-Control-Allow-Origin", origin);
    cgi_header(resp, "Access-Control-Expose-Headers", "Pulse-Event-Id, Retry-After");
    cgi_header(resp, "Vary", "Origin");
}

void cgi_error(struct http_resp *resp, int status, char *json, int retry_s)
{
    /* The contract: every 503 says when to come back. */
    if (status == 503)
        cgi_retry_after(resp, retry_s);
    resp->status = status;
    resp->content_type = CGI_JSON_TYPE;
    buf_reset(&resp->body);
    if (json == NULL) /* the database is unusable; keep the contract's shape */
        buf_puts(&resp->body, "{\"error\":{\"code\":\"internal\",\"message\":\"internal error\"}}");
    else
        buf_puts(&resp->body, json);
    free(json);
}

void cgi_resp_head(const struct http_resp *resp, buf_t *out)
{
    buf_printf(out, "Status: %d %s\r\n", resp->status, http_status_text(resp->status));
    if (resp->content_type != NULL)
        buf_printf(out, "Content-Type: %s\r\n", resp->content_type);
    buf_puts(out, "Cache-Control: no-store\r\n");
    buf_append(out, resp->headers.p, resp->headers.len);
    buf_puts(out, "\r\n");
}

void cgi_resp_free(struct http_resp *resp)
{
    buf_free(&resp->headers);
    buf_free(&resp->body);
}
