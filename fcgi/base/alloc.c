/* alloc.c - abort-on-OOM allocation wrappers (see alloc.h). */
#include "base/alloc.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "pulse: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    return p;
}

void *xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        oom(count * n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* By default glibc trims the heap whenever 128 KiB at its top are free, and
 * the next request or event faults the pages back in: keep up to 64 MiB,
 * grow by 1 MiB at a time. */
int alloc_keep_heap(void)
{
    return mallopt(M_TRIM_THRESHOLD, 64 << 20) == 1 && mallopt(M_TOP_PAD, 1 << 20) == 1 ? 0 : -1;
}
