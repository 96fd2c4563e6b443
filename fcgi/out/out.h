/* out.h - outbound HTTP on the process's epoll loop (wire/loop.h): many
 * requests at once through libcurl's multi socket interface, each ending
 * in exactly one callback. With fetch.h (one call waited for), the one
 * place that drives libcurl: the AI chat
 * upstream (llm/llm_curl.c) streams through it, pulse-batch's sender
 * (request/sender.h) makes its calls to the platforms with it.
 *
 * No sink callback runs inside a libcurl callback except stream, which may
 * only record: progress and done run once curl_multi_socket_action has
 * returned, from out_tick or the loop's watches, never from out_start or
 * out_cancel. So a callback may start and cancel calls freely, its own
 * included; a call's memory (and release) waits until no callback runs. */
#ifndef PULSE_OUT_H
#define PULSE_OUT_H

#include <stddef.h>

struct out;
struct out_call;

enum out_end {
    OUT_ANSWERED,   /* an HTTP answer came (any status; see status and body) */
    OUT_REFUSED,    /* no answer could start: name, connect, TLS, a URL libcurl refuses */
    OUT_TIMEOUT,    /* no byte for timeout_ms, or the whole call over total_ms */
    OUT_TRUNCATED,  /* the connection ended before the answer did */
    OUT_TOO_LARGE,  /* a collected body passed max_body */
    OUT_STOPPED,    /* the stream callback asked to stop */
};

struct out_req {
    const char *method;              /* "GET", "POST", ... */
    const char *url;                 /* http or https only */
    const char *const *headers;      /* "Name: value" lines, NULL-terminated; NULL: none */
    const char *body;                /* NULL: no body */
    size_t body_len;
    long timeout_ms;                 /* silence allowed (no byte sent or received); <= 0: 30 s */
    long total_ms;                   /* the whole call; <= 0: no limit */
    size_t max_body;                 /* bytes of body collected; <= 0: 65536 */
};

struct out_result {
    enum out_end end;
    long status;                     /* the HTTP status; 0 when no answer started */
    const char *body;                /* what was collected, NUL-terminated (never NULL) */
    size_t len;
    const char *why;                 /* a transport end's reason, as libcurl told it ("" else) */
};

struct out_sink {
    /* Optional. The body of a 2xx answer as it comes, instead of collected.
     * Runs inside libcurl: record, call nothing. 0 to go on; 1 when the
     * answer is complete (the rest is read a moment longer, so the
     * connection can be kept; the call ends OUT_ANSWERED now); -1 to stop
     * (OUT_STOPPED). Other statuses' bodies are collected up to max_body. */
    int (*stream)(void *arg, const char *data, size_t len);
    /* Optional. After each turn of libcurl, until the end: hand on what
     * stream recorded. */
    void (*progress)(void *arg);
    /* Exactly once, unless cancelled first. r and its strings are valid
     * during the call only. */
    void (*done)(void *arg, const struct out_result *r);
    /* Optional. When the call's memory goes (after done, after a cancel, at
     * out_close), outside every callback: arg may be freed here. */
    void (*release)(void *arg);
};

/* A client for one loop (loop_init() first). NULL when libcurl cannot
 * start (logged). out_close cancels every call (release runs, done does
 * not); NULL is a no-op. */
struct out *out_open(void);
void out_close(struct out *o);

/* Starts req (its strings are copied). NULL when it cannot start (logged);
 * then no callback comes, release included. */
struct out_call *out_start(struct out *o, const struct out_req *req, const struct out_sink *sink, void *arg);
/* Stops the call now (its connection is closed): done never comes. A call
 * that has ended already: a no-op. */
void out_cancel(struct out *o, struct out_call *c);

/* Milliseconds until out_tick has work, or -1 for none. */
long out_next_ms(struct out *o, long long now_ms);
/* Runs what is due at now_ms (clock_ms()): libcurl's timer, timeouts. */
void out_tick(struct out *o, long long now_ms);
/* Calls not yet released. */
size_t out_running(const struct out *o);

#endif
