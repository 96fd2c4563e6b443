/* router.h - table-driven routing. A pattern is a path whose "{}" segments
 * capture one id each (^[A-Za-z0-9_.:-]{1,128}$). Lookups tell 404 from 405
 * (with the Allow list) and reject malformed ids with 400. */
#ifndef PULSE_ROUTER_H
#define PULSE_ROUTER_H

#include <stddef.h>

#include "base/buf.h"

#define ROUTER_MAX_CAPTURES 4

struct ctx;
typedef void (*handler_fn)(struct ctx *c);

enum route_flags {
    ROUTE_WRITE = 1 << 0,   /* runs in an IMMEDIATE transaction */
    ROUTE_EDGE = 1 << 1,    /* also served by an edge (PULSE_ROLE=edge): reads of the log only */
    ROUTE_BULK = 1 << 2,    /* its body may be up to PULSE_MAX_PUBLISH_BODY (a batch publish) */
    ROUTE_QUEUES = 1 << 3,  /* leaves work for pulse-batch's generator or sender (runtime_take_queued);
                             * a 409 too: the work it waits on may have lost its worker */
};

struct route {
    const char *method;
    const char *pattern;
    handler_fn handler;
    unsigned flags;
};

struct route_table {
    const struct route *routes;
    size_t count;
};

enum router_result { ROUTER_OK, ROUTER_NOT_FOUND, ROUTER_BAD_METHOD, ROUTER_BAD_ID };

struct route_match {
    const struct route *route;
    char *captures[ROUTER_MAX_CAPTURES];   /* owned; free with router_match_free */
    size_t ncaptures;
    buf_t allow;                            /* "GET, POST" for ROUTER_BAD_METHOD */
};

enum router_result router_find(const struct route_table *tables, size_t ntables, const char *method,
                               const char *path, struct route_match *m);
void router_match_free(struct route_match *m);

#endif
