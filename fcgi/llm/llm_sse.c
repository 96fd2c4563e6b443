/* llm_sse.c - the upstream's answer stream, parsed incrementally (see
 * llm_sse.h). Lines are cut as the event-stream format says (the rules our
 * own writer follows); each event's data is judged by SQLite's JSON
 * functions, never by hand. */
#include "llm/llm_sse.h"

#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/utf8.h"
#include "sql_gen.h"
#include "store/db.h"

/* llm_chunk's columns (sql/queries/llm.sql): it checks that the text is a
 * JSON object fit for path lookups (json_is_object's test) in the same
 * statement, so SQLite parses a chunk once. */
/* What the upstream says besides the text is kept short: it rides in the
 * answer's last event, which must fit PULSE_MAX_EVENT_BYTES with the
 * whole answer (request/gen.c keeps the answer within its share). */
#define WHY_MAX 300         /* bytes of an error's message kept */
#define FINISH_MAX 64       /* bytes of a finish_reason kept */
#define USAGE_MAX 4096      /* a longer usage object is not kept */

enum { COL_CHOICES, COL_CONTENT_T, COL_CONTENT, COL_FINISH_T, COL_FINISH, COL_USAGE_T, COL_USAGE, COL_ERROR_T,
       COL_ERROR_MSG, COL_ERROR };

struct llm_sse_db {
    sqlite3 *h;
    sqlite3_stmt *chunk, *request;
};

struct llm_sse {
    struct llm_sse_db *d;
    size_t max_line;
    llm_sse_delta_fn delta;
    void *arg;
    enum llm_sse_state state;
    buf_t line;            /* the line being cut */
    buf_t data;            /* the event's data lines, each followed by '\n' */
    int has_data;          /* a data field was seen in this event */
    int after_cr;          /* the last byte ended a line with CR: a LF next is part of it */
    char *finish;
    char *usage;
    buf_t why;
    size_t events;         /* llm_sse_events */
};

struct llm_sse_db *llm_sse_db_open(void)
{
    struct llm_sse_db *d = xcalloc(1, sizeof *d);

    const unsigned flags = SQLITE_PREPARE_PERSISTENT;

    if (sqlite3_open_v2(":memory:", &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(d->h, sql_query_text[SQL_LLM_CHUNK], -1, flags, &d->chunk, NULL) != SQLITE_OK ||
        sqlite3_prepare_v3(d->h, sql_query_text[SQL_LLM_REQUEST], -1, flags, &d->request, NULL) != SQLITE_OK) {
        llm_sse_db_close(d);
        return NULL;
    }
    return d;
}

void llm_sse_db_close(struct llm_sse_db *d)
{
    if (d == NULL)
        return;
    sqlite3_finalize(d->chunk);
    sqlite3_finalize(d->request);
    sqlite3_close(d->h);
    free(d);
}

struct llm_sse *llm_sse_new(struct llm_sse_db *d, size_t max_line, llm_sse_delta_fn delta, void *arg)
{
    struct llm_sse *p = xcalloc(1, sizeof *p);

    p->d = d;
    /* SQLite takes a text's length as an int. */
    p->max_line = max_line < INT_MAX / 2 ? max_line : INT_MAX / 2;
    p->delta = delta;
    p->arg = arg;
    return p;
}

void llm_sse_free(struct llm_sse *p)
{
    if (p == NULL)
        return;
    buf_free(&p->line);
    buf_free(&p->data);
    buf_free(&p->why);
    free(p->finish);
    free(p->usage);
    free(p);
}

enum llm_sse_state llm_sse_state(const struct llm_sse *p)
{
    return p->state;
}

const char *llm_sse_finish_reason(const struct llm_sse *p)
{
    return p->finish;
}

const char *llm_sse_usage(const struct llm_sse *p)
{
    return p->usage;
}

size_t llm_sse_events(const struct llm_sse *p)
{
    return p->events;
}

const char *llm_sse_why(const struct llm_sse *p)
{
    return buf_str(&p->why);
}

static void end(struct llm_sse *p, enum llm_sse_state state, const char *why)
{
    p->state = state;
    buf_reset(&p->why);
    utf8_shown(&p->why, why, strlen(why), WHY_MAX);
}

/* A column's text and length; NULL for SQL NULL. */
static const char *column(sqlite3_stmt *st, int i, size_t *len)
{
    const char *t = (const char *)sqlite3_column_text(st, i);

    *len = t != NULL ? (size_t)sqlite3_column_bytes(st, i) : 0;
    return t;
}

static int column_is(sqlite3_stmt *st, int i, const char *type)
{
    const char *t = (const char *)sqlite3_column_text(st, i);

    return t != NULL && strcmp(t, type) == 0;
}

/* A chunk's error: its message, or the error itself (a string, or an
 * object without one); NULL when there is none. */
static const char *error_text(sqlite3_stmt *st)
{
    const char *t;
    size_t n;

    if (sqlite3_column_type(st, COL_ERROR_T) == SQLITE_NULL || column_is(st, COL_ERROR_T, "null"))
        return NULL;
    if (!column_is(st, COL_ERROR_T, "object") || (t = column(st, COL_ERROR_MSG, &n)) == NULL)
        t = column(st, COL_ERROR, &n);
    return t != NULL && utf8_valid(t, n) && memchr(t, '\0', n) == NULL ? t : "(unreadable)";
}

/* Keeps at most max bytes of text (a character cut at the end dropped). */
static void keep(char **slot, const char *text, size_t len, size_t max)
{
    buf_t b = {0};

    utf8_shown(&b, text, len, max);
    free(*slot);
    *slot = buf_steal(&b);
}

/* A chunk llm_chunk read (a JSON object): its error, usage, finish_reason and
 * content, in that order (the content is reported last, so that a callback
 * that stops finds the rest of the chunk already kept). */
static void chunk_read(struct llm_sse *p, sqlite3_stmt *st)
{
    const char *t;
    size_t n;

    if ((t = error_text(st)) != NULL) {
        end(p, LLM_SSE_ERROR, t);
        return;
    }
    if (!column_is(st, COL_CHOICES, "array") && !column_is(st, COL_USAGE_T, "object")) {
        end(p, LLM_SSE_MALFORMED, "a chunk without choices");
        return;
    }
    if (column_is(st, COL_USAGE_T, "object") && (t = column(st, COL_USAGE, &n)) != NULL && n <= USAGE_MAX)
        keep(&p->usage, t, n, USAGE_MAX);
    if (column_is(st, COL_FINISH_T, "text") && (t = column(st, COL_FINISH, &n)) != NULL &&
        memchr(t, '\0', n) == NULL)
        keep(&p->finish, t, n, FINISH_MAX);
    if (column_is(st, COL_CONTENT_T, "text")) {
        t = column(st, COL_CONTENT, &n);
        if (t == NULL || memchr(t, '\0', n) != NULL || !utf8_valid(t, n))
            end(p, LLM_SSE_MALFORMED, "a content that is not UTF-8 text");
        else if (n > 0 && p->delta(p->arg, t, n) != 0)
            p->state = LLM_SSE_STOPPED;
    } else if (sqlite3_column_type(st, COL_CONTENT_T) != SQLITE_NULL && !column_is(st, COL_CONTENT_T, "null")) {
        end(p, LLM_SSE_MALFORMED, "a content that is not a string");
    }
}

static void reset(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* Runs llm_chunk on text: its row, or NULL with why set when the text is
 * not a JSON object fit to read. SQLite checks no encoding, and decodes a
 * lone \ud800 into bytes that are not UTF-8, and SQLite 3.40 cuts a string
 * short at \u0000: the text is checked first. The caller resets the
 * statement. */
static sqlite3_stmt *chunk_of(struct llm_sse_db *d, const char *text, size_t len, const char **why)
{
    int rc;

    if (!db_json_text_ok(text, len)) {
        *why = "data that is not UTF-8 JSON";
        return NULL;
    }
    if (db_json_escapes_nul(text, len)) {
        *why = "data with a \\u0000 escape";
        return NULL;
    }
    if (sqlite3_bind_text(d->chunk, 1, text, (int)len, SQLITE_STATIC) != SQLITE_OK) {
        *why = sqlite3_errmsg(d->h);
        return NULL;
    }
    rc = sqlite3_step(d->chunk);
    if (rc == SQLITE_ROW)
        return d->chunk;
    *why = rc == SQLITE_DONE ? "data that is not a JSON object" : sqlite3_errmsg(d->h);
    return NULL;
}

char *llm_sse_error_of(struct llm_sse_db *d, const char *text, size_t len)
{
    const char *why, *t;
    sqlite3_stmt *st = len < INT_MAX ? chunk_of(d, text, len, &why) : NULL;
    char *msg = st != NULL && (t = error_text(st)) != NULL ? xstrdup(t) : NULL;

    reset(d->chunk);
    return msg;
}

char *llm_sse_request_body(struct llm_sse_db *d, const char *model, const char *messages_json)
{
    sqlite3_stmt *st = d->request;
    const char *t;
    char *body = NULL;

    if (sqlite3_bind_text(st, 1, model, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(st, 2, messages_json, -1, SQLITE_STATIC) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW &&
        (t = (const char *)sqlite3_column_text(st, 0)) != NULL)
        body = xstrdup(t);
    reset(st);
    return body;
}

/* One event's data (without the last '\n'). */
static void event(struct llm_sse *p, const char *text, size_t len)
{
    const char *why;
    sqlite3_stmt *st;

    p->events++;
    if (len == 6 && memcmp(text, "[DONE]", 6) == 0) {
        p->state = LLM_SSE_DONE;
        return;
    }
    st = chunk_of(p->d, text, len, &why);
    if (st == NULL)
        end(p, LLM_SSE_MALFORMED, why);
    else
        chunk_read(p, st);
    reset(p->d->chunk);
}

/* One whole line, without its end. */
static void line(struct llm_sse *p, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t name = colon != NULL ? (size_t)(colon - s) : n;
    const char *value = colon != NULL ? colon + 1 : s + n;
    size_t vlen = n - (size_t)(value - s);

    if (n == 0) {
        if (p->has_data) {
            /* The event ends: its data loses the '\n' after its last line. */
            event(p, p->data.p, p->data.len - 1);
            buf_reset(&p->data);
            p->has_data = 0;
        }
        return;
    }
    if (name != 4 || memcmp(s, "data", 4) != 0)
        return; /* a comment (name 0) or another field */
    if (vlen > 0 && value[0] == ' ') {
        value++;
        vlen--;
    }
    if (p->data.len + vlen + 1 > p->max_line) {
        end(p, LLM_SSE_TOO_LONG, "an event longer than the bound");
        return;
    }
    buf_append(&p->data, value, vlen);
    buf_putc(&p->data, '\n');
    p->has_data = 1;
}

enum llm_sse_state llm_sse_feed(struct llm_sse *p, const char *data, size_t n)
{
    size_t i = 0, start;

    while (i < n && p->state == LLM_SSE_MORE) {
        if (p->after_cr) {
            p->after_cr = 0;
            if (data[i] == '\n') {
                i++;
                continue;
            }
        }
        start = i;
        while (i < n && data[i] != '\n' && data[i] != '\r')
            i++;
        if (p->line.len + (i - start) > p->max_line) {
            end(p, LLM_SSE_TOO_LONG, "a line longer than the bound");
            break;
        }
        buf_append(&p->line, data + start, i - start);
        if (i == n)
            break; /* the line goes on in the next piece */
        p->after_cr = data[i] == '\r';
        i++;
        line(p, p->line.len ? p->line.p : "", p->line.len);
        buf_reset(&p->line);
    }
    return p->state;
}
