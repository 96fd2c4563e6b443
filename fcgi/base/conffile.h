/* conffile.h - pulse.conf's syntax: KEY=value lines, parsed from a string.
 *
 * One setting a line: optional blanks, a KEY ([A-Z_][A-Z0-9_]*), optional
 * blanks, '=', optional blanks, the value up to the end of the line
 * (trailing blanks dropped). A value wholly inside one pair of matching
 * quotes ("..." or '...') loses that pair and keeps everything inside as
 * it is; nothing else is interpreted (no escapes, no $expansion, no inline
 * comment: a '#' inside a value is part of it). Blank lines and lines
 * whose first non-blank character is '#' are skipped. Lines end with LF or
 * CRLF. A key given twice, a key known() refuses, a line of another shape,
 * a NUL or any other control character but a tab is an error naming
 * name:line. */
#ifndef PULSE_CONFFILE_H
#define PULSE_CONFFILE_H

#include <stddef.h>

#include "base/buf.h"

struct conffile_entry {
    char *key;      /* owned */
    char *value;    /* owned; may be "" */
    int line;       /* 1-based */
};

struct conffile {
    struct conffile_entry *v; /* owned, in file order */
    size_t n;
};

/* Parses the len bytes of text (the file called name, for messages).
 * known(key) is 1 for a key the file may set. Returns 0 with the entries
 * in *out (free them with conffile_free), or -1 with "name:line: why"
 * appended to err and *out empty. */
int conffile_parse(const char *text, size_t len, const char *name, int (*known)(const char *key),
                   struct conffile *out, buf_t *err);

/* The entry for key, or NULL. Borrowed from f. */
const struct conffile_entry *conffile_get(const struct conffile *f, const char *key);

void conffile_free(struct conffile *f);

#endif
