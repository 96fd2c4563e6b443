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
 * runtime names no handler). NULL with *err set (caller frees) on
 * failure. */
struct runtime *runtime_open(const struct config *cfg, const struct route_table *const *tables, size_t ntables,
                             char **err);
void runtime_close(struct runtime *rt);

/* Fills resp for req. early_status is 0, or 400/413 when the body or
 * query could not be read, answered without routing. now: Unix seconds. */
void runtime_handle(struct runtime *rt, struct http_req *req, struct http_resp *resp, int early_status,
                    long long now);

/* Group commit: the requests handled between these two calls share one
 * transaction, each in its own savepoint, so a request that fails still
 * changes nothing while the others commit together. A response is final
 * only once runtime_batch_end returned 0; on -1 nothing of the batch was
 * kept and every response that went through the router must go through
 * runtime_batch_failed. runtime_batch_publish then publishes the events
 * of every batch committed since its last call (the caller sends the
 * answers first, and may let a few batches gather). */
void runtime_batch_begin(struct runtime *rt);
int runtime_batch_end(struct runtime *rt);
void runtime_batch_publish(struct runtime *rt);
/* Lets the bus tell other hosts what it owes them after a Redis outage. */
void runtime_tick(struct runtime *rt);
/* 1 when committed events wait for runtime_batch_publish. */
int runtime_batch_pending(const struct runtime *rt);
/* Turns a response of a lost batch into a 503: even an error answer may
 * rest on what an earlier request of the batch wrote and lost. */
void runtime_batch_failed(struct runtime *rt, struct http_resp *resp);

/* Appends the CGI response head (Status, Content-Type, Cache-Control,
 * extra headers, blank line) both responders send before the body. */
void runtime_resp_head(const struct http_resp *resp, buf_t *out);

#endif
