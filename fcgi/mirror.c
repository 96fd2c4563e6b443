/* mirror.c - an edge's copy of the primary's log (see mirror.h). */
#include "mirror.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "rasync.h"
#include "store.h"

#define MIRROR_BATCH 512
#define BLOCK_MS 5000
#define STALL_MS (BLOCK_MS + 10000)   /* no reply at all: a half-open connection */
#define PRUNE_BATCH 1024

static struct rasync ra;
static const struct config *cfg;
static struct db *db;
static char *key;                     /* <prefix>log */
static void (*news)(int64_t id, int caught_up);
static int reading;                   /* an XREAD is in flight */
static long long read_sent_at;
static int64_t last;                  /* highest id stored here */
static unsigned db_gen;               /* db_generation() last belongs to */

static void on_entries(redisAsyncContext *c, void *r, void *priv);

/* The first read after a (re)connect does not block, so that an edge with
 * nothing to catch up on starts serving at once; later reads wait in Redis
 * for the next entry. */
static void read_next(int block)
{
    char from[32], count[16], wait[16];
    const char *argv[8] = {"XREAD", "COUNT", count, "BLOCK", wait, "STREAMS", key, from};
    const char *nb[6] = {"XREAD", "COUNT", count, "STREAMS", key, from};
    size_t lens[8];
    int i, argc = block ? 8 : 6;

    snprintf(from, sizeof from, "%lld-0", (long long)last);
    snprintf(count, sizeof count, "%d", MIRROR_BATCH);
    snprintf(wait, sizeof wait, "%d", BLOCK_MS);
    if (!block)
        memcpy(argv, nb, sizeof nb);
    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (rasync_command_argv(&ra, on_entries, NULL, argc, argv, lens) == 0) {
        reading = 1;
        read_sent_at = loop_now_ms();
    }
}

static const char *field(const redisReply *fields, const char *name)
{
    size_t i;

    for (i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING && strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->type == REDIS_REPLY_STRING ? fields->element[i + 1]->str : NULL;
    return NULL;
}

/* One stream entry [id, [field, value, ...]] into row (borrowing the
 * reply's strings) and the id relayed before it. 0, or -1 if malformed.
 * Redis is outside input: the type goes into every stream's "event:" line
 * as it is, so topic and type must be names the primary itself accepts. */
static int parse_entry(const redisReply *e, struct store_row *row, int64_t *prev)
{
    const redisReply *fields;
    const char *p, *f;
    char *end;

    row->id = 0;
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING)
        return -1;
    row->id = strtoll(e->element[0]->str, NULL, 10);
    fields = e->element[1];
    if (fields->type != REDIS_REPLY_ARRAY)
        return -1;
    p = field(fields, "p");
    f = field(fields, "f");
    row->topic = field(fields, "t");
    row->type = field(fields, "y");
    row->ts = field(fields, "s");
    row->data = field(fields, "d");
    if (row->id <= 0 || p == NULL || !row->topic || !row->type || !row->ts || !row->data)
        return -1;
    if (!http_valid_id(row->topic) || !http_valid_type(row->type))
        return -1;
    *prev = strtoll(p, NULL, 10);
    /* f (optional): the primary pruned events of this topic up to it
     * before relaying them */
    row->pruned_upto = 0;
    if (f != NULL) {
        row->pruned_upto = strtoll(f, &end, 10);
        if (end == f || *end != '\0' || row->pruned_upto < 0)
            return -1;
    }
    return 0;
}

/* Stores one batch in one transaction. Only an entry's own id and its
 * "prev" decide what is missing, never arithmetic on ids. 0 or -1. */
static int apply(struct db *d, const redisReply *entries, int64_t *stored)
{
    int64_t pruned, have;
    size_t i;

    if (db_begin(d, 1) != 0)
        return -1;
    if (store_bounds(d, &pruned, &have) != 0)
        goto fail;
    for (i = 0; i < entries->elements; i++) {
        struct store_row row;
        int64_t prev = 0;
        int rc;

        rc = parse_entry(entries->element[i], &row, &prev);
        if (row.id <= have)
            continue; /* another stream responder of this edge stored it */
        if (rc != 0) {
            /* Whatever this entry was, a client must not resume across it
             * silently. */
            log_warn("redis mirror: entry %lld is malformed; recorded as a gap", (long long)row.id);
            if (store_mark_gap(d, row.id) != 0)
                goto fail;
            have = row.id;
            continue;
        }
        if (prev > have) {
            log_warn("redis mirror: events after %lld up to %lld are no longer in Redis; clients resuming "
                     "from before %lld get a reset", (long long)have, (long long)prev, (long long)prev);
            if (store_mark_gap(d, prev) != 0)
                goto fail;
        }
        /* Pruned on the primary before it was relayed: that topic's
         * clients resuming from before it get a reset, no one else's. */
        if (row.pruned_upto > 0 && store_mark_topic_gap(d, row.topic, row.pruned_upto) != 0)
            goto fail;
        rc = store_mirror_event(d, &row);
        if (rc < 0)
            goto fail;
        if (rc == 0) {
            log_warn("redis mirror: event %lld is malformed; recorded as a gap", (long long)row.id);
            if (store_mark_gap(d, row.id) != 0)
                goto fail;
        }
        have = row.id;
    }
    if (db_commit(d) != 0)
        goto fail;
    *stored = have;
    return 0;
fail:
    db_rollback(d);
    return -1;
}

int mirror_apply(struct db *database, const redisReply *reply, int64_t *stored)
{
    const redisReply *entries;

    if (reply->type == REDIS_REPLY_NIL)
        return 0; /* BLOCK timed out: nothing new */
    /* [[key, [entry, ...]]] */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1 || reply->element[0]->type != REDIS_REPLY_ARRAY ||
        reply->element[0]->elements != 2 || reply->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        log_warn("redis mirror: unexpected XREAD reply (type %d)", reply->type);
        return -1;
    }
    entries = reply->element[0]->element[1];
    if (apply(database, entries, stored) != 0)
        return -1;
    return (int)entries->elements;
}

static void on_entries(redisAsyncContext *c, void *r, void *priv)
{
    redisReply *reply = r;
    int n;

    (void)c;
    (void)priv;
    if (reply == NULL)
        return; /* connection lost */
    reading = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis mirror: XREAD refused: %s", reply->str);
        rasync_drop(&ra, "XREAD refused");
        return;
    }
    rasync_healthy(&ra);
    if ((n = mirror_apply(db, reply, &last)) < 0) {
        rasync_drop(&ra, "cannot store mirrored events");
        return;
    }
    if (n > 0 && store_prune(db, cfg->retention, cfg->retention_s, PRUNE_BATCH, (int64_t)time(NULL), NULL) < 0)
        log_warn("redis mirror: pruning failed; retrying after the next batch");
    news(last, n < MIRROR_BATCH);
    read_next(1);
}

static void on_ready(struct rasync *r)
{
    int64_t pruned;

    (void)r;
    reading = 0;
    if (store_bounds(db, &pruned, &last) != 0) {
        rasync_drop(&ra, "cannot read the event log");
        return;
    }
    read_next(0);
}

int mirror_start(const struct config *config, struct db *database, void (*on_news)(int64_t id, int caught_up))
{
    buf_t k = {0};

    cfg = config;
    db = database;
    news = on_news;
    if (!config_redis_enabled(cfg)) {
        log_error("PULSE_ROLE=edge needs Redis (REDIS_URL or REDIS_HOST): it mirrors the primary's log from it");
        return -1;
    }
    buf_printf(&k, "%slog", cfg->redis_prefix);
    key = buf_steal(&k);
    ra.name = "mirror";
    ra.on_ready = on_ready;
    return rasync_start(&ra, cfg);
}

void mirror_tick(long long now_ms)
{
    /* Another database file (see db.h): read on from where it ends. */
    if (db != NULL && db_generation(db) != db_gen) {
        db_gen = db_generation(db);
        if (rasync_connected(&ra))
            rasync_drop(&ra, "the database file was replaced");
    }
    if (reading && rasync_connected(&ra) && now_ms - read_sent_at > STALL_MS)
        rasync_drop(&ra, "XREAD got no reply in time");
    rasync_tick(&ra, now_ms);
}

void mirror_stop(void)
{
    rasync_stop(&ra);
    free(key);
    key = NULL;
}
