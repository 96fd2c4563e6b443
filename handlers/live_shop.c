/* live_shop.c - a room's products (add, list, delete, feature) and the
 * orders the order service reports, each change emitted to room:{id}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/crypto.h"
#include "handlers/live.h"
#include "handlers/routes.h"
#include "store/db.h"

#define PRICE_MAX 100000000000LL   /* VND */
#define QTY_MAX 100000000LL

struct product_in {
    char *product_id, *name, *image;
    long long original, live, limit, stock, order;
    int has_limit, has_stock;
};

static void product_in_free(struct product_in *p)
{
    free(p->product_id);
    free(p->name);
    free(p->image);
}

/* Reads and validates a product body; 0 or -1 (400 answered). */
static int product_read(struct ctx *c, struct product_in *p)
{
    if (ctx_body_object(c) != 0 || ctx_body_text(c, "productId", 1, HTTP_MAX_ID, 1, &p->product_id) != 0)
        return -1;
    if (!http_valid_id(p->product_id)) {
        ctx_error(c, 400, "invalid_productId", "productId must match ^[A-Za-z0-9_.:-]{1,128}$");
        return -1;
    }
    if (ctx_body_text(c, "productName", 1, 200, 1, &p->name) != 0 ||
        ctx_body_url(c, "productImageUrl", &p->image) != 0 ||
        ctx_body_int(c, "originalPrice", 1, PRICE_MAX, 1, &p->original) != 0 ||
        ctx_body_int(c, "livePrice", 0, PRICE_MAX, 1, &p->live) != 0 ||
        ctx_body_int(c, "quantityLimit", 1, QTY_MAX, 0, &p->limit) != 0 ||
        ctx_body_int(c, "stockAvailable", 0, QTY_MAX, 0, &p->stock) != 0 ||
        ctx_body_int(c, "displayOrder", -1000000, 1000000, 0, &p->order) != 0)
        return -1;
    if (p->live > p->original) {
        ctx_error(c, 400, "invalid_livePrice", "livePrice may not exceed originalPrice");
        return -1;
    }
    p->has_limit = ctx_body_has(c, "quantityLimit") && p->limit > 0;
    p->has_stock = ctx_body_has(c, "stockAvailable");
    if (p->has_limit && p->has_stock && p->limit > p->stock) {
        ctx_error(c, 400, "invalid_quantityLimit", "quantityLimit may not exceed stockAvailable");
        return -1;
    }
    return 0;
}

static int bind_opt(sqlite3_stmt *st, int i, int has, long long v)
{
    return has ? db_bind_int64(st, i, v) : db_bind_text(st, i, NULL, 0);
}

static void product_add(struct ctx *c)
{
    struct product_in p = {0};
    const char *room = ctx_arg(c, 0);
    char *status = NULL, *id = NULL;
    sqlite3_stmt *st;
    int added, full;

    if (live_room_owned(c, room, &status) != 0 || product_read(c, &p) != 0)
        goto out;
    if (live_room_open(c, status) != 0)
        goto out;
    /* Each change emits the whole list: its length bounds every product event. */
    st = db_stmt(c->db, SQL_LIVE_PRODUCT_COUNT);
    if (st == NULL || db_bind_text(st, 1, room, -1) != 0 || sqlite3_step(st) != SQLITE_ROW) {
        db_done(st);
        ctx_db_error(c);
        goto out;
    }
    full = sqlite3_column_int64(st, 0) >= c->cfg->max_products;
    db_done(st);
    if (full) {
        ctx_error(c, 409, "too_many_products", "the room has PULSE_MAX_PRODUCTS products already");
        goto out;
    }
    if ((id = ctx_random_id(c, "P", 8)) == NULL)
        goto out;
    st = db_stmt(c->db, SQL_LIVE_PRODUCT_INSERT);
    if (st == NULL || db_bind_text(st, 1, id, -1) || db_bind_text(st, 2, room, -1) ||
        db_bind_text(st, 3, p.product_id, -1) || db_bind_text(st, 4, p.name, -1) ||
        db_bind_text(st, 5, p.image, -1) || db_bind_int64(st, 6, p.original) || db_bind_int64(st, 7, p.live) ||
        bind_opt(st, 8, p.has_limit, p.limit) || bind_opt(st, 9, p.has_stock, p.stock) ||
        db_bind_int64(st, 10, p.order) || sqlite3_step(st) != SQLITE_DONE) {
        db_done(st);
        ctx_db_error(c);
        goto out;
    }
    added = sqlite3_changes(db_handle(c->db));
    db_done(st);
    if (!added) {
        ctx_error(c, 409, "duplicate_product", "this productId is already in the room");
        goto out;
    }
    if (live_emit_products(c, room) == 0) {
        const char *args[2] = {room, id};
        ctx_json_take(c, 201, db_one_text(c->db, SQL_LIVE_PRODUCT_GET, 2, args));
    }
out:
    product_in_free(&p);
    free(status);
    free(id);
}

static void product_list(struct ctx *c)
{
    const char *args[1] = {ctx_arg(c, 0)};
    char *status = NULL;

    if (live_room_status(c, args[0], &status) == 0)
        ctx_json_take(c, 200, db_one_text(c->db, SQL_LIVE_PRODUCT_LIST, 1, args));
    free(status);
}

/* Runs a product statement (?1 room, ?2 product id); 404 when it touched
 * nothing, else emits the new list and answers with it. */
static void product_change(struct ctx *c, enum sql_id q)
{
    const char *room = ctx_arg(c, 0), *pid = ctx_arg(c, 1), *ids[2] = {room, pid};
    char *status = NULL;
    int changed;

    if (live_room_owned(c, room, &status) != 0)
        goto out;
    if (live_room_open(c, status) != 0) /* its list and sold counts are the broadcast's record now */
        goto out;
    if (db_run_texts(c->db, q, 2, ids, &changed) != 0) {
        ctx_db_error(c);
        goto out;
    }
    if (changed == 0) {
        ctx_error(c, 404, "product_not_found", "no such product in this room");
        goto out;
    }
    if (live_emit_products(c, room) == 0) {
        const char *args[1] = {room};
        ctx_json_take(c, 200, db_one_text(c->db, SQL_LIVE_PRODUCT_LIST, 1, args));
    }
out:
    free(status);
}

static void product_delete(struct ctx *c)
{
    product_change(c, SQL_LIVE_PRODUCT_DELETE);
}

static void product_feature(struct ctx *c)
{
    product_change(c, SQL_LIVE_PRODUCT_FEATURE);
}

struct order_in {
    char *order_id, *room, *user, *username, *product_id, *product_name;
    long long amount;
};

static void order_in_free(struct order_in *o)
{
    free(o->order_id);
    free(o->room);
    free(o->user);
    free(o->username);
    free(o->product_id);
    free(o->product_name);
}

/* The order service signs the raw body: X-Pulse-Signature is the hex
 * HMAC-SHA256 with PULSE_WEBHOOK_SECRET. 0, or -1 with 401/503 answered. */
static int order_signed(struct ctx *c)
{
    const char *sig = ctx_req_header(c, "HTTP_X_PULSE_SIGNATURE");
    const char *key = c->cfg->webhook_secret;
    buf_t mac = {0};
    int ok;

    if (key == NULL) {
        ctx_retry_after(c, CGI_RETRY_NOT_CONFIGURED_S);
        ctx_error(c, 503, "not_configured", "PULSE_WEBHOOK_SECRET is not configured");
        return -1;
    }
    if (sig != NULL && strncmp(sig, "sha256=", 7) == 0)
        sig += 7;
    ok = sig != NULL && crypto_hmac_sha256_hex(key, strlen(key), c->req->body, c->req->body_len, &mac) == 0 &&
         crypto_hex_equal(mac.p, mac.len, sig, strlen(sig));
    buf_free(&mac);
    if (!ok)
        ctx_error(c, 401, "invalid_signature", "X-Pulse-Signature does not match the body");
    return ok ? 0 : -1;
}

static int order_read(struct ctx *c, struct order_in *o)
{
    if (ctx_body_object(c) != 0 || ctx_body_text(c, "orderId", 1, HTTP_MAX_ID, 1, &o->order_id) != 0 ||
        ctx_body_text(c, "roomId", 1, HTTP_MAX_ID, 1, &o->room) != 0 ||
        ctx_body_text(c, "userId", 1, 256, 1, &o->user) != 0 ||
        ctx_body_text(c, "username", 1, 100, 1, &o->username) != 0 ||
        ctx_body_text(c, "productId", 1, HTTP_MAX_ID, 1, &o->product_id) != 0 ||
        ctx_body_text(c, "productName", 1, 200, 1, &o->product_name) != 0 ||
        ctx_body_int(c, "amount", 0, PRICE_MAX, 1, &o->amount) != 0)
        return -1;
    if (!http_valid_id(o->order_id) || !http_valid_id(o->room)) {
        ctx_error(c, 400, "invalid_id", "orderId and roomId must match ^[A-Za-z0-9_.:-]{1,128}$");
        return -1;
    }
    return 0;
}

static int run2(struct ctx *c, enum sql_id q, const char *a, long long b, const char *bs)
{
    sqlite3_stmt *st = db_stmt(c->db, q);
    int rc = st != NULL && db_bind_text(st, 1, a, -1) == 0 &&
                     (bs ? db_bind_text(st, 2, bs, -1) : db_bind_int64(st, 2, b)) == 0 &&
                     sqlite3_step(st) == SQLITE_DONE
                 ? sqlite3_changes(db_handle(c->db))
                 : -1;

    db_done(st);
    if (rc < 0)
        ctx_db_error(c);
    return rc;
}

static void order_create(struct ctx *c)
{
    struct order_in o = {0};
    char *status = NULL, amount[24], *data = NULL, topic[TOPIC_MAX];
    sqlite3_stmt *st;
    int fresh;

    if (order_signed(c) != 0 || order_read(c, &o) != 0 || live_room_status(c, o.room, &status) != 0)
        goto out;
    snprintf(amount, sizeof amount, "%lld", o.amount);
    st = db_stmt(c->db, SQL_LIVE_ORDER_INSERT);
    if (st == NULL || db_bind_text(st, 1, o.order_id, -1) || db_bind_text(st, 2, o.room, -1) ||
        db_bind_text(st, 3, o.user, -1) || db_bind_text(st, 4, o.username, -1) ||
        db_bind_text(st, 5, o.product_id, -1) || db_bind_text(st, 6, o.product_name, -1) ||
        db_bind_int64(st, 7, o.amount) || sqlite3_step(st) != SQLITE_DONE) {
        db_done(st);
        ctx_db_error(c);
        goto out;
    }
    fresh = sqlite3_changes(db_handle(c->db));
    db_done(st);
    if (fresh) {
        const char *ev[4] = {o.order_id, o.username, o.product_name, amount};
        int sold = run2(c, SQL_LIVE_ORDER_SOLD, o.room, 0, o.product_id);

        if (sold < 0)
            goto out;
        /* A sale the order service signed is the room's, whether or not
         * its product is still on the live (the owner may have removed it
         * since): the totals and the announcement count it; only a
         * product the room has gets a soldCount to raise (seed 001). */
        if (run2(c, SQL_LIVE_ORDER_APPLY, o.room, o.amount, NULL) < 0)
            goto out;
        data = db_one_text(c->db, SQL_LIVE_ORDER_EVENT, 4, ev);
        if (data == NULL || topic_name(topic, TOPIC_ROOM, o.room) != 0) {
            ctx_db_error(c);
            goto out;
        }
        if (ctx_emit(c, topic, "order", data) < 0 || (sold > 0 && live_emit_products(c, o.room) != 0) ||
            live_emit_status(c, o.room) != 0)
            goto out;
    }
    {
        const char *args[1] = {fresh ? "0" : "1"};
        ctx_json_take(c, 200, db_one_text(c->db, SQL_LIVE_ORDER_REPLY, 1, args));
    }
out:
    order_in_free(&o);
    free(status);
    free(data);
}

static const struct route routes[] = {
    {"POST", "/api/live/rooms/{}/products", product_add, ROUTE_WRITE},
    {"GET", "/api/live/rooms/{}/products", product_list, 0},
    {"DELETE", "/api/live/rooms/{}/products/{}", product_delete, ROUTE_WRITE},
    {"PUT", "/api/live/rooms/{}/products/{}/feature", product_feature, ROUTE_WRITE},
    {"POST", "/api/live/orders", order_create, ROUTE_WRITE},
};

const struct route_table live_shop_routes = {routes, sizeof routes / sizeof routes[0]};
