/* handler.h - what a request handler sees: the request, a response to
 * fill, the database (already inside a transaction) and a way to emit events.
 *
 * A handler answers with exactly one ctx_json/ctx_text/ctx_error call. The
 * runtime commits when the status is below 400 and rolls back otherwise, so
 * a failed request changes nothing; events emitted with ctx_emit are
 * appended in the same transaction and published only after the commit. */
#ifndef PULSE_HANDLER_H
#define PULSE_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "http/cgi.h"
#include "http/http.h"
#include "http/router.h"
#include "store/store.h"

struct config;
struct db;

struct runtime;

struct ctx {
    struct runtime *rt;          /* opaque: handlers reach it by the health hook alone */
    const struct config *cfg;    /* the configuration the runtime was opened with */
    struct http_req *req;
    struct http_resp *resp;
    struct db *db;
    long long now;               /* request time, seconds since the epoch */
    struct auth_claims claims;   /* filled by ctx_auth */
    struct auth_cache *tokens;   /* the runtime's verified tokens (may be NULL) */
    int authed;
    struct event *events;        /* emitted in this transaction (owned) */
    size_t nevents;
};

/* Answers with a JSON body (copied). */
void ctx_json(struct ctx *c, int status, const char *json);
/* Answers with a JSON body taken over by the response (freed by it). */
void ctx_json_take(struct ctx *c, int status, char *json);
void ctx_text(struct ctx *c, int status, const char *content_type, const char *text);
/* Answers {"error":{"code","message"}} with status. */
void ctx_error(struct ctx *c, int status, const char *code, const char *message);
void ctx_header(struct ctx *c, const char *name, const char *value);
/* Says when to come back (seconds; one of the CGI_RETRY_* values of
 * http/cgi.h), unless the answer says so already. */
void ctx_retry_after(struct ctx *c, int seconds);

/* Verifies the bearer token (Authorization header, or ?access_token= when
 * allow_query). 0 when authenticated; otherwise answers 401 and returns -1. */
int ctx_auth(struct ctx *c, int allow_query);
/* ctx_auth plus a role check (any of the roles in the mask); 403 when the
 * token is valid but the role is not allowed. */
int ctx_auth_role(struct ctx *c, unsigned role_mask);
#define ROLE_BIT(r) (1u << (r))

/* Checks the body is a JSON object in UTF-8; answers 400 (invalid_utf8 or
 * invalid_json) and returns -1 if not. */
int ctx_body_object(struct ctx *c);
/* ctx_body_object for a body whose strings the handler checks one by one
 * (db_json_object_shape): any well-formed JSON object passes, whatever its
 * strings hold. A body refused is answered as ctx_body_object answers it.
 * Every string read from it must pass utf8_valid before it is kept. */
int ctx_body_object_shape(struct ctx *c);
/* For a handler whose own statement runs json_is_object's test
 * (db_json_text_ok): the checks before it, answered as ctx_body_object
 * answers them; ctx_body_refused answers a body its statement found no
 * JSON object. Both return 0 or -1 (answered: 400 invalid_utf8 or
 * invalid_json). */
int ctx_body_text_ok(struct ctx *c);
int ctx_body_refused(struct ctx *c);

/* Typed reads of the request's JSON body (which ctx_body_object has
 * checked; after ctx_body_object_shape a string read may not be UTF-8).
 * Each answers 400 naming the field and returns -1 when the value is of the
 * wrong type or out of bounds; a missing optional field leaves the output
 * untouched and returns 0. Text lengths are in characters. */
int ctx_body_text(struct ctx *c, const char *field, size_t min, size_t max, int required, char **out);
int ctx_body_int(struct ctx *c, const char *field, long long min, long long max, int required,
                 long long *out);
/* ctx_body_text for an optional URL a page will put in src or href: "" or
 * an absolute http(s) URL (http_valid_url), else 400 invalid_<field>. */
int ctx_body_url(struct ctx *c, const char *field, char **out);
/* 1 when the body has the member with a non-null value, else 0. */
int ctx_body_has(struct ctx *c, const char *field);
/* 1 when the member's JSON type is json_type ("text", "integer", "object",
 * ... as SQLite's json_type names them), 0 when not, -1 with a 503
 * answered. A field may name a nested member ("sender.id"); its error
 * codes then read invalid_sender_id. */
int ctx_body_is(struct ctx *c, const char *field, const char *json_type);

/* Number of UTF-8 characters in s. */
size_t ctx_utf8_len(const char *s);

/* The i-th captured path id. */
const char *ctx_arg(const struct ctx *c, size_t i);
const char *ctx_query(const struct ctx *c, const char *name);
const char *ctx_req_header(const struct ctx *c, const char *cgi_name);

/* Appends an event to the log in the request's transaction. The new
 * event's id, or -1 with a 503 answered, or a 413 (event_too_large) when
 * data_json is over PULSE_MAX_EVENT_BYTES. */
int64_t ctx_emit(struct ctx *c, const char *topic, const char *type, const char *data_json);
/* Appends the well-formed events of body_json's $.events array (a batch
 * publish; body without \u0000 escapes) in one statement: store_append_events.
 * 0 with *n of them appended under the ids *first.. *first + *n - 1, or
 * -1 with a 503 answered. */
int ctx_emit_batch(struct ctx *c, const char *body_json, size_t len, int64_t *first, size_t *n);

/* Announces in the log that topic belongs to owner (and to whoever holds
 * its stream token, when token is not NULL; only its SHA-256 is told), so
 * that an edge can check readers as the primary does. The event id, or -1
 * answered. */
int64_t ctx_emit_owner(struct ctx *c, const char *topic, const char *owner, const char *token);

/* A fresh id: prefix and nbytes random bytes in hex (the caller frees),
 * or NULL with a 503 answered. */
char *ctx_random_id(struct ctx *c, const char *prefix, size_t nbytes);

/* Answers 503 (with Retry-After) for a database failure. */
void ctx_db_error(struct ctx *c);

/* The health hook: what GET /api/health asks of the runtime (which
 * defines these), so no handler reaches into it.
 * ctx_commit_now commits the request's transaction at once and opens
 * another (IMMEDIATE) for the rest of the request: the health write must
 * be seen to reach the file; and a handler that calls out before it
 * writes (top-ups: PayOS) runs in a read transaction, then takes the
 * write lock with this, never holding it while the call waits. 0, or -1 when the commit (or the new begin)
 * failed. In a group commit (pulse-batch) it does nothing: the batch
 * commits later. The bus answers "redis"|"local" and "ok"|"down"|"disabled". */
int ctx_commit_now(struct ctx *c);
const char *ctx_bus_mode(const struct ctx *c);
const char *ctx_bus_health(const struct ctx *c);

/* ---- Background work: the chat generator's hooks (request/gen.h runs
 * them; a domain defines them, and a main hands them over as it hands over
 * the routes). Each runs inside a unit of work (runtime_work) with a ctx
 * that has no request, and returns -1 after an error answered through the
 * ctx (the unit's writes are then dropped). */
struct gen_job {
    char *id;              /* owned: the answer's id */
    char *messages_json;   /* owned: what the model is asked (an OpenAI messages array) */
    int64_t seq;           /* the answer's last delta so far (0: none) */
};

struct gen_lease {
    char *id;              /* owned: an answer whose lease ran out */
    char *owner;           /* owned: the generator that held it */
};

struct gen_hooks {
    /* 1 when answers wait for a generator or a lease ran out (a claim or
     * a sweep has work), else 0: a read, so that idle probing takes no
     * write lock. */
    int (*pending)(struct ctx *c);
    /* 1 when an answer streams, leased or not (its generator may have
     * died: the sweep ends it once its lease runs out), 0 when none, -1
     * answered; NULL: none is waited for. Where no pulse-batch runs, the
     * worker a request starts (pulse work, wire/proc.h) stays for it. */
    int (*later)(struct ctx *c);
    /* Leases at most max waiting answers to owner for lease_ms; *jobs
     * gets an array (the caller frees it and its members), *n its size. */
    int (*claim)(struct ctx *c, const char *owner, long lease_ms, size_t max, struct gen_job **jobs, size_t *n);
    /* Appends text to answer id as its delta seq (one above the last),
     * logged; with row_text (the text of every delta since the row's last
     * write, this one's included), the answer's row takes it in and, when
     * lease_ms > 0, its lease is extended by lease_ms. An empty text logs
     * nothing (only the row is written). 0, or 1 when the answer is no
     * longer owner's streaming one (cancelled, or its lease lost): stop
     * it. */
    int (*append)(struct ctx *c, const char *owner, long lease_ms, const char *id, const char *text, int64_t seq,
                  const char *row_text);
    /* Ends answer id as complete (usage_json may be NULL), or as an error
     * with code and message. 0 also when it had ended already. */
    int (*finish)(struct ctx *c, const char *owner, const char *id, const char *finish_reason,
                  const char *usage_json);
    int (*fail)(struct ctx *c, const char *owner, const char *id, const char *code, const char *message);
    /* Extends owner's lease on answer id by lease_ms: 0, or 1 when it is
     * no longer owner's streaming answer (cancelled, or taken over). */
    int (*renew)(struct ctx *c, const char *owner, long lease_ms, const char *id);
    /* The answers whose lease ran out (their generator died): *leases
     * gets an array (the caller frees it and its members, after an error
     * too), *n its size. */
    int (*expired)(struct ctx *c, struct gen_lease **leases, size_t *n);
    /* Ends answer id, whose lease owner let run out, as error
     * "interrupted" with its text so far: each in a unit of its own, so
     * one that cannot be ended holds up no other, nor any claim. */
    int (*sweep)(struct ctx *c, const char *id, const char *owner);
};

/* ---- Background work: calls to other services (request/sender.h runs
 * them in pulse-batch, on the loop's outbound client). A domain's hooks
 * claim jobs by lease, each one HTTP request, and are told how each ended,
 * all inside units of work (runtime_work) with a ctx that has no request;
 * like the generator's, they return -1 after an error answered through the
 * ctx (the unit's writes are then dropped, and the job is tried again once
 * its lease runs out). */
struct send_job {
    char *id;              /* owned: the job's key in the domain */
    char *method;          /* owned: "GET", "POST" */
    char *url;             /* owned */
    char **headers;        /* owned: "Name: value" lines, NULL-terminated, or NULL */
    char *body;            /* owned, or NULL */
};

/* How a call ended (out/out.h's ends, for a domain that cannot see it). */
enum send_end {
    SEND_ANSWERED,         /* an HTTP answer: status, body */
    SEND_REFUSED,          /* no connection */
    SEND_TIMEOUT,          /* silence for PULSE_SEND_TIMEOUT_S, or the call took too long */
    SEND_TRUNCATED,        /* the connection ended mid-answer */
    SEND_TOO_LARGE         /* an answer longer than the domain's limit */
};

struct send_reply {
    enum send_end end;
    long status;           /* HTTP status; 0 without an answer */
    const char *body;      /* NUL-terminated, never NULL */
    size_t len;
    const char *why;       /* a transport end's reason */
};

struct send_hooks {
    const char *name;      /* in the log */
    /* 1 when a claim has work, 0 when not (a read: idle probing takes no
     * write lock), -1 answered. */
    int (*pending)(struct ctx *c);
    /* 1 when a job is there though not due (tried again later, or leased
     * by a sender that may have died), 0 when none, -1 answered; NULL: a
     * domain whose jobs are not waited for. Where no pulse-batch runs,
     * the worker a request starts (pulse work, wire/proc.h) stays for it. */
    int (*later)(struct ctx *c);
    /* Leases at most max due jobs to owner for lease_ms; *jobs gets an
     * array (the caller frees it and its members), *n its size. A job that
     * cannot be sent at all (no token, say) is ended here, not returned. */
    int (*claim)(struct ctx *c, const char *owner, long lease_ms, size_t max, struct send_job **jobs, size_t *n);
    /* Job id ended as r says (owner's lease: one lost writes nothing). */
    int (*result)(struct ctx *c, const char *owner, const char *id, const struct send_reply *r);
};

/* The wait before attempt n + 1 after n failed ones: retry_ms doubled each
 * time, at most max_ms. */
long send_backoff_ms(long retry_ms, long n, long max_ms);
/* Frees a claim's array of n jobs. */
void send_jobs_free(struct send_job *jobs, size_t n);

#endif
