/* forward.c - an edge's writes, sent on to the primary (see forward.h). */
#include "request/forward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/crypto.h"
#include "base/log.h"
#include "bus/relaysig.h"
#include "http/cgi.h"
#include "http/http.h"
#include "out/fetch.h"
#include "store/db.h"

#define DOMAIN "pulse-forward-3"
#define KEY_LABEL "pulse forward key"
#define MAX_ANSWER (64u << 20)  /* an answer the primary would never give; a longer one is an error */
#define POOL_CONNS 16           /* connections kept open to the primary: a batch's requests go at once */
#define ID_BYTES 16             /* a forward's id: 32 hex digits, random */
#define ANSWERS_KEPT_S (3 * FORWARD_SKEW_S) /* past -At's window no copy is taken: its answer may go */

struct forward {
    const struct config *cfg;
    struct crypto_mac *mac;     /* the deployment's key; NULL: not needed yet, or none */
    int has_key;                /* a secret to derive it from is configured */
    struct fetch_pool *pool;    /* connections kept open to the primary; NULL: not forwarding */
    char *base;                 /* PULSE_PRIMARY_URL without a trailing '/' */
    long long last_log;         /* when the last "primary unavailable" line was written */
    struct pending *q;          /* requests waiting for forward_flush */
    size_t nq, capq;
};

/* The request headers Pulse reads, sent on as the client sent them: a
 * CGI param and the header it came from. Anything else stays at the edge. */
static const struct {
    const char *cgi, *name;
} sent_on[] = {
    {"CONTENT_TYPE", "Content-Type"},
    {"HTTP_AUTHORIZATION", "Authorization"},
    {"HTTP_ORIGIN", "Origin"},
    {"HTTP_USER_AGENT", "User-Agent"},
    {"HTTP_X_PULSE_SIGNATURE", "X-Pulse-Signature"},
    {"HTTP_X_HUB_SIGNATURE_256", "X-Hub-Signature-256"},
    {"HTTP_X_ZEVENT_SIGNATURE", "X-ZEvent-Signature"},
    {"HTTP_TIKTOK_SIGNATURE", "Tiktok-Signature"},
};

/* The answer headers not relayed: those of the edge's connection to the
 * primary (hop by hop), and those the edge writes itself, which would come
 * twice: Cache-Control (cgi_resp_head) and the web server's own. */
static const char *const not_relayed[] = {
    "Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length", "Date", "Server", "Status", "Trailer",
    "TE", "Upgrade", "Proxy-Connection", "Cache-Control", "X-Content-Type-Options", "X-Frame-Options",
    "Content-Security-Policy",
};

/* The forwarded claims a primary takes in place of the edge's own. */
enum { F_FOR, F_HOST, F_PROTO, F_NCLAIMS };
static const char *const claim_cgi[F_NCLAIMS] = {"REMOTE_ADDR", "HTTP_HOST", "HTTPS"};

#define F_LINES (sizeof sent_on / sizeof *sent_on + 1 + F_NCLAIMS + 3)

/* A request waiting for forward_flush, its parts owned here but for its
 * method and body: the request's, which outlives the flush (the batch
 * answers every request after runtime_batch_end). */
struct pending {
    buf_t url, lines[F_LINES];
    const char *hdrs[F_LINES + 1];
    struct fetch_req rq;        /* (rq.headers set at the flush: the queue may move) */
    struct http_resp *resp;     /* the request's, answered 503 until the primary answers */
    char *what;                 /* "METHOD URI", for the log */
    long long now;
};

static void pending_free(struct pending *p)
{
    size_t i;

    for (i = 0; i < F_LINES; i++)
        buf_free(&p->lines[i]);
    buf_free(&p->url);
    free(p->what);
}

struct forwarded {
    const char *(*header)(const struct http_req *req, const char *cgi_name);
    void *header_arg;
    const char *claim[F_NCLAIMS];   /* borrowed from the request's params */
    const char *id;                 /* Pulse-Forwarded-Id, borrowed too */
    long long at;                   /* Pulse-Forwarded-At */
};

struct forward *forward_open(const struct config *cfg)
{
    struct forward *f = xcalloc(1, sizeof *f);
    size_t n;

    f->cfg = cfg;
    /* The key is derived on first use: OpenSSL's first HMAC costs more than
     * a whole CGI request that never forwards or checks a forward. */
    f->has_key = cfg->relay_secret != NULL || cfg->jwt_secret != NULL;
    if (cfg->role == ROLE_EDGE && cfg->primary_url != NULL && *cfg->primary_url != '\0') {
        f->base = xstrdup(cfg->primary_url);
        n = strlen(f->base);
        while (n > 0 && f->base[n - 1] == '/')
            f->base[--n] = '\0';
        if (!f->has_key)
            log_error("forward: PULSE_PRIMARY_URL needs PULSE_RELAY_SECRET or PULSE_JWT_SECRET (the primary's) "
                      "to vouch for its clients' addresses; forwarding without them");
        if ((f->pool = fetch_pool_open(POOL_CONNS)) == NULL)
            log_error("forward: libcurl could not start; writes here answer 503");
    }
    if (!f->has_key && f->base == NULL) {
        forward_close(f);
        return NULL;
    }
    return f;
}

void forward_close(struct forward *f)
{
    size_t i;

    if (f == NULL)
        return;
    for (i = 0; i < f->nq; i++) /* (none is left once a batch ended) */
        pending_free(&f->q[i]);
    free(f->q);
    crypto_mac_close(f->mac);
    fetch_pool_close(f->pool);
    free(f->base);
    free(f);
}

int forward_enabled(const struct forward *f)
{
    return f != NULL && f->base != NULL;
}

/* The -Sig of a request as it goes on the wire (method, URI, body: what
 * the edge sends, what the primary receives): 0 with hex filled, -1
 * without a key. The body is signed too, so claims seen on the wire cannot
 * be lent to another write, and the Authorization (empty or absent alike:
 * some web servers drop an empty header), so that a copy answered with
 * its first answer (forward_replayed) carries the same credentials. */
static int sign(struct forward *f, const char *method, const char *uri, const char *auth, const char *body,
                size_t body_len, const char *const claim[F_NCLAIMS], const char *at, const char *id, buf_t *hex)
{
    buf_t msg = {0};
    size_t i;
    int rc;

    if (f == NULL || !f->has_key)
        return -1;
    if (f->mac == NULL && (f->mac = relaysig_mac_open(f->cfg, KEY_LABEL)) == NULL)
        return -1;
    buf_put_ns(&msg, DOMAIN, strlen(DOMAIN));
    buf_put_ns(&msg, method, strlen(method));
    buf_put_ns(&msg, uri, strlen(uri));
    for (i = 0; i < F_NCLAIMS; i++)
        buf_put_ns(&msg, claim[i], strlen(claim[i]));
    buf_put_ns(&msg, at, strlen(at));
    buf_put_ns(&msg, id, strlen(id));
    buf_put_ns(&msg, auth, strlen(auth));
    buf_put_ns(&msg, body != NULL ? body : "", body != NULL ? body_len : 0);
    rc = crypto_mac_hex(f->mac, msg.p, msg.len, hex);
    buf_free(&msg);
    return rc;
}

static const char *or_empty(const char *s)
{
    return s != NULL ? s : "";
}

/* The header lines of rq, c's request as sent to the primary, each a
 * string owned by lines. */
static void request_headers(struct forward *f, struct ctx *c, const struct fetch_req *rq, const char *uri,
                            buf_t *lines, size_t *n)
{
    const char *claim[F_NCLAIMS], *v;
    static const char *const claim_name[F_NCLAIMS] = {"For", "Host", "Proto"};
    char at[24];
    buf_t sig = {0}, id = {0};
    size_t i;

    *n = 0;
    /* ("Name;" is libcurl's line for an empty value: "Name:" would drop
     * the header, and Authorization present but empty is a 401) */
    for (i = 0; i < sizeof sent_on / sizeof *sent_on; i++)
        if ((v = ctx_req_header(c, sent_on[i].cgi)) != NULL)
            buf_printf(&lines[(*n)++], *v ? "%s: %s" : "%s;%s", sent_on[i].name, v);
    /* libcurl would otherwise wait for a 100 Continue before a body over 1 KiB. */
    buf_puts(&lines[(*n)++], "Expect:");
    claim[F_FOR] = or_empty(ctx_req_header(c, "REMOTE_ADDR"));
    claim[F_HOST] = or_empty(ctx_req_header(c, "HTTP_HOST"));
    v = ctx_req_header(c, "HTTPS");
    claim[F_PROTO] = v != NULL && strcasecmp(v, "on") == 0 ? "https" : "http";
    snprintf(at, sizeof at, "%lld", c->now);
    if (crypto_random_hex(ID_BYTES, &id) == 0 &&
        sign(f, rq->method, uri, or_empty(ctx_req_header(c, "HTTP_AUTHORIZATION")), rq->body, rq->body_len, claim, at,
             buf_str(&id), &sig) == 0) {
        for (i = 0; i < F_NCLAIMS; i++)
            buf_printf(&lines[(*n)++], "Pulse-Forwarded-%s: %s", claim_name[i], claim[i]);
        buf_printf(&lines[(*n)++], "Pulse-Forwarded-At: %s", at);
        buf_printf(&lines[(*n)++], "Pulse-Forwarded-Id: %s", buf_str(&id));
        buf_printf(&lines[(*n)++], "Pulse-Forwarded-Sig: %s", buf_str(&sig));
    }
    buf_free(&id);
    buf_free(&sig);
}

static int is_not_relayed(const char *line, size_t namelen)
{
    size_t i;

    for (i = 0; i < sizeof not_relayed / sizeof *not_relayed; i++)
        if (strlen(not_relayed[i]) == namelen && strncasecmp(line, not_relayed[i], namelen) == 0)
            return 1;
    return 0;
}

/* The primary's answer, as resp's: its status, headers and body. */
static void answer_as(struct http_resp *resp, const struct fetch_resp *rs)
{
    const char *p = rs->headers.p, *end = p + rs->headers.len, *eol, *colon;

    resp->status = (int)rs->status;
    resp->content_type = NULL;          /* the primary's Content-Type is among its headers */
    buf_reset(&resp->headers);           /* the edge's own (CORS) would repeat the primary's */
    buf_reset(&resp->body);
    while (p != NULL && p < end) {
        eol = memchr(p, '\n', (size_t)(end - p));
        eol = eol != NULL ? eol : end;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL && colon > p && !is_not_relayed(p, (size_t)(colon - p))) {
            size_t len = (size_t)(eol - p);

            while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == '\n'))
                len--;
            buf_append(&resp->headers, p, len);
            buf_puts(&resp->headers, "\r\n");
        }
        p = eol + 1;
    }
    buf_append(&resp->body, rs->body.p, rs->body.len);
}

void forward_request(struct forward *f, struct ctx *c)
{
    const char *uri = or_empty(ctx_req_header(c, "REQUEST_URI"));
    struct pending *p;
    buf_t what = {0};
    size_t n = 0, i;

    /* Until the primary answers, the answer is that it did not (with the
     * edge's CORS headers: a page must read this Retry-After too). */
    ctx_retry_after(c, CGI_RETRY_PRIMARY_S); /* first: a 503's own default is the database's */
    /* (not "nothing was done": a primary reached that answered too late
     * may have committed, whole, as with a connection lost to it) */
    ctx_error(c, 503, "primary_unavailable",
              "this edge got no answer from the primary; the write was applied whole or not at all: retry");
    c->resp->forwarded = 1;
    if (f->pool == NULL) {
        if (c->now != f->last_log) {
            f->last_log = c->now;
            log_error("forward: %s %s: libcurl did not start", c->req->method, uri);
        }
        return;
    }
    if (f->nq == f->capq) {
        f->capq = f->capq ? 2 * f->capq : 16;
        f->q = xrealloc(f->q, f->capq * sizeof *f->q);
    }
    p = &f->q[f->nq++];
    memset(p, 0, sizeof *p);
    buf_printf(&p->url, "%s%s", f->base, uri);
    p->rq.method = http_read_method(c->req->method); /* (libcurl would wait for HEAD's body) */
    p->rq.url = buf_str(&p->url);
    p->rq.body = c->req->body;
    p->rq.body_len = c->req->body_len;
    if (!fetch_sends_body(&p->rq)) { /* signed as sent: a GET goes without its body */
        p->rq.body = NULL;
        p->rq.body_len = 0;
    }
    p->rq.timeout_ms = f->cfg->forward_timeout_s * 1000;
    p->rq.max_bytes = MAX_ANSWER;
    request_headers(f, c, &p->rq, uri, p->lines, &n);
    for (i = 0; i < n; i++)
        p->hdrs[i] = buf_str(&p->lines[i]);
    p->hdrs[n] = NULL;
    p->resp = c->resp;
    buf_printf(&what, "%s %s", c->req->method, uri);
    p->what = buf_steal(&what);
    p->now = c->now;
}

void forward_flush(struct forward *f)
{
    struct fetch_req *reqs;
    struct fetch_resp *rs;
    int *rc;
    size_t i;

    if (f == NULL || f->nq == 0)
        return;
    reqs = xcalloc(f->nq, sizeof *reqs);
    rs = xcalloc(f->nq, sizeof *rs);
    rc = xcalloc(f->nq, sizeof *rc);
    for (i = 0; i < f->nq; i++) {
        reqs[i] = f->q[i].rq;
        reqs[i].headers = f->q[i].hdrs;
        rs[i].want_headers = 1;
    }
    fetch_pool_run(f->pool, reqs, rs, rc, f->nq);
    for (i = 0; i < f->nq; i++) {
        if (rc[i] == 0) {
            answer_as(f->q[i].resp, &rs[i]);
        } else if (f->q[i].now != f->last_log) {
            f->last_log = f->q[i].now;
            log_error("forward: %s: no answer from the primary %s: %s", f->q[i].what, f->base, buf_str(&rs[i].error));
        }
        fetch_resp_free(&rs[i]);
        pending_free(&f->q[i]);
    }
    f->nq = 0;
    free(rc);
    free(rs);
    free(reqs);
}

static const char *forwarded_header(const struct http_req *req, const char *cgi_name)
{
    const struct forwarded *fw = req->header_arg;
    struct http_req orig = *req;
    size_t i;

    for (i = 0; i < F_NCLAIMS; i++)
        if (strcmp(cgi_name, claim_cgi[i]) == 0)
            return i == F_PROTO ? (strcmp(fw->claim[i], "https") == 0 ? "on" : NULL) : fw->claim[i];
    orig.header = fw->header;
    orig.header_arg = fw->header_arg;
    return fw->header(&orig, cgi_name);
}

/* 1 when the claims' signature holds and is fresh; *t is the -At read. */
static int vouched(struct forward *f, struct ctx *c, const char *const claim[F_NCLAIMS], const char *at,
                   const char *id, const char *sig, long long *t)
{
    buf_t want = {0};
    char *end;
    int ok;

    *t = strtoll(at, &end, 10);
    if (end == at || *end != '\0' || *t < c->now - FORWARD_SKEW_S || *t > c->now + FORWARD_SKEW_S ||
        strlen(id) != 2 * ID_BYTES || strspn(id, "0123456789abcdef") != 2 * ID_BYTES)
        return 0;
    ok = sign(f, c->req->method, or_empty(ctx_req_header(c, "REQUEST_URI")),
              or_empty(ctx_req_header(c, "HTTP_AUTHORIZATION")), c->req->body, c->req->body_len, claim, at, id,
              &want) == 0 &&
         crypto_hex_equal(want.p, want.len, sig, strlen(sig));
    buf_free(&want);
    return ok;
}

int forward_begin(struct forward *f, struct ctx *c)
{
    static const char *const claim_hdr[F_NCLAIMS] = {"HTTP_PULSE_FORWARDED_FOR", "HTTP_PULSE_FORWARDED_HOST",
                                                     "HTTP_PULSE_FORWARDED_PROTO"};
    const char *sig = ctx_req_header(c, "HTTP_PULSE_FORWARDED_SIG"), *at = ctx_req_header(c, "HTTP_PULSE_FORWARDED_AT");
    const char *id = ctx_req_header(c, "HTTP_PULSE_FORWARDED_ID");
    const char *claim[F_NCLAIMS];
    struct forwarded *fw;
    long long t = 0;
    size_t i;

    if (sig == NULL && at == NULL && ctx_req_header(c, claim_hdr[F_FOR]) == NULL)
        return 0;
    for (i = 0; i < F_NCLAIMS; i++)
        claim[i] = or_empty(ctx_req_header(c, claim_hdr[i]));
    if (sig == NULL || at == NULL || id == NULL || !vouched(f, c, claim, at, id, sig, &t)) {
        ctx_error(c, 403, "bad_forward",
                  "Pulse-Forwarded-* headers come from this deployment's edges only: signed with its relay key, "
                  "dated within a minute");
        return -1;
    }
    fw = xcalloc(1, sizeof *fw);
    fw->header = c->req->header;
    fw->header_arg = c->req->header_arg;
    memcpy(fw->claim, claim, sizeof claim);
    fw->id = id;
    fw->at = t;
    c->req->header = forwarded_header;
    c->req->header_arg = fw;
    return 0;
}

void forward_end(struct ctx *c)
{
    struct forwarded *fw;

    if (c->req->header != forwarded_header)
        return;
    fw = c->req->header_arg;
    c->req->header = fw->header;
    c->req->header_arg = fw->header_arg;
    free(fw);
}

/* c's forward when an edge forwarded its request (forward_begin), else NULL. */
static const struct forwarded *forward_of(const struct ctx *c)
{
    return c->req->header == forwarded_header ? c->req->header_arg : NULL;
}

int forward_replayed(struct ctx *c)
{
    const struct forwarded *fw = forward_of(c);
    const char *ct;
    sqlite3_stmt *st = NULL;
    int found = 0;

    if (fw == NULL || (st = db_stmt(c->db, SQL_FORWARD_ANSWER_GET)) == NULL || db_bind_int64(st, 1, fw->at) != 0 ||
        db_bind_text(st, 2, fw->id, -1) != 0 || (found = db_lookup(st)) != 1) {
        db_done(st);
        return found < 0 ? -1 : 0;
    }
    /* (a static content type cannot hold it: it goes among the headers) */
    buf_reset(&c->resp->headers);
    buf_reset(&c->resp->body);
    c->resp->status = sqlite3_column_int(st, 0);
    c->resp->content_type = NULL;
    if ((ct = (const char *)sqlite3_column_text(st, 1)) != NULL)
        buf_printf(&c->resp->headers, "Content-Type: %s\r\n", ct);
    buf_append(&c->resp->headers, sqlite3_column_text(st, 2), (size_t)sqlite3_column_bytes(st, 2));
    buf_append(&c->resp->body, sqlite3_column_text(st, 3), (size_t)sqlite3_column_bytes(st, 3));
    db_done(st);
    log_warn("forward %s came again (the edge's connection died before the answer): answered as the first time",
             fw->id);
    return 1;
}

int forward_record(struct ctx *c)
{
    const struct forwarded *fw = forward_of(c);
    sqlite3_stmt *st;
    int ok;

    if (fw == NULL)
        return 0;
    st = db_stmt(c->db, SQL_FORWARD_ANSWERS_PRUNE);
    ok = st != NULL && db_bind_int64(st, 1, c->now - ANSWERS_KEPT_S) == 0 && sqlite3_step(st) == SQLITE_DONE;
    db_done(st);
    st = ok ? db_stmt(c->db, SQL_FORWARD_ANSWER_PUT) : NULL;
    ok = st != NULL && db_bind_int64(st, 1, fw->at) == 0 && db_bind_text(st, 2, fw->id, -1) == 0 &&
         db_bind_int64(st, 3, c->resp->status) == 0 &&
         (c->resp->content_type != NULL ? db_bind_text(st, 4, c->resp->content_type, -1) == 0
                                        : sqlite3_bind_null(st, 4) == SQLITE_OK) &&
         db_bind_text(st, 5, buf_str(&c->resp->headers), (int)c->resp->headers.len) == 0 &&
         db_bind_text(st, 6, buf_str(&c->resp->body), (int)c->resp->body.len) == 0 && sqlite3_step(st) == SQLITE_DONE;
    db_done(st);
    return ok ? 0 : -1;
}
