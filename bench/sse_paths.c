/* sse_paths.c - the request path of each connection (see sse_paths.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sse_paths.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int sse_paths_load(struct sse_paths *p, const char *file)
{
    FILE *f = fopen(file, "r");
    char *line = NULL, **grown;
    size_t cap = 0;
    ssize_t len;
    int rc = -1;

    if (f == NULL) {
        perror(file);
        return -1;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        grown = realloc(p->line, (p->n + 1) * sizeof *grown);
        if (grown == NULL)
            goto out;
        p->line = grown;
        if ((p->line[p->n] = strdup(line)) == NULL)
            goto out;
        p->n++;
    }
    rc = ferror(f) || p->n == 0 ? -1 : 0;
out:
    if (rc != 0)
        fprintf(stderr, "sseload: %s: %s\n", file, p->n == 0 ? "no path in it" : "cannot read it");
    free(line);
    fclose(f);
    return rc;
}

int sse_paths_get(const struct sse_paths *p, int i, char *out, size_t cap)
{
    const char *d;
    int n;

    if (p->n > 0) {
        n = snprintf(out, cap, "%s", p->line[(size_t)i % p->n]);
    } else if ((d = strstr(p->tmpl, "%d")) != NULL) {
        /* the first %d is the topic's number; the rest of the path is taken
         * as it is (it is no format: a %-escape in it stays one) */
        n = snprintf(out, cap, "%.*s%d%s", (int)(d - p->tmpl), p->tmpl, i % (p->topics > 0 ? p->topics : 1), d + 2);
    } else {
        n = snprintf(out, cap, "%s", p->tmpl);
    }
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

void sse_paths_free(struct sse_paths *p)
{
    size_t i;

    for (i = 0; i < p->n; i++)
        free(p->line[i]);
    free(p->line);
    p->line = NULL;
    p->n = 0;
}
