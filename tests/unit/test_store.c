/* test_store.c - the event log on an in-memory database (fcgi/store/store.c):
 * append in a transaction, reads in id order, topic filters, bounds and
 * pruning. */
#include "store/store.c"

#include <time.h>

#include "base/buf.h"

#include "check.h"
#include "unit_db.h"

static struct db *db;

struct seen {
    int64_t ids[32];
    char topics[32][32];
    int n;
    int stop_after;   /* stop the read after this many rows; 0: never */
};

static int collect(void *arg, int64_t id, const char *topic, const char *type, const char *envelope,
                   size_t len)
{
    struct seen *s = arg;

    if (s->n < 32) {
        s->ids[s->n] = id;
        snprintf(s->topics[s->n], sizeof s->topics[0], "%s", topic);
    }
    s->n++;
    CHECK(strcmp(type, "message") == 0 && strlen(envelope) == len);
    return s->stop_after && s->n == s->stop_after;
}

/* Keeps the first row's envelope in arg (256 bytes). */
static int first_envelope(void *arg, int64_t id, const char *topic, const char *type, const char *envelope,
                          size_t len)
{
    (void)id;
    (void)topic;
    (void)type;
    snprintf(arg, 256, "%.*s", (int)len, envelope);
    return 1;
}

/* Ids the reads delivered, as "1,2,3". */
static const char *ids(const struct seen *s)
{
    static char out[256];
    size_t o = 0;
    int i;

    out[0] = '\0';
    for (i = 0; i < s->n && i < 32; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%lld", i ? "," : "", (long long)s->ids[i]);
    return out;
}

static const char *after(int64_t from, int limit, int stop_after)
{
    struct seen s = {.stop_after = stop_after};
    int count = -1;

    CHECK(store_read_after(db, from, limit, collect, &s, &count) == 0);
    CHECK_INT_EQ(count, s.n);
    return ids(&s);
}

static const char *topics(const char *const *t, size_t n, int64_t from, int64_t upto)
{
    struct seen s = {0};
    int count = -1;

    CHECK(store_read_topics(db, t, n, from, upto, 100, collect, &s, &count) == 0);
    CHECK_INT_EQ(count, s.n);
    return ids(&s);
}

static void append(const char *topic, const char *data, int64_t want_id)
{
    struct event ev;

    CHECK(store_append_event(db, topic, "message", data, &ev) == 0);
    CHECK_INT_EQ(ev.id, want_id);
    store_event_free(&ev);
}

static void test_append_and_read(void)
{
    static const char *const a[] = {"room:a"}, *const ab[] = {"room:b", "room:a"}, *const none[] = {"room:zz"};
    const char *envelope_start = "{\"id\":1,\"topic\":\"room:a\",\"type\":\"message\",\"ts\":\"20";
    const char *many[STORE_MAX_TOPICS + 1];
    struct event ev;
    int64_t pruned = -1, last = -1;
    size_t i;

    CHECK(store_bounds(db, &pruned, &last) == 0 && pruned == 0 && last == 0);

    CHECK(db_begin(db, 1) == 0);
    CHECK(db_in_transaction(db));
    CHECK(store_append_event(db, "room:a", "message", "{ \"n\" : 1 }", &ev) == 0);
    CHECK_INT_EQ(ev.id, 1);
    CHECK_STR_EQ(ev.topic, "room:a");
    CHECK_STR_EQ(ev.type, "message");
    append("room:b", "{\"n\":2}", 2);
    append("room:a", "[3]", 3);
    CHECK(db_commit(db) == 0);
    CHECK(!db_in_transaction(db));
    store_event_free(&ev);
    {
        /* the envelope a stream sends, as the log builds it */
        char env[256] = "";
        int count = -1;

        CHECK(store_read_after(db, 0, 1, first_envelope, env, &count) == 0 && count == 1);
        CHECK(strncmp(env, envelope_start, strlen(envelope_start)) == 0);
        CHECK(strstr(env, "\"data\":{\"n\":1}}") != NULL); /* data minified */
    }

    /* invalid JSON is refused and the rollback leaves no trace */
    CHECK(db_begin(db, 1) == 0);
    CHECK(store_append_event(db, "room:a", "message", "{nope", &ev) == -1);
    CHECK(ev.topic == NULL);
    db_rollback(db);

    CHECK(store_bounds(db, &pruned, &last) == 0);
    CHECK_INT_EQ(pruned, 0);
    CHECK_INT_EQ(last, 3);

    CHECK_STR_EQ(after(0, 100, 0), "1,2,3");
    CHECK_STR_EQ(after(1, 100, 0), "2,3");
    CHECK_STR_EQ(after(3, 100, 0), "");
    CHECK_STR_EQ(after(0, 2, 0), "1,2");
    CHECK_STR_EQ(after(0, 100, 1), "1"); /* a non-zero callback return stops */

    CHECK_STR_EQ(topics(a, 1, 0, 3), "1,3");
    CHECK_STR_EQ(topics(a, 1, 0, 2), "1");
    CHECK_STR_EQ(topics(a, 1, 1, 3), "3");
    CHECK_STR_EQ(topics(ab, 2, 1, 3), "2,3");
    CHECK_STR_EQ(topics(ab, 2, 0, INT64_MAX), "1,2,3");
    CHECK_STR_EQ(topics(none, 1, 0, 3), "");

    for (i = 0; i < STORE_MAX_TOPICS + 1; i++)
        many[i] = i == STORE_MAX_TOPICS - 1 ? "room:b" : "room:none";
    CHECK_STR_EQ(topics(many, STORE_MAX_TOPICS, 0, 3), "2");
    {
        struct seen s = {0};
        int count;
        CHECK(store_read_topics(db, many, STORE_MAX_TOPICS + 1, 0, 3, 100, collect, &s, &count) == -1);
        CHECK(store_read_topics(db, many, 0, 0, 3, 100, collect, &s, &count) == -1);
        CHECK_INT_EQ(s.n, 0);
    }
}

#define NO_AGE_LIMIT 315360000L   /* ten years: pruning by count only */
#define DAY 86400L

/* 1 when a client with every event of the topics up to `from` must get a
 * reset (store_pruned_after); -1 on error. */
static int lost(const char *topic, int64_t from)
{
    const char *t[1] = {topic};
    int pruned = -1;

    if (store_pruned_after(db, t, topic != NULL, from, &pruned) != 0)
        return -1;
    return pruned;
}

static int add_topic(void *arg, const char *topic, int64_t upto)
{
    buf_t *b = arg;

    buf_printf(b, "%s%s<=%lld", b->len ? "," : "", topic, (long long)upto);
    return 0;
}

/* The topics store_topics_pruned_after reports, as "room:a<=3,room:b<=7". */
static const char *pruned_topics(int64_t from)
{
    static char out[256];
    buf_t b = {0};

    CHECK(store_topics_pruned_after(db, from, add_topic, &b) == 0);
    snprintf(out, sizeof out, "%s", buf_str(&b));
    buf_free(&b);
    return out;
}

static int64_t bound_pruned(void)
{
    int64_t pruned = -1, last = -1;

    CHECK(store_bounds(db, &pruned, &last) == 0);
    return pruned;
}

/* Stores an event under its own id and time, as an edge does. */
static void put(int64_t id, const char *topic, const char *ts)
{
    struct store_row r = {.id = id, .topic = topic, .type = "message", .ts = ts, .data = "{}"};

    CHECK(db_begin(db, 1) == 0);
    CHECK_INT_EQ(store_mirror_event(db, &r), 1);
    CHECK(db_commit(db) == 0);
}

/* Retention counts each topic's events: a flood on one topic never
 * deletes another's, and what was pruned is known per topic. */
static void test_prune_per_topic(void)
{
    static const char *const ab[] = {"room:b", "room:a"};
    struct store_prune_hint hint = {-1, -1};
    int64_t now = (int64_t)time(NULL), pruned = -1, last = -1;
    int i, p = -1;

    /* 1 room:a, 2 room:b, 3 room:a (test_append_and_read): one each kept */
    CHECK_INT_EQ(store_prune(db, 1, NO_AGE_LIMIT, 100, now, &hint), 1);
    CHECK(!db_in_transaction(db));
    CHECK_STR_EQ(after(0, 100, 0), "2,3");
    CHECK_INT_EQ(hint.oldest, 2);
    CHECK(hint.age_due > now + NO_AGE_LIMIT - 5);
    CHECK(store_bounds(db, &pruned, &last) == 0);
    CHECK_INT_EQ(pruned, 0); /* nothing is gone for every topic */
    CHECK_INT_EQ(last, 3);
    CHECK_INT_EQ(lost("room:a", 0), 1); /* 1 is gone */
    CHECK_INT_EQ(lost("room:a", 1), 0);
    CHECK_INT_EQ(lost("room:b", 0), 0); /* room:b lost nothing */
    CHECK_INT_EQ(lost("room:zz", 0), 0);
    CHECK(store_pruned_after(db, ab, 2, 0, &p) == 0 && p == 1);
    CHECK(store_pruned_after(db, ab, 2, 1, &p) == 0 && p == 0);
    CHECK(store_pruned_after(db, ab, STORE_MAX_TOPICS + 1, 0, &p) == -1);
    CHECK(store_pruned_after(db, ab, 0, 0, &p) == -1);
    CHECK_STR_EQ(pruned_topics(0), "room:a<=1");
    CHECK_STR_EQ(pruned_topics(1), "");
    CHECK_INT_EQ(store_prune(db, 1, NO_AGE_LIMIT, 100, now, &hint), 0); /* nothing more to do */

    /* room:b floods: one batch at a time, its oldest first, room:a untouched */
    CHECK(db_begin(db, 1) == 0);
    for (i = 4; i <= 13; i++)
        append("room:b", "{}", i);
    CHECK(db_commit(db) == 0);
    /* (a batch of 3 also counts only 4..6 of the new ones) */
    CHECK_INT_EQ(store_prune(db, 2, NO_AGE_LIMIT, 3, now, &hint), 2);
    CHECK_STR_EQ(after(0, 100, 0), "3,5,6,7,8,9,10,11,12,13"); /* 2, 4 */
    CHECK_INT_EQ(hint.oldest, 3);
    CHECK_INT_EQ(lost("room:b", 3), 1);
    CHECK_INT_EQ(lost("room:b", 4), 0);
    CHECK_INT_EQ(store_prune(db, 2, NO_AGE_LIMIT, 100, now, NULL), 7);
    CHECK_STR_EQ(after(0, 100, 0), "3,12,13");
    CHECK_INT_EQ(lost("room:b", 10), 1);
    CHECK_INT_EQ(lost("room:b", 11), 0);
    CHECK_STR_EQ(pruned_topics(0), "room:a<=1,room:b<=11");
    CHECK_STR_EQ(pruned_topics(1), "room:b<=11");
    CHECK_STR_EQ(pruned_topics(11), "");
    CHECK_INT_EQ(lost("room:a", 1), 0); /* still: nothing of room:a went */
    CHECK_STR_EQ(topics(ab + 1, 1, 1, 13), "3");
    CHECK(store_pruned_after(db, ab, 2, 1, &p) == 0 && p == 1); /* but room:b did */
    CHECK_INT_EQ(bound_pruned(), 0);

    /* a retention under 1 counts as 1: each topic keeps its newest, so the
     * newest of the log stays and the next id continues after it */
    CHECK_INT_EQ(store_prune(db, 0, NO_AGE_LIMIT, 100, now, NULL), 1);
    CHECK_STR_EQ(after(0, 100, 0), "3,13");
    CHECK(db_begin(db, 1) == 0);
    append("room:a", "{}", 14);
    CHECK(db_commit(db) == 0);
    CHECK_INT_EQ(store_prune(db, 0, NO_AGE_LIMIT, 100, now, NULL), 1);
    CHECK_STR_EQ(after(0, 100, 0), "13,14");
    CHECK_INT_EQ(lost("room:a", 3), 0);
    CHECK_INT_EQ(lost("room:a", 2), 1); /* 3 went */

    /* the store's rows carry their topic's floor, for an edge */
    {
        sqlite3_stmt *st = db_stmt(db, SQL_EVENT_ROWS_AFTER);
        CHECK(st != NULL && db_bind_int64(st, 1, 0) == 0 && db_bind_int64(st, 2, 10) == 0);
        CHECK(st != NULL && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 13 &&
              sqlite3_column_int64(st, 5) == 12);
        CHECK(st != NULL && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) == 14 &&
              sqlite3_column_int64(st, 5) == 3);
        db_done(st);
    }

    /* counts that lost track (a row deleted by hand) are counted again,
     * and the newest event stays whatever they say */
    CHECK(sqlite3_exec(db_handle(db), "DELETE FROM events WHERE id = 13", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(db_begin(db, 1) == 0);
    append("room:b", "{}", 15);
    CHECK(db_commit(db) == 0);
    CHECK_INT_EQ(store_prune(db, 1, NO_AGE_LIMIT, 100, now, NULL), 0);
    CHECK_STR_EQ(after(0, 100, 0), "14,15");
    CHECK_INT_EQ(unit_query_int(db, "SELECT kept FROM topic_retention WHERE topic = 'room:b'"), 1);
    CHECK(db_begin(db, 1) == 0);
    append("room:b", "{}", 16);
    CHECK(db_commit(db) == 0);
    CHECK_INT_EQ(store_prune(db, 1, NO_AGE_LIMIT, 100, now, NULL), 1);
    CHECK_STR_EQ(after(0, 100, 0), "14,16");
}

/* Age: the oldest events older than the limit go whatever their topic,
 * a batch at a time, never the newest. Topics with a row learn exactly
 * what they lost; the age floor stands for the others. */
static void test_prune_by_age(void)
{
    struct store_prune_hint hint = {-1, -1};
    int64_t now = (int64_t)time(NULL);
    int i;

    db_close(db);
    db = unit_db_open();
    put(1, "room:a", "2020-01-01T00:00:00Z");
    /* the newest event stays, however old */
    CHECK_INT_EQ(store_prune(db, 10, DAY, 100, now, &hint), 0);
    CHECK_STR_EQ(after(0, 100, 0), "1");
    CHECK(hint.oldest == 1 && hint.age_due == 1577836800 + DAY + 1);

    put(2, "room:b", "2020-01-01T00:00:01Z");
    put(3, "room:a", "2099-01-01T00:00:00Z");
    put(4, "room:b", "2099-01-01T00:00:00Z");
    put(5, "room:c", "2020-01-01T00:00:00Z"); /* old, but after a young one: stays for now */
    CHECK_INT_EQ(store_prune(db, 10, NO_AGE_LIMIT, 100, now, NULL), 0); /* counts them */
    CHECK_INT_EQ(store_prune(db, 10, DAY, 100, now, &hint), 2);
    CHECK_STR_EQ(after(0, 100, 0), "3,4,5");
    CHECK(hint.oldest == 3 && hint.age_due == 4070908800 + DAY + 1);
    CHECK_INT_EQ(bound_pruned(), 2);       /* every id up to 2 is gone */
    CHECK_INT_EQ(lost("room:a", 0), 1);
    CHECK_INT_EQ(lost("room:a", 1), 0);    /* room:a lost 1, nothing after it */
    CHECK_INT_EQ(lost("room:b", 1), 1);    /* room:b lost 2 */
    CHECK_INT_EQ(lost("room:b", 2), 0);
    CHECK_INT_EQ(lost("room:new", 1), 1);  /* no row: the age floor */
    CHECK_INT_EQ(lost("room:new", 2), 0);
    CHECK_INT_EQ(unit_query_int(db, "SELECT kept FROM topic_retention WHERE topic = 'room:a'"), 1);

    /* a topic whose events all aged out leaves no row behind */
    for (i = 6; i <= 9; i++)
        put(i, "room:d", "2020-01-01T00:00:00Z");
    put(10, "room:e", "2099-01-01T00:00:00Z");
    CHECK(sqlite3_exec(db_handle(db), "DELETE FROM events WHERE id IN (3, 4)", NULL, NULL, NULL) == SQLITE_OK);
    CHECK_INT_EQ(store_prune(db, 10, DAY, 3, now, NULL), 3); /* at most a batch: 5, 6, 7 */
    CHECK_STR_EQ(after(0, 100, 0), "8,9,10");
    CHECK_INT_EQ(store_prune(db, 10, DAY, 100, now, NULL), 2);
    CHECK_STR_EQ(after(0, 100, 0), "10");
    CHECK_INT_EQ(unit_query_int(db, "SELECT count(*) FROM topic_retention WHERE topic IN ('room:c', 'room:d')"), 0);
    CHECK_INT_EQ(lost("room:d", 8), 1);
    CHECK_INT_EQ(lost("room:d", 9), 0);
    CHECK_INT_EQ(lost("room:e", 9), 0);
    CHECK_INT_EQ(bound_pruned(), 9);
}

/* An edge's gaps: every topic (Redis no longer held the events), or one
 * topic (the primary pruned them before relaying them). */
static void test_gaps(void)
{
    int64_t now = (int64_t)time(NULL);

    CHECK(db_begin(db, 1) == 0);
    CHECK(store_mark_topic_gap(db, "room:f", 12) == 0);
    CHECK(store_mark_topic_gap(db, "room:e", 11) == 0);
    CHECK(store_mark_topic_gap(db, "room:e", 5) == 0); /* a floor never moves back */
    CHECK(db_commit(db) == 0);
    CHECK_INT_EQ(lost("room:f", 11), 1);
    CHECK_INT_EQ(lost("room:f", 12), 0);
    CHECK_INT_EQ(lost("room:e", 10), 1);
    CHECK_INT_EQ(lost("room:e", 11), 0);
    CHECK_INT_EQ(lost("room:g", 10), 0);
    CHECK_INT_EQ(bound_pruned(), 9);
    /* kept while nothing of room:f is counted yet: its floor is above the age floor */
    put(13, "room:f", "2099-01-01T00:00:00Z");
    CHECK_INT_EQ(store_prune(db, 10, DAY, 100, now, NULL), 0);
    CHECK_INT_EQ(lost("room:f", 11), 1);
    /* the primary's floor of a topic whose events up to it are here: no gap */
    put(14, "room:h", "2099-01-01T00:00:00Z");
    CHECK(db_begin(db, 1) == 0);
    CHECK(store_mark_topic_gap(db, "room:h", 14) == 0);
    CHECK(store_mark_topic_gap(db, "room:h", 12) == 0);
    CHECK(db_commit(db) == 0);
    CHECK_INT_EQ(lost("room:h", 13), 0);
    CHECK_INT_EQ(lost("room:h", 8), 1);  /* the age floor, as before */
    /* above what is here: a gap */
    CHECK(db_begin(db, 1) == 0);
    CHECK(store_mark_topic_gap(db, "room:h", 15) == 0);
    CHECK(db_commit(db) == 0);
    CHECK_INT_EQ(lost("room:h", 14), 1);
    CHECK_INT_EQ(lost("room:h", 15), 0);
    CHECK(db_begin(db, 1) == 0);
    CHECK(store_mark_gap(db, 20) == 0);
    CHECK(db_commit(db) == 0);
    CHECK_INT_EQ(lost("room:g", 19), 1);
    CHECK_INT_EQ(lost("room:g", 20), 0);
    CHECK_INT_EQ(bound_pruned(), 20);
}

/* db_json_escapes_nul (fcgi/store/db_query.c): an escaped NUL, not an escaped
 * backslash followed by the letters u0000. */
static void test_escapes_nul(void)
{
#define ESC(s) db_json_escapes_nul(s, sizeof(s) - 1)
    CHECK(ESC("{\"a\":\"x\\u0000\"}"));
    CHECK(ESC("\\u0000"));
    CHECK(ESC("\\\\\\u0000"));      /* \\ then \u0000 */
    CHECK(!ESC("{\"a\":\"x\\\\u0000\"}")); /* a backslash, then the text u0000 */
    CHECK(!ESC("\\u000"));
    CHECK(!ESC("\\u0001"));
    CHECK(!ESC("\\"));
    CHECK(!ESC(""));
    CHECK(!db_json_escapes_nul(NULL, 0));
#undef ESC
}

int main(void)
{
    static unit_test_fn *const tests[] = {test_escapes_nul, test_append_and_read, test_prune_per_topic,
                                          test_prune_by_age, test_gaps, NULL};

    return unit_db_main("test_store", &db, tests);
}
