/* test_store.c - the event log on an in-memory database (fcgi/store.c):
 * append in a transaction, reads in id order, topic filters, bounds and
 * pruning. */
#include "store.c"

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
    CHECK(ev.envelope == NULL); /* built on demand, for Redis */
    append("room:b", "{\"n\":2}", 2);
    append("room:a", "[3]", 3);
    CHECK(db_commit(db) == 0);
    CHECK(!db_in_transaction(db));
    CHECK(store_envelopes(db, &ev, 1) == 0);
    CHECK(ev.envelope && strncmp(ev.envelope, envelope_start, strlen(envelope_start)) == 0);
    CHECK(ev.envelope && strstr(ev.envelope, "\"data\":{\"n\":1}}") != NULL); /* data minified */
    CHECK(ev.envelope && ev.len == strlen(ev.envelope));
    store_event_free(&ev);
    {
        /* several at once; one the log does not hold stays NULL */
        struct event evs[3];
        memset(evs, 0, sizeof evs);
        evs[0].id = 2;
        evs[1].id = 3;
        evs[2].id = 99;
        CHECK(store_envelopes(db, evs, 3) == -1);
        CHECK(evs[0].envelope && strncmp(evs[0].envelope, "{\"id\":2,\"topic\":\"room:b\",", 25) == 0);
        CHECK(evs[1].envelope && strstr(evs[1].envelope, "\"data\":[3]}") != NULL);
        CHECK(evs[2].envelope == NULL);
        CHECK(store_envelopes(db, evs, 2) == 0);
        store_event_free(&evs[0]);
        store_event_free(&evs[1]);
        CHECK(store_envelopes(db, evs, 0) == 0);
    }

    /* invalid JSON is refused and the rollback leaves no trace */
    CHECK(db_begin(db, 1) == 0);
    CHECK(store_append_event(db, "room:a", "message", "{nope", &ev) == -1);
    CHECK(ev.envelope == NULL);
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

static void test_prune(void)
{
    int64_t pruned = -1, last = -1, oldest = -1;
    int i;

    CHECK_INT_EQ(store_prune(db, 1, 100, &oldest), 2); /* keeps only the newest */
    CHECK_INT_EQ(oldest, 3);
    CHECK(store_bounds(db, &pruned, &last) == 0);
    CHECK_INT_EQ(pruned, 2);
    CHECK_INT_EQ(last, 3);
    CHECK(!db_in_transaction(db));
    CHECK_STR_EQ(after(0, 100, 0), "3");
    oldest = -1;
    CHECK_INT_EQ(store_prune(db, 1, 100, &oldest), 0); /* nothing more to do */
    CHECK_INT_EQ(oldest, 3);

    /* the newest row always stays, so ids keep increasing: its id is
     * where the next one continues */
    CHECK_INT_EQ(store_prune(db, 0, 100, &oldest), 0);
    CHECK_INT_EQ(oldest, 3);
    CHECK_STR_EQ(after(0, 100, 0), "3");
    CHECK(db_begin(db, 1) == 0);
    append("room:a", "{}", 4);
    CHECK(db_commit(db) == 0);
    CHECK_INT_EQ(store_prune(db, 0, 100, &oldest), 1);
    CHECK_INT_EQ(oldest, 4);
    CHECK(store_bounds(db, &pruned, &last) == 0);
    CHECK_INT_EQ(pruned, 3);
    CHECK_INT_EQ(last, 4);

    /* one batch at a time */
    CHECK(db_begin(db, 1) == 0);
    for (i = 5; i <= 14; i++)
        append("room:b", "{}", i);
    CHECK(db_commit(db) == 0);
    CHECK_INT_EQ(store_prune(db, 2, 3, &oldest), 3);
    CHECK_INT_EQ(oldest, 7); /* 4..6 deleted */
    CHECK_STR_EQ(after(0, 100, 0), "7,8,9,10,11,12,13,14");
    CHECK_INT_EQ(store_prune(db, 2, 100, NULL), 6);
    CHECK_STR_EQ(after(0, 100, 0), "13,14");
    CHECK(store_bounds(db, &pruned, &last) == 0);
    CHECK_INT_EQ(pruned, 12);
    CHECK_INT_EQ(last, 14);
}

/* db_json_escapes_nul (fcgi/db.c): an escaped NUL, not an escaped
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
    if ((db = unit_db_open()) == NULL)
        return check_summary("test_store");
    test_escapes_nul();
    test_append_and_read();
    test_prune();
    db_close(db);
    return check_summary("test_store");
}
