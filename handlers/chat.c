/* chat.c - chat sessions (seed 004). An AI chat streams its answer to a
 * user as events on topic chat:{session} (chat_messages.c, chat_gen.c).
 * The user claims the session first;
 * from then on only they, and admins, may stream or poll its topic
 * (fcgi/auth/access.c). Claiming is the one write, so reads never write.
 *
 * A client may name its session ({"id"}, API.md): the first to claim an
 * id has it, anyone else naming it gets 409. A client that wants an id no
 * one can guess (and so claim first) sends {} and gets a random one. */
#include <stdlib.h>
#include <string.h>

#include "auth/topic.h"
#include "base/alloc.h"
#include "handlers/chat.h"
#include "handlers/routes.h"
#include "request/handler.h"
#include "store/db.h"

#define CHAT_ID_MAX (HTTP_MAX_ID - 5) /* a session id, so that chat:{id} is a valid topic */
#define SESSIONS_MAX "200"     /* sessions a list answers with */

/* Answers ok_status with session id's object when the caller owns it (or,
 * reading, is an admin); anyone else gets taken_status (409 when claiming,
 * 403 when reading), and 404 when nobody claimed it. An admin who names
 * someone else's session is told it is taken: 200 says "already yours". */
static void reply_session(struct ctx *c, const char *id, int ok_status, int taken_status)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CHAT_SESSION_GET);
    int admin = c->claims.role == ROLE_ADMIN && taken_status != 409; /* an admin reads any */
    int step;

    if (st == NULL || db_bind_text(st, 1, id, -1) != 0) {
        ctx_db_error(c);
        goto out;
    }
    step = sqlite3_step(st);
    if (step == SQLITE_DONE)
        ctx_error(c, 404, "session_not_found", "no such chat session");
    else if (step != SQLITE_ROW)
        ctx_db_error(c);
    else if (!admin && strcmp((const char *)sqlite3_column_text(st, 1), c->claims.sub) != 0)
        ctx_error(c, taken_status, taken_status == 409 ? "session_taken" : "forbidden",
                  "this chat session belongs to someone else");
    else
        ctx_json(c, ok_status, (const char *)sqlite3_column_text(st, 0));
out:
    db_done(st);
}

/* Tells the log who owns the new session's topic, for edges. */
static int announce(struct ctx *c, const char *sid)
{
    char topic[TOPIC_MAX];

    if (topic_name(topic, TOPIC_CHAT, sid) != 0) {
        ctx_error(c, 500, "internal", "a session id that names no topic");
        return -1;
    }
    return ctx_emit_owner(c, topic, c->claims.sub, NULL) < 0 ? -1 : 0;
}

/* POST {} or {"id"}: claims a fresh session, or the one named. 201 when
 * claimed now, 200 when it was already the caller's, 409 when it is
 * someone else's. */
static void session_create(struct ctx *c)
{
    char *id = NULL, *claimed = NULL;
    sqlite3_stmt *st = NULL;
    int step;

    if (ctx_auth(c, 0) != 0 || ctx_body_object(c) != 0 ||
        ctx_body_text(c, "id", 1, CHAT_ID_MAX, 0, &id) != 0)
        goto out;
    if (id != NULL && !http_valid_id(id)) {
        ctx_error(c, 400, "invalid_id", "id must match ^[A-Za-z0-9_.:-]{1,123}$");
        goto out;
    }
    st = db_stmt(c->db, SQL_CHAT_SESSION_CLAIM);
    if (st == NULL || db_bind_text(st, 1, id, -1) != 0 || db_bind_text(st, 2, c->claims.sub, -1) != 0 ||
        ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE)) {
        ctx_db_error(c);
        goto out;
    }
    if (step == SQLITE_ROW)
        claimed = xstrdup((const char *)sqlite3_column_text(st, 0));
    db_done(st);
    st = NULL;
    if (claimed != NULL && announce(c, claimed) != 0)
        goto out;
    if (claimed != NULL)
        reply_session(c, claimed, 201, 409);
    else
        reply_session(c, id, 200, 409);
out:
    db_done(st);
    free(id);
    free(claimed);
}

int chat_session_allowed(struct ctx *c, const char *sid)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CHAT_SESSION_OWNER);
    int found = -1, rc = -1;

    if (st == NULL || db_bind_text(st, 1, sid, -1) != 0 || (found = db_lookup(st)) < 0)
        ctx_db_error(c);
    else if (found == 0)
        ctx_error(c, 404, "session_not_found", "no such chat session");
    else if (c->claims.role != ROLE_ADMIN && strcmp((const char *)sqlite3_column_text(st, 0), c->claims.sub) != 0)
        ctx_error(c, 403, "forbidden", "this chat session belongs to someone else");
    else
        rc = 0;
    db_done(st);
    return rc;
}

/* GET: the caller's sessions, newest first. */
static void session_list(struct ctx *c)
{
    const char *args[2] = {NULL, SESSIONS_MAX};

    if (ctx_auth(c, 0) != 0)
        return;
    args[0] = c->claims.sub;
    ctx_json_take(c, 200, db_one_text(c->db, SQL_CHAT_SESSION_LIST, 2, args));
}

static void session_get(struct ctx *c)
{
    if (ctx_auth(c, 0) == 0)
        reply_session(c, ctx_arg(c, 0), 200, 403);
}

static const struct route routes[] = {
    {"POST", "/api/chat/sessions", session_create, ROUTE_WRITE},
    {"GET", "/api/chat/sessions", session_list, 0},
    {"GET", "/api/chat/sessions/{}", session_get, 0},
};

const struct route_table chat_routes = {routes, sizeof routes / sizeof routes[0]};
