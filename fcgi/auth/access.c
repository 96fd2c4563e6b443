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

static int topup_access(struct db *db, const char *tx_ref, const struct auth_claims *claims,
                        const char *token, const char **code, const char **message)
{
    sqlite3_stmt *st = db_stmt(db, SQL_TOPUP_ACCESS);
    int rc, found;

    if (st == NULL || db_bind_text(st, 1, tx_ref, -1) != 0) {
        rc = db_unavailable(code, message);
        goto out;
    }
    if (claims == NULL && token == NULL) {
        rc = need_login(code, message);
    } else if ((found = db_lookup(st)) == 0) {
        rc = deny(404, code, message, "unknown_transaction", "no such transaction");
    } else if (found < 0) {
        rc = db_unavailable(code, message);
    } else {
        const char *owner = (const char *)sqlite3_column_text(st, 0);
        const char *want = (const char *)sqlite3_column_text(st, 1);

        if (claims != NULL && owner != NULL && strcmp(owner, claims->sub) == 0)
            rc = 0;
        else if (token != NULL && want != NULL && crypto_equal(want, strlen(want), token, strlen(token)))
            rc = 0;
        else if (token != NULL)
            rc = deny(401, code, message, "invalid_token", "the stream token does not match");
        else
            rc = deny(403, code, message, "forbidden", "this transaction is not yours");
    }
out:
    db_done(st);
    return rc;
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
    if (found == 1 && strcmp((const char *)sqlite3_column_text(st, 0), claims->sub) == 0)
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
