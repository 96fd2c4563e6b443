/* fetch.c - one outbound HTTP request, waited for (see fetch.h). */
#include "out/fetch.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"

/* A kept connection idle this long is not used again: well under the
 * keep-alive time-outs web servers close idle connections at (lighttpd 5 s,
 * nginx 15 s as shipped), so a request seldom goes out on a connection the
 * server has just closed, which libcurl would send again on a new one
 * (for a write the primary may then have applied, twice). */
#define FETCH_REUSE_IDLE_S 4L

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

struct head_sink {
    buf_t *headers;
    int ended;                     /* the blank line came: what follows is a trailer */
};

/* Keeps the answer's header lines but its status lines (a 100 Continue's
 * too), the blank line that ends them and the trailers after the body. */
static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct head_sink *h = arg;

    (void)size; /* always 1 for headers */
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        buf_reset(h->headers); /* a status line (a 100's, then the answer's) starts them again */
        h->ended = 0;
    } else if (n <= 2) {
        h->ended = 1;
    } else if (!h->ended) {
        buf_append(h->headers, p, n);
    }
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

int fetch_sends_body(const struct fetch_req *req)
{
    return strcmp(req->method, "POST") == 0 || (req->body != NULL && strcmp(req->method, "GET") != 0);
}

/* Every option the request needs: 0, or -1 when libcurl refused one. */
static int setup(CURL *e, const struct fetch_req *req, struct curl_slist *headers, struct sink *sink,
                 struct head_sink *resp_headers, char *errbuf)
{
    int ok = curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK && fetch_handle_defaults(e) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, req->timeout_ms) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_WRITEDATA, sink) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK &&
             /* the path as given: "/sessions/../messages" is a session named ".." */
             curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_MAXAGE_CONN, FETCH_REUSE_IDLE_S) == CURLE_OK;

    if (ok && resp_headers != NULL)
        ok = curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
             curl_easy_setopt(e, CURLOPT_HEADERDATA, resp_headers) == CURLE_OK;
    if (ok && fetch_sends_body(req))
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

/* One request's own parts while it runs: its header list, where its body
 * goes, libcurl's words for a failure. */
struct call {
    struct curl_slist *headers;    /* owned; freed by finish */
    struct sink sink;
    struct head_sink head;
    char errbuf[CURL_ERROR_SIZE];
    int added, done;               /* fetch_pool_run: in the multi handle; finished */
};

/* Readies e (reset here, its connections kept) for req: 0, or -1 with
 * resp->error saying why (k's header list then freed). */
static int prepare(CURL *e, const struct fetch_req *req, struct fetch_resp *resp, struct call *k)
{
    struct curl_slist *more;
    size_t i;

    resp->status = 0;
    buf_reset(&resp->headers);
    k->sink.body = &resp->body;
    k->sink.max = req->max_bytes;
    k->head.headers = &resp->headers;
    k->head.ended = 0;
    for (i = 0; req->headers != NULL && req->headers[i] != NULL; i++) {
        if ((more = curl_slist_append(k->headers, req->headers[i])) == NULL) {
            buf_puts(&resp->error, "out of memory for the request's headers");
            goto fail;
        }
        k->headers = more;
    }
    curl_easy_reset(e);
    if (setup(e, req, k->headers, &k->sink, resp->want_headers ? &k->head : NULL, k->errbuf) != 0) {
        buf_puts(&resp->error, "libcurl refused the request's options");
        goto fail;
    }
    return 0;
fail:
    curl_slist_free_all(k->headers);
    k->headers = NULL;
    return -1;
}

/* What the transfer on e that ended with res came to: 0 when an answer
 * arrived, else -1 with resp->error saying why. Frees k's header list. */
static int finish(CURL *e, CURLcode res, const struct fetch_req *req, struct fetch_resp *resp, struct call *k)
{
    int rc = -1;

    if (res != CURLE_OK) {
        if (k->sink.too_long)
            buf_printf(&resp->error, "the answer is longer than %zu bytes", req->max_bytes);
        else
            buf_puts(&resp->error, k->errbuf[0] ? k->errbuf : curl_easy_strerror(res));
    } else if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status) != CURLE_OK || resp->status == 0) {
        buf_puts(&resp->error, "no HTTP status in the answer");
    } else {
        buf_append(&resp->body, "", 0); /* a NUL-terminated text even when empty */
        rc = 0;
    }
    curl_slist_free_all(k->headers);
    k->headers = NULL;
    return rc;
}

int fetch_run(const struct fetch_req *req, struct fetch_resp *resp)
{
    struct call k = {0};
    CURL *e;
    int rc = -1;

    if (global_init(resp) != 0)
        return -1;
    if ((e = curl_easy_init()) == NULL) {
        buf_puts(&resp->error, "libcurl could not make a handle");
        return -1;
    }
    if (prepare(e, req, resp, &k) == 0)
        rc = finish(e, curl_easy_perform(e), req, resp, &k);
    curl_easy_cleanup(e);
    return rc;
}

struct fetch_pool {
    CURLM *m;                      /* holds the kept-alive connections */
    CURL **e;                      /* handles made so far, reused by each run */
    size_t ne;
};

struct fetch_pool *fetch_pool_open(long max_conns)
{
    struct fetch_resp scratch = {0};
    struct fetch_pool *p;
    CURLM *m = NULL;

    if (global_init(&scratch) != 0 || (m = curl_multi_init()) == NULL ||
        curl_multi_setopt(m, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_conns) != CURLM_OK ||
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, max_conns) != CURLM_OK) {
        if (m != NULL)
            curl_multi_cleanup(m);
        fetch_resp_free(&scratch);
        return NULL;
    }
    p = xcalloc(1, sizeof *p);
    p->m = m;
    return p;
}

void fetch_pool_close(struct fetch_pool *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->ne; i++)
        curl_easy_cleanup(p->e[i]); /* (none is in the multi handle between runs) */
    curl_multi_cleanup(p->m);
    free(p->e);
    free(p);
}

/* Handles for n requests at once: 0, or -1 when libcurl cannot make one. */
static int pool_grow(struct fetch_pool *p, size_t n)
{
    CURL *e;

    if (n <= p->ne)
        return 0;
    p->e = xrealloc(p->e, n * sizeof *p->e);
    while (p->ne < n) {
        if ((e = curl_easy_init()) == NULL)
            return -1;
        p->e[p->ne++] = e;
    }
    return 0;
}

/* Runs every added transfer to its end (each is bounded by its own
 * timeout) and finishes the ones libcurl reports done. */
static void pool_wait(struct fetch_pool *p, const struct fetch_req *reqs, struct fetch_resp *resps, int *rc,
                      struct call *k, size_t n)
{
    CURLMsg *msg;
    int running = 0, left;
    size_t i;

    do {
        if (curl_multi_perform(p->m, &running) != CURLM_OK)
            break;
        if (running > 0 && curl_multi_poll(p->m, NULL, 0, 1000, NULL) != CURLM_OK)
            break;
    } while (running > 0);
    while ((msg = curl_multi_info_read(p->m, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (i = 0; i < n && p->e[i] != msg->easy_handle; i++)
            ;
        if (i < n && k[i].added && !k[i].done) {
            k[i].done = 1;
            rc[i] = finish(p->e[i], msg->data.result, &reqs[i], &resps[i], &k[i]);
        }
    }
}

void fetch_pool_run(struct fetch_pool *p, const struct fetch_req *reqs, struct fetch_resp *resps, int *rc, size_t n)
{
    struct call *k = xcalloc(n > 0 ? n : 1, sizeof *k);
    int grown = pool_grow(p, n) == 0;
    size_t i;

    for (i = 0; i < n; i++) {
        rc[i] = -1;
        if (!grown)
            buf_puts(&resps[i].error, "libcurl could not make a handle");
        else if (prepare(p->e[i], &reqs[i], &resps[i], &k[i]) != 0)
            continue;
        else if (curl_multi_add_handle(p->m, p->e[i]) != CURLM_OK)
            buf_puts(&resps[i].error, "libcurl refused the request");
        else
            k[i].added = 1;
    }
    pool_wait(p, reqs, resps, rc, k, n);
    for (i = 0; i < n; i++) {
        if (k[i].added) {
            curl_multi_remove_handle(p->m, p->e[i]); /* its connection stays in p->m's cache */
            if (!k[i].done)
                buf_puts(&resps[i].error, "the transfer did not finish");
        }
        curl_slist_free_all(k[i].headers);
    }
    free(k);
}

void fetch_resp_free(struct fetch_resp *resp)
{
    buf_free(&resp->body);
    buf_free(&resp->error);
    buf_free(&resp->headers);
}
