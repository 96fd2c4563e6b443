/* conffile.c - pulse.conf's KEY=value lines (see conffile.h). */
#include "base/conffile.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int key_char(char c, int first)
{
    return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

/* One line (without its end of line) into *e. 0 for a setting, 1 for a
 * blank or comment line, -1 with why set for anything else. */
static int parse_line(const char *s, size_t n, struct conffile_entry *e, const char **why)
{
    size_t i = 0, k, v, end;

    for (end = 0; end < n; end++) {
        if (s[end] == '\0') {
            *why = "a NUL byte";
            return -1;
        }
        /* a tab may sit in a value; no other control character may */
        if (((unsigned char)s[end] < 0x20 && s[end] != '\t') || s[end] == 0x7f) {
            *why = "a control character";
            return -1;
        }
    }
    while (i < n && is_blank(s[i]))
        i++;
    if (i == n || s[i] == '#')
        return 1;
    for (k = i; k < n && key_char(s[k], k == i); k++)
        ;
    if (k == i) {
        *why = "expected KEY=value (a KEY is upper-case letters, digits and _)";
        return -1;
    }
    for (v = k; v < n && is_blank(s[v]); v++)
        ;
    if (v == n || s[v] != '=') {
        *why = "expected KEY=value (a KEY is upper-case letters, digits and _)";
        return -1;
    }
    for (v++; v < n && is_blank(s[v]); v++)
        ;
    while (end > v && is_blank(s[end - 1]))
        end--;
    /* one pair of matching quotes around the whole value is dropped */
    if (end - v >= 2 && (s[v] == '"' || s[v] == '\'') && s[end - 1] == s[v]) {
        v++;
        end--;
    }
    e->key = xstrndup(s + i, k - i);
    e->value = xstrndup(s + v, end - v);
    return 0;
}

int conffile_parse(const char *text, size_t len, const char *name, int (*known)(const char *key),
                   struct conffile *out, buf_t *err)
{
    size_t at = 0, cap = 0;
    int line = 0;

    memset(out, 0, sizeof *out);
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl != NULL ? (size_t)(nl - (text + at)) : len - at;
        struct conffile_entry e = {NULL, NULL, ++line};
        const struct conffile_entry *prev;
        const char *why = NULL;
        int got;

        if (n > 0 && text[at + n - 1] == '\r')
            got = parse_line(text + at, n - 1, &e, &why);
        else
            got = parse_line(text + at, n, &e, &why);
        at += n + (nl != NULL);
        if (got < 0) {
            buf_printf(err, "%s:%d: %s", name, line, why);
            goto fail;
        }
        if (got > 0)
            continue;
        if (!known(e.key)) {
            buf_printf(err, "%s:%d: unknown key %s (the keys are the environment variables of the configuration)",
                       name, line, e.key);
            free(e.key);
            free(e.value);
            goto fail;
        }
        if ((prev = conffile_get(out, e.key)) != NULL) {
            buf_printf(err, "%s:%d: %s is set twice (first on line %d)", name, line, e.key, prev->line);
            free(e.key);
            free(e.value);
            goto fail;
        }
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->v = xrealloc(out->v, cap * sizeof *out->v);
        }
        out->v[out->n++] = e;
    }
    return 0;
fail:
    conffile_free(out);
    return -1;
}

const struct conffile_entry *conffile_get(const struct conffile *f, const char *key)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        if (strcmp(f->v[i].key, key) == 0)
            return &f->v[i];
    }
    return NULL;
}

void conffile_free(struct conffile *f)
{
    size_t i;

    for (i = 0; i < f->n; i++) {
        free(f->v[i].key);
        free(f->v[i].value);
    }
    free(f->v);
    f->v = NULL;
    f->n = 0;
}
