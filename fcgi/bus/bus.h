/* bus.h - the publishing side of the event bus, used by the runtime after
 * a transaction commits (handlers never call it).
 *
 * Two implementations behind one const ops table: "redis" PUBLISHes the
 * envelope on <prefix>ev:<topic> (one PSUBSCRIBE per stream responder picks
 * it up on every host); "local" rings the doorbells beside the database.
 * When Redis fails, the redis bus rings the local bells instead and backs
 * off, so requests never wait on a dead Redis and this host still gets its
 * events at once. */
#ifndef PULSE_BUS_H
#define PULSE_BUS_H

#include "bus/redis_target.h"
#include "store/store.h"

struct config;
struct bus;

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
/* Publishes the events of one commit (n may be 0). 0, or -1 when no bus
 * was reached: stream responders then find them by polling the log. */
int bus_publish(struct bus *b, const struct event *evs, size_t n);
/* After Redis failed, tells the other hosts (one PUBLISH of the newest
 * event only the local bells heard of) once Redis answers again; a process
 * with a loop calls it now and then, so they do not wait for their tail
 * poll when no further publish comes. */
void bus_catch_up(struct bus *b);
const char *bus_mode(const struct bus *b);
/* 1 when bus_publish sends envelopes (Redis), so the caller fills them
 * (store_envelopes) first; the local bells need only ids. */
int bus_wants_envelopes(const struct bus *b);
const char *bus_health(struct bus *b);

#endif
