/* store.h - the event log: append inside the caller's transaction, read
 * back in id order, prune by retention (per topic, and by age) and tell a
 * resuming client whether anything of ITS topics was pruned.
 *
 * An id is SQLite's next rowid, one above the newest row (which
 * store_prune never deletes), assigned under SQLite's single write lock, so
 * commits happen in id order: a reader that sees id N has every id below N
 * that will ever exist (bar pruned ones). The whole resume design rests on
 * that. */
#ifndef PULSE_STORE_H
#define PULSE_STORE_H

#include <stddef.h>
#include <stdint.h>

struct db;

struct event {
    int64_t id;
    char *topic;      /* owned */
    char *type;       /* owned */
};

#define STORE_MAX_TOPICS 16

/* Appends an event in the current transaction; data_json must be valid
 * JSON. Fills ev's id, topic and type (free with store_event_free). 0 or -1. */
int store_append_event(struct db *db, const char *topic, const char *type, const char *data_json,
                       struct event *ev);
void store_event_free(struct event *ev);
/* Appends, in the current transaction, the elements of body's $.events
 * array (body: a JSON object without \u0000 escapes), in order, when every
 * one is a well-formed event whose data is at most max_bytes
 * (event_append_batch says which). *evs gets the appended events (caller
 * frees each with store_event_free, then the array), *n how many: none
 * when an element is refused (SQLite undoes the statement's rows). 0 or
 * -1. */
int store_append_events(struct db *db, const char *body, size_t len, long long max_bytes, struct event **evs,
                        size_t *n);

/* pruned_upto: every id up to it may be missing whatever its topic (pruned
 * by age, or a gap in an edge's copy; per-topic pruning is not in it: see
 * store_pruned_after); last_id: highest id ever assigned. */
int store_bounds(struct db *db, int64_t *pruned_upto, int64_t *last_id);

/* Whether a client that has every event of the given topics
 * (1..STORE_MAX_TOPICS) up to id `after` can go on from the log: *pruned
 * gets 1 when one of their events with id > after may be gone (pruned by
 * their topic's retention, by age, or missing from an edge's copy), so the
 * client must get a reset; 0 when every one of them is still in the log.
 * Pruning one topic never sets it for another. 0 or -1. */
int store_pruned_after(struct db *db, const char *const *topics, size_t ntopics, int64_t after, int *pruned);

/* Where a client that has every event of its topics up to `since` goes on
 * from, decided alike for streams (Last-Event-ID) and polling (since=):
 * last is the log's head (store_bounds), pruned what store_pruned_after
 * said for since, and may_wait whether ids past the head may still arrive
 * in order (an edge's copy of the log catching up). Every pruned id is at
 * most the head, so a position past it is judged by that alone. */
enum store_resume {
    STORE_RESUME_OK,        /* the log holds everything after since: read on */
    STORE_RESUME_EXPIRED,   /* an event after since may be gone: reset, history_expired */
    STORE_RESUME_UNKNOWN,   /* since is past the head and no log here will reach it: reset, unknown_id */
    STORE_RESUME_WAIT       /* since is past the head of a log still arriving: wait there */
};

enum store_resume store_resume_point(int64_t since, int64_t last, int pruned, int may_wait);

/* Called with a topic and the highest of its ids pruned; the string is
 * valid only during the call. A non-zero return stops the read. */
typedef int (*store_topic_cb)(void *arg, const char *topic, int64_t pruned_upto);

/* Every topic one of whose events with id > after was pruned by its
 * retention (those pruned by age or missing in a gap are every topic's:
 * see store_bounds). 0 or -1. */
int store_topics_pruned_after(struct db *db, int64_t after, store_topic_cb cb, void *arg);

/* Called once per row, in id order; a non-zero return stops the read. The
 * strings are valid only during the call. */
typedef int (*store_event_cb)(void *arg, int64_t id, const char *topic, const char *type,
                              const char *envelope, size_t len);

/* Every event with id > after, at most limit. *count gets the rows read. */
int store_read_after(struct db *db, int64_t after, int limit, store_event_cb cb, void *arg, int *count);

/* Events of the given topics (1..STORE_MAX_TOPICS) with after < id <= upto. */
int store_read_topics(struct db *db, const char *const *topics, size_t ntopics, int64_t after,
                      int64_t upto, int limit, store_event_cb cb, void *arg, int *count);

/* The stored columns of one event, for replication to edge hosts. The
 * strings are borrowed (valid during a callback, or owned by the caller). */
struct store_row {
    int64_t id;
    const char *topic, *type, *ts, *data;
    int64_t pruned_upto;   /* store_read_rows_after: the highest id of the topic pruned here */
};

typedef int (*store_row_cb)(void *arg, const struct store_row *r);

/* Every event with id > after, at most limit, as stored columns. */
int store_read_rows_after(struct db *db, int64_t after, int limit, store_row_cb cb, void *arg, int *count);

/* Stores an event copied from the primary under its own id, inside the
 * caller's transaction. 1 stored, 0 malformed (skipped), -1 error. */
int store_mirror_event(struct db *db, const struct store_row *r);

/* Ids up to known were handed out by this deployment's primary (Redis's
 * copy of the log says so) but the log here ends below them (an edge
 * promoted on a copy, a file put back whose -ids file was lost): appends
 * the void row past known in a transaction of its own (store/db_ids.h).
 * 1 appended, 0 nothing to do, -1 error. */
int store_void_upto(struct db *db, int64_t known);

/* The newest void row an edge applied (store_mirror_void), or 0. 0, or -1. */
int store_voided_upto(struct db *db, int64_t *upto);

/* The newest void row's id, and the lowest "after" (where a file put back
 * ended) of all. 1, 0 when the log has none, -1 error. */
int store_newest_void(struct db *db, int64_t *id, int64_t *after);

/* The primary's void row id (topic "", type "void": a file put back there,
 * store/db_ids.h; after, where that file ended, below id; ts its time),
 * inside the caller's transaction: drops the events this copy holds that
 * the primary's file lacks (after `after`, below the row), stores
 * the row, and prunes the log up to it. 1 done, 0 stored before (nothing
 * changed), -1 error. */
int store_mirror_void(struct db *db, int64_t id, int64_t after, const char *ts);

/* Records that every id up to upto may be missing here (an edge that fell
 * behind the primary's history): resumes from below it get a reset. */
int store_mark_gap(struct db *db, int64_t upto);

/* Records that events of one topic up to upto may be missing here (the
 * primary pruned them: a relayed entry's "f"), unless this copy already
 * accounts for them: it holds an event of the topic at or above upto, or
 * its floor for the topic, or for every topic, is there already. Resumes
 * on that topic from below it then get a reset. A floor never moves back. */
int store_mark_topic_gap(struct db *db, const char *topic, int64_t upto);

/* When store_prune may next find work, so that callers can skip it. */
struct store_prune_hint {
    int64_t oldest;    /* no event below this id is left (a lower bound) */
    int64_t age_due;   /* no event is older than max_age_s before this time (unix seconds) */
};

/* Retention: every topic keeps its newest per_topic events (under 1 counts
 * as 1), and no event older than max_age_s seconds before `now` (unix
 * seconds) stays. One call does one bounded step, in its own short write
 * transaction so writers are never blocked for long: it prunes the oldest
 * events by age, counts per topic at most `batch` events appended since
 * the last call, and deletes at most `batch` rows in all. The newest event
 * always stays: the next id is one above it. Returns the number of rows
 * deleted, or -1. With hint not NULL: until the newest id is per_topic
 * past hint->oldest (no topic can hold more) and until hint->age_due,
 * there is nothing to prune and no transaction need be taken. */
int store_prune(struct db *db, long per_topic, long max_age_s, int batch, int64_t now,
                struct store_prune_hint *hint);

#endif
