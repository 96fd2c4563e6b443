/* llm_curl.c - answers from an OpenAI-compatible upstream (see llm.h):
 * POST {url}/chat/completions with "stream": true, many at once, driven by
 * libcurl's multi socket interface on the process's epoll loop: each
 * socket libcurl opens is a struct watch, its timer is llm_next_ms and
 * llm_tick. The stream is read by llm_sse.c as it comes.
 *
 * No handler callback runs inside a libcurl callback: libcurl's callbacks
 * only record (text in c->pending, an outcome in c->code), and settle()
 * hands them over once curl_multi_socket_action has returned, so a handler
 * may start and cancel calls freely. A call is freed only outside that
 * hand-over (sweep), so a handler may cancel the call it was called for. */
#include <curl/curl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/utf8.h"
#include "http/fetch.h"
#include "llm/llm_backend.h"
#include "llm/llm_sse.h"
#include "wire/loop.h"

#define ERR_BODY_MAX 4096      /* the start of an error answer kept for its message */
#define ERR_SHOWN_MAX 300      /* of which a message shows at most this much */
#define LINGER_MS 1000         /* after [DONE], the rest of the answer is read this long (keeps the connection) */
#define LINE_SLACK 65536       /* a line may hold this much besides its text (JSON around it) */

/* A socket libcurl asked us to watch. Retired ones wait in the graveyard
 * until llm_tick: the loop may still hold an event for them. */
struct sock {
    struct watch w;            /* first: the loop hands back &w */
    struct llm_backend *b;
    struct sock *next_dead;
    int dead;
};

struct llm_call {
    struct llm_call *next;
    struct llm_backend *b;
    CURL *easy;                /* NULL once detached: the connection is closed or back in libcurl's cache */
    char *body;
    const struct llm_handler *h;
    void *arg;
    struct llm_sse *sse;
    buf_t pending;             /* answer text not handed over yet */
    buf_t errbody;             /* the start of a non-200 answer */
    size_t total;              /* answer bytes so far */
    long status;               /* HTTP status, 0 until the body starts */
    long long last_ms;         /* when the upstream last sent a byte (or the call started) */
    long long linger_until;    /* >0: done, the rest of the answer read until then */
    const char *code;          /* NULL: going on; "": done; else the error code */
    buf_t msg;                 /* the error's message */
    int dead;                  /* handed over or cancelled: the handler hears no more */
    char errbuf[CURL_ERROR_SIZE];
};

struct llm_backend {
    CURLM *multi;
    struct llm_sse_db *db;
    struct curl_slist *headers;
    char *url;                 /* {url}/chat/completions */
    char *model;
    long long timeout_ms;
    size_t max_bytes;
    struct llm_call *calls;
    struct sock *graveyard;
    long long timer_at;        /* libcurl's timer; -1: none */
    int settling;              /* inside settle(): calls are not freed */
};

static void settle(struct llm_backend *b);

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

/* ---- libcurl's callbacks: record, never call a handler ---- */

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

/* The stream's end as the parser saw it; 1 when reading must stop. */
static int stream_state(struct llm_call *c, enum llm_sse_state st)
{
    switch (st) {
    case LLM_SSE_MORE:
        return 0;
    case LLM_SSE_DONE:
        end(c, "", "done");
        c->linger_until = clock_ms() + LINGER_MS;
        return 0;
    case LLM_SSE_MALFORMED:
        end(c, "upstream_malformed", "the upstream's stream holds %s", llm_sse_why(c->sse));
        return 1;
    case LLM_SSE_ERROR:
        end(c, "upstream_http", "the upstream's stream ended with an error: %s", llm_sse_why(c->sse));
        return 1;
    case LLM_SSE_STOPPED:
        return 1; /* on_delta said why */
    }
    return 1;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct llm_call *c = arg;
    size_t n = size * nmemb;

    c->last_ms = clock_ms();
    if (c->linger_until > 0)
        return n; /* done: the rest is read only to keep the connection */
    if (c->code != NULL)
        return 0;
    if (c->status == 0 && curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status) != CURLE_OK)
        c->status = -1;
    if (c->status != 200) {
        size_t room = ERR_BODY_MAX - c->errbody.len;

        buf_append(&c->errbody, data, n < room ? n : room);
        return n < room ? n : 0; /* enough for the message: finished() tells the rest */
    }
    return stream_state(c, llm_sse_feed(c->sse, data, n)) ? 0 : n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct llm_call *c = arg;

    (void)data;
    c->last_ms = clock_ms();
    return size * nmemb;
}

static void on_sock(struct watch *w, uint32_t events)
{
    struct sock *s = (struct sock *)w;
    struct llm_backend *b = s->b;
    int flags = 0, running;

    if (s->dead)
        return;
    if (events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(b->multi, w->fd, flags, &running);
    settle(b); /* s may be retired by now: not read again */
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct llm_backend *b = userp;
    struct sock *s = socketp;
    uint32_t events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            loop_del(&s->w);
            s->dead = 1;
            s->next_dead = b->graveyard;
            b->graveyard = s;
            curl_multi_assign(b->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = xcalloc(1, sizeof *s);
        s->w.fd = fd;
        s->w.cb = on_sock;
        s->b = b;
        curl_multi_assign(b->multi, fd, s);
    }
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    /* A socket the loop cannot watch stays silent: the call's timeout ends it. */
    if (loop_mod(&s->w, events) != 0)
        log_warn("llm: cannot watch an upstream socket (fd %d)", (int)fd);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct llm_backend *b = userp;

    (void)multi;
    b->timer_at = timeout_ms < 0 ? -1 : clock_ms() + timeout_ms;
    return 0;
}

/* ---- outcomes ---- */

/* text[0..n) cut to what a message may show: UTF-8, no NUL, not too long. */
static void shown(buf_t *out, const char *text, size_t n)
{
    const char *nul = memchr(text, '\0', n);
    size_t k = 0;

    if (nul != NULL)
        n = (size_t)(nul - text);
    if (n > ERR_SHOWN_MAX)
        n = ERR_SHOWN_MAX;
    while (k < 4 && k < n && !utf8_valid(text, n - k))
        k++; /* a character cut at the end */
    if (utf8_valid(text, n - k))
        buf_append(out, text, n - k);
    else
        buf_puts(out, "(not UTF-8 text)");
}

static void http_failed(struct llm_call *c)
{
    char *said = llm_sse_error_of(c->b->db, c->errbody.p != NULL ? c->errbody.p : "", c->errbody.len);
    buf_t m = {0};

    if (said != NULL)
        shown(&m, said, strlen(said));
    else
        shown(&m, buf_str(&c->errbody), c->errbody.len);
    end(c, "upstream_http", "the upstream answered HTTP %ld: %s", c->status, buf_str(&m));
    buf_free(&m);
    free(said);
}

/* libcurl finished the transfer (result) without an outcome recorded. */
static void finished(struct llm_call *c, CURLcode result)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(result);

    if (curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status) != CURLE_OK)
        c->status = 0;
    if (c->status == 0) {
        switch (result) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
            end(c, "upstream_refused", "cannot reach the upstream: %s", why);
            break;
        default:
            end(c, "upstream_truncated", "the upstream closed without answering: %s", why);
        }
    } else if (c->status != 200) {
        http_failed(c);
    } else if (llm_sse_finish_reason(c->sse) != NULL) {
        end(c, "", "done");
    } else {
        end(c, "upstream_truncated", "the stream ended without [DONE] or a finish_reason (%s)",
            result == CURLE_OK ? "closed" : why);
    }
}

/* Takes the call off libcurl: its connection closes now (or, after a whole
 * answer, goes back to libcurl's cache). Never from a libcurl callback. */
static void detach(struct llm_call *c)
{
    if (c->easy == NULL)
        return;
    curl_multi_remove_handle(c->b->multi, c->easy);
    curl_easy_cleanup(c->easy);
    c->easy = NULL;
}

static void call_free(struct llm_call *c)
{
    detach(c);
    llm_sse_free(c->sse);
    buf_free(&c->pending);
    buf_free(&c->errbody);
    buf_free(&c->msg);
    free(c->body);
    free(c);
}

static void sweep(struct llm_backend *b)
{
    struct llm_call **p = &b->calls, *c;

    while ((c = *p) != NULL) {
        if (c->dead && c->easy == NULL) {
            *p = c->next;
            call_free(c);
        } else {
            p = &c->next;
        }
    }
}

/* Hands text and outcomes to the handlers. */
static void hand_over(struct llm_call *c)
{
    const char *finish;

    if (c->pending.len > 0) {
        c->h->delta(c->arg, c->pending.p, c->pending.len);
        buf_reset(&c->pending);
    }
    if (c->dead || c->code == NULL)
        return;
    c->dead = 1;
    if (c->code[0] == '\0') {
        finish = llm_sse_finish_reason(c->sse);
        c->h->done(c->arg, finish != NULL ? finish : "stop", llm_sse_usage(c->sse));
    } else {
        c->h->error(c->arg, c->code, buf_str(&c->msg));
    }
}

/* After libcurl has run: what it finished, what ended, handed over. */
static void settle(struct llm_backend *b)
{
    struct llm_call *c;
    CURLMsg *m;
    int left;
    long long now = clock_ms();

    while ((m = curl_multi_info_read(b->multi, &left)) != NULL) {
        char *priv = NULL;

        if (m->msg != CURLMSG_DONE || curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
            priv == NULL)
            continue;
        c = (struct llm_call *)(void *)priv;
        finished(c, m->data.result); /* no-op when an outcome was recorded */
        c->linger_until = 0;
    }
    b->settling++;
    for (c = b->calls; c != NULL; c = c->next) {
        if (c->easy != NULL && c->code != NULL && (c->linger_until == 0 || now >= c->linger_until))
            detach(c);
        if (!c->dead)
            hand_over(c);
    }
    b->settling--;
    if (b->settling == 0)
        sweep(b);
}

/* ---- the ops ---- */

static int add_header(struct curl_slist **list, const char *h)
{
    struct curl_slist *l = curl_slist_append(*list, h);

    if (l == NULL)
        return -1;
    *list = l;
    return 0;
}

static void curl_close(struct llm_backend *b)
{
    struct llm_call *c;
    struct sock *s;

    if (b == NULL)
        return;
    while ((c = b->calls) != NULL) {
        b->calls = c->next;
        call_free(c);
    }
    if (b->multi != NULL)
        curl_multi_cleanup(b->multi);
    while ((s = b->graveyard) != NULL) {
        b->graveyard = s->next_dead;
        free(s);
    }
    llm_sse_db_close(b->db);
    curl_slist_free_all(b->headers);
    free(b->url);
    free(b->model);
    free(b);
    curl_global_cleanup();
}

static struct llm_backend *curl_open(const struct llm_opts *opts)
{
    struct llm_backend *b = xcalloc(1, sizeof *b);
    buf_t url = {0}, auth = {0};
    size_t n = strlen(opts->url);
    int ok;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("llm: libcurl cannot start");
        free(b);
        return NULL;
    }
    while (n > 0 && opts->url[n - 1] == '/')
        n--;
    buf_append(&url, opts->url, n);
    buf_puts(&url, "/chat/completions");
    b->url = buf_steal(&url);
    b->model = xstrdup(opts->model != NULL ? opts->model : "");
    b->timeout_ms = (opts->timeout_s > 0 ? opts->timeout_s : 30) * 1000LL;
    b->max_bytes = opts->max_bytes > 0 ? opts->max_bytes : 262144;
    b->timer_at = -1;
    if (opts->api_key != NULL && opts->api_key[0] != '\0')
        buf_printf(&auth, "Authorization: Bearer %s", opts->api_key);
    b->multi = curl_multi_init();
    b->db = llm_sse_db_open();
    /* "Expect:" drops the 100-continue round trip libcurl makes before a large body. */
    ok = b->multi != NULL && b->db != NULL && add_header(&b->headers, "Content-Type: application/json") == 0 &&
         add_header(&b->headers, "Accept: text/event-stream") == 0 && add_header(&b->headers, "Expect:") == 0 &&
         (auth.len == 0 || add_header(&b->headers, auth.p) == 0) &&
         curl_multi_setopt(b->multi, CURLMOPT_SOCKETFUNCTION, on_socket) == CURLM_OK &&
         curl_multi_setopt(b->multi, CURLMOPT_SOCKETDATA, b) == CURLM_OK &&
         curl_multi_setopt(b->multi, CURLMOPT_TIMERFUNCTION, on_timer) == CURLM_OK &&
         curl_multi_setopt(b->multi, CURLMOPT_TIMERDATA, b) == CURLM_OK;
    buf_free(&auth);
    if (!ok) {
        log_error("llm: cannot set up the upstream client for %s", b->url);
        curl_close(b);
        return NULL;
    }
    return b;
}

/* The easy handle of a call; 0 or -1. */
static int easy_setup(struct llm_call *c)
{
    CURL *e = c->easy;

    return curl_easy_setopt(e, CURLOPT_URL, c->b->url) == CURLE_OK &&
                   fetch_only_http(e) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->b->headers) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(c->body)) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_WRITEDATA, c) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_HEADERDATA, c) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_PRIVATE, c) == CURLE_OK
               ? 0
               : -1;
}

static struct llm_call *curl_start(struct llm_backend *b, const char *messages_json, const struct llm_handler *h,
                                   void *arg)
{
    struct llm_call *c = xcalloc(1, sizeof *c);
    /* A byte of text is at most 6 in JSON (\u0001); llm_sse_new bounds it anyway. */
    size_t max_line = b->max_bytes < ((size_t)-1 - LINE_SLACK) / 6 ? LINE_SLACK + 6 * b->max_bytes : (size_t)-1;

    c->b = b;
    c->h = h;
    c->arg = arg;
    c->body = llm_sse_request_body(b->db, b->model, messages_json);
    if (c->body == NULL) {
        log_warn("llm: the messages to send are not a JSON array");
        goto fail;
    }
    c->sse = llm_sse_new(b->db, max_line, on_delta, c);
    c->easy = curl_easy_init();
    if (c->easy == NULL || easy_setup(c) != 0) {
        log_warn("llm: cannot set up a request to %s", b->url);
        goto fail;
    }
    if (curl_multi_add_handle(b->multi, c->easy) != CURLM_OK) {
        log_warn("llm: cannot start a request to %s", b->url);
        goto fail;
    }
    c->last_ms = clock_ms();
    c->next = b->calls;
    b->calls = c;
    return c;
fail:
    if (c->easy != NULL)
        curl_easy_cleanup(c->easy);
    c->easy = NULL;
    call_free(c);
    return NULL;
}

static void curl_cancel(struct llm_backend *b, struct llm_call *c)
{
    c->dead = 1;
    detach(c);
    if (b->settling == 0)
        sweep(b);
}

static long curl_next_ms(struct llm_backend *b, long long now_ms)
{
    const struct llm_call *c;
    long long next = b->timer_at;

    if (b->graveyard != NULL)
        next = now_ms; /* retired sockets to free */
    for (c = b->calls; c != NULL; c = c->next) {
        long long at = c->code != NULL ? c->linger_until : c->last_ms + b->timeout_ms;

        if (c->easy != NULL && at > 0 && (next < 0 || at < next))
            next = at;
    }
    if (next < 0)
        return -1;
    return next <= now_ms ? 0 : (long)(next - now_ms);
}

static void curl_tick(struct llm_backend *b, long long now_ms)
{
    struct llm_call *c;
    struct sock *s;
    int running;

    while ((s = b->graveyard) != NULL) {
        b->graveyard = s->next_dead;
        free(s);
    }
    if (b->timer_at >= 0 && now_ms >= b->timer_at) {
        b->timer_at = -1;
        curl_multi_socket_action(b->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    for (c = b->calls; c != NULL; c = c->next)
        if (c->easy != NULL && c->code == NULL && now_ms - c->last_ms >= b->timeout_ms)
            end(c, "upstream_timeout", "no byte from the upstream for %lld s", b->timeout_ms / 1000);
    settle(b);
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
