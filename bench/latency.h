/* latency.h - a growing list of samples (microseconds) and its quantiles,
 * for the load generator's report. */
#ifndef LATENCY_H
#define LATENCY_H

#include <stddef.h>
#include <stdint.h>

struct latency {
    int64_t *v;   /* owned; free with latency_free */
    size_t n, cap;
};

/* Adds one sample; exits the program when memory runs out (a load
 * generator has no use for half a result). */
void latency_add(struct latency *l, int64_t us);
/* Sorts the samples: call once, before latency_pct, min and max. */
void latency_sort(struct latency *l);
/* The p-quantile (0..1) of the sorted samples; -1 when there are none. */
int64_t latency_pct(const struct latency *l, double p);
void latency_free(struct latency *l);

#endif
