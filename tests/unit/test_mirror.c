/* test_mirror.c - an edge's copy of the log: XREAD replies (as Redis sends
 * them, parsed by hiredis's reader) into the local log, gaps recorded, and
 * only what the primary signed stored. */
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/config.h"
#include "bus/relaysig.h"
#include "check.h"
#include "store/db.h"
#include "store/store.h"
#include "stream/mirror.h"
#include "unit_db.h"

static struct db *db;
static struct mirror *mirror;     /* an edge's, not connected: mirror_apply alone */
static struct relaysig *sig;      /* the deployment's key */
static struct relaysig *other;    /* another deployment's */

/* How an entry is signed: by sig (as the relay does), not at all, by
 * other, with a made-up h, or by sig as if its id were the one in as_id. */
enum signing { SIGNED, UNSIGNED, OTHER_KEY, MADE_UP };

struct entry {
    const char *id, *prev, *topic, *type, *ts, *data;
};

/* How each entry of a reply is signed (NULL: all SIGNED), and the id each
 * is signed as (NULL, or NULL for one: its own). */
struct signing_of {
    const enum signing *how;
    const char *const *as_id;
};

/* Each entry's "v" (the primary's newest void row), or NULL: none. */
static const char *const *entry_voids;

static void bulk(buf_t *b, const char *s)
{
    buf_printf(b, "$%zu\r\n%s\r\n", strlen(s), s);
}

/* The RESP of XREAD ... STREAMS pulse:log N: [[key, [[id, [f, v, ...]], ...]]].
 * A NULL field is left out; floors (or NULL) gives each entry's f. Each
 * entry gets its "h" as e[i].how says. */
static redisReply *xread_reply(const struct entry *e, const char *const *floors, int n, struct signing_of sg)
{
    buf_t b = {0};
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    int i;

    buf_printf(&b, "*1\r\n*2\r\n");
    bulk(&b, "pulse:log");
    buf_printf(&b, "*%d\r\n", n);
    for (i = 0; i < n; i++) {
        char mac[RELAYSIG_HEX + 1] = "";
        const char *kv[16] = {"p", e[i].prev, "t", e[i].topic, "y", e[i].type, "s", e[i].ts, "d", e[i].data,
                              "f", floors != NULL ? floors[i] : NULL, "v", entry_voids != NULL ? entry_voids[i] : NULL,
                              "h", NULL};
        struct relaysig_fields f = {{0}, {0}};
        int k, nf = 0;

        enum signing how = sg.how != NULL ? sg.how[i] : SIGNED;

        f.v[RS_ID] = sg.as_id != NULL && sg.as_id[i] != NULL ? sg.as_id[i] : e[i].id;
        for (k = 0; k < 14; k += 2)
            f.v[RS_PREV + k / 2] = kv[k + 1];
        for (k = 0; k < RS_NFIELDS; k++)
            f.len[k] = f.v[k] != NULL ? strlen(f.v[k]) : 0;
        if (how == SIGNED || how == OTHER_KEY) {
            CHECK(relaysig_sign(how == SIGNED ? sig : other, &f, mac) == 0);
            kv[15] = mac;
        } else if (how == MADE_UP) {
            kv[15] = "00000000000000000000000000000000000000000000000000000000000000ff";
        }
        for (k = 0; k < 16; k += 2)
            nf += kv[k + 1] != NULL;
        buf_printf(&b, "*2\r\n");
        bulk(&b, e[i].id);
        buf_printf(&b, "*%d\r\n", nf * 2);
        for (k = 0; k < 16; k += 2)
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

/* Applies the entries as read after from; *rd gets what mirror_apply says. */
static int apply_read(const struct entry *e, const char *const *floors, int n, struct signing_of sg, int64_t from,
                      struct mirror_read *rd)
{
    redisReply *r = xread_reply(e, floors, n, sg);
    int rc;

    CHECK(r != NULL);
    if (r == NULL)
        return -2;
    rd->from.ms = (uint64_t)from;
    rd->from.seq = 0;
    rc = mirror_apply(mirror, r, rd);
    freeReplyObject(r);
    return rc;
}

static int apply_floors(const struct entry *e, const char *const *floors, int n, int64_t *stored)
{
    struct mirror_read rd = {.stored = *stored};
    struct signing_of all = {NULL, NULL};
    int rc = apply_read(e, floors, n, all, 0, &rd);

    CHECK_INT_EQ(rd.refused, 0);
    CHECK_INT_EQ(rd.reread, 0);
    *stored = rd.stored;
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

/* Every entry of a topic with a floor on the primary carries it ("f"),
 * whether this copy got the pruned events before or not: a gap only where
 * f is above what this copy accounts for (the topic's newest event held,
 * its floor here), whatever other topics' entries came in between. */
static void test_a_floor_is_a_gap_only_above_what_is_held(void)
{
    const struct entry e[] = {
        {"23-0", "22", "room:h", "note", "2026-11-23T08:00:23Z", "{}"},
        {"24-0", "23", "room:i", "note", "2026-11-23T08:00:24Z", "{}"},
        /* the primary pruned room:h's 23 after it was relayed */
        {"25-0", "24", "room:h", "note", "2026-11-23T08:00:25Z", "{}"},
        /* and room:i's 26 and 27 before: room:h's 28 was relayed after 25 */
        {"28-0", "25", "room:h", "note", "2026-11-23T08:00:28Z", "{}"},
        {"29-0", "28", "room:i", "note", "2026-11-23T08:00:29Z", "{}"},
        {"30-0", "29", "room:i", "note", "2026-11-23T08:00:30Z", "{}"},
        /* and then room:i's 29, which this copy holds */
        {"31-0", "30", "room:i", "note", "2026-11-23T08:00:31Z", "{}"},
    };
    const char *const floors[] = {NULL, NULL, "23", "23", "27", "27", "29"};
    int64_t stored = 22;

    CHECK_INT_EQ(apply_floors(e, floors, 3, &stored), 3);
    CHECK_INT_EQ(stored, 25);
    CHECK_INT_EQ(lost("room:h", 22), 0); /* 23 is here */
    CHECK_INT_EQ(apply_floors(e + 3, floors + 3, 3, &stored), 3);
    CHECK_INT_EQ(stored, 30);
    CHECK_INT_EQ(lost("room:i", 24), 1); /* 26 and 27 never came */
    CHECK_INT_EQ(lost("room:i", 27), 0);
    CHECK_INT_EQ(lost("room:h", 22), 0);
    CHECK_INT_EQ(pruned_upto(), 21);     /* no gap for everyone */
    CHECK_INT_EQ(apply_floors(e + 6, floors + 6, 1, &stored), 1);
    CHECK_INT_EQ(lost("room:i", 28), 0); /* 29 is here */
}

static void test_replies_that_are_not_entries(void)
{
    redisReply nil = {.type = REDIS_REPLY_NIL}, num = {.type = REDIS_REPLY_INTEGER, .integer = 5};
    struct mirror_read rd = {.stored = 42};

    CHECK_INT_EQ(mirror_apply(mirror, &nil, &rd), 0);
    CHECK_INT_EQ(rd.stored, 42);
    CHECK_INT_EQ(mirror_apply(mirror, &num, &rd), -1);
    CHECK_INT_EQ(rd.stored, 42);
}

static int64_t head(void)
{
    int64_t pruned = -1, last = -1;

    store_bounds(db, &pruned, &last);
    return last;
}

static int64_t events_after(int64_t id)
{
    buf_t env = {0};
    int count = -1;

    CHECK(store_read_after(db, id, 1000, envelope_of, &env, &count) == 0);
    buf_free(&env);
    return count;
}

/* Anyone who can write Redis can XADD: an entry the primary did not sign
 * is neither stored nor a gap, and the head stays where the primary's log
 * is. (Before, a forged entry was delivered as the primary's, and one with
 * a high id, even a malformed one, moved the head past every real event.) */
static void test_entries_not_signed_are_refused(void)
{
    const int64_t h = head();
    char id1[32], id2[32], id3[32], as3[32], p0[32], p1[32], p2[32];
    const struct entry forged[] = {
        {id1, p0, "topup:TX1", "topup.status", "2026-12-04T00:00:00Z", "{\"status\":\"PAID\"}"},
        {id2, p1, "topup:TX1", "topup.status", "2026-12-04T00:00:00Z", "{\"status\":\"PAID\"}"},
        {id3, p1, "room:a", "note", "2026-12-04T00:00:00Z", "{}"},
        {"999999998-0", p2, "room:a", "note", "2026-12-04T00:00:00Z", "{}"},
        /* malformed too: once a gap at its id */
        {"999999999-0", NULL, NULL, NULL, NULL, NULL},
    };
    /* the third is signed as the primary's next entry "<id>-0", added as "<id>-1" */
    const enum signing how[] = {UNSIGNED, MADE_UP, SIGNED, OTHER_KEY, UNSIGNED};
    const char *const as_id[] = {NULL, NULL, as3, NULL, NULL};
    struct signing_of sg = {how, as_id}, all = {NULL, NULL};
    const struct entry real[] = {
        {id1, p0, "room:a", "note", "2026-12-04T00:00:01Z", "{\"n\":1}"},
        {id2, p1, "room:a", "note", "2026-12-04T00:00:02Z", "{\"n\":2}"},
    };
    struct mirror_read rd = {.stored = h};
    int64_t pruned_before = pruned_upto();

    snprintf(p0, sizeof p0, "%lld", (long long)h);
    snprintf(p1, sizeof p1, "%lld", (long long)h + 1);
    snprintf(p2, sizeof p2, "%lld", (long long)h + 2);
    snprintf(id1, sizeof id1, "%lld-0", (long long)h + 1);
    snprintf(id2, sizeof id2, "%lld-0", (long long)h + 2);
    snprintf(id3, sizeof id3, "%lld-1", (long long)h + 2);
    snprintf(as3, sizeof as3, "%lld-0", (long long)h + 2);
    CHECK_INT_EQ(apply_read(forged, NULL, 5, sg, h, &rd), 5);
    CHECK_INT_EQ(rd.refused, 5);
    CHECK_INT_EQ(rd.stored, h);
    CHECK_INT_EQ(rd.seen.ms, 999999999);
    CHECK_INT_EQ(head(), h);
    CHECK_INT_EQ(pruned_upto(), pruned_before);
    CHECK_INT_EQ(events_after(h), 0);
    /* read again (past them nothing came): counted and logged once */
    CHECK_INT_EQ(apply_read(forged, NULL, 5, sg, h, &rd), 5);
    CHECK_INT_EQ(rd.refused, 0);
    CHECK_INT_EQ(head(), h);
    /* the primary's events of those ids are stored, with no gap */
    CHECK_INT_EQ(apply_read(real, NULL, 2, all, h, &rd), 2);
    CHECK_INT_EQ(rd.refused, 0);
    CHECK_INT_EQ(rd.stored, h + 2);
    CHECK_INT_EQ(events_after(h), 2);
    CHECK_INT_EQ(pruned_upto(), pruned_before);
}

/* A read that started past refused entries (they were above the stored
 * head) and finds an entry whose prev is above the head must not call it a
 * gap: the primary's entries may be below the refused ones (the relay
 * removed those and set the stream back). It says: read again from the
 * head. Read from the head, the same entry is a gap indeed. */
static void test_a_read_past_refused_entries_reads_again(void)
{
    const int64_t h = head();
    char id[32], prev[32];
    const struct entry e[] = {{id, prev, "room:a", "note", "2026-12-04T00:00:03Z", "{}"}};
    struct signing_of all = {NULL, NULL};
    struct mirror_read rd = {.stored = h};
    int64_t pruned_before = pruned_upto();

    snprintf(id, sizeof id, "%lld-0", (long long)h + 5);
    snprintf(prev, sizeof prev, "%lld", (long long)h + 4);
    CHECK_INT_EQ(apply_read(e, NULL, 1, all, 999999999, &rd), 1);
    CHECK_INT_EQ(rd.reread, 1);
    CHECK_INT_EQ(rd.stored, h);
    CHECK_INT_EQ(head(), h);
    CHECK_INT_EQ(pruned_upto(), pruned_before);
    CHECK_INT_EQ(apply_read(e, NULL, 1, all, h, &rd), 1);
    CHECK_INT_EQ(rd.reread, 0);
    CHECK_INT_EQ(rd.stored, h + 5);
    CHECK_INT_EQ(pruned_upto(), h + 4);
}

/* One read from the head holding refused entries and then one of the
 * primary's whose prev is above the head (the relay's pipelined adds landed
 * above forged entries before it removed them): read again, nothing
 * stored. Once the rereads ran out (settled), it is a gap. An entry stored
 * first is kept, and only what follows refused entries is in doubt. */
static void test_refused_entries_then_a_jump_read_again(void)
{
    const int64_t h = head();
    char f1[32], f2[32], g1[32], g3[32], p0[32], p2[32];
    const struct entry e[] = {
        {f1, p0, "topup:TX1", "topup.status", "2026-12-04T00:00:04Z", "{}"},
        {f2, p0, "topup:TX1", "topup.status", "2026-12-04T00:00:04Z", "{}"},
        {g3, p2, "room:a", "note", "2026-12-04T00:00:05Z", "{}"},
    };
    const struct entry after_one[] = {
        {g1, p0, "room:a", "note", "2026-12-04T00:00:06Z", "{}"},
        {f2, p0, "topup:TX1", "topup.status", "2026-12-04T00:00:06Z", "{}"},
        {g3, p2, "room:a", "note", "2026-12-04T00:00:07Z", "{}"},
    };
    const enum signing how[] = {UNSIGNED, MADE_UP, SIGNED};
    const enum signing how1[] = {SIGNED, UNSIGNED, SIGNED};
    struct signing_of sg = {how, NULL}, sg1 = {how1, NULL}, sg2 = {how1 + 1, NULL};
    struct mirror_read rd = {.stored = h};
    int64_t pruned_before = pruned_upto();

    snprintf(p0, sizeof p0, "%lld", (long long)h);
    snprintf(p2, sizeof p2, "%lld", (long long)h + 2);
    snprintf(f1, sizeof f1, "%lld-0", (long long)h + 1);
    snprintf(f2, sizeof f2, "%lld-0", (long long)h + 2);
    snprintf(g1, sizeof g1, "%lld-0", (long long)h + 1);
    snprintf(g3, sizeof g3, "%lld-0", (long long)h + 3);
    CHECK_INT_EQ(apply_read(e, NULL, 3, sg, h, &rd), 3);
    CHECK_INT_EQ(rd.reread, 1);
    CHECK_INT_EQ(rd.stored, h);
    CHECK_INT_EQ(head(), h);
    CHECK_INT_EQ(pruned_upto(), pruned_before);
    /* the primary's h+1 first: stored; h+3 after the refused h+2: in doubt */
    rd.settled = 0;
    CHECK_INT_EQ(apply_read(after_one, NULL, 3, sg1, h, &rd), 3);
    CHECK_INT_EQ(rd.reread, 1);
    CHECK_INT_EQ(rd.stored, h + 1);
    CHECK_INT_EQ(pruned_upto(), pruned_before);
    /* rereads ran out: h+2 is a gap */
    rd.settled = 1;
    CHECK_INT_EQ(apply_read(after_one + 1, NULL, 2, sg2, h + 1, &rd), 2);
    CHECK_INT_EQ(rd.reread, 0);
    CHECK_INT_EQ(rd.stored, h + 3);
    CHECK_INT_EQ(pruned_upto(), h + 2);
}

/* A value holding a NUL byte: what would be checked is not what would be
 * stored (read as a C string). Refused. */
static void test_a_value_with_a_nul_byte_is_refused(void)
{
    const int64_t h = head();
    buf_t b = {0};
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    struct mirror_read rd = {.stored = h};
    char id[32];

    snprintf(id, sizeof id, "%lld-0", (long long)h + 1);
    buf_printf(&b, "*1\r\n*2\r\n$9\r\npulse:log\r\n*1\r\n*2\r\n$%zu\r\n%s\r\n*10\r\n", strlen(id), id);
    buf_printf(&b, "$1\r\np\r\n$1\r\n0\r\n$1\r\nt\r\n$6\r\nroom:a\r\n$1\r\ny\r\n$4\r\nnote\r\n"
                   "$1\r\ns\r\n$1\r\nx\r\n$1\r\nd\r\n$4\r\n{}");
    buf_append(&b, "\0x\r\n", 4);
    CHECK(redisReaderFeed(r, b.p, b.len) == REDIS_OK && redisReaderGetReply(r, &reply) == REDIS_OK &&
          reply != NULL);
    if (reply != NULL) {
        CHECK_INT_EQ(mirror_apply(mirror, reply, &rd), 1);
        CHECK_INT_EQ(rd.refused, 1);
        CHECK_INT_EQ(head(), h);
        freeReplyObject(reply);
    }
    redisReaderFree(r);
    buf_free(&b);
}

static struct entry ev(const char *id, const char *prev)
{
    return (struct entry){id, prev, "room:v", "note", "2026-11-23T08:00:00Z", "{}"};
}

/* The primary's file was put back; its void row names where it ended.
 * An edge that was behind (held nothing past that end) gets the entries
 * below the row, which may name it ("v": relayed after a reconnect):
 * they are all stored, in whichever read they come. An edge that held
 * events past the end drops them at the first entry at or after the row,
 * whether or not the row itself comes; once. */
static void test_a_void_named_by_entries(void)
{
    const struct entry behind[] = {ev("5001-0", "0"), ev("5002-0", "5001")};
    const struct entry below[] = {ev("5003-0", "5002"), ev("5004-0", "5003")};
    const struct entry past[] = {ev("5005-0", "5004"), ev("5010-0", "5009"), ev("5011-0", "5010")};
    const struct entry held[] = {ev("6001-0", "5011"), ev("6002-0", "6001"), ev("6003-0", "6002"), ev("6004-0", "6003")};
    const struct entry again[] = {ev("6006-0", "6005"), ev("6007-0", "6006")};
    const struct entry later[] = {ev("6008-0", "6007")};
    static const char *const v5[] = {"5009:5005", "5009:5005", "5009:5005"};
    static const char *const v6[] = {"6005:6002", "6005:6002"};
    struct signing_of all = {NULL, NULL};
    struct mirror_read rd;
    int64_t stored = 0;

    CHECK_INT_EQ(apply(behind, 2, &stored), 2);
    entry_voids = v5;
    rd = (struct mirror_read){.stored = 5002};
    CHECK_INT_EQ(apply_read(below, NULL, 2, all, 5002, &rd), 2);
    CHECK_INT_EQ(rd.voided, 0);
    CHECK_INT_EQ(unit_query_int(db, "SELECT count(*) FROM events WHERE id IN (5003, 5004)"), 2);
    rd = (struct mirror_read){.stored = 5004};
    CHECK_INT_EQ(apply_read(past, NULL, 3, all, 5004, &rd), 3);
    CHECK_INT_EQ(rd.voided, 1);
    CHECK_INT_EQ(rd.stored, 5011);
    CHECK_INT_EQ(unit_query_int(db, "SELECT count(*) FROM events WHERE id IN (5005, 5010, 5011)"), 3);
    CHECK_INT_EQ(unit_query_int(db, "SELECT count(*) FROM events WHERE id = 5009 AND topic = '' AND type = 'void'"), 1);
    CHECK_INT_EQ(unit_query_int(db, "SELECT v FROM meta WHERE k = 'voided_upto'"), 5009);

    entry_voids = NULL;
    stored = 5011;
    CHECK_INT_EQ(apply(held, 4, &stored), 4);
    entry_voids = v6;
    rd = (struct mirror_read){.stored = 6004};
    CHECK_INT_EQ(apply_read(again, NULL, 2, all, 6004, &rd), 2);
    CHECK_INT_EQ(rd.voided, 1);
    CHECK_INT_EQ(unit_query_int(db, "SELECT count(*) FROM events WHERE id IN (6003, 6004)"), 0);
    CHECK_INT_EQ(unit_query_int(db, "SELECT count(*) FROM events WHERE id IN (6001, 6002, 6006, 6007)"), 4);
    CHECK(pruned_upto() >= 6005);
    rd = (struct mirror_read){.stored = 6007};
    CHECK_INT_EQ(apply_read(later, NULL, 1, all, 6007, &rd), 1);
    CHECK_INT_EQ(rd.voided, 0);
    CHECK_INT_EQ(unit_query_int(db, "SELECT count(*) FROM events WHERE id = 6008"), 1);
    entry_voids = NULL;

    /* the row itself, without a "v": applied as well */
    {
        const struct entry held2[] = {ev("7001-0", "6008"), ev("7002-0", "7001"), ev("7003-0", "7002")};
        const struct entry row[] = {{"7004-0", "7001", "", "void", "2026-11-23T08:00:00Z", "{\"after\":7001}"},
                                    ev("7005-0", "7004")};

        stored = 6008;
        CHECK_INT_EQ(apply(held2, 3, &stored), 3);
        rd = (struct mirror_read){.stored = 7003};
        CHECK_INT_EQ(apply_read(row, NULL, 2, all, 7003, &rd), 2);
        CHECK_INT_EQ(rd.voided, 1);
        CHECK_INT_EQ(unit_query_int(db, "SELECT count(*) FROM events WHERE id IN (7002, 7003)"), 0);
        CHECK_INT_EQ(unit_query_int(db, "SELECT count(*) FROM events WHERE id IN (7001, 7004, 7005)"), 3);
        CHECK_INT_EQ(unit_query_int(db, "SELECT v FROM meta WHERE k = 'voided_upto'"), 7004);
    }
}

int main(void)
{
    struct config c = {.relay_secret = "unit-relay-secret", .redis_prefix = "pulse:"};
    struct config o = {.relay_secret = "another-deployment", .redis_prefix = "pulse:"};

    if ((db = unit_db_open()) == NULL)
        return check_summary("test_mirror");
    mirror = mirror_new(&c, db);
    sig = relaysig_open(&c);
    other = relaysig_open(&o);
    CHECK(sig != NULL && other != NULL);
    test_in_order_and_idempotent();
    test_gaps_are_recorded();
    test_topic_gaps();
    test_a_floor_is_a_gap_only_above_what_is_held();
    test_replies_that_are_not_entries();
    test_entries_not_signed_are_refused();
    test_a_read_past_refused_entries_reads_again();
    test_refused_entries_then_a_jump_read_again();
    test_a_value_with_a_nul_byte_is_refused();
    test_a_void_named_by_entries();
    mirror_free(mirror);
    relaysig_close(sig);
    relaysig_close(other);
    db_close(db);
    return check_summary("test_mirror");
}
