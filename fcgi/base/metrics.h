/* metrics.h - counters shared by every process of one instance.
 *
 * Each process owns one slot of a small memory-mapped file in the data
 * directory and updates it with atomic adds; GET /api/metrics, served by
 * whichever request responder gets it, sums the slots. Counters of a process
 * that exited stay in its slot (totals never go backwards); its gauges are
 * ignored once its pid is gone. */
#ifndef PULSE_METRICS_H
#define PULSE_METRICS_H

#include <stdint.h>

#include "base/buf.h"

enum metric {
    M_STREAMS_OPEN,          /* gauge */
    M_EVENTS_APPENDED,
    M_EVENTS_DELIVERED,
    M_REPLAYS,
    M_RESETS,
    M_REDIS_RECONNECTS,
    M_STREAMS_REJECTED,
    M_SLOW_CONSUMERS,
    M_REQ_1XX,
    M_REQ_2XX,
    M_REQ_3XX,
    M_REQ_4XX,
    M_REQ_5XX,
    M_GROUP_COMMITS,
    M_BATCH_CONNECTIONS,
    M_RELAY_FOREIGN,
    M_MIRROR_REFUSED,
    M__COUNT
};

/* Maps <data_dir>/metrics.shm and claims a slot. Without it the process
 * still runs; its figures are just not counted (logged). 0 or -1. */
int metrics_open(const char *data_dir);
void metrics_close(void);

void metrics_add(enum metric m, int64_t delta);
void metrics_set(enum metric m, int64_t value);    /* gauges */
void metrics_count_status(int status);

/* Appends the Prometheus text exposition of all live slots to out. */
void metrics_render(buf_t *out);

#endif
