/* llm_sse.h - an OpenAI-compatible streaming answer (text/event-stream),
 * parsed as its bytes arrive, in pieces of any size: lines end with CRLF,
 * LF or CR; "data:" lines make an event, a blank line ends it; comments
 * (":") and other fields are ignored. Each event is "[DONE]" or a JSON
 * chunk {"choices":[{"delta":{"content":"..."},"finish_reason":...}],
 * "usage":{...}} read with SQLite's JSON functions, or {"error":{...}}.
 * Internal to fcgi/llm/ (llm_curl.c), and its unit and fuzz tests. */
#ifndef PULSE_LLM_SSE_H
#define PULSE_LLM_SSE_H

#include <stddef.h>

/* The JSON reader: an in-memory SQLite connection and its prepared
 * statements, one for any number of parsers (one loop, one thread).
 * NULL when SQLite cannot open one. */
struct llm_sse_db;
struct llm_sse_db *llm_sse_db_open(void);
void llm_sse_db_close(struct llm_sse_db *d);   /* after its parsers; NULL is a no-op */

/* The request's JSON body for model and messages_json (an array), or
 * NULL when messages_json is not one; the caller frees it. */
char *llm_sse_request_body(struct llm_sse_db *d, const char *model, const char *messages_json);
/* What an error body (an upstream's answer that is not 200) says: its
 * error.message, or its error when that is not an object; NULL when the
 * body is not such a JSON object. The caller frees it. */
char *llm_sse_error_of(struct llm_sse_db *d, const char *text, size_t len);

/* What llm_sse_feed returns; every state but LLM_SSE_MORE is final: later
 * feeds change nothing and return it again. */
enum llm_sse_state {
    LLM_SSE_MORE = 0,      /* no end yet */
    LLM_SSE_DONE,          /* "data: [DONE]" */
    LLM_SSE_MALFORMED,     /* not a chunk (llm_sse_why says what) */
    LLM_SSE_ERROR,         /* the upstream sent an error object (llm_sse_why: its message) */
    LLM_SSE_STOPPED,       /* the delta callback asked to stop */
    LLM_SSE_TOO_LONG,      /* a line or an event over max_line: more than the answer may hold */
};

/* A piece of answer text: UTF-8, len > 0, no NUL, not NUL-terminated.
 * Return 0 to go on, anything else to stop (LLM_SSE_STOPPED). */
typedef int (*llm_sse_delta_fn)(void *arg, const char *text, size_t len);

struct llm_sse;
/* max_line bounds the bytes of one line and of one event's data: more is
 * LLM_SSE_TOO_LONG, never a silent cut. */
struct llm_sse *llm_sse_new(struct llm_sse_db *d, size_t max_line, llm_sse_delta_fn delta, void *arg);
void llm_sse_free(struct llm_sse *p);          /* NULL is a no-op */
/* Parses n more bytes; deltas are reported from inside this call. */
enum llm_sse_state llm_sse_feed(struct llm_sse *p, const char *data, size_t n);
enum llm_sse_state llm_sse_state(const struct llm_sse *p);

/* The events parsed so far (chunks, [DONE], errors; not comments): what
 * tells an upstream at work from one that only keeps its connection open. */
size_t llm_sse_events(const struct llm_sse *p);
/* The last finish_reason given as a string, or NULL. */
const char *llm_sse_finish_reason(const struct llm_sse *p);
/* The last "usage" object (JSON text), or NULL. */
const char *llm_sse_usage(const struct llm_sse *p);
/* Why the state is LLM_SSE_MALFORMED, LLM_SSE_ERROR or LLM_SSE_TOO_LONG;
 * "" otherwise. */
const char *llm_sse_why(const struct llm_sse *p);

#endif
