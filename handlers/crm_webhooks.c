/* crm_webhooks.c - customers' messages arriving from Facebook Messenger,
 * Zalo OA and TikTok (seed 003). Each delivery is checked against its
 * platform's signature over the raw body (websig.h), then every text
 * message in it becomes, in one transaction: the customer (new to us or
 * known by their platform id), the conversation (customer + the channel
 * they wrote to), the message, and the events agents stream on topic crm:
 * customer_created, new_conversation (or conversation_updated when a
 * CLOSED one reopens), new_message. A platform message id seen before
 * changes nothing, so redeliveries are harmless. Receipts of agents'
 * answers (Facebook's deliveries and reads, Zalo's user_received_message
 * and user_seen_message) go to crm_status.c.
 *
 * A delivery that is not signed, or not JSON, is refused (401, 400). In a
 * signed Facebook batch, an item that is not a well-formed text message is
 * logged and skipped: refusing the batch would make Facebook redeliver it,
 * and drop the other customers' messages with it, until it gives up. Text
 * that is not Unicode (bytes that are not UTF-8, an escape of a lone
 * surrogate) makes an item malformed like any other flaw: the batch is
 * read past the UTF-8 gate (ctx_body_object_shape) and each string kept is
 * checked as SQLite decoded it. A Zalo or TikTok delivery carries one
 * message, which nothing else would be stored with: such text there is
 * refused whole, 400 invalid_utf8, as in any other body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/crypto.h"
#include "base/log.h"
#include "base/utf8.h"
#include "handlers/crm.h"
#include "handlers/routes.h"
#include "handlers/websig.h"
#include "store/db.h"

#define TIKTOK_WINDOW_S 300
#define PLATFORM_ID_MAX 128 /* characters (bytes in a Facebook batch item) */
#define TEXT_MAX 20000
#define FB_BATCH_MAX 1000 /* messages in one delivery */

struct inbound {
    const char *platform, *channel, *sender, *mid, *text; /* borrowed */
    long long sent_ms;                                   /* -1: not given */
};

/* The customer's id (caller frees); *created when they are new. */
static char *customer_of(struct ctx *c, const struct inbound *in, int *created)
{
    buf_t name = {0};
    const char *args[3];
    char *id = NULL;

    /* a name agents can change: platforms do not send one */
    buf_printf(&name, "%c%s user %s", in->platform[0] - 'a' + 'A', in->platform + 1, in->sender);
    args[0] = in->platform;
    args[1] = in->sender;
    args[2] = name.p;
    if (db_run_texts(c->db, SQL_CRM_CUSTOMER_FROM_PLATFORM, 3, args, created) == 0)
        id = db_one_text(c->db, SQL_CRM_CUSTOMER_BY_PLATFORM, 2, args);
    buf_free(&name);
    return id;
}

/* The conversation's id (caller frees); *opened when it is new. */
static char *conversation_of(struct ctx *c, const char *customer, const struct inbound *in, int *opened)
{
    const char *open_args[3] = {customer, in->platform, in->channel}, *of_args[2] = {customer, in->channel};

    if (db_run_texts(c->db, SQL_CRM_CONVERSATION_OPEN, 3, open_args, opened) != 0)
        return NULL;
    return db_one_text(c->db, SQL_CRM_CONVERSATION_OF, 2, of_args);
}

static char *message_insert(struct ctx *c, const char *conv, const struct inbound *in)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CRM_MESSAGE_FROM_PLATFORM);
    char *id = NULL;

    if (st != NULL && db_bind_text(st, 1, conv, -1) == 0 && db_bind_text(st, 2, in->platform, -1) == 0 &&
        db_bind_text(st, 3, in->mid, -1) == 0 && db_bind_text(st, 4, in->text, -1) == 0 &&
        (in->sent_ms < 0 ? sqlite3_bind_null(st, 5) : db_bind_int64(st, 5, in->sent_ms)) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        id = xstrdup((const char *)sqlite3_column_text(st, 0));
    db_done(st);
    return id;
}

/* Stores one customer message and emits its events. 0, or -1 answered. */
static int ingest(struct ctx *c, const struct inbound *in)
{
    char *customer = NULL, *conv = NULL, *msg = NULL, *before = NULL, *after = NULL;
    const char *args[1], *seen_args[2] = {in->platform, in->mid};
    int created = 0, opened = 0, added, rc = -1;

    /* remembering the id is the check: seen before, nothing changes */
    if (db_run_texts(c->db, SQL_CRM_SEEN_ADD, 2, seen_args, &added) != 0)
        goto out;
    if (!added) {
        rc = 0;
        goto out;
    }
    if ((customer = customer_of(c, in, &created)) == NULL ||
        (conv = conversation_of(c, customer, in, &opened)) == NULL)
        goto out;
    args[0] = conv;
    if ((before = db_one_text(c->db, SQL_CRM_CONVERSATION_STATUS, 1, args)) == NULL ||
        (msg = message_insert(c, conv, in)) == NULL ||
        (after = db_one_text(c->db, SQL_CRM_CONVERSATION_REOPEN, 1, args)) == NULL)
        goto out;
    if (created && crm_emit_row(c, "customer_created", SQL_CRM_CUSTOMER_GET, customer) != 0)
        goto out;
    if (opened && crm_emit_row(c, "new_conversation", SQL_CRM_CONVERSATION_GET, conv) != 0)
        goto out;
    if (strcmp(before, after) != 0 && crm_emit_row(c, "conversation_updated", SQL_CRM_CONVERSATION_GET, conv) != 0)
        goto out;
    rc = crm_emit_row(c, "new_message", SQL_CRM_MESSAGE_GET, msg);
out:
    if (rc != 0 && c->resp->status == 0)
        ctx_db_error(c);
    free(customer);
    free(conv);
    free(msg);
    free(before);
    free(after);
    return rc;
}

/* 503 when the platform's secret is not configured, 401 when the
 * signature does not hold. 0 when signed. */
static int check_signed(struct ctx *c, const char *secret, int ok, const char *setting, const char *header)
{
    char msg[128];

    if (secret == NULL) {
        snprintf(msg, sizeof msg, "%s is not configured", setting);
        ctx_retry_after(c, CGI_RETRY_NOT_CONFIGURED_S);
        ctx_error(c, 503, "not_configured", msg);
        return -1;
    }
    if (!ok) {
        snprintf(msg, sizeof msg, "%s does not match the body", header);
        ctx_error(c, 401, "invalid_signature", msg);
        return -1;
    }
    return 0;
}

/* GET: Facebook's subscription check echoes hub.challenge when
 * hub.verify_token is ours. */
static void facebook_verify(struct ctx *c)
{
    const char *mode = ctx_query(c, "hub.mode"), *token = ctx_query(c, "hub.verify_token");
    const char *challenge = ctx_query(c, "hub.challenge"), *want = c->cfg->fb_verify_token;

    if (want != NULL && mode != NULL && token != NULL && challenge != NULL && strcmp(mode, "subscribe") == 0 &&
        crypto_equal(want, strlen(want), token, strlen(token)))
        ctx_text(c, 200, "text/plain; charset=utf-8", challenge);
    else
        ctx_error(c, 403, "forbidden", "hub.mode must be subscribe and hub.verify_token FB_VERIFY_TOKEN");
}

/* One row of crm_facebook_messages checked into in (strings borrowed from
 * the row). 1 to store; 0 to skip: the page's own echo, no text (an
 * attachment or a sticker), or an item not shaped as Facebook documents
 * it (logged). The body was not held to UTF-8 (facebook_receive): every
 * string kept is checked here, and one that fails is not written to the
 * log either. */
static int facebook_item(sqlite3_stmt *st, struct inbound *in)
{
    static const char *const names[] = {"sender.id", "recipient.id", "message.mid"};
    const char **out[] = {&in->sender, &in->channel, &in->mid};
    const char *type;
    int i;

    if (sqlite3_column_int(st, 10))
        return 0;
    if (db_json_escapes_nul((const char *)sqlite3_column_text(st, 11), (size_t)sqlite3_column_bytes(st, 11))) {
        log_warn("facebook webhook: skipped an item holding \\u0000 (a string read would stop there)");
        return 0;
    }
    for (i = 0; i < 3; i++) {
        const char *v = (const char *)sqlite3_column_text(st, 2 * i + 1);

        type = (const char *)sqlite3_column_text(st, 2 * i);
        if (type == NULL || strcmp(type, "text") != 0 || v == NULL || *v == '\0' || strlen(v) > PLATFORM_ID_MAX) {
            log_warn("facebook webhook: skipped an item whose %s is not a string of 1 to %d bytes", names[i],
                     PLATFORM_ID_MAX);
            return 0;
        }
        if (!utf8_valid(v, strlen(v))) {
            log_warn("facebook webhook: skipped an item whose %s is not Unicode", names[i]);
            return 0;
        }
        *out[i] = v;
    }
    type = (const char *)sqlite3_column_text(st, 6);
    if (type == NULL)
        return 0;
    in->text = (const char *)sqlite3_column_text(st, 7);
    if (strcmp(type, "text") == 0 && in->text != NULL && !utf8_valid(in->text, strlen(in->text))) {
        log_warn("facebook webhook: skipped message %s: its text is not Unicode (bytes that are not UTF-8, or "
                 "an escape of a lone surrogate)", in->mid);
        return 0;
    }
    if (strcmp(type, "text") != 0 || in->text == NULL || ctx_utf8_len(in->text) > TEXT_MAX) {
        log_warn("facebook webhook: skipped message %s: its text is not a string of at most %d characters",
                 in->mid, TEXT_MAX);
        return 0;
    }
    type = (const char *)sqlite3_column_text(st, 8);
    in->sent_ms = type != NULL && strcmp(type, "integer") == 0 ? sqlite3_column_int64(st, 9) : -1;
    return 1;
}

/* The messages of a delivery are copied out first: storing them runs
 * other statements. */
struct fb_batch {
    struct inbound in[FB_BATCH_MAX];
    char *owned[FB_BATCH_MAX][4];
    size_t n;
};

static void fb_batch_free(struct fb_batch *b)
{
    size_t i, j;

    for (i = 0; i < b->n; i++)
        for (j = 0; j < 4; j++)
            free(b->owned[i][j]);
    free(b);
}

static int facebook_read(struct ctx *c, struct fb_batch *b)
{
    sqlite3_stmt *st = db_stmt(c->db, SQL_CRM_FACEBOOK_MESSAGES);
    int step, r, rc = -1;

    if (st == NULL || db_bind_text(st, 1, c->req->body, (int)c->req->body_len) != 0) {
        ctx_db_error(c);
        goto out;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        struct inbound in = {"facebook", NULL, NULL, NULL, NULL, -1};

        if ((r = facebook_item(st, &in)) == 0)
            continue;
        if (b->n == FB_BATCH_MAX) {
            ctx_error(c, 413, "too_many_messages", "at most 1000 messages in one delivery");
            goto out;
        }
        b->owned[b->n][0] = xstrdup(in.channel);
        b->owned[b->n][1] = xstrdup(in.sender);
        b->owned[b->n][2] = xstrdup(in.mid);
        b->owned[b->n][3] = xstrdup(in.text);
        b->in[b->n] = (struct inbound){"facebook", b->owned[b->n][0], b->owned[b->n][1], b->owned[b->n][2],
                                       b->owned[b->n][3], in.sent_ms};
        b->n++;
    }
    if (step != SQLITE_DONE)
        ctx_db_error(c);
    else
        rc = 0;
out:
    db_done(st);
    return rc;
}

/* A body holding \u0000 is refused whole: SQLite 3.40 would cut a string
 * short there (db_json_escapes_nul). by_item: a Facebook batch, whose
 * strings are checked one by one (ctx_body_object_shape) and whose items
 * holding one are skipped alone. */
static int body_checked(struct ctx *c, int by_item)
{
    if ((by_item ? ctx_body_object_shape(c) : ctx_body_object(c)) != 0)
        return -1;
    if (!by_item && db_json_escapes_nul(c->req->body, c->req->body_len)) {
        ctx_error(c, 400, "invalid_text", "text must not hold U+0000");
        return -1;
    }
    return 0;
}

static void facebook_receive(struct ctx *c)
{
    const char *secret = c->cfg->fb_app_secret;
    struct fb_batch *b = NULL;
    char *object = NULL;
    size_t i;

    if (check_signed(c, secret,
                     websig_facebook(secret, c->req->body, c->req->body_len,
                                     ctx_req_header(c, "HTTP_X_HUB_SIGNATURE_256")),
                     "FB_APP_SECRET", "X-Hub-Signature-256") != 0 ||
        body_checked(c, 1) != 0 || ctx_body_text(c, "object", 1, 32, 1, &object) != 0)
        goto out;
    if (strcmp(object, "page") != 0) { /* Instagram, say: not ours to store */
        ctx_text(c, 200, "text/plain; charset=utf-8", "EVENT_RECEIVED");
        goto out;
    }
    if (!ctx_body_has(c, "entry")) {
        ctx_error(c, 400, "invalid_entry", "a page delivery has {\"entry\":[...]}");
        goto out;
    }
    b = xcalloc(1, sizeof *b);
    if (facebook_read(c, b) != 0)
        goto out;
    for (i = 0; i < b->n; i++)
        if (ingest(c, &b->in[i]) != 0)
            goto out;
    if (crm_status_facebook(c) != 0)
        goto out;
    ctx_text(c, 200, "text/plain; charset=utf-8", "EVENT_RECEIVED");
out:
    if (b != NULL)
        fb_batch_free(b);
    free(object);
}

/* A member sent as a string or an integer, as text (caller frees). */
static int body_scalar(struct ctx *c, const char *field, char **out)
{
    long long v;
    char num[24];
    int is = ctx_body_is(c, field, "integer");

    if (is < 0)
        return -1;
    if (is) {
        if (ctx_body_int(c, field, 0, 999999999999999999LL, 1, &v) != 0)
            return -1;
        snprintf(num, sizeof num, "%lld", v);
        *out = xstrdup(num);
        return 0;
    }
    return ctx_body_text(c, field, 1, 64, 1, out);
}

/* Reads the sender, channel, message id and text members named in f into
 * in (strings in owned[4], caller frees). 0 or -1 answered. */
static int read_inbound(struct ctx *c, const char *const f[4], char *owned[4], struct inbound *in)
{
    if (ctx_body_text(c, f[0], 1, PLATFORM_ID_MAX, 1, &owned[0]) != 0 ||
        ctx_body_text(c, f[1], 1, PLATFORM_ID_MAX, 1, &owned[1]) != 0 ||
        ctx_body_text(c, f[2], 1, PLATFORM_ID_MAX, 1, &owned[2]) != 0 ||
        ctx_body_text(c, f[3], 0, TEXT_MAX, 1, &owned[3]) != 0)
        return -1;
    in->sender = owned[0];
    in->channel = owned[1];
    in->mid = owned[2];
    in->text = owned[3];
    return 0;
}

/* 1 when the body carries Zalo's signature, 0 when not, -1 answered (the
 * database failed). Read quietly: a body that cannot carry one (not JSON,
 * no app_id or timestamp) is unsigned (401), as at Facebook and TikTok.
 * Its encoding is checked after (body_checked): a signed body that is not
 * UTF-8 is a 400, as there. */
static int zalo_signed(struct ctx *c, const char *secret, const char *header)
{
    sqlite3_stmt *st;
    int ok = 0;

    if (secret == NULL || header == NULL || !db_json_object_shape(c->db, c->req->body, c->req->body_len))
        return 0;
    st = db_stmt(c->db, SQL_CRM_ZALO_SIGNED_FIELDS);
    if (st == NULL || db_bind_text(st, 1, c->req->body, (int)c->req->body_len) != 0 ||
        sqlite3_step(st) != SQLITE_ROW) {
        db_done(st);
        ctx_db_error(c);
        return -1;
    }
    if (sqlite3_column_type(st, 0) != SQLITE_NULL && sqlite3_column_type(st, 1) != SQLITE_NULL)
        ok = websig_zalo(secret, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
                         c->req->body, c->req->body_len, header);
    db_done(st);
    return ok;
}

static void zalo_receive(struct ctx *c)
{
    static const char *const fields[4] = {"sender.id", "recipient.id", "message.msg_id", "message.text"};
    const char *secret = c->cfg->zalo_oa_secret, *header = ctx_req_header(c, "HTTP_X_ZEVENT_SIGNATURE");
    char *app_id = NULL, *ts = NULL, *event = NULL, *owned[4] = {NULL, NULL, NULL, NULL};
    struct inbound in = {"zalo", NULL, NULL, NULL, NULL, -1};
    int i, signed_ok;

    if ((signed_ok = zalo_signed(c, secret, header)) < 0 ||
        check_signed(c, secret, signed_ok, "ZALO_OA_SECRET", "X-ZEvent-Signature") != 0)
        goto out;
    if (body_checked(c, 0) != 0 || body_scalar(c, "app_id", &app_id) != 0 || body_scalar(c, "timestamp", &ts) != 0 ||
        ctx_body_text(c, "event_name", 1, 64, 1, &event) != 0)
        goto out;
    if (strcmp(event, "user_received_message") == 0 || strcmp(event, "user_seen_message") == 0) {
        if (crm_status_zalo(c, strcmp(event, "user_received_message") == 0 ? "delivered" : "read") == 0)
            ctx_json(c, 200, "{\"received\":true}");
        goto out;
    }
    if (strcmp(event, "user_send_text") != 0) {
        ctx_json(c, 200, "{\"received\":true,\"ignored\":true}");
        goto out;
    }
    if (read_inbound(c, fields, owned, &in) != 0)
        goto out;
    in.sent_ms = strspn(ts, "0123456789") == strlen(ts) && strlen(ts) <= 15 ? atoll(ts) : -1;
    if (ingest(c, &in) == 0)
        ctx_json(c, 200, "{\"received\":true}");
out:
    free(app_id);
    free(ts);
    free(event);
    for (i = 0; i < 4; i++)
        free(owned[i]);
}

/* TikTok's content member: an object, or (as TikTok sends it) a string
 * holding one. Read as the request body while the fields are taken. */
static int tiktok_content(struct ctx *c, char *owned[4], struct inbound *in)
{
    static const char *const nested[4] = {"user_openid", "content.business_id", "content.message_id",
                                          "content.text"};
    static const char *const inner[4] = {NULL, "business_id", "message_id", "text"};
    char *text = NULL, *body = c->req->body;
    size_t len = c->req->body_len;
    int rc = -1, is = ctx_body_is(c, "content", "text");

    if (is <= 0)
        return is < 0 ? -1 : read_inbound(c, nested, owned, in);
    if (ctx_body_text(c, "user_openid", 1, PLATFORM_ID_MAX, 1, &owned[0]) != 0 ||
        ctx_body_text(c, "content", 2, 65536, 1, &text) != 0)
        goto out;
    c->req->body = text;
    c->req->body_len = strlen(text);
    if (body_checked(c, 0) == 0 && ctx_body_text(c, inner[1], 1, PLATFORM_ID_MAX, 1, &owned[1]) == 0 &&
        ctx_body_text(c, inner[2], 1, PLATFORM_ID_MAX, 1, &owned[2]) == 0 &&
        ctx_body_text(c, inner[3], 0, TEXT_MAX, 1, &owned[3]) == 0) {
        in->sender = owned[0];
        in->channel = owned[1];
        in->mid = owned[2];
        in->text = owned[3];
        rc = 0;
    }
    c->req->body = body;
    c->req->body_len = len;
out:
    free(text);
    return rc;
}

static void tiktok_receive(struct ctx *c)
{
    const char *secret = c->cfg->tiktok_app_secret;
    char *event = NULL, *owned[4] = {NULL, NULL, NULL, NULL};
    struct inbound in = {"tiktok", NULL, NULL, NULL, NULL, -1};
    enum websig_result sig;
    long long t;
    int i;

    sig = websig_tiktok(secret, c->req->body, c->req->body_len, ctx_req_header(c, "HTTP_TIKTOK_SIGNATURE"), c->now,
                        TIKTOK_WINDOW_S);
    if (check_signed(c, secret, sig != WEBSIG_BAD, "TIKTOK_APP_SECRET", "Tiktok-Signature") != 0)
        goto out;
    if (sig == WEBSIG_STALE) {
        ctx_error(c, 401, "stale_signature", "Tiktok-Signature's t is more than 5 minutes from now");
        goto out;
    }
    if (body_checked(c, 0) != 0 || ctx_body_text(c, "event", 1, 64, 1, &event) != 0)
        goto out;
    if (strcmp(event, "im_receive_msg") != 0) {
        ctx_json(c, 200, "{\"received\":true,\"ignored\":true}");
        goto out;
    }
    if (tiktok_content(c, owned, &in) != 0)
        goto out;
    if (ctx_body_has(c, "create_time")) {
        /* in seconds; anything else (milliseconds, say) is not trusted:
         * the message is dated on arrival */
        if (ctx_body_int(c, "create_time", 0, 999999999999999LL, 1, &t) != 0)
            goto out;
        in.sent_ms = t <= 4102444800LL ? t * 1000 : -1;
    }
    if (ingest(c, &in) == 0)
        ctx_json(c, 200, "{\"received\":true}");
out:
    free(event);
    for (i = 0; i < 4; i++)
        free(owned[i]);
}

static const struct route routes[] = {
    {"GET", "/api/webhooks/facebook", facebook_verify, 0},
    {"POST", "/api/webhooks/facebook", facebook_receive, ROUTE_WRITE},
    {"POST", "/api/webhooks/zalo", zalo_receive, ROUTE_WRITE},
    {"POST", "/api/webhooks/tiktok", tiktok_receive, ROUTE_WRITE},
};

const struct route_table crm_webhook_routes = {routes, sizeof routes / sizeof routes[0]};
