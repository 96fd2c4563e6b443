/* runtime.h - one request through the pipeline, independent of libfcgi so
 * tests and fuzzers can drive it: route → transaction(handler) → commit →
 * publish → response. */
#ifndef PULSE_RUNTIME_H
#define PULSE_RUNTIME_H

#include "handler.h"

struct config;
struct runtime;

/* Opens the database (migrating it) and the bus. NULL with *err set
 * (caller frees) on failure. */
struct runtime *runtime_open(const struct config *cfg, char **err);
void runtime_close(struct runtime *rt);

/* Fills resp for req. early_status is 0, or 400/413 when the body or
 * query could not be read, answered without routing. now: Unix seconds. */
void runtime_handle(struct runtime *rt, struct http_req *req, struct http_resp *resp, int early_status,
                    long long now);

/* For GET /api/health: "redis"|"local" and "ok"|"down"|"disabled". */
const char *runtime_bus_mode(struct runtime *rt);
const char *runtime_bus_health(struct runtime *rt);

#endif
