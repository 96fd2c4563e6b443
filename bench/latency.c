/* latency.c - samples and quantiles (see latency.h). */
#include "latency.h"

#include <stdio.h>
#include <stdlib.h>

void latency_add(struct latency *l, int64_t us)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 65536;
        int64_t *v = realloc(l->v, cap * sizeof *v);

        if (v == NULL) {
            perror("latency");
            exit(2);
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = us;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return x < y ? -1 : x > y;
}

void latency_sort(struct latency *l)
{
    if (l->n > 0)
        qsort(l->v, l->n, sizeof *l->v, cmp64);
}

int64_t latency_pct(const struct latency *l, double p)
{
    if (l->n == 0)
        return -1;
    return l->v[(size_t)(p * (double)(l->n - 1) + 0.5)];
}

void latency_free(struct latency *l)
{
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}
