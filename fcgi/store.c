/* store.c - the event log (see store.h). */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "db.h"
#include "log.h"

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return xstrndup(t ? (const char *)t : "", (size_t)sqlite3_column_bytes(st, i));
}

int store_append_event(struct db *db, const char *topic, const char *type, const char *data_json,
                       struct event *ev)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_APPEND);
    char ts[LOG_TIMESTAMP_SIZE];
    int rc = -1;

    memset(ev, 0, sizeof *ev);
    /* formatted here: SQLite's strftime('now') cost 6% of a publish */
    if (log_timestamp(ts, sizeof ts) != 0) {
        log_error("appending event to %s: the clock cannot be read", topic);
        goto out;
    }
    if (st == NULL || db_bind_text(st, 1, topic, -1) || db_bind_text(st, 2, type, -1) ||
        db_bind_text(st, 3, data_json, -1) || db_bind_text(st, 4, ts, -1))
        goto out;
    if (sqlite3_step(st) != SQLITE_DONE) {
        log_error("appending event to %s: %s", topic, sqlite3_errmsg(db_handle(db)));
        goto out;
    }
    ev->id = sqlite3_last_insert_rowid(db_handle(db));
    ev->topic = xstrdup(topic);
    ev->type = xstrdup(type);
    rc = 0;
out:
    db_done(st);
    return rc;
}

int store_envelopes(struct db *db, struct event *evs, size_t n)
{
    sqlite3_stmt *st;
    size_t i = 0, missing = 0;
    int rc;

    if (n == 0)
        return 0;
    st = db_stmt(db, SQL_EVENT_ENVELOPES);
    if (st == NULL || db_bind_int64(st, 1, evs[0].id) != 0 || db_bind_int64(st, 2, evs[n - 1].id) != 0) {
        db_done(st);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);

        while (i < n && evs[i].id < id)
            i++;
        if (i < n && evs[i].id == id && evs[i].envelope == NULL) {
            evs[i].envelope = col_dup(st, 1);
            evs[i].len = strlen(evs[i].envelope);
        }
    }
    db_done(st);
    for (i = 0; i < n; i++)
        missing += evs[i].envelope == NULL;
    return rc == SQLITE_DONE && missing == 0 ? 0 : -1;
}

void store_event_free(struct event *ev)
{
    free(ev->topic);
    free(ev->type);
    free(ev->envelope);
    memset(ev, 0, sizeof *ev);
}

int store_bounds(struct db *db, int64_t *pruned_upto, int64_t *last_id)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_BOUNDS);
    int rc = -1;

    if (st != NULL && sqlite3_step(st) == SQLITE_ROW) {
        *pruned_upto = sqlite3_column_int64(st, 0);
        *last_id = sqlite3_column_int64(st, 1);
        rc = 0;
    }
    db_done(st);
    return rc;
}

/* Steps st to its end, calling each(ctx, st) per row until one returns
 * non-zero; resets st. *count gets the rows seen. 0 or -1. */
static int step_rows(struct db *db, sqlite3_stmt *st, int (*each)(void *ctx, sqlite3_stmt *st), void *ctx,
                     int *count)
{
    int step, n = 0;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        if (each(ctx, st) != 0) {
            step = SQLITE_DONE;
            break;
        }
    }
    db_done(st);
    *count = n;
    if (step != SQLITE_DONE) {
        log_error("reading events: %s", sqlite3_errmsg(db_handle(db)));
        return -1;
    }
    return 0;
}

struct visit {
    store_event_cb event;
    store_row_cb row;
    void *arg;
};

/* id, topic, type, envelope */
static int visit_event(void *ctx, sqlite3_stmt *st)
{
    struct visit *v = ctx;

    return v->event(v->arg, sqlite3_column_int64(st, 0), (const char *)sqlite3_column_text(st, 1),
                    (const char *)sqlite3_column_text(st, 2), (const char *)sqlite3_column_text(st, 3),
                    (size_t)sqlite3_column_bytes(st, 3));
}

/* id, topic, type, ts, data */
static int visit_row(void *ctx, sqlite3_stmt *st)
{
    struct visit *v = ctx;
    struct store_row r = {
        .id = sqlite3_column_int64(st, 0),
        .topic = (const char *)sqlite3_column_text(st, 1),
        .type = (const char *)sqlite3_column_text(st, 2),
        .ts = (const char *)sqlite3_column_text(st, 3),
        .data = (const char *)sqlite3_column_text(st, 4),
    };

    return v->row(v->arg, &r);
}

static int read_rows(struct db *db, sqlite3_stmt *st, store_event_cb cb, void *arg, int *count)
{
    struct visit v = {cb, NULL, arg};

    return step_rows(db, st, visit_event, &v, count);
}

int store_read_after(struct db *db, int64_t after, int limit, store_event_cb cb, void *arg, int *count)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_AFTER);

    *count = 0;
    if (st == NULL || db_bind_int64(st, 1, after) || db_bind_int64(st, 2, limit)) {
        db_done(st);
        return -1;
    }
    return read_rows(db, st, cb, arg, count);
}

int store_read_topics(struct db *db, const char *const *topics, size_t ntopics, int64_t after,
                      int64_t upto, int limit, store_event_cb cb, void *arg, int *count)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_AFTER_TOPICS);
    size_t i;

    *count = 0;
    if (st == NULL || ntopics == 0 || ntopics > STORE_MAX_TOPICS)
        goto fail;
    if (db_bind_int64(st, 1, after) || db_bind_int64(st, 2, upto) || db_bind_int64(st, 19, limit))
        goto fail;
    /* Unused slots stay NULL, which IN never matches. */
    for (i = 0; i < ntopics; i++)
        if (db_bind_text(st, 3 + (int)i, topics[i], -1) != 0)
            goto fail;
    return read_rows(db, st, cb, arg, count);
fail:
    db_done(st);
    return -1;
}

int store_read_rows_after(struct db *db, int64_t after, int limit, store_row_cb cb, void *arg, int *count)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_ROWS_AFTER);
    struct visit v = {NULL, cb, arg};

    *count = 0;
    if (st == NULL || db_bind_int64(st, 1, after) || db_bind_int64(st, 2, limit)) {
        db_done(st);
        return -1;
    }
    return step_rows(db, st, visit_row, &v, count);
}

int store_mirror_event(struct db *db, const struct store_row *r)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_MIRROR);
    int rc = -1;

    if (st == NULL || db_bind_int64(st, 1, r->id) || db_bind_text(st, 2, r->topic, -1) ||
        db_bind_text(st, 3, r->type, -1) || db_bind_text(st, 4, r->ts, -1) || db_bind_text(st, 5, r->data, -1))
        goto out;
    if (sqlite3_step(st) != SQLITE_DONE) {
        log_error("mirroring event %lld: %s", (long long)r->id, sqlite3_errmsg(db_handle(db)));
        goto out;
    }
    rc = sqlite3_changes(db_handle(db)) > 0;
out:
    db_done(st);
    return rc;
}

static int64_t one_int(struct db *db, enum sql_id id, int *ok)
{
    sqlite3_stmt *st = db_stmt(db, id);
    int64_t v = 0;

    *ok = st != NULL && sqlite3_step(st) == SQLITE_ROW;
    if (*ok)
        v = sqlite3_column_int64(st, 0);
    db_done(st);
    return v;
}

static int exec_int(struct db *db, enum sql_id id, int64_t arg)
{
    sqlite3_stmt *st = db_stmt(db, id);
    int rc = -1;

    if (st != NULL && db_bind_int64(st, 1, arg) == 0 && sqlite3_step(st) == SQLITE_DONE)
        rc = sqlite3_changes(db_handle(db));
    db_done(st);
    return rc;
}

int store_mark_gap(struct db *db, int64_t upto)
{
    return exec_int(db, SQL_EVENT_SET_PRUNED, upto) < 0 ? -1 : 0;
}

int store_prune(struct db *db, long retention, int batch, int64_t *oldest)
{
    int64_t pruned, last, min_id, upto;
    int ok, deleted = 0;

    if (db_begin(db, 1) != 0)
        return -1;
    if (store_bounds(db, &pruned, &last) != 0)
        goto fail;
    min_id = one_int(db, SQL_EVENT_MIN_ID, &ok);
    if (!ok)
        goto fail;
    /* The newest row always stays: the next id is one above it (SQLite's
     * rowid), so deleting it would hand its id out again. */
    if (retention < 1)
        retention = 1;
    upto = last - retention;
    if (upto >= min_id && min_id > 0) {
        if (upto > min_id + batch - 1)
            upto = min_id + batch - 1;
        deleted = exec_int(db, SQL_EVENT_PRUNE, upto);
        if (deleted < 0 || exec_int(db, SQL_EVENT_SET_PRUNED, upto) < 0)
            goto fail;
        min_id = upto + 1;
    } else if (min_id == 0) {
        min_id = last + 1; /* empty: the next id is the oldest there can be */
    }
    if (db_commit(db) != 0)
        return -1;
    if (oldest != NULL)
        *oldest = min_id;
    return deleted;
fail:
    db_rollback(db);
    return -1;
}
