/* access.c - topic access rules (see access.h). */
#include "auth/access.h"

#include <string.h>

#include "auth/topic.h"
#include "base/crypto.h"
#include "http/http.h"
#include "store/db.h"
#include "store/store.h"

static int deny(int status, const char **code, const char **message, const char *c, const char *m)
{
    *code = c;
    *message = m;
    return status;
}

static int need_login(const char **code, const char **message)
{
    return deny(401, code, message, "unauthorized", "this topic needs a bearer token");
}

static int db_unavailable(const char **code, const char **message)
{
    return deny(503, code, message, "unavailable", "the database is unavailable");
}

/* An edge holds no chat_sessions or topups, only its copy of the log:
 * the owners the log told (migration 10) stand in for them. 1 when the
 * caller (claims, or token) may read topic, 0 when not or when the log
 * told nothing, 2 when it told of an owner who is not the caller, -1 on
 * a database error. */
static int owner_told(struct db *db, enum topic_kind kind, const char *id, const struct auth_claims *claims,
                      const char *token)
{
    sqlite3_stmt *st = db_stmt(db, SQL_TOPIC_OWNER_GET);
    char topic[TOPIC_MAX];
    buf_t hash = {0};
    const char *owner, *want;
    int found = -1, rc = 0;

    if (topic_name(topic, kind, id) != 0)   /* "topup:" names nothing */
        goto out;
    if (st == NULL || db_bind_text(st, 1, topic, -1) != 0 || (found = db_lookup(st)) < 0) {
        rc = -1;
        goto out;
    }
    if (found == 0)
        goto out;
    owner = (const char *)sqlite3_column_text(st, 0);
    want = (const char *)sqlite3_column_text(st, 1);
    rc = 2;
    if (claims != NULL && strcmp(owner, claims->sub) == 0)
        rc = 1;
    else if (token != NULL && want != NULL && crypto_sha256_hex(token, strlen(token), &hash) == 0 &&
             crypto_hex_equal(want, strlen(want), hash.p, hash.len))
        rc = 1;
out:
    db_done(st);
    buf_free(&hash);
    return rc;
}

/* 1 when the stored transaction (a row of SQL_TOPUP_ACCESS) lets the
 * caller read it, else 2 (as owner_told says). */
static int topup_row_allows(sqlite3_stmt *st, const struct auth_claims *claims, const char *token)
{
    const char *owner = (const char *)sqlite3_column_text(st, 0);
    const char *want = (const char *)sqlite3_column_text(st, 1);

    if (claims != NULL && owner != NULL && strcmp(owner, claims->sub) == 0)
        return 1;
    if (token != NULL && want != NULL && crypto_equal(want, strlen(want), token, strlen(token)))
        return 1;
    return 2;
}

static int topup_access(struct db *db, const char *tx_ref, const struct auth_claims *claims,
                        const char *token, const char **code, const char **message)
{
    sqlite3_stmt *st = db_stmt(db, SQL_TOPUP_ACCESS);
    int allowed = -1, found;

    if (claims == NULL && token == NULL) {
        db_done(st);
        return need_login(code, message);
    }
    if (st != NULL && db_bind_text(st, 1, tx_ref, -1) == 0 && (found = db_lookup(st)) >= 0)
        allowed = found == 1 ? topup_row_allows(st, claims, token) : owner_told(db, TOPIC_TOPUP, tx_ref, claims, token);
    db_done(st);
    if (allowed == 1)
        return 0;
    if (allowed < 0)
        return db_unavailable(code, message);
    if (allowed == 0)
        return deny(404, code, message, "unknown_transaction", "no such transaction");
    if (token != NULL)
        return deny(401, code, message, "invalid_token", "the stream token does not match");
    return deny(403, code, message, "forbidden", "this transaction is not yours");
}

/* chat:{sid}: its owner (who claimed it); a session nobody claimed is
 * nobody's to read. */
static int chat_access(struct db *db, const char *sid, const struct auth_claims *claims, const char **code,
                       const char **message)
{
    sqlite3_stmt *st = db_stmt(db, SQL_CHAT_SESSION_OWNER);
    int rc, found;

    if (st == NULL || db_bind_text(st, 1, sid, -1) != 0) {
        rc = db_unavailable(code, message);
        goto out;
    }
    found = db_lookup(st);
    if (found == 0)
        found = owner_told(db, TOPIC_CHAT, sid, claims, NULL) == 1 ? 2 : 0; /* (a read error: refused) */
    if (found == 2 || (found == 1 && strcmp((const char *)sqlite3_column_text(st, 0), claims->sub) == 0))
        rc = 0;
    else if (found >= 0)
        rc = deny(403, code, message, "forbidden", "this chat session is not yours");
    else
        rc = db_unavailable(code, message);
out:
    db_done(st);
    return rc;
}

int access_topic(struct db *db, const char *topic, const struct auth_claims *claims, const char *token,
                 const char **code, const char **message)
{
    const char *id;
    enum topic_kind kind = topic_kind(topic, &id);

    if (kind == TOPIC_ROOM)
        return 0;
    if (claims != NULL && claims->role == ROLE_ADMIN)
        return 0;
    if (kind == TOPIC_TOPUP)
        return topup_access(db, id, claims, token, code, message);
    if (claims == NULL)
        return need_login(code, message);
    if (kind == TOPIC_CHAT)
        return chat_access(db, id, claims, code, message);
    if (kind == TOPIC_CRM && claims->role == ROLE_AGENT)
        return 0;
    return deny(403, code, message, "forbidden", "your role may not read this topic");
}

int access_topics_from_query(const struct http_query *q, const char **topics, const char **message)
{
    size_t n = http_query_all(q, "topic", topics, STORE_MAX_TOPICS), i;

    if (n == 0) {
        *message = "at least one topic=... is required";
        return -1;
    }
    if (n > STORE_MAX_TOPICS) {
        *message = "at most 16 topics per subscription";
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (!http_valid_id(topics[i])) {
            *message = "topics must match ^[A-Za-z0-9_.:-]{1,128}$";
            return -1;
        }
    }
    return (int)n;
}

int access_topics(struct db *db, const char *const *topics, int n, const struct auth_claims *claims,
                  const char *token, const char **code, const char **message)
{
    int i, rc;

    for (i = 0; i < n; i++)
        if ((rc = access_topic(db, topics[i], claims, token, code, message)) != 0)
            return rc;
    return 0;
}
