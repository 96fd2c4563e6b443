/* runtime.h - one request through the pipeline, independent of libfcgi so
 * tests and fuzzers can drive it: route → transaction(handler) → commit →
 * publish → response. */
#ifndef PULSE_RUNTIME_H
#define PULSE_RUNTIME_H

#include "request/handler.h"

struct config;
struct runtime;

/* Opens the database (migrating it) and the bus, and routes by the ntables
 * tables given (copied: the mains hand over the domains' registry, so the
 * runtime names no handler). Always returns a runtime; as with hiredis's
 * contexts, runtime_err says whether it opened (0) and runtime_errstr why
 * not. One that did not open is only good for runtime_close. */
struct runtime *runtime_open(const struct config *cfg, const struct route_table *const *tables, size_t ntables);
int runtime_err(const struct runtime *rt);
const char *runtime_errstr(const struct runtime *rt);
void runtime_close(struct runtime *rt);
/* For a process that commits many times a second (pulse-batch): its WAL
 * checkpoints run on a thread, not in its commits (store/db_ckpt.h). */
void runtime_checkpoint_in_background(struct runtime *rt);
/* For a process that answers one request (CGI): db_keep_wal. */
void runtime_one_request(struct runtime *rt);
/* The configuration rt was opened with. */
const struct config *runtime_config(const struct runtime *rt);

/* The body a request to method path may carry, in bytes: PULSE_MAX_BODY,
 * or for a ROUTE_BULK route (a batch publish) the larger of it and
 * PULSE_MAX_PUBLISH_BODY; *why: the 413's text (static). A reader that
 * does not know the route yet takes runtime_body_ceiling bytes at most,
 * and holds the request to runtime_body_limit once it does, before the
 * body is read where it can (pulse-api), or as it arrives (pulse-batch). */
long long runtime_body_limit(const struct runtime *rt, const char *method, const char *path, const char **why);
long long runtime_body_ceiling(const struct runtime *rt);

/* Group commit, the runtime's one mode: the requests handled between
 * runtime_batch_begin and runtime_batch_end share one transaction, each in
 * its own savepoint, so a request that fails still changes nothing while
 * the others commit together. pulse-batch begins a batch for the requests
 * that arrived together; pulse-api runs each request as a batch of one
 * (its transaction then takes the write lock only for a route that
 * writes). A response is final only once runtime_batch_end returned 0; on
 * -1 nothing of the batch was kept and every response must go through
 * runtime_batch_failed. runtime_batch_publish then publishes the events of
 * every batch committed since its last call (pulse-batch sends the answers
 * first, and may let a few batches gather). */
void runtime_batch_begin(struct runtime *rt, size_t nrequests);
/* Fills resp for req, inside a batch. early_status is 0, or 400/413 with
 * early_why (static text) when cgi_req_read or the body refused the
 * request: answered without routing. now: Unix seconds. */
void runtime_handle(struct runtime *rt, struct http_req *req, struct http_resp *resp, int early_status,
                    const char *early_why, long long now);
int runtime_batch_end(struct runtime *rt);
/* A unit of work no request brought (the chat generator's), inside a
 * batch: fn runs as a handler does, in its own savepoint, with a ctx that
 * has no request (ctx_req_header finds nothing); its events publish with
 * the batch's. fn returns 0 to keep what it wrote, -1 to drop it (as does
 * an error answered through the ctx). write: whether it may write (a
 * batch of one that only reads takes no write lock). 0 when kept (final
 * once runtime_batch_end returned 0), -1 when dropped. */
int runtime_work(struct runtime *rt, int write, int (*fn)(struct ctx *c, void *arg), void *arg, long long now);
void runtime_batch_publish(struct runtime *rt);
/* 1 when a request of a ROUTE_QUEUES route was answered 2xx (it left
 * work for pulse-batch's generator or sender) or 409 (refused for work
 * still waiting, whose worker may have died) since the last call. */
int runtime_take_queued(struct runtime *rt);
/* fn as a unit of work in a batch of its own, committed and published:
 * 0 when kept, -1 when dropped or lost. */
int runtime_work_alone(struct runtime *rt, int write, int (*fn)(struct ctx *c, void *arg), void *arg);
/* A name for the leases this process takes on rows (host:pid:random):
 * unique across the processes and hosts that share the database. */
#define RUNTIME_OWNER_MAX 96
void runtime_lease_owner(char out[RUNTIME_OWNER_MAX]);
/* Lets the bus tell other hosts what it owes them after a Redis outage. */
void runtime_tick(struct runtime *rt);
/* 1 when committed events wait for runtime_batch_publish. */
int runtime_batch_pending(const struct runtime *rt);
/* Turns a response of a lost batch into a 503: even an error answer may
 * rest on what an earlier request of the batch wrote and lost (not so in a
 * batch of one: its error answers stand). req is the request it answers
 * (its Origin, for the CORS headers the 503 keeps). */
void runtime_batch_failed(struct runtime *rt, struct http_req *req, struct http_resp *resp);

#endif
