/* live_rooms.c - live rooms: create, list, read, start, end, and the RTMP
 * callbacks of nginx-rtmp that make a room LIVE and ENDED.
 *
 *   PENDING ──start──▶ WAITING_STREAM ──on_publish──▶ LIVE ──end / on_publish_done──▶ ENDED
 *      └──────────────────on_publish─────────────────────┘
 * Any state but ENDED may end; everything else is a 409. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "handlers/live.h"
#include "handlers/routes.h"
#include "store/db.h"

#define RTMP_MALFORMED "malformed form body (bad %-escape, NUL, or not UTF-8)"

/* Loads room id's owner and status (copies the caller frees); 404 when
 * there is no such room. 0 or -1 (answered). */
static int room_load(struct ctx *c, const char *id, char **owner, char **status)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_LIVE_ROOM_GET);
    int rc = -1, found = -1;

    if (st == NULL || db_bind_text(st, 1, id, -1) != 0 || (found = db_lookup(st)) < 0) {
        ctx_db_error(c);
        goto out;
    }
    if (found == 0) {
        ctx_error(c, 404, "room_not_found", "no such room");
        goto out;
    }
    *owner = xstrdup((const char *)sqlite3_column_text(st, 1));
    *status = xstrdup((const char *)sqlite3_column_text(st, 2));
    rc = 0;
out:
    db_done(st);
    return rc;
}

int live_room_status(struct ctx *c, const char *id, char **status)
{
    char *owner = NULL;
    int rc = room_load(c, id, &owner, status);

    free(owner);
    return rc;
}

int live_room_open(struct ctx *c, const char *status)
{
    if (strcmp(status, "ENDED") != 0)
        return 0;
    ctx_error(c, 409, "room_ended", "the room has ended");
    return -1;
}

int live_room_owned(struct ctx *c, const char *id, char **status)
{
    char *owner = NULL;
    int rc = -1;

    if (ctx_auth_role(c, ROLE_BIT(ROLE_OWNER) | ROLE_BIT(ROLE_ADMIN)) != 0 || room_load(c, id, &owner, status) != 0)
        return -1;
    if (c->claims.role != ROLE_ADMIN && strcmp(owner, c->claims.sub) != 0) {
        ctx_error(c, 403, "forbidden", "only the room's owner may do this");
        free(*status);
        *status = NULL;
    } else {
        rc = 0;
    }
    free(owner);
    return rc;
}

static int emit_json(struct ctx *c, const char *id, const char *type, enum sql_id q, int col)
{
    sqlite3_stmt *st = db_stmt(c->db, q);
    char topic[TOPIC_MAX], *data = NULL;
    int rc = -1;

    if (st != NULL && db_bind_text(st, 1, id, -1) == 0 && sqlite3_step(st) == SQLITE_ROW)
        data = xstrdup((const char *)sqlite3_column_text(st, col));
    db_done(st);
    if (data == NULL || topic_name(topic, TOPIC_ROOM, id) != 0) {
        free(data);
        ctx_db_error(c);
        return -1;
    }
    rc = ctx_emit(c, topic, type, data) < 0 ? -1 : 0;
    free(data);
    return rc;
}

int live_emit_status(struct ctx *c, const char *id)
{
    return emit_json(c, id, "status", SQL_LIVE_ROOM_GET, 3);
}

int live_emit_products(struct ctx *c, const char *id)
{
    return emit_json(c, id, "product", SQL_LIVE_PRODUCT_LIST, 0);
}

/* Answers with the room as the caller may see it (the key for its owner). */
/* Whose rooms the caller sees with their stream key: a shop owner's (role
 * owner, as for every write to a room), "" for anyone else. The key lets
 * its holder publish to the room and end it. */
static const char *key_holder(const struct ctx *c)
{
    return c->authed && c->claims.role == ROLE_OWNER ? c->claims.sub : "";
}

static void reply_room(struct ctx *c, int status, const char *id)
{
    const char *args[2] = {id, key_holder(c)};

    ctx_json_take(c, status, db_one_text(c->db, SQL_LIVE_ROOM_GET, 2, args));
}

/* Authenticates when a token is present: reads are public, but the owner
 * sees the stream key. A bad token is still a 401. */
static int optional_auth(struct ctx *c)
{
    if (ctx_req_header(c, "HTTP_AUTHORIZATION") == NULL)
        return 0;
    return ctx_auth(c, 0);
}

static void room_create(struct ctx *c)
{
    char *title = NULL, *description = NULL, *thumb = NULL, *id = NULL, *key = NULL;
    sqlite3_stmt *st;

    if (ctx_auth_role(c, ROLE_BIT(ROLE_OWNER) | ROLE_BIT(ROLE_ADMIN)) != 0 || ctx_body_object(c) != 0 ||
        ctx_body_text(c, "title", 1, 200, 1, &title) != 0 ||
        ctx_body_text(c, "description", 0, 2000, 0, &description) != 0 ||
        ctx_body_url(c, "thumbnailUrl", &thumb) != 0)
        goto out;
    /* The stream key is the publisher's only credential: 128 random bits. */
    if ((id = ctx_random_id(c, "R", 8)) == NULL || (key = ctx_random_id(c, "sk_", 16)) == NULL)
        goto out;
    st = db_stmt(c->db, SQL_LIVE_ROOM_INSERT);
    if (st == NULL || db_bind_text(st, 1, id, -1) || db_bind_text(st, 2, c->claims.sub, -1) ||
        db_bind_text(st, 3, title, -1) || db_bind_text(st, 4, description, -1) ||
        db_bind_text(st, 5, thumb, -1) || db_bind_text(st, 6, key, -1) || sqlite3_step(st) != SQLITE_DONE) {
        db_done(st);
        ctx_db_error(c);
        goto out;
    }
    db_done(st);
    if (live_emit_status(c, id) == 0)
        reply_room(c, 201, id);
out:
    free(title);
    free(description);
    free(thumb);
    free(id);
    free(key);
}

/* Newest first, a page at a time: ?limit= (1..500, default 100) and
 * ?offset=. */
static void room_list(struct ctx *c)
{
    const char *status = ctx_query(c, "status"), *ls = ctx_query(c, "limit"), *os = ctx_query(c, "offset");
    long long limit = 100, offset = 0;
    char lim[24], off[24];
    const char *args[4] = {status, NULL, lim, off};

    if (status != NULL && strcmp(status, "PENDING") != 0 && strcmp(status, "WAITING_STREAM") != 0 &&
        strcmp(status, "LIVE") != 0 && strcmp(status, "ENDED") != 0) {
        ctx_error(c, 400, "invalid_status", "status must be PENDING, WAITING_STREAM, LIVE or ENDED");
        return;
    }
    if ((ls != NULL && (http_parse_i64(ls, &limit) != 0 || limit < 1 || limit > 500)) ||
        (os != NULL && http_parse_i64(os, &offset) != 0)) {
        ctx_error(c, 400, "invalid_page", "limit must be 1..500 and offset a non-negative integer");
        return;
    }
    if (optional_auth(c) != 0)
        return;
    snprintf(lim, sizeof lim, "%lld", limit);
    snprintf(off, sizeof off, "%lld", offset);
    args[1] = key_holder(c);
    ctx_json_take(c, 200, db_one_text(c->db, SQL_LIVE_ROOM_LIST, 4, args));
}

static void room_get(struct ctx *c)
{
    char *status = NULL;

    if (optional_auth(c) == 0 && live_room_status(c, ctx_arg(c, 0), &status) == 0)
        reply_room(c, 200, ctx_arg(c, 0));
    free(status);
}

/* Moves room id from one of `from` (a JSON array of states) to `to`, emits
 * `status`; 409 when the room is not in an allowed state. 0 or -1. */
static int room_move(struct ctx *c, const char *id, const char *from, const char *to)
{
    const char *args[3] = {id, from, to};
    int changed;

    if (db_run_texts(c->db, SQL_LIVE_ROOM_MOVE, 3, args, &changed) != 0) {
        ctx_db_error(c);
        return -1;
    }
    if (changed == 0) {
        ctx_error(c, 409, "illegal_transition", "the room's status does not allow this");
        return -1;
    }
    return live_emit_status(c, id);
}

static void owner_move(struct ctx *c, const char *from, const char *to)
{
    char *status = NULL;

    if (live_room_owned(c, ctx_arg(c, 0), &status) == 0 && room_move(c, ctx_arg(c, 0), from, to) == 0)
        reply_room(c, 200, ctx_arg(c, 0));
    free(status);
}

static void room_start(struct ctx *c)
{
    owner_move(c, "[\"PENDING\"]", "WAITING_STREAM");
}

static void room_end(struct ctx *c)
{
    owner_move(c, "[\"PENDING\",\"WAITING_STREAM\",\"LIVE\"]", "ENDED");
}

/* nginx-rtmp posts its form fields, then the stream name's own query
 * arguments appended raw: the key comes as name=<key>, or as
 * name=<room>&key=<key>. Returns the room id for a matching key (caller
 * frees), or NULL: no such key, a form that is not form-encoded UTF-8
 * (*malformed set), or a database error (then answered 503). */
static char *rtmp_room(struct ctx *c, struct http_query *form, int *malformed)
{
    const char *name, *key;
    sqlite3_stmt *st;
    char *room = NULL;
    int found = -1;

    *malformed = http_query_parse(c->req->body, c->req->body_len, form) != 0;
    if (*malformed)
        return NULL;
    name = http_query_get(form, "name");
    key = http_query_get(form, "key");
    if (key == NULL)
        key = name;
    if (key == NULL || *key == '\0')
        return NULL;
    st = db_stmt(c->db, SQL_LIVE_ROOM_BY_KEY);
    if (st == NULL || db_bind_text(st, 1, key, -1) != 0 || (found = db_lookup(st)) < 0) {
        ctx_db_error(c);
    } else if (found) {
        const char *id = (const char *)sqlite3_column_text(st, 0);
        if (key == name || (name != NULL && strcmp(name, id) == 0))
            room = xstrdup(id);
    }
    db_done(st);
    return room;
}

/* nginx-rtmp drops the publisher on any answer but a 2xx or a 3xx. A 3xx
 * whose Location is not an rtmp:// URL renames the stream (the notify
 * module's publish handler copies it over the name), and the modules after
 * it, the relay that feeds HLS among them, see the new name; so with
 * ?redirect=room (nginx-rtmp.conf) the answer is a 302 to the room id: the
 * HLS files, the play name, are the room's, and a viewer never learns the
 * key. on_publish_done still sends the name the publisher used. */
static void rtmp_on_publish(struct ctx *c)
{
    struct http_query form = {0};
    const char *redirect = ctx_query(c, "redirect");
    int malformed;
    char *room = NULL;

    if (redirect != NULL && strcmp(redirect, "room") != 0) {
        ctx_error(c, 400, "invalid_redirect", "redirect must be room (or absent)");
        goto out;
    }
    room = rtmp_room(c, &form, &malformed);
    if (room == NULL) {
        if (c->resp->status == 0) /* else a database error, answered 503 */
            ctx_error(c, 403, "forbidden", malformed ? RTMP_MALFORMED : "unknown stream key");
    } else if (room_move(c, room, "[\"PENDING\",\"WAITING_STREAM\"]", "LIVE") == 0) {
        if (redirect != NULL)
            ctx_header(c, "Location", room);
        ctx_json(c, redirect != NULL ? 302 : 200, "{\"ok\":true}");
    } else if (c->resp->status == 409)
        ctx_error(c, 403, "forbidden", "this room is not waiting for a stream");
out:
    http_query_free(&form);
    free(room);
}

static void rtmp_on_publish_done(struct ctx *c)
{
    struct http_query form = {0};
    int malformed;
    char *room = rtmp_room(c, &form, &malformed);

    if (room == NULL && malformed) {
        ctx_error(c, 400, "bad_request", RTMP_MALFORMED);
    } else if (room == NULL) {
        if (c->resp->status == 0) /* else a database error, answered 503 */
            ctx_error(c, 404, "room_not_found", "unknown stream key");
    } else if (room_move(c, room, "[\"PENDING\",\"WAITING_STREAM\",\"LIVE\"]", "ENDED") == 0 ||
             c->resp->status == 409)
        ctx_json(c, 200, "{\"ok\":true}"); /* already ENDED: nothing to do */
    http_query_free(&form);
    free(room);
}

static const struct route routes[] = {
    {"POST", "/api/live/rooms", room_create, ROUTE_WRITE},
    {"GET", "/api/live/rooms", room_list, 0},
    {"GET", "/api/live/rooms/{}", room_get, 0},
    {"PUT", "/api/live/rooms/{}/start", room_start, ROUTE_WRITE},
    {"PUT", "/api/live/rooms/{}/end", room_end, ROUTE_WRITE},
    {"POST", "/api/live/rtmp/on_publish", rtmp_on_publish, ROUTE_WRITE},
    {"POST", "/api/live/rtmp/on_publish_done", rtmp_on_publish_done, ROUTE_WRITE},
};

const struct route_table live_rooms_routes = {routes, sizeof routes / sizeof routes[0]};
