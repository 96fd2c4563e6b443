/* store.c - the event log (see store.h). */
#include "store/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/log.h"
#include "store/db.h"
#include "store/db_ids.h"

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
    if (log_timestamp(time(NULL), ts, sizeof ts) != 0) {
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

/* The events first..last (just appended) into *evs: 0 when there are
 * exactly n = last - first + 1 of them, -1 otherwise. */
static int read_range(struct db *db, int64_t first, int64_t last, struct event **evs, size_t *n)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_RANGE);
    size_t want = (size_t)(last - first + 1), i = 0;
    int step = SQLITE_ERROR;

    *evs = xcalloc(want, sizeof **evs);
    if (st != NULL && sqlite3_bind_int64(st, 1, first) == SQLITE_OK && sqlite3_bind_int64(st, 2, last) == SQLITE_OK)
        while (i < want && (step = sqlite3_step(st)) == SQLITE_ROW) {
            (*evs)[i].id = sqlite3_column_int64(st, 0);
            (*evs)[i].topic = col_dup(st, 1);
            (*evs)[i].type = col_dup(st, 2);
            i++;
        }
    db_done(st);
    *n = i;
    return i == want ? 0 : -1;
}

int store_append_events(struct db *db, const char *body, size_t len, long long max_bytes, struct event **evs,
                        size_t *n)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_APPEND_BATCH);
    char ts[LOG_TIMESTAMP_SIZE];
    int64_t last, added;
    size_t i;
    int step, rc = -1;

    *evs = NULL;
    *n = 0;
    if (st == NULL || len > INT32_MAX || log_timestamp(time(NULL), ts, sizeof ts) != 0 ||
        db_bind_text(st, 1, body, (int)len) || db_bind_text(st, 2, ts, -1) ||
        sqlite3_bind_int64(st, 3, max_bytes) != SQLITE_OK)
        goto out;
    step = sqlite3_step(st);
    if (step == SQLITE_CONSTRAINT_FUNCTION) {
        rc = 0; /* an element refused: none appended (SQLite undid the statement) */
        goto out;
    }
    if (step != SQLITE_DONE) {
        log_error("appending a batch of events: %s", sqlite3_errmsg(db_handle(db)));
        goto out;
    }
    added = sqlite3_changes64(db_handle(db));
    last = sqlite3_last_insert_rowid(db_handle(db));
    rc = 0;
    if (added == 0)
        goto out;
    /* one statement, one writer: its rows took consecutive ids (one above
     * the newest row each, no AUTOINCREMENT); read_range checks it */
    if (read_range(db, last - added + 1, last, evs, n) != 0) {
        log_error("appending a batch of events: %lld rows, not %lld, read back", (long long)*n, (long long)added);
        for (i = 0; i < *n; i++)
            store_event_free(&(*evs)[i]);
        free(*evs);
        *evs = NULL;
        *n = 0;
        rc = -1;
    }
out:
    db_done(st);
    return rc;
}

void store_event_free(struct event *ev)
{
    free(ev->topic);
    free(ev->type);
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
        .pruned_upto = sqlite3_column_int64(st, 5),
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

/* Binds ?1 = text (when not NULL) and the integers after it, in order.
 * 0 or -1. */
static int bind_args(sqlite3_stmt *st, const char *text, const int64_t *v, int nv)
{
    int i, base = text != NULL ? 2 : 1;

    if (st == NULL || (text != NULL && db_bind_text(st, 1, text, -1) != 0))
        return -1;
    for (i = 0; i < nv; i++)
        if (db_bind_int64(st, base + i, v[i]) != 0)
            return -1;
    return 0;
}

/* Runs a statement that returns no row; the rows it changed, or -1. */
static int exec_args(struct db *db, enum sql_id id, const char *text, const int64_t *v, int nv)
{
    sqlite3_stmt *st = db_stmt(db, id);
    int rc = -1;

    if (bind_args(st, text, v, nv) == 0) {
        if (sqlite3_step(st) == SQLITE_DONE)
            rc = sqlite3_changes(db_handle(db));
        else
            log_error("%s: %s", sql_query_name[id], sqlite3_errmsg(db_handle(db)));
    }
    db_done(st);
    return rc;
}

/* Runs a statement that returns at most one row of integers into out[0..nout).
 * 1 with a row, 0 with none, -1 on error. */
static int query_ints(struct db *db, enum sql_id id, const char *text, const int64_t *v, int nv, int64_t *out,
                      int nout)
{
    sqlite3_stmt *st = db_stmt(db, id);
    int i, step, rc = -1;

    if (bind_args(st, text, v, nv) == 0) {
        step = sqlite3_step(st);
        if (step == SQLITE_ROW) {
            for (i = 0; i < nout; i++)
                out[i] = sqlite3_column_int64(st, i);
            rc = 1;
        } else if (step == SQLITE_DONE) {
            rc = 0;
        } else {
            log_error("%s: %s", sql_query_name[id], sqlite3_errmsg(db_handle(db)));
        }
    }
    db_done(st);
    return rc;
}

int store_void_upto(struct db *db, int64_t known)
{
    int64_t pruned, last;
    int rc = -1;

    if (db_begin(db, 1) != 0)
        return -1;
    if (store_bounds(db, &pruned, &last) != 0)
        goto out;
    if (known <= last) {
        rc = 0;
        goto out;
    }
    if (db_ids_void(db_handle(db), known) != 0 || db_commit(db) != 0)
        goto out;
    return 1;
out:
    db_rollback(db);
    return rc;
}

int store_voided_upto(struct db *db, int64_t *upto)
{
    return query_ints(db, SQL_EVENT_VOIDED_UPTO, NULL, NULL, 0, upto, 1) > 0 ? 0 : -1;
}

int store_newest_void(struct db *db, int64_t *id, int64_t *after)
{
    int64_t out[2];
    int rc = query_ints(db, SQL_EVENT_NEWEST_VOID, NULL, NULL, 0, out, 2);

    if (rc > 0) {
        *id = out[0];
        *after = out[1];
    }
    return rc;
}

int store_mirror_void(struct db *db, int64_t id, int64_t after, const char *ts)
{
    static const enum sql_id steps[] = {SQL_EVENT_MIRROR_VOIDED, SQL_EVENT_MIRROR_VOID_UNCOUNT,
                                        SQL_EVENT_MIRROR_VOID_DROP, SQL_EVENT_MIRROR_VOID};
    size_t i;
    int stored = 0;

    for (i = 0; i < sizeof steps / sizeof *steps; i++) {
        sqlite3_stmt *st = db_stmt(db, steps[i]);

        if (st == NULL || db_bind_int64(st, 1, id) || db_bind_int64(st, 2, after) ||
            (steps[i] == SQL_EVENT_MIRROR_VOID && db_bind_text(st, 3, ts, -1)) || sqlite3_step(st) != SQLITE_DONE) {
            log_error("mirroring the void at %lld: %s", (long long)id, sqlite3_errmsg(db_handle(db)));
            db_done(st);
            return -1;
        }
        stored = sqlite3_changes(db_handle(db)) > 0;
        db_done(st);
    }
    if (!stored)
        return 0;
    return store_mark_gap(db, id) == 0 ? 1 : -1;
}

int store_pruned_after(struct db *db, const char *const *topics, size_t ntopics, int64_t after, int *pruned)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_PRUNED_TOPICS);
    size_t i;
    int rc = -1;

    if (st == NULL || ntopics == 0 || ntopics > STORE_MAX_TOPICS || db_bind_int64(st, 1, after) != 0)
        goto out;
    /* Unused slots stay NULL, which the query skips. */
    for (i = 0; i < ntopics; i++)
        if (db_bind_text(st, 2 + (int)i, topics[i], -1) != 0)
            goto out;
    if (sqlite3_step(st) != SQLITE_ROW) {
        log_error("reading what was pruned: %s", sqlite3_errmsg(db_handle(db)));
        goto out;
    }
    *pruned = sqlite3_column_int(st, 0) != 0;
    rc = 0;
out:
    db_done(st);
    return rc;
}

enum store_resume store_resume_point(int64_t since, int64_t last, int pruned, int may_wait)
{
    if (since > last)
        return may_wait ? STORE_RESUME_WAIT : STORE_RESUME_UNKNOWN;
    return pruned ? STORE_RESUME_EXPIRED : STORE_RESUME_OK;
}

int store_topics_pruned_after(struct db *db, int64_t after, store_topic_cb cb, void *arg)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_TOPICS_PRUNED_AFTER);
    int step = SQLITE_ERROR;

    if (st != NULL && db_bind_int64(st, 1, after) == 0) {
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            if (cb(arg, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1)) != 0) {
                step = SQLITE_DONE;
                break;
            }
        if (step != SQLITE_DONE)
            log_error("reading what was pruned: %s", sqlite3_errmsg(db_handle(db)));
    }
    db_done(st);
    return step == SQLITE_DONE ? 0 : -1;
}

int store_mark_gap(struct db *db, int64_t upto)
{
    return exec_args(db, SQL_EVENT_SET_PRUNED, NULL, &upto, 1) < 0 ? -1 : 0;
}

int store_mark_topic_gap(struct db *db, const char *topic, int64_t upto)
{
    int64_t one;
    int rc;

    /* The primary sends its floor on every entry of the topic: most of the
     * time this copy got those events before they were pruned there, and a
     * read says so without a write. */
    if ((rc = query_ints(db, SQL_EVENT_TOPIC_UNACCOUNTED, topic, &upto, 1, &one, 1)) <= 0)
        return rc;
    return exec_args(db, SQL_EVENT_TOPIC_GAP, topic, &upto, 1) < 0 ? -1 : 0;
}

#define PRUNE_TOPICS_MAX 64   /* topics trimmed by one store_prune at most */

/* What store_prune works from (event_prune_state), kept up to date as it goes. */
struct prune_state {
    int64_t counted;   /* events up to this id are counted per topic */
    int64_t aged;      /* events up to this id went by age */
    int64_t min_id, max_id;   /* 0, 0: no event */
};

/* Deletes the oldest run of events older than max_age_s, at most batch of
 * them and never the newest; each counted topic forgets them and records
 * the highest of its ids that went. Rows deleted, or -1. */
static int prune_by_age(struct db *db, struct prune_state *s, long max_age_s, int64_t now, int batch)
{
    int64_t v[3], upto;
    int deleted;

    if (s->min_id == 0 || s->max_id <= s->min_id)
        return 0; /* the newest event always stays: the next id is one above it */
    v[0] = s->min_id;
    v[1] = s->max_id - 1 < s->min_id + batch - 1 ? s->max_id - 1 : s->min_id + batch - 1;
    v[2] = now - max_age_s;
    if (query_ints(db, SQL_EVENT_AGED_UPTO, NULL, v, 3, &upto, 1) != 1)
        return -1;
    if (upto < s->min_id)
        return 0;
    v[0] = upto;
    v[1] = s->counted;
    if (exec_args(db, SQL_EVENT_AGE_FORGET, NULL, v, 2) < 0 || (deleted = exec_args(db, SQL_EVENT_PRUNE, NULL, &upto, 1)) < 0 ||
        exec_args(db, SQL_EVENT_SET_META, "aged_upto", &upto, 1) < 0 ||
        exec_args(db, SQL_EVENT_SET_META, "counted_upto", &upto, 1) < 0)
        return -1;
    if (s->aged < upto)
        s->aged = upto;
    if (s->counted < upto)
        s->counted = upto; /* gone uncounted: never to be counted */
    s->min_id = upto + 1;
    /* Topics with nothing left: the age floor stands for them now. */
    if (exec_args(db, SQL_EVENT_TOPICS_FORGET, NULL, &s->aged, 1) < 0)
        return -1;
    return deleted;
}

/* Counts per topic the events appended since the last call, at most batch
 * ids of them. 0 or -1. */
static int count_appended(struct db *db, struct prune_state *s, int batch)
{
    int64_t v[3];

    v[0] = s->counted > s->min_id - 1 ? s->counted : s->min_id - 1; /* none below min_id */
    if (s->max_id <= v[0])
        return 0;
    v[1] = s->max_id < v[0] + batch ? s->max_id : v[0] + batch;
    v[2] = s->aged;
    if (exec_args(db, SQL_EVENT_COUNT_TOPICS, NULL, v, 3) < 0 ||
        exec_args(db, SQL_EVENT_SET_META, "counted_upto", &v[1], 1) < 0)
        return -1;
    s->counted = v[1];
    return 0;
}

/* The topic with the most counted events (caller frees *topic; NULL when
 * there is none). 0 or -1. */
static int fullest_topic(struct db *db, char **topic, int64_t *kept)
{
    sqlite3_stmt *st = db_stmt(db, SQL_EVENT_TOPIC_FULLEST);
    int step, rc = -1;

    *topic = NULL;
    if (st == NULL)
        goto out;
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *topic = col_dup(st, 0);
        *kept = sqlite3_column_int64(st, 1);
    } else if (step != SQLITE_DONE) {
        log_error("pruning the event log: %s", sqlite3_errmsg(db_handle(db)));
        goto out;
    }
    rc = 0;
out:
    db_done(st);
    return rc;
}

/* Trims the topics holding more than per_topic counted events, fullest
 * first, their oldest first, deleting at most budget rows. Each keeps at
 * least one event, and the newest of the log stays even if the counts are
 * wrong (rows deleted by hand): those are counted again. Rows deleted, or
 * -1. */
static int prune_topics(struct db *db, const struct prune_state *s, long per_topic, int budget)
{
    int round, deleted = 0;

    for (round = 0; round < PRUNE_TOPICS_MAX && deleted < budget; round++) {
        char *topic = NULL;
        int64_t kept = 0, k, v[2], upto;
        int found, n;

        if (fullest_topic(db, &topic, &kept) != 0)
            return -1;
        if (topic == NULL || kept <= per_topic) {
            free(topic);
            break;
        }
        k = kept - per_topic < budget - deleted ? kept - per_topic : budget - deleted;
        v[0] = k - 1;
        v[1] = s->counted < s->max_id - 1 ? s->counted : s->max_id - 1;
        found = query_ints(db, SQL_EVENT_TOPIC_NTH, topic, v, 2, &upto, 1);
        if (found == 1) {
            n = exec_args(db, SQL_EVENT_TOPIC_PRUNE, topic, &upto, 1);
            v[0] = upto;
            v[1] = n;
            if (n >= 0 && exec_args(db, SQL_EVENT_TOPIC_PRUNED, topic, v, 2) >= 0)
                deleted += n;
            else
                found = -1;
        } else if (found == 0) {
            /* fewer events than counted (deleted by hand): count again */
            found = exec_args(db, SQL_EVENT_TOPIC_RECOUNT, topic, NULL, 0) < 0 ? -1 : 0;
        }
        free(topic);
        if (found < 0)
            return -1;
    }
    return deleted;
}

int store_prune(struct db *db, long per_topic, long max_age_s, int batch, int64_t now,
                struct store_prune_hint *hint)
{
    struct prune_state s;
    struct store_prune_hint next = {0, 0};
    int64_t v[4], oldest[2];
    int n, deleted = 0;

    if (per_topic < 1)
        per_topic = 1;
    if (batch < 1)
        batch = 1;
    if (db_begin(db, 1) != 0)
        return -1;
    if (query_ints(db, SQL_EVENT_PRUNE_STATE, NULL, NULL, 0, v, 4) != 1)
        goto fail;
    s.counted = v[0];
    s.aged = v[1];
    s.min_id = v[2];
    s.max_id = v[3];
    if ((n = prune_by_age(db, &s, max_age_s, now, batch)) < 0)
        goto fail;
    deleted += n;
    if (count_appended(db, &s, batch) != 0)
        goto fail;
    if ((n = prune_topics(db, &s, per_topic, batch - deleted)) < 0)
        goto fail;
    deleted += n;
    if (hint != NULL) {
        n = query_ints(db, SQL_EVENT_OLDEST, NULL, &now, 1, oldest, 2);
        if (n < 0)
            goto fail;
        /* empty: the next id is the oldest there can be */
        next.oldest = n == 1 ? oldest[0] : s.max_id + 1;
        next.age_due = (n == 1 ? oldest[1] : now) + max_age_s + 1;
    }
    if (db_commit(db) != 0)
        return -1;
    if (hint != NULL)
        *hint = next;
    return deleted;
fail:
    db_rollback(db);
    return -1;
}
