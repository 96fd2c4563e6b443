/* test_mirror.c - an edge's copy of the log: XREAD replies (as Redis sends
 * them, parsed by hiredis's reader) into the local log, gaps recorded. */
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "buf.h"
#include "check.h"
#include "unit_db.h"
#include "db.h"
#include "mirror.h"
#include "store.h"

static struct db *db;

struct entry {
    const char *id, *prev, *topic, *type, *ts, *data;
};

static void bulk(buf_t *b, const char *s)
{
    buf_printf(b, "$%zu\r\n%s\r\n", strlen(s), s);
}

/* The RESP of XREAD ... STREAMS pulse:log N: [[key, [[id, [f, v, ...]], ...]]].
 * A NULL field is left out; floors (or NULL) gives each entry's f. */
static redisReply *xread_reply(const struct entry *e, const char *const *floors, int n)
{
    buf_t b = {0};
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    int i;

    buf_printf(&b, "*1\r\n*2\r\n");
    bulk(&b, "pulse:log");
    buf_printf(&b, "*%d\r\n", n);
    for (i = 0; i < n; i++) {
        const char *kv[12] = {"p", e[i].prev, "t", e[i].topic, "y", e[i].type, "s", e[i].ts, "d", e[i].data,
                              "f", floors != NULL ? floors[i] : NULL};
        int k, nf = 0;

        for (k = 0; k < 12; k += 2)
            nf += kv[k + 1] != NULL;
        buf_printf(&b, "*2\r\n");
        bulk(&b, e[i].id);
        buf_printf(&b, "*%d\r\n", nf * 2);
        for (k = 0; k < 12; k += 2)
            if (kv[k + 1] != NULL) {
                bulk(&b, kv[k]);
                bulk(&b, kv[k + 1]);
            }
    }
    if (redisReaderFeed(r, b.p, b.len) != REDIS_OK || redisReaderGetReply(r, &reply) != REDIS_OK)
        reply = NULL;
    redisReaderFree(r);
    buf_free(&b);
    return reply;
}

static int apply_floors(const struct entry *e, const char *const *floors, int n, int64_t *stored)
{
    redisReply *r = xread_reply(e, floors, n);
    int rc;

    CHECK(r != NULL);
    if (r == NULL)
        return -2;
    rc = mirror_apply(db, r, stored);
    freeReplyObject(r);
    return rc;
}

static int apply(const struct entry *e, int n, int64_t *stored)
{
    return apply_floors(e, NULL, n, stored);
}

static int64_t pruned_upto(void)
{
    int64_t pruned = -1, last = -1;

    store_bounds(db, &pruned, &last);
    return pruned;
}

static int envelope_of(void *arg, int64_t id, const char *topic, const char *type, const char *env, size_t len)
{
    buf_t *out = arg;

    buf_reset(out);
    buf_append(out, env, len);
    return 0;
}

static void test_in_order_and_idempotent(void)
{
    const struct entry e[] = {
        {"1-0", "0", "room:a", "note", "2026-11-23T08:00:00Z", "{\"n\":1}"},
        {"2-0", "1", "room:a", "note", "2026-11-23T08:00:01Z", "{\"n\":2}"},
        {"3-0", "2", "room:b", "chat", "2026-11-23T08:00:02Z", "\"hi\""},
    };
    buf_t env = {0};
    int64_t stored = 0;
    int count = 0;

    CHECK_INT_EQ(apply(e, 3, &stored), 3);
    CHECK_INT_EQ(stored, 3);
    CHECK_INT_EQ(pruned_upto(), 0);
    /* the same envelope the primary builds, its ts kept */
    CHECK(store_read_after(db, 1, 1, envelope_of, &env, &count) == 0 && count == 1);
    CHECK_STR_EQ(buf_str(&env),
                 "{\"id\":2,\"topic\":\"room:a\",\"type\":\"note\",\"ts\":\"2026-11-23T08:00:01Z\",\"data\":{\"n\":2}}");
    /* a second mirror sharing the database delivers the same entries: no change */
    CHECK_INT_EQ(apply(e + 1, 2, &stored), 2);
    CHECK_INT_EQ(stored, 3);
    CHECK(store_read_after(db, 0, 100, envelope_of, &env, &count) == 0 && count == 3);
    buf_free(&env);
}

static void test_gaps_are_recorded(void)
{
    const struct entry behind[] = {
        /* Redis trimmed 4..7 before this edge read them */
        {"8-0", "7", "room:a", "note", "2026-11-23T08:00:08Z", "{}"},
        {"9-0", "8", "room:a", "note", "2026-11-23T08:00:09Z", "{}"},
    };
    const struct entry bad[] = {
        {"10-0", "9", "room:a", "note", "2026-11-23T08:00:10Z", "{\"a\":"},   /* not JSON */
        {"11-0", NULL, "room:a", "note", "2026-11-23T08:00:11Z", "{}"},        /* no prev */
        {"12-0", "11", "", "note", "2026-11-23T08:00:12Z", "{}"},              /* empty topic */
        {"13-0", "12", "room:a", "note", "2026-11-23T08:00:13Z", "{}"},
    };
    /* a type that would add lines to every stream's frame, a topic no
     * publish could name, a type over 64 characters */
    const struct entry forged[] = {
        {"14-0", "13", "room:a", "x\nid: 999999\ndata: {}", "2026-11-23T08:00:14Z", "{}"},
        {"15-0", "14", "room a", "note", "2026-11-23T08:00:15Z", "{}"},
        {"16-0", "15", "room:a", "t1234567890123456789012345678901234567890123456789012345678901234",
         "2026-11-23T08:00:16Z", "{}"},
        {"17-0", "16", "room:a", "note", "2026-11-23T08:00:17Z", "{}"},
    };
    int64_t stored = 0;
    int count = 0;
    buf_t env = {0};

    CHECK_INT_EQ(apply(behind, 2, &stored), 2);
    CHECK_INT_EQ(stored, 9);
    CHECK_INT_EQ(pruned_upto(), 7);
    CHECK_INT_EQ(apply(bad, 4, &stored), 4);
    CHECK_INT_EQ(stored, 13);
    CHECK_INT_EQ(pruned_upto(), 12);
    CHECK(store_read_after(db, 9, 100, envelope_of, &env, &count) == 0);
    CHECK_INT_EQ(count, 1); /* only 13 was stored */
    CHECK_INT_EQ(apply(forged, 4, &stored), 4);
    CHECK_INT_EQ(stored, 17);
    CHECK_INT_EQ(pruned_upto(), 16);
    CHECK(store_read_after(db, 13, 100, envelope_of, &env, &count) == 0);
    CHECK_INT_EQ(count, 1); /* only 17 was stored */
    CHECK(strstr(buf_str(&env), "\"id\":17") != NULL);
    buf_free(&env);
}

static int lost(const char *topic, int64_t from)
{
    const char *t[1] = {topic};
    int pruned = -1;

    CHECK(store_pruned_after(db, t, 1, from, &pruned) == 0);
    return pruned;
}

/* Retention is per topic on the primary: events of one topic it pruned
 * before relaying them are a gap of that topic alone here. */
static void test_topic_gaps(void)
{
    const struct entry e[] = {
        {"18-0", "17", "room:a", "note", "2026-11-23T08:00:18Z", "{}"},
        {"20-0", "18", "room:b", "note", "2026-11-23T08:00:20Z", "{}"},
        {"21-0", "20", "room:c", "note", "2026-11-23T08:00:21Z", "{}"},
        {"22-0", "21", "room:c", "note", "2026-11-23T08:00:22Z", "{}"},
    };
    /* room:b's 19 was pruned; a malformed f */
    const char *const floors[] = {NULL, "19", "x19", NULL};
    int64_t stored = 0;

    CHECK_INT_EQ(apply_floors(e, floors, 2, &stored), 2);
    CHECK_INT_EQ(stored, 20);
    CHECK_INT_EQ(pruned_upto(), 16); /* no gap for everyone */
    CHECK_INT_EQ(lost("room:b", 18), 1);
    CHECK_INT_EQ(lost("room:b", 19), 0);
    CHECK_INT_EQ(lost("room:a", 17), 0);
    CHECK_INT_EQ(apply_floors(e + 2, floors + 2, 2, &stored), 2);
    CHECK_INT_EQ(stored, 22);
    CHECK_INT_EQ(pruned_upto(), 21); /* whatever the malformed entry was: a gap */
}

static void test_replies_that_are_not_entries(void)
{
    redisReply nil = {.type = REDIS_REPLY_NIL}, num = {.type = REDIS_REPLY_INTEGER, .integer = 5};
    int64_t stored = 42;

    CHECK_INT_EQ(mirror_apply(db, &nil, &stored), 0);
    CHECK_INT_EQ(stored, 42);
    CHECK_INT_EQ(mirror_apply(db, &num, &stored), -1);
    CHECK_INT_EQ(stored, 42);
}

int main(void)
{
    if ((db = unit_db_open()) == NULL)
        return check_summary("test_mirror");
    test_in_order_and_idempotent();
    test_gaps_are_recorded();
    test_topic_gaps();
    test_replies_that_are_not_entries();
    db_close(db);
    return check_summary("test_mirror");
}
