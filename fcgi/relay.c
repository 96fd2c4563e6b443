/* relay.c - the event log, copied to a Redis Stream for edges (see relay.h). */
#include "relay.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "rasync.h"
#include "store.h"

#define RELAY_BATCH 256

enum relay_state {
    R_DOWN,       /* no connection */
    R_SYNCING,    /* asked Redis for the stream's top id */
    R_IDLE,       /* caught up with the log as last read */
    R_SENDING,    /* a batch of XADDs is in flight */
};

static struct rasync ra;
static const struct config *cfg;
static struct db *db;
static char *key;                  /* <prefix>log */
static char maxlen[24];
static enum relay_state state = R_DOWN;
static int64_t cursor;             /* every event <= cursor is in Redis or on its way */
static unsigned inflight;          /* XADD replies outstanding */
static int more;                   /* the log grew while a batch was in flight */

struct batch {
    int64_t prev;     /* the id relayed before the next row */
};

static int64_t entry_id(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

static void on_added(redisAsyncContext *c, void *r, void *priv)
{
    redisReply *reply = r;

    (void)c;
    (void)priv;
    if (reply == NULL || state != R_SENDING)
        return; /* connection lost: on_lost reset everything */
    /* "equal or smaller than the target stream top item": another relay
     * (another stream responder of this primary) got there first. */
    if (reply->type == REDIS_REPLY_ERROR && strstr(reply->str, "equal or smaller") == NULL) {
        log_error("redis relay: XADD refused: %s", reply->str);
        rasync_drop(&ra, "XADD refused");
        return;
    }
    if (--inflight > 0)
        return;
    state = R_IDLE;
    if (more) {
        more = 0;
        relay_kick();
    }
}

static int send_row(void *arg, const struct store_row *row)
{
    struct batch *b = arg;
    char id[32], prev[24], gap[24];
    const char *argv[] = {"XADD", key, "MAXLEN", "~", maxlen, id, "p", prev, "t", row->topic,
                          "y", row->type, "s", row->ts, "d", row->data, "f", gap};
    size_t lens[sizeof argv / sizeof argv[0]];
    int i, n = (int)(sizeof argv / sizeof argv[0]);

    snprintf(id, sizeof id, "%lld-0", (long long)row->id);
    snprintf(prev, sizeof prev, "%lld", (long long)b->prev);
    /* Events of this topic pruned before they were relayed (retention is
     * per topic: this relay fell that far behind on it) are a gap of this
     * topic alone: say so in f. */
    snprintf(gap, sizeof gap, "%lld", (long long)row->pruned_upto);
    if (row->pruned_upto <= b->prev)
        n -= 2;
    for (i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    if (rasync_command_argv(&ra, on_added, NULL, n, argv, lens) != 0)
        return 1; /* disconnected: on_lost resets the relay */
    inflight++;
    b->prev = row->id;
    cursor = row->id;
    return 0;
}

void relay_kick(void)
{
    struct batch b = {0};
    int64_t pruned, last;
    int count = 0;

    if (state == R_SENDING)
        more = 1;
    if (state != R_IDLE)
        return;
    if (db_begin(db, 0) != 0 || store_bounds(db, &pruned, &last) != 0) {
        db_rollback(db);
        return; /* busy: the next kick (at worst the tail poll) retries */
    }
    /* Events pruned before they were relayed (by age, or an edge's gap
     * before) are a gap: say so in prev. */
    b.prev = cursor > pruned ? cursor : pruned;
    if (last > cursor && store_read_rows_after(db, cursor, RELAY_BATCH, send_row, &b, &count) != 0)
        count = 0;
    db_rollback(db);
    if (inflight > 0) {
        state = R_SENDING;
        more = count == RELAY_BATCH;
    }
}

/* Where Redis's copy ends is where this relay starts; with no copy at all,
 * the newest PULSE_REDIS_HISTORY events are enough for any edge. */
static void on_top(redisAsyncContext *c, void *r, void *priv)
{
    redisReply *reply = r;
    int64_t pruned, last, top = 0, floor;

    (void)c;
    (void)priv;
    if (reply == NULL || state != R_SYNCING)
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        rasync_drop(&ra, "XREVRANGE refused");
        return;
    }
    if (reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements > 0)
        top = entry_id(reply->element[0]->element[0]);
    if (store_bounds(db, &pruned, &last) != 0) {
        rasync_drop(&ra, "cannot read the event log");
        return;
    }
    if (top > last)
        log_warn("redis relay: %s is at id %lld, beyond this database's last id %lld: edges will not see "
                 "new events until it is deleted (a replaced database?)", key, (long long)top, (long long)last);
    floor = last > cfg->redis_history ? last - cfg->redis_history : 0;
    cursor = top > floor ? top : floor;
    rasync_healthy(&ra);
    state = R_IDLE;
    relay_kick();
}

static void on_ready(struct rasync *r)
{
    state = R_SYNCING;
    inflight = 0;
    more = 0;
    rasync_command(r, on_top, NULL, "XREVRANGE %s + - COUNT 1", key);
}

static void on_lost(struct rasync *r)
{
    (void)r;
    state = R_DOWN;
    inflight = 0;
}

int relay_start(const struct config *config, struct db *database)
{
    buf_t k = {0};

    cfg = config;
    db = database;
    if (!config_redis_enabled(cfg) || cfg->redis_history == 0 || cfg->role != ROLE_PRIMARY)
        return 0;
    buf_printf(&k, "%slog", cfg->redis_prefix);
    key = buf_steal(&k);
    snprintf(maxlen, sizeof maxlen, "%ld", cfg->redis_history);
    ra.name = "relay";
    ra.on_ready = on_ready;
    ra.on_lost = on_lost;
    return rasync_start(&ra, cfg);
}

void relay_tick(long long now_ms)
{
    rasync_tick(&ra, now_ms);
}

void relay_stop(void)
{
    rasync_stop(&ra);
    state = R_DOWN;
    free(key);
    key = NULL;
}
