/* llm_curl.c - answers from an OpenAI-compatible upstream (see llm.h):
 * POST {url}/chat/completions with "stream": true, many at once, through
 * the process's outbound client (out/out.h, which drives libcurl on the
 * epoll loop). The stream is read by llm_sse.c as it comes.
 *
 * The out client's stream callback runs inside libcurl and only records
 * (text in c->pending, an outcome in c->code); its progress and done
 * callbacks hand them to the handler outside libcurl, so a handler may
 * start and cancel calls freely. A call's memory goes with its out call
 * (release), so a handler may cancel the call it was called for. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/utf8.h"
#include "llm/llm_backend.h"
#include "llm/llm_sse.h"
#include "out/out.h"

#define ERR_BODY_MAX 4096      /* the start of an error answer kept for its message */
#define ERR_SHOWN_MAX 300      /* of which a message shows at most this much */
#define LINE_SLACK 65536       /* a line may hold this much besides its text (JSON around it) */

struct llm_call {
    struct llm_backend *b;
    struct out_call *oc;       /* NULL once ended or cancelled */
    const struct llm_handler *h;
    void *arg;
    struct llm_sse *sse;
    buf_t pending;             /* answer text not handed over yet */
    size_t total;              /* answer bytes so far */
    size_t events;             /* llm_sse_events when last seen */
    long long event_at;        /* when the last event came (clock_ms) */
    const char *code;          /* NULL: going on; "": done; else the error code */
    buf_t msg;                 /* the error's message */
    int dead;                  /* ended or cancelled: the handler hears no more */
};

struct llm_backend {
    struct out *out;
    struct llm_sse_db *db;
    const char *headers[4];    /* for every request, NULL-terminated */
    char *auth;                /* headers[2], when a key is set */
    char *url;                 /* {url}/chat/completions */
    char *model;
    long long timeout_ms;
    size_t max_bytes;
};

static void end(struct llm_call *c, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The first outcome stands. */
static void end(struct llm_call *c, const char *code, const char *fmt, ...)
{
    va_list ap;

    if (c->code != NULL)
        return;
    c->code = code;
    va_start(ap, fmt);
    buf_vprintf(&c->msg, fmt, ap);
    va_end(ap);
}

/* ---- inside libcurl: record, never call a handler ---- */

static int on_delta(void *arg, const char *text, size_t len)
{
    struct llm_call *c = arg;

    if (c->total + len > c->b->max_bytes) {
        end(c, "upstream_too_large", "the answer is longer than %zu bytes", c->b->max_bytes);
        return 1;
    }
    c->total += len;
    buf_append(&c->pending, text, len);
    return 0;
}

/* The stream's state as the parser saw it: 0 go on, 1 complete, -1 stop. */
static int on_stream(void *arg, const char *data, size_t n)
{
    struct llm_call *c = arg;
    enum llm_sse_state state;
    long long now = clock_ms();

    if (c->code != NULL)
        return -1;
    state = llm_sse_feed(c->sse, data, n);
    if (llm_sse_events(c->sse) != c->events) {
        c->events = llm_sse_events(c->sse);
        c->event_at = now;
    } else if (state == LLM_SSE_MORE && now - c->event_at >= c->b->timeout_ms) {
        /* bytes, but only comments (a proxy's keep-alive): a stall all the same */
        end(c, "upstream_timeout", "no event from the upstream for %lld s, only comments", c->b->timeout_ms / 1000);
        return -1;
    }
    switch (state) {
    case LLM_SSE_MORE:
        return 0;
    case LLM_SSE_DONE:
        end(c, "", "done");
        return 1;
    case LLM_SSE_MALFORMED:
        end(c, "upstream_malformed", "the upstream's stream holds %s", llm_sse_why(c->sse));
        return -1;
    case LLM_SSE_ERROR:
        end(c, "upstream_http", "the upstream's stream ended with an error: %s", llm_sse_why(c->sse));
        return -1;
    case LLM_SSE_TOO_LONG:
        end(c, "upstream_too_large", "the upstream's stream holds %s (the answer may be %zu bytes)",
            llm_sse_why(c->sse), c->b->max_bytes);
        return -1;
    case LLM_SSE_STOPPED:
        return -1; /* on_delta said why */
    }
    return -1;
}

/* ---- outside libcurl ---- */

static void http_failed(struct llm_call *c, const struct out_result *r)
{
    char *said = llm_sse_error_of(c->b->db, r->body, r->len);
    buf_t m = {0};

    if (said != NULL)
        utf8_shown(&m, said, strlen(said), ERR_SHOWN_MAX);
    else
        utf8_shown(&m, r->body, r->len, ERR_SHOWN_MAX);
    end(c, "upstream_http", "the upstream answered HTTP %ld: %s", r->status, buf_str(&m));
    buf_free(&m);
    free(said);
}

/* The outcome of a call whose stream recorded none. */
static void classify(struct llm_call *c, const struct out_result *r)
{
    switch (r->end) {
    case OUT_REFUSED:
        end(c, "upstream_refused", "cannot reach the upstream: %s", r->why);
        return;
    case OUT_TIMEOUT:
        end(c, "upstream_timeout", "no byte from the upstream for %lld s", c->b->timeout_ms / 1000);
        return;
    default:
        break;
    }
    if (r->status == 0)
        end(c, "upstream_truncated", "the upstream closed without answering: %s", r->why);
    else if (r->status != 200)
        http_failed(c, r);
    else if (llm_sse_finish_reason(c->sse) != NULL)
        end(c, "", "done");
    else
        end(c, "upstream_truncated", "the stream ended without [DONE] or a finish_reason (%s)",
            r->end == OUT_ANSWERED ? "closed" : r->why);
}

/* Hands the text that arrived to the handler. */
static void on_progress(void *arg)
{
    struct llm_call *c = arg;

    if (!c->dead && c->pending.len > 0) {
        c->h->delta(c->arg, c->pending.p, c->pending.len);
        buf_reset(&c->pending);
    }
}

static void on_done(void *arg, const struct out_result *r)
{
    struct llm_call *c = arg;
    const char *finish;

    c->oc = NULL;
    if (c->dead)
        return;
    c->dead = 1;
    classify(c, r); /* a no-op when the stream recorded an outcome */
    if (c->code[0] == '\0') {
        finish = llm_sse_finish_reason(c->sse);
        c->h->done(c->arg, finish != NULL ? finish : "stop", llm_sse_usage(c->sse));
    } else {
        c->h->error(c->arg, c->code, buf_str(&c->msg));
    }
}

static void call_free(void *arg)
{
    struct llm_call *c = arg;

    llm_sse_free(c->sse);
    buf_free(&c->pending);
    buf_free(&c->msg);
    free(c);
}

static const struct out_sink sink = {on_stream, on_progress, on_done, call_free};

/* ---- the ops ---- */

static void curl_close(struct llm_backend *b)
{
    if (b == NULL)
        return;
    out_close(b->out);
    llm_sse_db_close(b->db);
    free(b->auth);
    free(b->url);
    free(b->model);
    free(b);
}

static struct llm_backend *curl_open(const struct llm_opts *opts)
{
    struct llm_backend *b = xcalloc(1, sizeof *b);
    buf_t url = {0}, auth = {0};
    /* the path goes before a query the URL has (Azure's ?api-version=) */
    size_t query = strcspn(opts->url, "?"), n = query;

    while (n > 0 && opts->url[n - 1] == '/')
        n--;
    buf_append(&url, opts->url, n);
    buf_puts(&url, "/chat/completions");
    buf_puts(&url, opts->url + query);
    b->url = buf_steal(&url);
    b->model = xstrdup(opts->model != NULL ? opts->model : "");
    b->timeout_ms = (opts->timeout_s > 0 ? opts->timeout_s : 30) * 1000LL;
    b->max_bytes = opts->max_bytes > 0 ? opts->max_bytes : 262144;
    b->headers[0] = "Content-Type: application/json";
    b->headers[1] = "Accept: text/event-stream";
    if (opts->api_key != NULL && opts->api_key[0] != '\0') {
        buf_printf(&auth, "Authorization: Bearer %s", opts->api_key);
        b->auth = buf_steal(&auth);
        b->headers[2] = b->auth;
    }
    b->out = out_open();
    b->db = llm_sse_db_open();
    if (b->out == NULL || b->db == NULL) {
        log_error("llm: cannot set up the upstream client for %s", b->url);
        curl_close(b);
        return NULL;
    }
    return b;
}

static struct llm_call *curl_start(struct llm_backend *b, const char *messages_json, const struct llm_handler *h,
                                   void *arg)
{
    struct llm_call *c;
    /* A byte of text is at most 6 in JSON (\u0001); llm_sse_new bounds it anyway. */
    size_t max_line = b->max_bytes < ((size_t)-1 - LINE_SLACK) / 6 ? LINE_SLACK + 6 * b->max_bytes : (size_t)-1;
    char *body = llm_sse_request_body(b->db, b->model, messages_json);
    struct out_req req = {.method = "POST", .url = b->url, .headers = b->headers, .body = body,
                          .timeout_ms = (long)b->timeout_ms, .max_body = ERR_BODY_MAX};

    if (body == NULL) {
        log_warn("llm: the messages to send are not a JSON array");
        return NULL;
    }
    req.body_len = strlen(body);
    c = xcalloc(1, sizeof *c);
    c->b = b;
    c->h = h;
    c->arg = arg;
    c->sse = llm_sse_new(b->db, max_line, on_delta, c);
    c->event_at = clock_ms();
    c->oc = out_start(b->out, &req, &sink, c);
    free(body);
    if (c->oc == NULL) {
        call_free(c);
        return NULL;
    }
    return c;
}

static void curl_cancel(struct llm_backend *b, struct llm_call *c)
{
    c->dead = 1;
    if (c->oc != NULL) {
        struct out_call *oc = c->oc;

        c->oc = NULL;
        out_cancel(b->out, oc); /* may free c (release) */
    }
}

static long curl_next_ms(struct llm_backend *b, long long now_ms)
{
    return out_next_ms(b->out, now_ms);
}

static void curl_tick(struct llm_backend *b, long long now_ms)
{
    out_tick(b->out, now_ms);
}

const struct llm_ops llm_curl_ops = {
    .kind = "openai",
    .open = curl_open,
    .close = curl_close,
    .start = curl_start,
    .cancel = curl_cancel,
    .next_ms = curl_next_ms,
    .tick = curl_tick,
};
