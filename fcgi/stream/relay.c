/* relay.c - the event log, copied to a Redis Stream for edges (see relay.h). */
#include "stream/relay.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/rasync.h"
#include "bus/relaysig.h"
#include "store/db.h"
#include "store/store.h"

#define RELAY_BATCH 256
#define FOREIGN_BATCH 512

enum relay_state {
    R_DOWN,       /* no connection */
    R_SYNCING,    /* asked Redis for the stream's top id */
    R_IDLE,       /* caught up with the log as last read */
    R_SENDING,    /* a batch of XADDs is in flight */
    R_SCANNING,   /* looking for the newest entry below the stream's top that this primary signed */
    R_FIXING,     /* removing entries this primary never wrote from the stream */
};

/* A relay: created by relay_start, owned by its caller, handed to every
 * callback (rasync's as &ra, hiredis's as priv). */
struct relay {
    struct rasync ra;                  /* first: rasync's callbacks hand us &ra */
    const struct config *cfg;
    struct db *db;
    struct relaysig *sig;              /* signs every entry: edges store only signed ones */
    char *key;                         /* owned: <prefix>log */
    char maxlen[24];
    enum relay_state state;
    int64_t cursor;                    /* every event <= cursor is in Redis or on its way */
    int64_t void_id;                   /* the newest void row, or 0 (none) ... */
    int64_t void_after;                /* ... and the lowest "after" of all: each entry's "v" */
    unsigned inflight;                 /* XADD replies outstanding */
    int more;                          /* the log grew while a batch was in flight */
    int refused;                       /* an XADD of the batch was below the stream's top */
    int check_top;                     /* an XADD was refused: is the stream's top ours? */
    int64_t fix_upto;                  /* R_FIXING: entries above this id go */
    int fix_below_last;                /* R_FIXING: fix_upto stays, even below the database's newest event */
    long long fixed;                   /* entries removed by this fix */
    int plain_setid;                   /* XSETID without options (Redis before 7) was tried */
    char fix_top[48];                  /* the newest entry left once they are removed */
    unsigned db_gen;                   /* db_generation() the cursor belongs to */
};

/* One read of the log: the rows sent as XADDs. */
struct relay_batch {
    struct relay *r;
    int64_t prev;                      /* the id relayed before the next row */
};

static int64_t entry_id(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

static void on_top(redisAsyncContext *c, void *rep, void *priv);

/* Asks Redis where its copy ends (on_top decides what follows). */
static void sync_top(struct relay *r)
{
    r->state = R_SYNCING;
    rasync_command(&r->ra, on_top, r, "XREVRANGE %s + - COUNT 1", r->key);
}

/* ---- foreign entries ----
 * Every entry this relay writes is "<event id>-0" for an event in the
 * database, signed (relaysig.h). An entry above the database's newest event
 * was written by someone else (anyone who can write Redis): Redis then
 * refuses every XADD below it, and edges would get nothing more. So is an
 * unsigned one that got to an id first (an XADD of ours refused, the top not
 * signed): edges refuse it, and without a fix the event of that id would
 * never reach them. Such entries are logged, counted
 * (pulse_relay_foreign_entries_total), deleted (with, in the second case,
 * any entry above them, relayed again after), and the stream's last id set
 * back to the newest entry left, so relaying goes on. */
/* Whether a reply to the command sent in `state` can be acted on: an
 * array (else the connection is dropped: `refused` says why), with *last
 * the log's head read afresh, as another relay may have written newer
 * events meanwhile (those are the primary's). 1 or 0. */
static int reply_usable(struct relay *r, const redisReply *reply, enum relay_state state, const char *refused, int64_t *last)
{
    int64_t pruned;

    if (reply == NULL || r->state != state)
        return 0;
    if (reply->type != REDIS_REPLY_ARRAY) {
        rasync_drop(&r->ra, refused);
        return 0;
    }
    if (store_bounds(r->db, &pruned, last) != 0) {
        rasync_drop(&r->ra, "cannot read the event log");
        return 0;
    }
    return 1;
}

static void on_foreign(redisAsyncContext *c, void *rep, void *priv);

static void fix_next(struct relay *r)
{
    char from[32];

    /* from "<id>-1": "<id>-N" with N > 0 is above "<id>-0" too */
    snprintf(from, sizeof from, "%lld-1", (long long)r->fix_upto);
    rasync_command(&r->ra, on_foreign, r, "XRANGE %s %s + COUNT %d", r->key, from, FOREIGN_BATCH);
}

static void on_setid(redisAsyncContext *c, void *rep, void *priv)
{
    struct relay *r = priv;
    redisReply *reply = rep;

    (void)c;
    if (reply == NULL || r->state != R_FIXING)
        return;
    if (reply->type == REDIS_REPLY_ERROR && !r->plain_setid) {
        /* Redis before 7.0 knows no MAXDELETEDID (nor needs it) */
        r->plain_setid = 1;
        rasync_command(&r->ra, on_setid, r, "XSETID %s %s", r->key, r->fix_top);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis relay: XSETID refused: %s", reply->str);
        rasync_drop(&r->ra, "XSETID refused");
        return;
    }
    log_warn("redis relay: removed %lld entries of %s above event %lld that this primary never wrote; "
             "relaying goes on", r->fixed, r->key, (long long)r->fix_upto);
    r->check_top = 1; /* and what is below them now? */
    sync_top(r);
}

/* The foreign entries are gone; the stream's last id (which XADD compares
 * with, whatever was deleted) goes back to its newest entry left. */
static void on_fixed_top(redisAsyncContext *c, void *rep, void *priv)
{
    struct relay *r = priv;
    redisReply *reply = rep;

    (void)c;
    if (reply == NULL || r->state != R_FIXING)
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        rasync_drop(&r->ra, "XREVRANGE refused");
        return;
    }
    snprintf(r->fix_top, sizeof r->fix_top, "0-0");
    if (reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements > 0 &&
        reply->element[0]->element[0]->type == REDIS_REPLY_STRING && strlen(reply->element[0]->element[0]->str) <
                                                                         sizeof r->fix_top)
        snprintf(r->fix_top, sizeof r->fix_top, "%s", reply->element[0]->element[0]->str);
    r->plain_setid = 0;
    rasync_command(&r->ra, on_setid, r, "XSETID %s %s MAXDELETEDID %s", r->key, r->fix_top, r->fix_top);
}

static void on_foreign(redisAsyncContext *c, void *rep, void *priv)
{
    struct relay *r = priv;
    redisReply *reply = rep;
    int64_t last, foreign = 0;
    const char **argv = NULL;
    size_t *lens = NULL, i, n = 0;

    (void)c;
    if (!reply_usable(r, reply, R_FIXING, "XRANGE refused", &last))
        return;
    if (last > r->fix_upto && !r->fix_below_last)
        r->fix_upto = last;
    argv = xcalloc(reply->elements + 2, sizeof *argv);
    lens = xcalloc(reply->elements + 2, sizeof *lens);
    argv[n++] = "XDEL";
    argv[n++] = r->key;
    for (i = 0; i < reply->elements; i++) {
        const redisReply *e = reply->element[i];
        const char *dash;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        dash = strchr(e->element[0]->str, '-');
        if (entry_id(e->element[0]) > r->fix_upto || (entry_id(e->element[0]) == r->fix_upto && dash != NULL &&
                                                     strtoll(dash + 1, NULL, 10) > 0)) {
            argv[n++] = e->element[0]->str;
            /* an entry of ours above a foreign one goes too, and is relayed again */
            if (entry_id(e->element[0]) > last || !relaysig_entry_valid(r->sig, e))
                foreign++;
        }
    }
    for (i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    if (n > 2 && rasync_command_argv(&r->ra, NULL, NULL, (int)n, argv, lens) == 0) {
        r->fixed += foreign;
        metrics_add(M_RELAY_FOREIGN, foreign);
    }
    free(argv);
    free(lens);
    if (reply->elements == FOREIGN_BATCH) {
        fix_next(r);
        return;
    }
    rasync_command(&r->ra, on_fixed_top, r, "XREVRANGE %s + - COUNT 1", r->key);
}

/* Removes the entries above upto (and above the database's newest event,
 * if that is higher, unless below_last). */
static void fix_start(struct relay *r, int64_t upto, int below_last)
{
    r->state = R_FIXING;
    r->fix_upto = upto;
    r->fix_below_last = below_last;
    r->fixed = 0;
    fix_next(r);
}

/* The newest entries of the stream, newest first: the newest one this
 * primary signed (at most its newest event) stays, everything above goes.
 * None in this batch: the batch goes, and the next look goes on below. */
static void on_scan(redisAsyncContext *c, void *rep, void *priv)
{
    struct relay *r = priv;
    redisReply *reply = rep;
    int64_t last, keep = -1, lowest = 0;
    size_t i;

    (void)c;
    if (!reply_usable(r, reply, R_SCANNING, "XREVRANGE refused", &last))
        return;
    for (i = 0; i < reply->elements && keep < 0; i++) {
        const redisReply *e = reply->element[i];
        int64_t id;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1)
            continue;
        id = entry_id(e->element[0]);
        if (id <= last && relaysig_entry_valid(r->sig, e))
            keep = id;
        else
            lowest = id;
    }
    if (keep < 0)
        keep = lowest > 0 ? lowest - 1 : 0;
    fix_start(r, keep, 1);
}

static void on_added(redisAsyncContext *c, void *rep, void *priv)
{
    struct relay *r = priv;
    redisReply *reply = rep;

    (void)c;
    if (reply == NULL || r->state != R_SENDING)
        return; /* connection lost: on_lost reset everything */
    /* "equal or smaller than the target stream top item": another relay
     * (another stream responder of this primary) got there first, or
     * someone else wrote above the log (on_top tells which). */
    if (reply->type == REDIS_REPLY_ERROR && strstr(reply->str, "equal or smaller") == NULL) {
        log_error("redis relay: XADD refused: %s", reply->str);
        rasync_drop(&r->ra, "XADD refused");
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR)
        r->refused = 1;
    if (--r->inflight > 0)
        return;
    if (r->refused) {
        r->refused = 0;
        r->more = 0;
        r->check_top = 1;
        sync_top(r);
        return;
    }
    r->state = R_IDLE;
    if (r->more) {
        r->more = 0;
        relay_kick(r);
    }
}

static int send_row(void *arg, const struct store_row *row)
{
    struct relay_batch *b = arg;
    struct relay *r = b->r;
    char id[32], prev[24], gap[24], v[48], mac[RELAYSIG_HEX + 1];
    const char *argv[] = {"XADD", r->key, "MAXLEN", "~", r->maxlen, id, "h", mac, "p", prev, "t", row->topic,
                          "y", row->type, "s", row->ts, "d", row->data, "f", gap, "v", v};
    size_t lens[sizeof argv / sizeof argv[0]];
    struct relaysig_fields f;
    int i, n = (int)(sizeof argv / sizeof argv[0]) - 4;
    long long after;

    snprintf(id, sizeof id, "%lld-0", (long long)row->id);
    snprintf(prev, sizeof prev, "%lld", (long long)b->prev);
    /* f: this topic's floor, the highest of its ids pruned here, on every
     * entry of a topic that has one. Whether those events were relayed
     * before they were pruned, or pruned first (retention is per topic:
     * this relay fell that far behind on it), only the edge can tell from
     * what it holds; prev cannot, when events of other topics were relayed
     * between them and this one. */
    snprintf(gap, sizeof gap, "%lld", (long long)row->pruned_upto);
    if (row->pruned_upto > 0) {
        argv[n++] = "f";
        argv[n++] = gap;
    }
    /* v: the newest void row (a file put back there) and the lowest end of
     * a file put back, on every entry after it, so that an edge that never
     * got the rows themselves (trimmed from Redis, or Redis restarted)
     * still drops the events those files lost, of every put back it
     * missed (and with them, at worst, events it would have kept: its
     * clients resuming there get a reset) */
    if (row->topic[0] == '\0' && strcmp(row->type, "void") == 0 && sscanf(row->data, "{\"after\":%lld}", &after) == 1) {
        if (r->void_id == 0 || after < r->void_after)
            r->void_after = after;
        r->void_id = row->id;
    }
    snprintf(v, sizeof v, "%lld:%lld", (long long)r->void_id, (long long)r->void_after);
    if (r->void_id > 0) {
        argv[n++] = "v";
        argv[n++] = v;
    }
    f.v[RS_ID] = id;
    f.v[RS_PREV] = prev;
    f.v[RS_TOPIC] = row->topic;
    f.v[RS_TYPE] = row->type;
    f.v[RS_TS] = row->ts;
    f.v[RS_DATA] = row->data;
    f.v[RS_GAP] = row->pruned_upto > 0 ? gap : NULL;
    f.v[RS_VOID] = r->void_id > 0 ? v : NULL;
    for (i = 0; i < RS_NFIELDS; i++)
        f.len[i] = f.v[i] != NULL ? strlen(f.v[i]) : 0;
    if (relaysig_sign(r->sig, &f, mac) != 0) {
        log_error("redis relay: cannot sign event %lld", (long long)row->id);
        return 1; /* the next kick tries again */
    }
    for (i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    if (rasync_command_argv(&r->ra, on_added, r, n, argv, lens) != 0)
        return 1; /* disconnected: on_lost resets the relay */
    r->inflight++;
    b->prev = row->id;
    r->cursor = row->id;
    return 0;
}

void relay_kick(struct relay *r)
{
    struct relay_batch b = {r, 0};
    int64_t pruned, last;
    int count = 0;

    if (r->state == R_SENDING)
        r->more = 1;
    if (r->state != R_IDLE)
        return;
    if (db_begin(r->db, 0) != 0 || store_bounds(r->db, &pruned, &last) != 0) {
        db_rollback(r->db);
        return; /* busy: the next kick (at worst the tail poll) retries */
    }
    /* Events pruned before they were relayed (by age, or an edge's gap
     * before) are a gap: say so in prev. */
    b.prev = r->cursor > pruned ? r->cursor : pruned;
    if (last > r->cursor && store_read_rows_after(r->db, r->cursor, RELAY_BATCH, send_row, &b, &count) != 0)
        count = 0;
    db_rollback(r->db);
    if (r->inflight > 0) {
        r->state = R_SENDING;
        r->more = count == RELAY_BATCH;
    }
}

/* Where Redis's copy ends is where this relay starts; with no copy at all,
 * the newest PULSE_REDIS_HISTORY events are enough for any edge. */
static void on_top(redisAsyncContext *c, void *rep, void *priv)
{
    struct relay *r = priv;
    redisReply *reply = rep;
    int64_t pruned, last, top = 0, floor;

    (void)c;
    if (reply == NULL || r->state != R_SYNCING)
        return;
    if (reply->type != REDIS_REPLY_ARRAY) {
        rasync_drop(&r->ra, "XREVRANGE refused");
        return;
    }
    if (reply->elements > 0 && reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements > 0)
        top = entry_id(reply->element[0]->element[0]);
    if (store_bounds(r->db, &pruned, &last) != 0) {
        rasync_drop(&r->ra, "cannot read the event log");
        return;
    }
    if (top > last && relaysig_entry_valid(r->sig, reply->element[0])) {
        /* This deployment's primary handed these ids out (an edge promoted
         * on a copy of its database, a file put back without its -ids
         * file): clients may have seen them, so they are never handed out
         * again (store/db_ids.h). */
        log_warn("redis relay: %s holds event %lld, signed by this deployment's primary, above this database's "
                 "newest event %lld (an edge promoted on a copy of the primary's database, or a file put back "
                 "without its -ids file): new ids start after it, and clients resuming from before get a reset",
                 r->key, (long long)top, (long long)last);
        if (store_void_upto(r->db, top) < 0 || store_bounds(r->db, &pruned, &last) != 0) {
            rasync_drop(&r->ra, "cannot write the event log");
            return;
        }
    }
    if (top > last) {
        log_warn("redis relay: %s holds an entry at id %lld, above this database's newest event %lld: entries "
                 "this primary never wrote (written by another client of Redis, or left by a database put back "
                 "from a backup); removing them", r->key, (long long)top, (long long)last);
        fix_start(r, last, 0);
        return;
    }
    /* Someone got to an id first. Another relay of this primary signed
     * what it wrote; anyone else did not. (Not checked at a connect: the
     * top may be an entry an older version relayed, unsigned, and edges
     * have it already.) */
    if (r->check_top && top > 0 && !relaysig_entry_valid(r->sig, reply->element[0])) {
        log_warn("redis relay: the entry at id %lld of %s is not signed by this primary (written by another "
                 "client of Redis): removing it, and relaying again what it displaced", (long long)top, r->key);
        r->state = R_SCANNING;
        rasync_command(&r->ra, on_scan, r, "XREVRANGE %s + - COUNT %d", r->key, FOREIGN_BATCH);
        return;
    }
    r->check_top = 0;
    if (store_newest_void(r->db, &r->void_id, &r->void_after) <= 0)
        r->void_id = 0;
    floor = last > r->cfg->redis_history ? last - r->cfg->redis_history : 0;
    r->cursor = top > floor ? top : floor;
    log_info("redis relay: relaying to %s after id %lld", r->key, (long long)r->cursor);
    rasync_healthy(&r->ra);
    r->state = R_IDLE;
    relay_kick(r);
}

static void on_ready(struct rasync *ra)
{
    struct relay *r = (struct relay *)ra;

    r->inflight = 0;
    r->more = 0;
    r->refused = 0;
    r->check_top = 0;
    sync_top(r);
}

static void on_lost(struct rasync *ra)
{
    struct relay *r = (struct relay *)ra;

    r->state = R_DOWN;
    r->inflight = 0;
}

struct relay *relay_start(const struct config *cfg, struct db *db)
{
    struct relay *r = xcalloc(1, sizeof *r);
    buf_t k = {0};

    r->cfg = cfg;
    r->db = db;
    r->state = R_DOWN;
    if (!config_redis_enabled(cfg) || cfg->redis_history == 0 || cfg->role != ROLE_PRIMARY)
        return r;
    if ((r->sig = relaysig_open(cfg)) == NULL) {
        log_warn("redis relay: neither PULSE_RELAY_SECRET nor PULSE_JWT_SECRET is set: the log is not relayed "
                 "to edges (they store only entries signed with that secret)");
        return r;
    }
    buf_printf(&k, "%slog", cfg->redis_prefix);
    r->key = buf_steal(&k);
    snprintf(r->maxlen, sizeof r->maxlen, "%ld", cfg->redis_history);
    r->ra.name = "relay";
    r->ra.on_ready = on_ready;
    r->ra.on_lost = on_lost;
    rasync_start(&r->ra, cfg); /* (a REDIS_URL it cannot use is logged, and r stays idle) */
    return r;
}

void relay_tick(struct relay *r, long long now_ms)
{
    /* Another database file (see db.h): where Redis's copy ends must be
     * looked up again against it. */
    if (db_generation(r->db) != r->db_gen) {
        r->db_gen = db_generation(r->db);
        if (r->state != R_DOWN)
            rasync_drop(&r->ra, "the database file was replaced");
    }
    rasync_tick(&r->ra, now_ms);
}

void relay_stop(struct relay *r)
{
    if (r == NULL)
        return;
    rasync_stop(&r->ra);
    free(r->key);
    relaysig_close(r->sig);
    free(r);
}
