/* fetch.c - one outbound HTTP request, waited for (see fetch.h). */
#include "out/fetch.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"

struct fetch_conn {
    CURL *e;
};

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

/* Keeps the answer's header lines but its status lines (a 100 Continue's
 * too) and the blank line that ends them. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    buf_t *headers = arg;

    (void)size; /* always 1 for headers */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        buf_reset(headers); /* a status line (a 100's, then the answer's) starts them again */
    else if (n > 2)
        buf_append(headers, p, n);
    return n;
}

/* Where distributions keep the bundle libcurl's --with-ca-bundle names:
 * Red Hat and its kin, openSUSE, Alpine and Arch, then Debian's for a
 * build made elsewhere. */
static const char *const ca_files[] = {
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/ssl/certs/ca-certificates.crt",
};

const char *fetch_ca_file(void)
{
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    size_t i;

    if (v == NULL || v->cainfo == NULL || access(v->cainfo, R_OK) == 0)
        return NULL;
    for (i = 0; i < sizeof ca_files / sizeof ca_files[0]; i++)
        if (access(ca_files[i], R_OK) == 0)
            return ca_files[i];
    return NULL;
}

CURLcode fetch_handle_defaults(CURL *e)
{
    const char *ca = fetch_ca_file();
    CURLcode rc;

#if LIBCURL_VERSION_NUM >= 0x075500
    rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (rc == CURLE_OK && ca != NULL)
        rc = curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    return rc;
}

/* Every option the request needs: 0, or -1 when libcurl refused one. */
static int setup(CURL *e, const struct fetch_req *req, struct curl_slist *headers, struct sink *sink,
                 buf_t *resp_headers, char *errbuf)
{
    int ok = curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK && fetch_handle_defaults(e) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_WRITEDATA, sink) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;

    if (ok && resp_headers != NULL)
        ok = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_HEADERDATA, resp_headers) == CURLE_OK;
    if (ok && (strcmp(req->method, "POST") == 0 || (req->body != NULL && strcmp(req->method, "GET") != 0)))
        ok = curl_easy_setopt(e, CURLOPT_POST, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "") == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0)) ==
                 CURLE_OK;
    else if (ok)
        ok = curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK;
    /* Any other method: its name on the request line, the body (if any) as a POST's. */
    if (ok && strcmp(req->method, "POST") != 0 && strcmp(req->method, "GET") != 0)
        ok = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK;
    return ok ? 0 : -1;
}

static int global_init(struct fetch_resp *resp)
{
    static int done;

    /* Reference-counted by libcurl, and never undone: the process keeps
     * using it (the chat's upstream client holds its own count). */
    if (!done && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        buf_puts(&resp->error, "libcurl could not start");
        return -1;
    }
    done = 1;
    return 0;
}

/* The request on e, which the caller owns (reset here, its connections kept). */
static int run_on(CURL *e, const struct fetch_req *req, struct fetch_resp *resp)
{
    struct curl_slist *headers = NULL, *more;
    struct sink sink = {&resp->body, req->max_bytes, 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    CURLcode res;
    size_t i;
    int rc = -1;

    resp->status = 0;
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        if ((more = curl_slist_append(headers, req->headers[i])) == NULL) {
            buf_puts(&resp->error, "out of memory for the request's headers");
            goto out;
        }
        headers = more;
    }
    curl_easy_reset(e);
    if (setup(e, req, headers, &sink, resp->want_headers ? &resp->headers : NULL, errbuf) != 0) {
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
    curl_slist_free_all(headers);
    return rc;
}

int fetch_run(const struct fetch_req *req, struct fetch_resp *resp)
{
    struct fetch_conn *fc;
    int rc;

    if (global_init(resp) != 0)
        return -1;
    if ((fc = fetch_conn_open()) == NULL) {
        buf_puts(&resp->error, "libcurl could not make a handle");
        return -1;
    }
    rc = fetch_conn_run(fc, req, resp);
    fetch_conn_close(fc);
    return rc;
}

struct fetch_conn *fetch_conn_open(void)
{
    struct fetch_resp scratch = {0};
    struct fetch_conn *fc;
    CURL *e;

    if (global_init(&scratch) != 0 || (e = curl_easy_init()) == NULL) {
        fetch_resp_free(&scratch);
        return NULL;
    }
    fc = xcalloc(1, sizeof *fc);
    fc->e = e;
    return fc;
}

void fetch_conn_close(struct fetch_conn *fc)
{
    if (fc == NULL)
        return;
    curl_easy_cleanup(fc->e);
    free(fc);
}

int fetch_conn_run(struct fetch_conn *fc, const struct fetch_req *req, struct fetch_resp *resp)
{
    buf_reset(&resp->headers);
    return run_on(fc->e, req, resp);
}

void fetch_resp_free(struct fetch_resp *resp)
{
    buf_free(&resp->body);
    buf_free(&resp->error);
    buf_free(&resp->headers);
}
