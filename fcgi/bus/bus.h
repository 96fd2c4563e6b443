/* bus.h - the publishing side of the event bus, used by the runtime after
 * a transaction commits (handlers never call it).
 *
 * Two implementations behind one const ops table: "redis" PUBLISHes the
 * event's id (decimal) on <prefix>ev:<topic> (one PSUBSCRIBE per stream
 * responder picks it up on every host); "local" rings the doorbells beside
 * the database. Either only says "read the log up to here": the stream
 * responder reads the events themselves from the log, so nothing else is
 * sent (bench/RESULTS.md, "Redis payload"). When Redis fails, the redis
 * bus rings the local bells instead and backs off, so requests never wait
 * on a dead Redis and this host still gets its events at once.
 *
 * Errors follow hiredis's redisContext: the call returns -1 (or "down")
 * and the bus keeps the detail in an err/errstr pair (bus_err,
 * bus_errstr), set by the last call that failed and cleared by the next
 * one that reaches its bus. */
#ifndef PULSE_BUS_H
#define PULSE_BUS_H

#include "bus/redis_target.h"
#include "store/store.h"

struct config;
struct bus;

/* bus_err's values. */
enum bus_err {
    BUS_OK = 0,
    BUS_ERR_CONNECT,     /* Redis refused or timed out the connection */
    BUS_ERR_HANDSHAKE,   /* AUTH or SELECT failed */
    BUS_ERR_COMMAND,     /* a PUBLISH or PING failed or was refused */
    BUS_ERR_BELLS        /* the local bells' directory cannot be read */
};

struct bus_ops {
    const char *mode;                                  /* "redis" | "local" */
    int (*publish)(struct bus *b, const struct event *evs, size_t n);
    const char *(*health)(struct bus *b);              /* "ok" | "down" | "disabled" */
    void (*close)(struct bus *b);
};

/* Opens the bus the configuration asks for; never fails for an
 * unreachable Redis (it connects lazily). Caller closes with bus_close. */
struct bus *bus_open(const struct config *cfg);
void bus_close(struct bus *b);
/* Publishes the events of one commit (n may be 0; only id and topic are
 * read). 0, or -1 when no bus was reached (bus_errstr says why): stream
 * responders then find them by polling the log. 0 also when Redis failed
 * but the local bells rang (bus_err still tells of Redis). */
int bus_publish(struct bus *b, const struct event *evs, size_t n);
/* After Redis failed, tells the other hosts (one PUBLISH of the newest
 * event only the local bells heard of) once Redis answers again; a process
 * with a loop calls it now and then, so they do not wait for their tail
 * poll when no further publish comes. */
void bus_catch_up(struct bus *b);
const char *bus_mode(const struct bus *b);
const char *bus_health(struct bus *b);
/* The last failure's kind (enum bus_err; BUS_OK after a success) and its
 * detail ("" when none), valid until the next call on b. While Redis is
 * backed off (not retried), they still tell the failure that started it. */
int bus_err(const struct bus *b);
const char *bus_errstr(const struct bus *b);

#endif
