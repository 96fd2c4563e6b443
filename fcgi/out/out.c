/* out.c - outbound HTTP through libcurl's multi socket interface (see
 * out.h): each socket libcurl opens is a struct watch on the loop, its
 * timer is out_next_ms and out_tick.
 *
 * libcurl's callbacks only record (the sink's stream, the collected body,
 * an end in c->end); settle() hands the ends over once
 * curl_multi_socket_action has returned. A call is freed only outside that
 * hand-over (sweep), so a sink may cancel the call it was called for. */
#include "out/out.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/log.h"
#include "out/fetch.h"
#include "wire/loop.h"

#define LINGER_MS 1000         /* after a streamed answer is complete, the rest is read this long */
#define DEFAULT_TIMEOUT_MS 30000
#define DEFAULT_MAX_BODY 65536
#define SCAN_MS 250            /* how often every call is looked at for its timeout and linger */

/* A socket libcurl asked us to watch. Retired ones wait in the graveyard
 * until out_tick: the loop may still hold an event for them. */
struct sock {
    struct watch w;            /* first: the loop hands back &w */
    struct out *o;
    struct sock *next_dead;
    int dead;
};

struct out_call {
    struct out_call *next;
    struct out_call *next_ready;
    struct out *o;
    CURL *easy;                /* NULL once detached: the connection is closed or back in libcurl's cache */
    struct curl_slist *headers;
    char *body;                /* what is sent (owned) */
    const struct out_sink *sink;
    void *arg;
    buf_t got;                 /* the collected body */
    size_t max_body;
    long timeout_ms;
    long status;               /* HTTP status, 0 until the body starts */
    long long last_ms;         /* when the peer last sent a byte (or the call started) */
    long long linger_until;    /* >0: complete, the rest read until then */
    int ended;                 /* an end is recorded in end/why */
    enum out_end end;
    buf_t why;
    int dead;                  /* handed over or cancelled: the sink hears no more */
    int queued;                /* on o->ready */
    char errbuf[CURL_ERROR_SIZE];
};

struct out {
    CURLM *multi;
    struct out_call *calls;
    struct out_call *ready;    /* calls that got bytes or an end: settle() looks at these only */
    struct sock *graveyard;
    size_t ncalls;
    long long timer_at;        /* libcurl's timer; -1: none */
    long long scan_at;
    int settling;              /* inside settle(): calls are not freed */
    int over;                  /* some call may be over: sweep() has work */
};

static void settle(struct out *o);

/* libcurl's multi calls: an error there is libcurl's own bug or memory
 * running out; logged, and the calls' timeouts end what it leaves. */
static void multi_checked(CURLMcode rc, const char *what)
{
    if (rc != CURLM_OK)
        log_warn("out: %s: %s", what, curl_multi_strerror(rc));
}

static const struct out_sink no_sink;

/* With 1,000 answers streaming, settling after each socket event must not
 * walk every call: a call that got bytes or an end queues itself. */
static void ready(struct out_call *c)
{
    if (c->queued)
        return;
    c->queued = 1;
    c->next_ready = c->o->ready;
    c->o->ready = c;
}

/* The first end stands. */
static void end(struct out_call *c, enum out_end e, const char *why)
{
    if (c->ended)
        return;
    ready(c);
    c->ended = 1;
    c->end = e;
    buf_puts(&c->why, why != NULL ? why : "");
}

/* ---- libcurl's callbacks: record, never call a sink's progress or done */

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct out_call *c = arg;
    size_t n = size * nmemb, room;
    int r;

    c->last_ms = clock_ms();
    if (c->linger_until > 0)
        return n; /* complete: the rest is read only to keep the connection */
    ready(c);
    if (c->ended)
        return 0;
    if (c->status == 0 && curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status) != CURLE_OK)
        c->status = -1;
    if (c->sink->stream != NULL && c->status >= 200 && c->status < 300) {
        r = c->sink->stream(c->arg, data, n);
        if (r == 1) {
            end(c, OUT_ANSWERED, NULL);
            c->linger_until = clock_ms() + LINGER_MS;
        } else if (r != 0) {
            end(c, OUT_STOPPED, "the answer's reader stopped it");
        }
        return r < 0 ? 0 : n;
    }
    room = c->max_body - c->got.len;
    if (n <= room) {
        buf_append(&c->got, data, n);
        return n;
    }
    buf_append(&c->got, data, room);
    if (c->sink->stream != NULL)
        end(c, OUT_ANSWERED, NULL); /* an error answer: its start is enough */
    else
        end(c, OUT_TOO_LARGE, "the answer is longer than the limit");
    return 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    struct out_call *c = arg;

    (void)data;
    c->last_ms = clock_ms();
    return size * nmemb;
}

static void on_sock(struct watch *w, uint32_t events)
{
    struct sock *s = (struct sock *)w;
    struct out *o = s->o;
    int flags = 0, running;

    if (s->dead)
        return;
    if (events & EPOLLIN)
        flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT)
        flags |= CURL_CSELECT_OUT;
    if (events & (EPOLLERR | EPOLLHUP))
        flags |= CURL_CSELECT_ERR;
    multi_checked(curl_multi_socket_action(o->multi, w->fd, flags, &running), "socket action");
    settle(o); /* s may be retired by now: not read again */
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct out *o = userp;
    struct sock *s = socketp;
    uint32_t events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            loop_del(&s->w);
            s->dead = 1;
            s->next_dead = o->graveyard;
            o->graveyard = s;
            multi_checked(curl_multi_assign(o->multi, fd, NULL), "assign");
        }
        return 0;
    }
    if (s == NULL) {
        s = xcalloc(1, sizeof *s);
        s->w.fd = fd;
        s->w.cb = on_sock;
        s->o = o;
        multi_checked(curl_multi_assign(o->multi, fd, s), "assign");
    }
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    /* A socket the loop cannot watch stays silent: the call's timeout ends it. */
    if (loop_mod(&s->w, events) != 0)
        log_warn("out: cannot watch a socket (fd %d)", (int)fd);
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct out *o = userp;

    (void)multi;
    o->timer_at = timeout_ms < 0 ? -1 : clock_ms() + timeout_ms;
    return 0;
}

/* ---- ends */

/* libcurl finished the transfer (result) without an end recorded. */
static void finished(struct out_call *c, CURLcode result)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(result);

    if (curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status) != CURLE_OK)
        c->status = 0;
    if (result == CURLE_OPERATION_TIMEDOUT) {
        end(c, OUT_TIMEOUT, why);
    } else if (c->status == 0) {
        switch (result) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_UNSUPPORTED_PROTOCOL:
        case CURLE_URL_MALFORMAT:
            end(c, OUT_REFUSED, why);
            break;
        default:
            end(c, OUT_TRUNCATED, why);
        }
    } else {
        end(c, result == CURLE_OK ? OUT_ANSWERED : OUT_TRUNCATED, result == CURLE_OK ? "" : why);
    }
}

/* Takes the call off libcurl: its connection closes now (or, after a whole
 * answer, goes back to libcurl's cache). Never from a libcurl callback. */
static void detach(struct out_call *c)
{
    if (c->easy == NULL)
        return;
    multi_checked(curl_multi_remove_handle(c->o->multi, c->easy), "remove");
    curl_easy_cleanup(c->easy);
    c->easy = NULL;
    c->o->over = 1;
}

static void call_free(struct out_call *c)
{
    detach(c);
    if (c->sink->release != NULL)
        c->sink->release(c->arg);
    curl_slist_free_all(c->headers);
    buf_free(&c->got);
    buf_free(&c->why);
    free(c->body);
    c->o->ncalls--;
    free(c);
}

/* Frees the calls that are over (a queued one after the next settle). */
static void sweep(struct out *o)
{
    struct out_call **p = &o->calls, *c;

    if (!o->over)
        return;
    o->over = 0;
    while ((c = *p) != NULL) {
        if (c->dead && c->easy == NULL && c->queued) {
            o->over = 1;
            p = &c->next;
        } else if (c->dead && c->easy == NULL) {
            *p = c->next;
            call_free(c);
        } else {
            p = &c->next;
        }
    }
}

static void hand_over(struct out_call *c)
{
    struct out_result r;

    if (c->sink->progress != NULL)
        c->sink->progress(c->arg);
    if (c->dead || !c->ended)
        return; /* cancelled by progress, or going on */
    c->dead = 1;
    c->o->over = 1;
    r.end = c->end;
    r.status = c->status;
    r.body = buf_str(&c->got);
    r.len = c->got.len;
    r.why = buf_str(&c->why);
    c->sink->done(c->arg, &r);
}

/* After libcurl has run: what it finished, what ended, handed over. */
static void settle(struct out *o)
{
    struct out_call *c;
    CURLMsg *m;
    int left;
    long long now = clock_ms();

    while ((m = curl_multi_info_read(o->multi, &left)) != NULL) {
        char *priv = NULL;

        if (m->msg != CURLMSG_DONE || curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
            priv == NULL)
            continue;
        c = (struct out_call *)(void *)priv;
        finished(c, m->data.result); /* no-op when an end was recorded */
        c->linger_until = 0;
        ready(c);
    }
    o->settling++;
    while ((c = o->ready) != NULL) {
        o->ready = c->next_ready;
        c->queued = 0;
        if (c->easy != NULL && c->ended && (c->linger_until == 0 || now >= c->linger_until))
            detach(c);
        if (!c->dead)
            hand_over(c);
    }
    o->settling--;
    if (o->settling == 0)
        sweep(o);
}

/* ---- public */

struct out *out_open(void)
{
    struct out *o = xcalloc(1, sizeof *o);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("out: libcurl cannot start");
        free(o);
        return NULL;
    }
    o->timer_at = -1;
    o->multi = curl_multi_init();
    if (o->multi == NULL || curl_multi_setopt(o->multi, CURLMOPT_SOCKETFUNCTION, on_socket) != CURLM_OK ||
        curl_multi_setopt(o->multi, CURLMOPT_SOCKETDATA, o) != CURLM_OK ||
        curl_multi_setopt(o->multi, CURLMOPT_TIMERFUNCTION, on_timer) != CURLM_OK ||
        curl_multi_setopt(o->multi, CURLMOPT_TIMERDATA, o) != CURLM_OK) {
        log_error("out: cannot set up libcurl's multi interface");
        out_close(o);
        return NULL;
    }
    return o;
}

void out_close(struct out *o)
{
    struct out_call *c;
    struct sock *s;

    if (o == NULL)
        return;
    while ((c = o->calls) != NULL) {
        o->calls = c->next;
        call_free(c);
    }
    if (o->multi != NULL)
        curl_multi_cleanup(o->multi);
    while ((s = o->graveyard) != NULL) {
        o->graveyard = s->next_dead;
        free(s);
    }
    free(o);
    curl_global_cleanup();
}

/* The body, or none; a GET sends none. */
static int body_setup(CURL *e, const struct out_call *c, const struct out_req *req)
{
    if (strcmp(req->method, "GET") == 0)
        return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) == CURLE_OK ? 0 : -1;
    if (curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body != NULL ? c->body : "") != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(c->body != NULL ? req->body_len : 0)) !=
            CURLE_OK)
        return -1;
    return strcmp(req->method, "POST") == 0 || curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) == CURLE_OK
               ? 0
               : -1;
}

/* The easy handle of a call; 0 or -1. */
static int easy_setup(struct out_call *c, const struct out_req *req)
{
    CURL *e = c->easy;

    return curl_easy_setopt(e, CURLOPT_URL, req->url) == CURLE_OK && fetch_handle_defaults(e) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) == CURLE_OK &&
                   (req->total_ms <= 0 || curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, req->total_ms) == CURLE_OK) &&
                   body_setup(e, c, req) == 0 &&
                   curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_WRITEDATA, c) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_HEADERDATA, c) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf) == CURLE_OK &&
                   curl_easy_setopt(e, CURLOPT_PRIVATE, c) == CURLE_OK
               ? 0
               : -1;
}

static int headers_setup(struct out_call *c, const struct out_req *req)
{
    const char *const *h;
    struct curl_slist *l;

    /* "Expect:" drops the 100-continue round trip libcurl makes before a large body. */
    if ((c->headers = curl_slist_append(NULL, "Expect:")) == NULL)
        return -1;
    for (h = req->headers; h != NULL && *h != NULL; h++) {
        if ((l = curl_slist_append(c->headers, *h)) == NULL)
            return -1;
        c->headers = l;
    }
    return 0;
}

struct out_call *out_start(struct out *o, const struct out_req *req, const struct out_sink *sink, void *arg)
{
    struct out_call *c = xcalloc(1, sizeof *c);

    c->o = o;
    c->sink = sink;
    c->arg = arg;
    c->timeout_ms = req->timeout_ms > 0 ? req->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->max_body = req->max_body > 0 ? req->max_body : DEFAULT_MAX_BODY;
    if (req->body != NULL) {
        c->body = xmalloc(req->body_len + 1);
        memcpy(c->body, req->body, req->body_len);
        c->body[req->body_len] = '\0';
    }
    o->ncalls++;
    c->easy = curl_easy_init();
    if (c->easy == NULL || headers_setup(c, req) != 0 || easy_setup(c, req) != 0 ||
        curl_multi_add_handle(o->multi, c->easy) != CURLM_OK) {
        log_warn("out: cannot start a request to %s", req->url);
        if (c->easy != NULL)
            curl_easy_cleanup(c->easy);
        c->easy = NULL;
        c->sink = &no_sink; /* no release: the caller was told NULL */
        call_free(c);
        return NULL;
    }
    c->last_ms = clock_ms();
    c->next = o->calls;
    o->calls = c;
    return c;
}

void out_cancel(struct out *o, struct out_call *c)
{
    if (c == NULL)
        return;
    c->dead = 1;
    o->over = 1;
    detach(c);
    if (o->settling == 0)
        sweep(o);
}

/* Timeouts and lingers are seen by a scan every SCAN_MS, not by a timer a
 * call: a stall ends at most that much after its timeout. */
long out_next_ms(struct out *o, long long now_ms)
{
    long long next = o->timer_at;

    if (o->graveyard != NULL || o->ready != NULL)
        next = now_ms; /* retired sockets to free, calls to settle */
    if (o->calls != NULL && (next < 0 || o->scan_at < next))
        next = o->scan_at;
    if (next < 0)
        return -1;
    return next <= now_ms ? 0 : (long)(next - now_ms);
}

static void scan(struct out *o, long long now_ms)
{
    struct out_call *c;

    o->scan_at = now_ms + SCAN_MS;
    for (c = o->calls; c != NULL; c = c->next) {
        if (c->easy == NULL)
            continue;
        if (!c->ended && now_ms - c->last_ms >= c->timeout_ms)
            end(c, OUT_TIMEOUT, "no byte from the peer in time");
        else if (c->ended && c->linger_until > 0 && now_ms >= c->linger_until)
            ready(c); /* settle closes it */
    }
}

void out_tick(struct out *o, long long now_ms)
{
    struct sock *s;
    int running;

    while ((s = o->graveyard) != NULL) {
        o->graveyard = s->next_dead;
        free(s);
    }
    if (o->timer_at >= 0 && now_ms >= o->timer_at) {
        o->timer_at = -1;
        multi_checked(curl_multi_socket_action(o->multi, CURL_SOCKET_TIMEOUT, 0, &running), "timer");
    }
    if (now_ms >= o->scan_at)
        scan(o, now_ms);
    settle(o);
}

size_t out_running(const struct out *o)
{
    return o->ncalls;
}
