/* sse_paths.h - the request path of each of the load generator's
 * connections: one template (-u PATH, its first %d replaced by the
 * connection's topic number, i % TOPICS), or a file of paths (-U FILE,
 * one a line, blank lines skipped; connection i takes line i % count). */
#ifndef SSE_PATHS_H
#define SSE_PATHS_H

#include <stddef.h>

struct sse_paths {
    const char *tmpl;   /* -u: not owned */
    int topics;         /* -k */
    char **line;        /* -U: owned, each line without its end */
    size_t n;
};

/* Reads FILE's paths into p: 0, or -1 (the message printed) when it
 * cannot be read or holds no path. */
int sse_paths_load(struct sse_paths *p, const char *file);

/* Writes connection i's path into out (NUL-terminated): its length, or -1
 * when it does not fit in cap bytes. */
int sse_paths_get(const struct sse_paths *p, int i, char *out, size_t cap);

void sse_paths_free(struct sse_paths *p);

#endif
