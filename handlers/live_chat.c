/* live_chat.c - a room's chat (rate limited per user across every process
 * and instance) and its viewers (presence that expires). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/config.h"
#include "handlers/live.h"
#include "handlers/routes.h"
#include "store/db.h"

#define CHAT_MAX 500
#define HISTORY_DEFAULT 100
#define HISTORY_MAX 500
/* Rows one token may hold in a room through `tab` (one a tab it has open). */
#define TABS_MAX 16

/* At most PULSE_CHAT_RATE messages per user in the last second. The count
 * runs inside the request's IMMEDIATE transaction, so concurrent posts from
 * any process or instance sharing the database are counted exactly. */
static int chat_allowed(struct ctx *c)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_LIVE_CHAT_RECENT_COUNT);
    long long n = -1;

    if (st != NULL && db_bind_text(st, 1, c->claims.sub, -1) == 0 && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    db_done(st);
    if (n < 0) {
        ctx_db_error(c);
        return 0;
    }
    if (n >= c->cfg->chat_rate) {
        ctx_retry_after(c, CGI_RETRY_RATE_S);
        ctx_error(c, 429, "rate_limited", "too many chat messages per second (PULSE_CHAT_RATE); slow down");
        return 0;
    }
    return 1;
}

/* Emits data (a chat object; NULL when reading it failed: 503) on the room's
 * topic as type, and answers it with status. Frees data. */
static void chat_announce(struct ctx *c, const char *room, const char *type, int status, char *data)
{
    char topic[TOPIC_MAX];

    if (data == NULL || topic_name(topic, TOPIC_ROOM, room) != 0)
        ctx_db_error(c);
    else if (ctx_emit(c, topic, type, data) >= 0)
        ctx_json(c, status, data);
    free(data);
}

static void chat_post(struct ctx *c)
{
    const char *room = ctx_arg(c, 0), *avatar;
    char *status = NULL, *message = NULL, id[24];
    sqlite3_stmt *st;

    if (ctx_auth(c, 0) != 0 || live_room_status(c, room, &status) != 0 || ctx_body_object(c) != 0 ||
        ctx_body_text(c, "message", 1, CHAT_MAX, 1, &message) != 0)
        goto out;
    avatar = c->claims.picture;
    if (live_room_open(c, status) != 0)
        goto out;
    /* avatarUrl goes into an <img src>: like every URL field, http(s) only */
    if (avatar != NULL && *avatar == '\0')
        avatar = NULL;
    if (avatar != NULL && !http_valid_url(avatar)) {
        ctx_error(c, 400, "invalid_picture",
                  "the token's picture claim must be an absolute http:// or https:// URL of at most 2048 bytes");
        goto out;
    }
    if (!chat_allowed(c))
        goto out;
    st = db_stmt(c->db, SQL_LIVE_CHAT_INSERT);
    if (st == NULL || db_bind_text(st, 1, room, -1) || db_bind_text(st, 2, c->claims.sub, -1) ||
        db_bind_text(st, 3, c->claims.name, -1) || db_bind_text(st, 4, message, -1) ||
        db_bind_text(st, 5, avatar, -1) || sqlite3_step(st) != SQLITE_ROW) {
        db_done(st);
        ctx_db_error(c);
        goto out;
    }
    snprintf(id, sizeof id, "%lld", (long long)sqlite3_column_int64(st, 0));
    if (sqlite3_step(st) != SQLITE_DONE) { /* the INSERT ... RETURNING finishes here */
        db_done(st);
        ctx_db_error(c);
        goto out;
    }
    db_done(st);
    {
        const char *args[1] = {id};
        chat_announce(c, room, "chat", 201, db_one_text(c->db, SQL_LIVE_CHAT_GET, 1, args));
    }
out:
    free(status);
    free(message);
}

static void chat_history(struct ctx *c)
{
    const char *room = ctx_arg(c, 0), *ls = ctx_query(c, "limit");
    long long limit = HISTORY_DEFAULT;
    char *status = NULL, lim[24];

    if (ls != NULL && (http_parse_i64(ls, &limit) != 0 || limit < 1 || limit > HISTORY_MAX)) {
        ctx_error(c, 400, "invalid_limit", "limit must be an integer from 1 to 500");
        return;
    }
    if (live_room_status(c, room, &status) == 0) {
        const char *args[2] = {room, lim};
        snprintf(lim, sizeof lim, "%lld", limit);
        ctx_json_take(c, 200, db_one_text(c->db, SQL_LIVE_CHAT_HISTORY, 2, args));
    }
    free(status);
}

/* Steps statement q with room ?1 and message ?2 (both text); *out gets the
 * first column of its row. 1 with a row, 0 with none, -1 (answered 503). */
static int chat_row(struct ctx *c, enum sql_id q, const char *room, const char *cid, long long *out)
{
    sqlite3_stmt *st = db_stmt(c->db, q);
    int found = -1;

    if (st != NULL && db_bind_text(st, 1, room, -1) == 0 && (cid == NULL || db_bind_text(st, 2, cid, -1) == 0))
        found = db_lookup(st);
    if (found == 1)
        *out = sqlite3_column_int64(st, 0);
    db_done(st); /* an UPDATE ... RETURNING made its changes at the first step */
    if (found < 0)
        ctx_db_error(c);
    return found;
}

/* The room's owner pins message cid; the message pinned before loses its
 * pin in the same transaction, and chat_pinned carries the pinned message
 * with unpinnedId (the other's id, or null). Pinning the pinned message
 * again changes nothing: 200 and no event. 404 for a message that is not
 * this room's, 409 once the room has ended. */
static void chat_pin(struct ctx *c)
{
    const char *room = ctx_arg(c, 0);
    char *status = NULL, cid[24] = "", was[24];
    const char *ev[2] = {cid, NULL};
    long long n, pinned = 0, unpinned = 0;
    int found, changed;

    if (live_room_owned(c, room, &status) != 0)
        goto out;
    if (live_room_open(c, status) != 0)
        goto out;
    /* SQLite would read "012" or "1e1" as 12 and 10: a chat id is spelled
     * one way, as the service wrote it */
    if (http_parse_i64(ctx_arg(c, 1), &n) == 0)
        snprintf(cid, sizeof cid, "%lld", n);
    if (strcmp(cid, ctx_arg(c, 1)) != 0) {
        ctx_error(c, 404, "chat_not_found", "no such chat message in this room");
        goto out;
    }
    if ((found = chat_row(c, SQL_LIVE_CHAT_PIN_STATE, room, cid, &pinned)) <= 0) {
        if (found == 0)
            ctx_error(c, 404, "chat_not_found", "no such chat message in this room");
        goto out;
    }
    if (pinned) {
        ctx_json_take(c, 200, db_one_text(c->db, SQL_LIVE_CHAT_PINNED_EVENT, 2, ev));
        goto out;
    }
    if ((found = chat_row(c, SQL_LIVE_CHAT_UNPIN, room, NULL, &unpinned)) < 0)
        goto out;
    if (found == 1) {
        snprintf(was, sizeof was, "%lld", unpinned);
        ev[1] = was;
    }
    {
        const char *args[2] = {room, cid};
        if (db_run_texts(c->db, SQL_LIVE_CHAT_PIN, 2, args, &changed) != 0 || changed != 1) {
            ctx_db_error(c);
            goto out;
        }
    }
    chat_announce(c, room, "chat_pinned", 200, db_one_text(c->db, SQL_LIVE_CHAT_PINNED_EVENT, 2, ev));
out:
    free(status);
}

/* Who is watching: "u:<sub>" for a token's user, or for a guest the
 * "guest-…" id its first join returned (a new one when it has none). The
 * two never overlap, so a guest cannot touch a user's presence. Caller
 * frees. */
static char *viewer_id(struct ctx *c)
{
    const char *v = ctx_query(c, "viewerId");
    buf_t b = {0};

    if (ctx_req_header(c, "HTTP_AUTHORIZATION") != NULL) {
        if (ctx_auth(c, 0) != 0)
            return NULL;
        buf_printf(&b, "u:%s", c->claims.sub);
        return buf_steal(&b);
    }
    if (v != NULL) {
        if (!http_valid_id(v) || strncmp(v, "guest-", 6) != 0) {
            ctx_error(c, 400, "invalid_viewerId", "viewerId must be the guest-… id a join returned");
            return NULL;
        }
        return xstrdup(v);
    }
    return ctx_random_id(c, "guest-", 8);
}

/* addr: the client's, bound for a join. */
static int exec_room_viewer(struct ctx *c, enum sql_id q, const char *room, const char *viewer, const char *addr)
{
    sqlite3_stmt *st = db_stmt(c->db, q);
    int ok = st != NULL && db_bind_text(st, 1, room, -1) == 0 &&
             (viewer == NULL || db_bind_text(st, 2, viewer, -1) == 0) &&
             (q != SQL_LIVE_VIEWER_JOIN || (db_bind_int64(st, 3, c->cfg->presence_ttl_s) == 0 &&
                                            db_bind_text(st, 4, addr, -1) == 0)) &&
             sqlite3_step(st) == SQLITE_DONE;

    db_done(st);
    if (!ok)
        ctx_db_error(c);
    return ok ? 0 : -1;
}

static int viewer_count(struct ctx *c, const char *room, long long *count, long long *peak)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_LIVE_VIEWER_COUNT);
    int ok = st != NULL && db_bind_text(st, 1, room, -1) == 0 && sqlite3_step(st) == SQLITE_ROW;

    if (ok) {
        *count = sqlite3_column_int64(st, 0);
        *peak = sqlite3_column_int64(st, 1);
    }
    db_done(st);
    if (!ok)
        ctx_db_error(c);
    return ok ? 0 : -1;
}

/* Emits `viewers` and answers {count, peak, viewerId, expiresIn}: after a
 * join, expiresIn is PULSE_PRESENCE_TTL_S, how soon the client must join
 * again to keep counting (null after a leave). */
static void presence_reply(struct ctx *c, const char *room, const char *viewer, long long count,
                           long long peak, int changed, int join)
{
    char cnt[24], pk[24], ttl[24], topic[TOPIC_MAX], *data = NULL;
    const char *ev[2] = {cnt, pk}, *reply[4] = {cnt, pk, viewer, join ? ttl : NULL};

    snprintf(cnt, sizeof cnt, "%lld", count);
    snprintf(pk, sizeof pk, "%lld", peak);
    snprintf(ttl, sizeof ttl, "%ld", c->cfg->presence_ttl_s);
    if (changed) {
        data = db_one_text(c->db, SQL_LIVE_VIEWERS_EVENT, 2, ev);
        if (data == NULL || topic_name(topic, TOPIC_ROOM, room) != 0) {
            ctx_db_error(c);
            return;
        }
        if (ctx_emit(c, topic, "viewers", data) < 0)
            goto out;
    }
    ctx_json_take(c, 200, db_one_text(c->db, SQL_LIVE_VIEWERS_REPLY, 4, reply));
out:
    free(data);
}

/* At most PULSE_JOIN_RATE presence requests (joins and leaves) per viewer
 * and PULSE_JOIN_ADDR_RATE per client address in the last second, counted
 * in the request's IMMEDIATE transaction like the chat limit, so every
 * process and instance sharing the database counts together. An admitted
 * request is recorded; a refused one rolls back. 1 admitted, 0 answered. */
static int presence_allowed(struct ctx *c, const char *viewer, const char *addr)
{
    const char *args[2] = {viewer, addr};
    sqlite3_stmt *st;
    long long by_viewer = -1, by_addr = -1;
    int changed;

    if (db_run_texts(c->db, SQL_LIVE_PRESENCE_EXPIRE, 0, NULL, &changed) != 0) {
        ctx_db_error(c);
        return 0;
    }
    st = db_stmt(c->db, SQL_LIVE_PRESENCE_RECENT);
    if (st != NULL && db_bind_text(st, 1, viewer, -1) == 0 && db_bind_text(st, 2, addr, -1) == 0 &&
        sqlite3_step(st) == SQLITE_ROW) {
        by_viewer = sqlite3_column_int64(st, 0);
        by_addr = sqlite3_column_int64(st, 1);
    }
    db_done(st);
    if (by_viewer < 0 || by_addr < 0) {
        ctx_db_error(c);
        return 0;
    }
    if (by_viewer >= c->cfg->join_rate || by_addr >= c->cfg->join_addr_rate) {
        ctx_retry_after(c, CGI_RETRY_RATE_S);
        ctx_error(c, 429, "rate_limited",
                  by_viewer >= c->cfg->join_rate
                      ? "too many joins and leaves per second for this viewer (PULSE_JOIN_RATE); slow down"
                      : "too many joins and leaves per second from this address (PULSE_JOIN_ADDR_RATE); slow down");
        return 0;
    }
    if (db_run_texts(c->db, SQL_LIVE_PRESENCE_HIT, 2, args, &changed) != 0) {
        ctx_db_error(c);
        return 0;
    }
    return 1;
}

/* A guest names itself, so one client could count as any number of
 * viewers: a client address counts as at most PULSE_GUESTS_PER_ADDR guests
 * in a room at a time (a guest already counted may always refresh). 1
 * admitted, 0 answered (429 until the address's first guest expires). */
static int guest_slot(struct ctx *c, const char *room, const char *viewer, const char *addr)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_LIVE_GUEST_SLOT);
    long long ok = -1, wait = 1;
    char retry[24];

    if (st != NULL && db_bind_text(st, 1, room, -1) == 0 && db_bind_text(st, 2, viewer, -1) == 0 &&
        db_bind_text(st, 3, addr, -1) == 0 && db_bind_int64(st, 4, c->cfg->guests_per_addr) == 0 &&
        sqlite3_step(st) == SQLITE_ROW) {
        ok = sqlite3_column_int64(st, 0);
        wait = sqlite3_column_int64(st, 1);
    }
    db_done(st);
    if (ok < 0) {
        ctx_db_error(c);
        return 0;
    }
    if (!ok) {
        snprintf(retry, sizeof retry, "%lld", wait);
        ctx_header(c, "Retry-After", retry);
        ctx_error(c, 429, "too_many_guests",
                  "this address already counts as PULSE_GUESTS_PER_ADDR guest viewers in this room; "
                  "keep one viewerId per tab, or join with a token");
        return 0;
    }
    return 1;
}

/* The presence row of this request (caller frees): a viewer with a token
 * that names its tab (`tab`, 1-64 of [A-Za-z0-9_-]) is present once per
 * tab, as "u:<sub>" US "<tab>" (a sub holds no control byte), so one tab's
 * leave keeps the others' presence; it still counts once (live_presence,
 * migration 0020). NULL when answered. */
static char *presence_key(struct ctx *c, const char *viewer)
{
    const char *tab = ctx_query(c, "tab");
    size_t n = tab != NULL ? strspn(tab, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") : 0;
    buf_t b = {0};

    if (tab == NULL || strncmp(viewer, "u:", 2) != 0)
        return xstrdup(viewer); /* a guest's viewerId is its tab's already */
    if (n == 0 || n > 64 || tab[n] != '\0') {
        ctx_error(c, 400, "invalid_tab", "tab must be 1-64 letters, digits, '_' or '-'");
        return NULL;
    }
    buf_printf(&b, "%s\x1f%s", viewer, tab);
    return buf_steal(&b);
}

/* A token's tabs in a room, at most TABS_MAX rows: the oldest others go
 * before key joins (the count is by viewer, so only storage is at stake). */
static int trim_tabs(struct ctx *c, const char *room, const char *viewer, const char *key)
{
    char keep[24];
    const char *args[4] = {room, viewer, key, keep};

    snprintf(keep, sizeof keep, "%d", TABS_MAX - 1);
    if (db_run_texts(c->db, SQL_LIVE_VIEWER_TABS_TRIM, 4, args, NULL) != 0) {
        ctx_db_error(c);
        return -1;
    }
    return 0;
}

/* Joins (or refreshes a join) or leaves. `viewers` is emitted only when
 * the count or the peak moved, so the periodic re-joins that keep a
 * presence alive cost no events. */
static void presence(struct ctx *c, int join)
{
    const char *room = ctx_arg(c, 0);
    char *status = NULL, *viewer = NULL, *key = NULL, pk[24];
    long long before = 0, count = 0, old_peak = 0, peak;
    buf_t addr = {0};

    if (live_room_status(c, room, &status) != 0 || (viewer = viewer_id(c)) == NULL ||
        (key = presence_key(c, viewer)) == NULL)
        goto out;
    if (join && live_room_open(c, status) != 0)
        goto out;
    http_client_key(ctx_req_header(c, "REMOTE_ADDR"), &addr);
    if (!presence_allowed(c, viewer, buf_str(&addr)))
        goto out;
    /* Counted before the expired go: viewers that timed out are a change
     * the stream must hear of (nothing else announces them). */
    if (viewer_count(c, room, &before, &old_peak) != 0 ||
        exec_room_viewer(c, SQL_LIVE_VIEWER_EXPIRE, room, NULL, NULL) != 0)
        goto out;
    if (join && strncmp(viewer, "guest-", 6) == 0 && !guest_slot(c, room, viewer, buf_str(&addr)))
        goto out;
    if (join && strcmp(key, viewer) != 0 && trim_tabs(c, room, viewer, key) != 0) /* a token's tab */
        goto out;
    if (exec_room_viewer(c, join ? SQL_LIVE_VIEWER_JOIN : SQL_LIVE_VIEWER_LEAVE, room, key, buf_str(&addr)) != 0 ||
        viewer_count(c, room, &count, &old_peak) != 0)
        goto out;
    peak = count > old_peak ? count : old_peak;
    snprintf(pk, sizeof pk, "%lld", peak);
    if (peak > old_peak && exec_room_viewer(c, SQL_LIVE_ROOM_SET_PEAK, room, pk, NULL) != 0)
        goto out;
    presence_reply(c, room, viewer, count, peak, count != before || peak != old_peak, join);
out:
    free(status);
    free(viewer);
    free(key);
    buf_free(&addr);
}

static void viewer_join(struct ctx *c)
{
    presence(c, 1);
}

static void viewer_leave(struct ctx *c)
{
    presence(c, 0);
}

static const struct route routes[] = {
    {"POST", "/api/live/rooms/{}/chat", chat_post, ROUTE_WRITE},
    {"GET", "/api/live/rooms/{}/chat", chat_history, 0},
    {"PUT", "/api/live/rooms/{}/chat/{}/pin", chat_pin, ROUTE_WRITE},
    {"POST", "/api/live/rooms/{}/join", viewer_join, ROUTE_WRITE},
    {"POST", "/api/live/rooms/{}/leave", viewer_leave, ROUTE_WRITE},
};

const struct route_table live_chat_routes = {routes, sizeof routes / sizeof routes[0]};
