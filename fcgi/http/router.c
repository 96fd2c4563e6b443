/* router.c - method + pattern lookup over route tables (see router.h). */
#include "http/router.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "http/http.h"

/* Matches path against pattern segment by segment. Returns 1 on a match
 * (captures filled, owned by m), 0 on none, -1 when the shape matches but a
 * captured segment is not a valid id. */
static int match(const char *pattern, const char *path, struct route_match *m)
{
    const char *p = pattern, *s = path;
    size_t n = 0, i;
    int bad = 0;

    while (*p && *s) {
        if (p[0] == '{' && p[1] == '}') {
            const char *end = strchr(s, '/');
            size_t len = end ? (size_t)(end - s) : strlen(s);

            if (len == 0 || n == ROUTER_MAX_CAPTURES)
                goto no;
            if (!http_valid_id_n(s, len))
                bad = 1;
            m->captures[n++] = xstrndup(s, len);
            s += len;
            p += 2;
        } else if (*p == *s) {
            p++;
            s++;
        } else {
            goto no;
        }
    }
    if (*p || *s)
        goto no;
    m->ncaptures = n;
    return bad ? -1 : 1;
no:
    for (i = 0; i < n; i++) {
        free(m->captures[i]);
        m->captures[i] = NULL;
    }
    return 0;
}

static void clear_captures(struct route_match *m)
{
    size_t i;

    for (i = 0; i < m->ncaptures; i++) {
        free(m->captures[i]);
        m->captures[i] = NULL;
    }
    m->ncaptures = 0;
}

enum router_result router_find(const struct route_table *tables, size_t ntables, const char *method,
                               const char *path, struct route_match *m)
{
    enum router_result res = ROUTER_NOT_FOUND;
    size_t t, i;

    memset(m, 0, sizeof *m);
    for (t = 0; t < ntables; t++) {
        for (i = 0; i < tables[t].count; i++) {
            const struct route *r = &tables[t].routes[i];
            int hit = match(r->pattern, path, m);

            if (hit == 0)
                continue;
            if (hit < 0) {
                clear_captures(m);
                res = ROUTER_BAD_ID; /* a malformed id is a 400 whatever the method */
                continue;
            }
            if (strcmp(r->method, method) == 0) {
                buf_free(&m->allow);
                m->route = r;
                return ROUTER_OK;
            }
            clear_captures(m);
            if (strstr(buf_str(&m->allow), r->method) == NULL) {
                if (m->allow.len)
                    buf_puts(&m->allow, ", ");
                buf_puts(&m->allow, r->method);
                if (strcmp(r->method, "GET") == 0)
                    buf_puts(&m->allow, ", HEAD"); /* (http_read_method) */
            }
            if (res == ROUTER_NOT_FOUND)
                res = ROUTER_BAD_METHOD;
        }
    }
    return res;
}

void router_match_free(struct route_match *m)
{
    clear_captures(m);
    buf_free(&m->allow);
    m->route = NULL;
}
