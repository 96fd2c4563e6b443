/* test_access.c - who may read which topic (fcgi/auth/access.c) for every
 * kind of topic name (fcgi/auth/topic.c): owner, admin, another user, a
 * guest, and names that are malformed. */
#include "auth/access.c"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth/topic.h"
#include "check.h"
#include "http/http.h"
#include "unit_db.h"

/* Who asks: a guest (no token), or a token's user. */
enum who { GUEST, ALICE, BOB, ROOT, ANN, SHOP };

static const struct {
    const char *sub;
    enum auth_role role;
} people[] = {
    [ALICE] = {"alice", ROLE_VIEWER},  /* owns topup:tx1 and chat:s1 */
    [BOB] = {"bob", ROLE_VIEWER},
    [ROOT] = {"root", ROLE_ADMIN},
    [ANN] = {"ann", ROLE_AGENT},
    [SHOP] = {"alice", ROLE_OWNER},    /* alice again, as a shop owner */
};

/* topic, who asks, the ?token= sent, the status answered, its code. */
static const struct rule {
    const char *topic;
    enum who who;
    const char *token;
    int status;
    const char *code;
} rules[] = {
    /* room:* is public: guests too */
    {"room:r1", GUEST, NULL, 0, NULL},
    {"room:r1", BOB, NULL, 0, NULL},
    {"room:nosuchroom", GUEST, NULL, 0, NULL},
    /* topup:{tx}: its owner, or the holder of its stream token */
    {"topup:tx1", ALICE, NULL, 0, NULL},
    {"topup:tx1", GUEST, "st-secret", 0, NULL},
    {"topup:tx1", BOB, "st-secret", 0, NULL},
    {"topup:tx1", ROOT, NULL, 0, NULL},
    {"topup:tx1", BOB, NULL, 403, "forbidden"},
    {"topup:tx1", GUEST, "wrong", 401, "invalid_token"},
    {"topup:tx1", GUEST, NULL, 401, "unauthorized"},
    {"topup:nosuchtx", ALICE, NULL, 404, "unknown_transaction"},
    /* chat:{sid}: the user who claimed it; nobody for one unclaimed */
    {"chat:s1", ALICE, NULL, 0, NULL},
    {"chat:s1", ROOT, NULL, 0, NULL},
    {"chat:s1", BOB, NULL, 403, "forbidden"},
    {"chat:s1", ANN, NULL, 403, "forbidden"},
    {"chat:s1", GUEST, NULL, 401, "unauthorized"},
    {"chat:nosuch", ALICE, NULL, 403, "forbidden"},
    /* crm: agents and admins */
    {"crm", ANN, NULL, 0, NULL},
    {"crm", ROOT, NULL, 0, NULL},
    {"crm", ALICE, NULL, 403, "forbidden"},
    {"crm", SHOP, NULL, 403, "forbidden"},
    {"crm", GUEST, NULL, 401, "unauthorized"},
    /* anything else: admins only */
    {"orders", ROOT, NULL, 0, NULL},
    {"orders", ANN, NULL, 403, "forbidden"},
    {"orders", GUEST, NULL, 401, "unauthorized"},
    {"user:alice", ALICE, NULL, 403, "forbidden"},
    /* names that only look like a kind are not of it */
    {"crm:x", ANN, NULL, 403, "forbidden"},       /* crm takes no id */
    {"crmx", ANN, NULL, 403, "forbidden"},
    {"Room:r1", GUEST, NULL, 401, "unauthorized"}, /* kinds are case-sensitive */
    {"xroom:r1", GUEST, NULL, 401, "unauthorized"},
    {"topup", ALICE, NULL, 403, "forbidden"},
    /* a bare prefix is its kind with the id "", which names nothing */
    {"room:", GUEST, NULL, 0, NULL},
    {"topup:", ALICE, NULL, 404, "unknown_transaction"},
    {"chat:", ALICE, NULL, 403, "forbidden"},
};

static void test_rules(struct db *db)
{
    size_t i;

    for (i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const struct rule *r = &rules[i];
        struct auth_claims c;
        const char *code = NULL, *message = NULL;
        int st;

        memset(&c, 0, sizeof c);
        c.sub = (char *)(uintptr_t)people[r->who].sub; /* (not freed: static strings) */
        c.name = c.sub;
        c.role = people[r->who].role;
        c.exp = 4000000000LL;
        st = access_topic(db, r->topic, r->who == GUEST ? NULL : &c, r->token, &code, &message);
        if (st != r->status)
            fprintf(stderr, "rule %zu: %s\n", i, r->topic);
        CHECK_INT_EQ(st, r->status);
        CHECK_STR_EQ(code, r->code);
        CHECK((st == 0) == (message == NULL)); /* a refusal says why */
    }
    /* several topics: the first refusal wins (crm's: chat:s1 is alice's) */
    {
        const char *topics[3] = {"room:r1", "chat:s1", "crm"}, *code = NULL, *message = NULL;
        struct auth_claims alice = {.sub = (char *)(uintptr_t) "alice", .role = ROLE_VIEWER};

        CHECK_INT_EQ(access_topics(db, topics, 3, &alice, NULL, &code, &message), 403);
        CHECK(message != NULL && strstr(message, "role") != NULL);
        CHECK_INT_EQ(access_topics(db, topics, 2, &alice, NULL, &code, &message), 0);
    }
}

/* The subscription's topic=... list: 1..16 valid ids. */
static void test_topics_from_query(void)
{
    static const struct {
        const char *qs;
        int n;
    } rows[] = {
        {"topic=room:a", 1},
        {"topic=room:a&topic=crm", 2},
        {"", -1},
        {"topic=", -1},
        {"topic=bad%20topic", -1},
        {"topic=a&topic=b&topic=c&topic=d&topic=e&topic=f&topic=g&topic=h&topic=i&topic=j&topic=k&topic=l&"
         "topic=m&topic=n&topic=o&topic=p", 16},
        {"topic=a&topic=b&topic=c&topic=d&topic=e&topic=f&topic=g&topic=h&topic=i&topic=j&topic=k&topic=l&"
         "topic=m&topic=n&topic=o&topic=p&topic=q", -1},
    };
    size_t i;

    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        struct http_query q = {0};
        const char *topics[STORE_MAX_TOPICS], *message = NULL;

        CHECK(http_query_parse(rows[i].qs, strlen(rows[i].qs), &q) == 0);
        CHECK_INT_EQ(access_topics_from_query(&q, topics, &message), rows[i].n);
        CHECK((rows[i].n < 0) == (message != NULL));
        http_query_free(&q);
    }
}

/* Names built and read by the one table. */
static void test_names(void)
{
    char t[TOPIC_MAX], id[HTTP_MAX_ID + 2];
    const char *rest;

    CHECK(topic_name(t, TOPIC_ROOM, "r1") == 0);
    CHECK_STR_EQ(t, "room:r1");
    CHECK(topic_name(t, TOPIC_TOPUP, "tx1") == 0);
    CHECK_STR_EQ(t, "topup:tx1");
    CHECK(topic_name(t, TOPIC_CHAT, "s1") == 0);
    CHECK_STR_EQ(t, "chat:s1");
    CHECK(topic_name(t, TOPIC_CRM, NULL) == 0);
    CHECK_STR_EQ(t, TOPIC_CRM_NAME);
    CHECK(topic_name_n(t, TOPIC_ROOM, "r1/stream", 2) == 0);
    CHECK_STR_EQ(t, "room:r1");
    /* refused: no id where one is needed, one where none is, an unknown
     * kind, an id over HTTP_MAX_ID */
    CHECK(topic_name(t, TOPIC_ROOM, NULL) == -1 && t[0] == '\0');
    CHECK(topic_name(t, TOPIC_ROOM, "") == -1);
    CHECK(topic_name(t, TOPIC_CRM, "x") == -1);
    CHECK(topic_name(t, TOPIC_OTHER, "x") == -1);
    memset(id, 'a', HTTP_MAX_ID);
    id[HTTP_MAX_ID] = '\0';
    CHECK(topic_name(t, TOPIC_TOPUP, id) == 0 && strlen(t) == 6 + HTTP_MAX_ID);
    id[HTTP_MAX_ID] = 'a';
    id[HTTP_MAX_ID + 1] = '\0';
    CHECK(topic_name(t, TOPIC_TOPUP, id) == -1);

    CHECK_INT_EQ(topic_kind("room:r1", &rest), TOPIC_ROOM);
    CHECK_STR_EQ(rest, "r1");
    CHECK_INT_EQ(topic_kind("topup:tx", &rest), TOPIC_TOPUP);
    CHECK_STR_EQ(rest, "tx");
    CHECK_INT_EQ(topic_kind("chat:s", &rest), TOPIC_CHAT);
    CHECK_INT_EQ(topic_kind("crm", &rest), TOPIC_CRM);
    CHECK_STR_EQ(rest, "");
    CHECK_INT_EQ(topic_kind("crm:", &rest), TOPIC_OTHER);
    CHECK_INT_EQ(topic_kind("other", &rest), TOPIC_OTHER);
    CHECK_INT_EQ(topic_kind("", &rest), TOPIC_OTHER);
}

/* Files a topic.owner event as the log would bring it to an edge. */
static void tell(struct db *db, const char *topic, const char *type, const char *data)
{
    sqlite3_stmt *st = NULL;

    CHECK(sqlite3_prepare_v2(db_handle(db), "INSERT INTO events (topic, type, ts, data) VALUES (?1, ?2, '', ?3)", -1,
                             &st, NULL) == SQLITE_OK);
    sqlite3_bind_text(st, 1, topic, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, data, -1, SQLITE_STATIC);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
}

static int reads(struct db *db, const char *topic, enum who who, const char *token)
{
    struct auth_claims c = {.sub = (char *)(uintptr_t)people[who].sub, .role = people[who].role};
    const char *code = NULL, *message = NULL;

    return access_topic(db, topic, who == GUEST ? NULL : &c, token, &code, &message);
}

/* An edge has no chat_sessions or topups rows: the owners the log told
 * decide, the first fact about a topic standing. */
static void test_owners_the_log_told(struct db *db)
{
    buf_t hash = {0}, data = {0};

    CHECK(crypto_sha256_hex("edge-token", 10, &hash) == 0);
    buf_printf(&data, "{\"topic\":\"topup:txe\",\"ownerId\":\"bob\",\"tokenSha256\":\"%s\"}", buf_str(&hash));
    CHECK_INT_EQ(reads(db, "chat:e1", BOB, NULL), 403);
    tell(db, TOPIC_OWNERS_NAME, "topic.owner", "{\"topic\":\"chat:e1\",\"ownerId\":\"bob\"}");
    tell(db, TOPIC_OWNERS_NAME, "topic.owner", buf_str(&data));
    tell(db, TOPIC_OWNERS_NAME, "topic.owner", "{\"topic\":\"chat:e1\",\"ownerId\":\"alice\"}"); /* too late */
    tell(db, "room:x", "topic.owner", "{\"topic\":\"chat:e2\",\"ownerId\":\"alice\"}");        /* not filed */
    tell(db, TOPIC_OWNERS_NAME, "topic.owner", "{\"topic\":5}");                                       /* ignored */
    CHECK_INT_EQ(reads(db, "chat:e1", BOB, NULL), 0);
    CHECK_INT_EQ(reads(db, "chat:e1", ALICE, NULL), 403);
    CHECK_INT_EQ(reads(db, "chat:e2", ALICE, NULL), 403);
    CHECK_INT_EQ(reads(db, "topup:txe", BOB, NULL), 0);
    CHECK_INT_EQ(reads(db, "topup:txe", GUEST, "edge-token"), 0);
    CHECK_INT_EQ(reads(db, "topup:txe", GUEST, "wrong"), 401);
    CHECK_INT_EQ(reads(db, "topup:txe", ALICE, NULL), 403);
    CHECK_INT_EQ(reads(db, "topup:nosuch", ALICE, NULL), 404);
    buf_free(&hash);
    buf_free(&data);
}

int main(void)
{
    struct db *db = unit_db_open();

    if (db != NULL) {
        CHECK(sqlite3_exec(db_handle(db),
                           "INSERT INTO topups (tx_ref, user_id, amount, description, stream_token, created_at) "
                           "VALUES ('tx1', 'alice', 1000, 'd', 'st-secret', '2026-01-01T00:00:00Z');"
                           "INSERT INTO chat_sessions (id, owner_id, created_at) "
                           "VALUES ('s1', 'alice', '2026-01-01T00:00:00Z');",
                           NULL, NULL, NULL) == SQLITE_OK);
        test_rules(db);
        test_owners_the_log_told(db);
        db_close(db);
    }
    test_topics_from_query();
    test_names();
    return check_summary("test_access");
}
