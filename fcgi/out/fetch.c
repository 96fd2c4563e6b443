/* fetch.c - one outbound HTTP request, waited for (see fetch.h). */
#include "out/fetch.h"

#include <string.h>

#include "base/buf.h"

struct sink {
    buf_t *body;
    size_t max;
    int too_long;
};

/* Keeps what arrives; past max, stops the transfer (libcurl then fails
 * it with CURLE_WRITE_ERROR). */
static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;

    if (s->body->len + n > s->max) {
        s->too_long = 1;
        return 0;
    }
    buf_append(s->body, p, n);
    return n;
}

CURLcode fetch_only_http(CURL *e)
{
#if LIBCURL_VERSION_NUM >= 0x075500
    return curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    return curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
}

/* Every option the request needs: 0, or -1 when libcurl refused one. */
static int setup(CURL *e, const struct fetch_req *req, struct curl_slist *headers, struct sink *sink,
                 char *errbuf)
{
    int ok = curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK && fetch_only_http(e) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_WRITEDATA, sink) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;

    if (ok && strcmp(req->method, "POST") == 0)
        ok = curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "") == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0)) ==
                 CURLE_OK;
    else if (ok)
        ok = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    return ok ? 0 : -1;
}

int fetch_run(const struct fetch_req *req, struct fetch_resp *resp)
{
    static int global_done;
    struct curl_slist *headers = NULL, *more;
    struct sink sink = {&resp->body, req->max_bytes, 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *e = NULL;
    CURLcode res;
    size_t i;
    int rc = -1;

    resp->status = 0;
    /* Reference-counted by libcurl, and never undone: the process keeps
     * using it (the chat's upstream client holds its own count). */
    if (!global_done && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        buf_puts(&resp->error, "libcurl could not start");
        goto out;
    }
    global_done = 1;
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        if ((more = curl_slist_append(headers, req->headers[i])) == NULL) {
            buf_puts(&resp->error, "out of memory for the request's headers");
            goto out;
        }
        headers = more;
    }
    if ((e = curl_easy_init()) == NULL || setup(e, req, headers, &sink, errbuf) != 0) {
        buf_puts(&resp->error, "libcurl refused the request's options");
        goto out;
    }
    res = curl_easy_perform(e);
    if (res != CURLE_OK) {
        if (sink.too_long)
            buf_printf(&resp->error, "the answer is longer than %zu bytes", req->max_bytes);
        else
            buf_puts(&resp->error, errbuf[0] ? errbuf : curl_easy_strerror(res));
        goto out;
    }
    if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status) != CURLE_OK || resp->status == 0) {
        buf_puts(&resp->error, "no HTTP status in the answer");
        goto out;
    }
    buf_append(&resp->body, "", 0); /* a NUL-terminated text even when empty */
    rc = 0;
out:
    curl_easy_cleanup(e);
    curl_slist_free_all(headers);
    return rc;
}

void fetch_resp_free(struct fetch_resp *resp)
{
    buf_free(&resp->body);
    buf_free(&resp->error);
}
