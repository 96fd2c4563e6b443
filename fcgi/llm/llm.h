/* llm.h - answers streamed from a language model, many at once on the
 * process's epoll loop: an OpenAI-compatible upstream (POST
 * {url}/chat/completions with "stream": true, driven by libcurl's multi
 * interface: llm_curl.c), or, with no url, the built-in demo model that
 * streams a canned answer word by word (llm_demo.c).
 *
 * A call reports text as it comes (delta), then exactly one end: done or
 * error. After the end, or after llm_cancel, the call is gone: no callback
 * names it again. Callbacks run from llm_tick or from the loop's watches,
 * never from inside llm_start or llm_cancel. */
#ifndef PULSE_LLM_H
#define PULSE_LLM_H

#include <stddef.h>

struct llm;
struct llm_call;

struct llm_opts {
    const char *url;          /* NULL or "": the demo model */
    const char *model;        /* "model" of the request */
    const char *api_key;      /* Authorization: Bearer, when set */
    long timeout_s;           /* no byte from the upstream for this long: error "upstream_timeout" */
    size_t max_bytes;         /* more answer text than this: error "upstream_too_large" */
    long demo_word_ms;        /* the demo model's pace */
};

struct llm_handler {
    /* Text appended to the answer (UTF-8, len > 0; not NUL-terminated). */
    void (*delta)(void *arg, const char *text, size_t len);
    /* The answer is complete. finish_reason as the upstream said ("stop",
     * "length", ...); usage_json the upstream's usage object, or NULL. */
    void (*done)(void *arg, const char *finish_reason, const char *usage_json);
    /* The answer ended early: code is one of upstream_refused,
     * upstream_http, upstream_timeout, upstream_malformed,
     * upstream_truncated, upstream_too_large; message says more. */
    void (*error)(void *arg, const char *code, const char *message);
};

/* The driver, for one process; its opts strings are copied. NULL when the
 * backend cannot start (logged). Needs loop_init() first. */
struct llm *llm_open(const struct llm_opts *opts);
void llm_close(struct llm *l);       /* cancels every call; NULL is a no-op */
/* "demo" or "openai". */
const char *llm_kind(const struct llm *l);

/* Starts an answer to messages_json (an OpenAI "messages" array). NULL
 * when it cannot start (then no callback comes). */
struct llm_call *llm_start(struct llm *l, const char *messages_json, const struct llm_handler *h, void *arg);
/* Stops the call now (an upstream connection is closed) and forgets it. */
void llm_cancel(struct llm *l, struct llm_call *c);

/* Milliseconds until llm_tick has work (a timer), or -1 for none. */
long llm_next_ms(struct llm *l, long long now_ms);
/* Runs what is due at now_ms (CLOCK_MONOTONIC, clock_ms()). */
void llm_tick(struct llm *l, long long now_ms);

#endif
