/* owners.c - the ownership facts kept in Redis for edges (see owners.h). */
#include "stream/owners.h"

#include <hiredis/hiredis.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/crypto.h"
#include "base/log.h"
#include "bus/rasync.h"
#include "bus/relaysig.h"
#include "sql_gen.h"
#include "store/db.h"
#include "store/store.h"

#define PAGE 256
#define LIVE_MS 1000          /* a primary looks for facts logged since this often */
#define GEN_MS 5000           /* an edge looks at the hash's generation this often */
/* and reads it whole at least this often: facts it missed while connected
 * (its log copy fell behind the log's history) come back this way */
#define RESCAN_MS (10 * 60 * 1000)
#define CHECK_MS 5000         /* a primary looks this often whether the hash is still there */
#define RETRY_MS 5000         /* a sync some write of which Redis refused starts over this much later */
#define DOMAIN "pulse-owner-1"
#define KEY_LABEL "pulse owner key"

enum owners_state {
    O_DOWN,       /* no connection */
    O_SYNC_DB,    /* primary: every fact of the table into the hash, page by page */
    O_SYNC_HASH,  /* primary: every field of the hash the table does not hold out */
    O_SYNC_END,   /* primary: the sync's writes answered? then the generation */
    O_LIVE,       /* primary: the facts logged since go in as they come */
    O_IDLE,       /* edge: between looks at the generation */
    O_SCAN,       /* edge: reading the hash whole */
};

/* Created by owners_start, owned by its caller, handed to every callback
 * (rasync's as &ra, hiredis's as priv, or inside a struct page). */
struct owners {
    struct rasync ra;                  /* first: rasync's callbacks hand us &ra */
    const struct config *cfg;
    struct db *db;
    struct crypto_mac *mac;
    char *key, *gen_key;               /* owned: <prefix>owners, <prefix>owners:gen */
    int edge;
    enum owners_state state;
    int busy;                          /* a reply that moves the state is awaited */
    buf_t after;                       /* O_SYNC_DB: the last topic sent */
    char cursor[32];                   /* O_SYNC_HASH, O_SCAN: HSCAN's */
    int64_t since;                     /* O_LIVE: the facts logged after this event go in next */
    long long due;                     /* O_LIVE, O_IDLE: the next look */
    char *gen;                         /* edge: the generation read whole (owned), or NULL */
    char *gen_reading;                 /* edge, O_SCAN: the generation being read (owned) */
    long long scanned_at;              /* edge: when the last whole read ended */
    size_t changed;                    /* facts written (primary) or filed (edge) by this pass */
    unsigned db_gen;                   /* db_generation() as last seen */
    unsigned sync_gen;                 /* primary: the one the sync under way reads */
    int write_failed;                  /* primary: Redis refused a write since the sync began */
    int resync;                        /* primary: a sync is due (at o->due) */
    int flush_first;                   /* primary: the hash goes before it (a database put back) */
    int gen_owed;                      /* primary: the hash changed, and no new generation is confirmed yet */
    unsigned scan_db_gen;              /* edge, O_SCAN: db_generation() the scan files into */
    long long check_due;               /* primary, O_LIVE: the next look at whether the hash is there */
};

/* The hash's value for a fact into out (appended). 0, or -1. */
static int fact_value(struct owners *o, const char *topic, const char *owner, const char *sha, buf_t *out)
{
    buf_t msg = {0};
    size_t at = out->len;
    int rc;

    buf_put_ns(&msg, DOMAIN, strlen(DOMAIN));
    buf_put_ns(&msg, o->key, strlen(o->key));
    buf_put_ns(&msg, topic, strlen(topic));
    buf_put_ns(&msg, owner, strlen(owner));
    if (sha != NULL)
        buf_put_ns(&msg, sha, strlen(sha));
    else
        buf_putc(&msg, '-');
    buf_printf(out, "%s\n%s\n", owner, sha != NULL ? sha : "-");
    if ((rc = crypto_mac_hex(o->mac, msg.p, msg.len, out)) != 0) {
        out->len = at; /* nothing appended */
        out->p[at] = '\0';
    }
    buf_free(&msg);
    return rc;
}

/* The table's value for topic into out: 1, 0 when it holds no fact about
 * it, -1 on an error. */
static int table_value(struct owners *o, const char *topic, buf_t *out)
{
    sqlite3_stmt *st = db_stmt(o->db, SQL_TOPIC_OWNER_GET);
    int found = -1;

    if (st != NULL && db_bind_text(st, 1, topic, -1) == 0 && (found = db_lookup(st)) == 1 &&
        fact_value(o, topic, (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
                   out) != 0)
        found = -1;
    db_done(st);
    return found;
}

/* A write Redis refused (out of memory, say) leaves the hash short: the
 * sync starts over (on_sync_end, live_tick), and sets no generation
 * before all its writes went in. One line per sync. */
static void on_written(redisAsyncContext *c, void *rep, void *priv)
{
    struct owners *o = priv;
    redisReply *reply = rep;

    (void)c;
    if (reply == NULL || reply->type != REDIS_REPLY_ERROR)
        return;
    if (!o->write_failed)
        log_error("redis owners: a write to %s was refused (%s); syncing again in %d s", o->key, reply->str,
                  RETRY_MS / 1000);
    o->write_failed = 1;
}

/* A command that moves the state, sent: busy until its reply. Not sent
 * (the connection is going): dropped, so that a reconnect starts over
 * rather than wait for a reply that will not come. */
static void sent(struct owners *o, int rc, const char *what)
{
    if (rc == 0)
        o->busy = 1;
    else
        rasync_drop(&o->ra, what);
}

static void put(struct owners *o, const char *topic, const buf_t *value)
{
    if (rasync_command(&o->ra, on_written, o, "HSET %s %s %b", o->key, topic, value->p, value->len) == 0)
        o->changed++;
}

/* ---- a primary: the hash made equal to the table, then kept so ---- */

static void sync_hash_next(struct owners *o);
static void sync_db_next(struct owners *o);

/* The sync starts over delay_ms from now, the hash emptied first when
 * flush. Called while no reply that moves the state is awaited. */
static void resync_later(struct owners *o, long long delay_ms, int flush)
{
    o->state = O_LIVE;
    o->resync = 1;
    o->flush_first |= flush;
    o->due = clock_ms() + delay_ms;
}

static void start_sync(struct owners *o)
{
    int64_t pruned;
    buf_t gen = {0};
    int bad;

    o->resync = 0;
    o->write_failed = 0;
    o->changed = 0;
    buf_reset(&o->after);
    /* Facts logged from here on are taken by live() once the sync is done. */
    bad = db_begin(o->db, 0) != 0 || store_bounds(o->db, &pruned, &o->since) != 0;
    db_rollback(o->db);
    if (bad) {
        resync_later(o, RETRY_MS, 0);
        return;
    }
    /* (this begin may be the one that found a file put back) */
    if (db_generation(o->db) != o->db_gen)
        o->flush_first = 1;
    o->sync_gen = o->db_gen = db_generation(o->db);
    if (o->flush_first) {
        /* A database put back: nothing in the hash may be trusted (facts
         * of its future, which edges must not take). Gone first, edges told
         * (a generation of its own), then built again from the file. */
        if (crypto_random_hex(16, &gen) != 0 ||
            rasync_command(&o->ra, on_written, o, "DEL %s", o->key) != 0 ||
            rasync_command(&o->ra, on_written, o, "SET %s put-back-%s", o->gen_key, buf_str(&gen)) != 0) {
            buf_free(&gen);
            rasync_drop(&o->ra, "cannot empty the hash");
            return;
        }
        buf_free(&gen);
        log_info("redis owners: the database file was replaced: %s emptied, then made again from it", o->key);
        o->flush_first = 0;
        o->changed++;
        o->gen_owed = 1;
    }
    o->state = O_SYNC_DB;
    sync_db_next(o);
}

/* Something else than a hash at the key (WRONGTYPE) is replaced by the
 * sync; any other refusal drops the connection (the next starts over). */
static void not_a_hash(struct owners *o, const redisReply *reply, const char *why)
{
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "WRONGTYPE", 9) == 0 &&
        rasync_command(&o->ra, on_written, o, "DEL %s", o->key) == 0) {
        log_warn("redis owners: %s held something else than a hash; replaced", o->key);
        resync_later(o, RETRY_MS, 0);
        return;
    }
    rasync_drop(&o->ra, why);
}

/* A page of the table sent with HMGET: what each of its topics must hold. */
struct page {
    struct owners *o;
    size_t n;
    char **topics;                     /* owned */
    buf_t *values;                     /* owned */
};

static void page_free(struct page *p)
{
    size_t i;

    for (i = 0; i < p->n; i++) {
        free(p->topics[i]);
        buf_free(&p->values[i]);
    }
    free(p->topics);
    free(p->values);
    free(p);
}

static void on_page(redisAsyncContext *c, void *rep, void *priv)
{
    struct page *p = priv;
    struct owners *o = p->o;
    redisReply *reply = rep;
    size_t i;

    (void)c;
    if (reply == NULL || o->state != O_SYNC_DB) {
        page_free(p);
        return;
    }
    o->busy = 0;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != p->n) {
        log_error("redis owners: HMGET answered %s", reply->type == REDIS_REPLY_ERROR ? reply->str : "no array");
        page_free(p);
        not_a_hash(o, reply, "HMGET refused");
        return;
    }
    rasync_healthy(&o->ra);
    for (i = 0; i < p->n; i++) {
        const redisReply *v = reply->element[i];

        if (v->type != REDIS_REPLY_STRING || !crypto_equal(v->str, v->len, p->values[i].p, p->values[i].len))
            put(o, p->topics[i], &p->values[i]);
    }
    page_free(p);
    sync_db_next(o);
}

/* Reads the next page of the table (topics after o->after) and asks Redis
 * what the hash holds for them; at the end, the hash's own fields. */
static void sync_db_next(struct owners *o)
{
    sqlite3_stmt *st = NULL;
    struct page *p = xcalloc(1, sizeof *p);
    const char **argv = NULL;
    size_t *lens = NULL, i;
    int step = SQLITE_ERROR;

    p->o = o;
    p->topics = xcalloc(PAGE, sizeof *p->topics);
    p->values = xcalloc(PAGE, sizeof *p->values);
    /* A transaction: its begin sees a file put back at the path (db.h),
     * and the sync starts over on that one, the hash emptied first. */
    if (db_begin(o->db, 0) != 0)
        goto fail;
    if (db_generation(o->db) != o->sync_gen) {
        db_rollback(o->db);
        page_free(p);
        resync_later(o, 0, 1);
        return;
    }
    if ((st = db_stmt(o->db, SQL_TOPIC_OWNER_PAGE)) == NULL || db_bind_text(st, 1, buf_str(&o->after), -1) != 0 ||
        db_bind_int64(st, 2, PAGE) != 0)
        goto fail;
    while (p->n < PAGE && (step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *topic = (const char *)sqlite3_column_text(st, 0);

        if (fact_value(o, topic, (const char *)sqlite3_column_text(st, 1), (const char *)sqlite3_column_text(st, 2),
                       &p->values[p->n]) != 0) {
            buf_free(&p->values[p->n]); /* (page_free frees those below n) */
            goto fail;
        }
        p->topics[p->n++] = xstrdup(topic);
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        goto fail;
    db_done(st);
    st = NULL;
    db_rollback(o->db);
    if (p->n == 0) {
        page_free(p);
        o->state = O_SYNC_HASH;
        snprintf(o->cursor, sizeof o->cursor, "0");
        sync_hash_next(o);
        return;
    }
    buf_reset(&o->after);
    buf_puts(&o->after, p->topics[p->n - 1]);
    argv = xcalloc(p->n + 2, sizeof *argv);
    lens = xcalloc(p->n + 2, sizeof *lens);
    argv[0] = "HMGET";
    argv[1] = o->key;
    for (i = 0; i < p->n; i++)
        argv[i + 2] = p->topics[i];
    for (i = 0; i < p->n + 2; i++)
        lens[i] = strlen(argv[i]);
    if (rasync_command_argv(&o->ra, on_page, p, (int)p->n + 2, argv, lens) != 0) {
        page_free(p);
        rasync_drop(&o->ra, "HMGET not sent"); /* the next connect starts over */
    } else {
        o->busy = 1;
    }
    free(argv);
    free(lens);
    return;
fail:
    db_done(st);
    db_rollback(o->db);
    page_free(p);
    log_error("redis owners: cannot read the ownership facts; starting over at the next connect");
    rasync_drop(&o->ra, "cannot read the ownership facts");
}

/* HSCAN's reply [cursor, [field, value, ...]]: 0 with *fields set, or -1. */
static int scan_reply(const redisReply *reply, const redisReply **fields)
{
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
        reply->element[0]->type != REDIS_REPLY_STRING || reply->element[0]->len >= 32 ||
        reply->element[1]->type != REDIS_REPLY_ARRAY || reply->element[1]->elements % 2 != 0)
        return -1;
    *fields = reply->element[1];
    return 0;
}

/* A new generation confirmed: edges will read the hash again. */
static void on_gen_set(redisAsyncContext *c, void *rep, void *priv)
{
    struct owners *o = priv;
    redisReply *reply = rep;

    (void)c;
    if (reply != NULL && reply->type == REDIS_REPLY_STATUS)
        o->gen_owed = 0;
    else
        on_written(c, rep, priv); /* refused: the sync runs again, and owes it still */
}

/* Every write of the sync answered (PING's reply comes after theirs): a
 * new generation tells edges to read the hash again, when it changed (or
 * has none yet: several responders of one database sync it in turn). */
static void on_sync_end(redisAsyncContext *c, void *rep, void *priv)
{
    struct owners *o = priv;
    redisReply *reply = rep;
    buf_t gen = {0};
    int rc;

    (void)c;
    if (reply == NULL || o->state != O_SYNC_END)
        return;
    o->busy = 0;
    if (o->write_failed || o->resync) {
        resync_later(o, o->resync ? 0 : RETRY_MS, 0);
        return;
    }
    if (crypto_random_hex(16, &gen) != 0) {
        resync_later(o, RETRY_MS, 0);
        return;
    }
    if (o->changed > 0)
        o->gen_owed = 1;
    rc = rasync_command(&o->ra, o->gen_owed ? on_gen_set : on_written, o, o->gen_owed ? "SET %s %s" : "SET %s %s NX",
                        o->gen_key, buf_str(&gen));
    buf_free(&gen);
    if (rc != 0) {
        rasync_drop(&o->ra, "SET not sent");
        return;
    }
    if (o->changed > 0)
        log_info("redis owners: %s made equal to the ownership facts (%zu changes)", o->key, o->changed);
    o->state = O_LIVE;
    o->due = 0;
    o->check_due = clock_ms() + CHECK_MS;
}

/* The fields of a page of the hash that the table does not hold as they
 * are: removed, or written again. */
static void on_sync_scan(redisAsyncContext *c, void *rep, void *priv)
{
    struct owners *o = priv;
    redisReply *reply = rep;
    const redisReply *kv;
    buf_t want = {0};
    size_t i;
    int found;

    (void)c;
    if (reply == NULL || o->state != O_SYNC_HASH)
        return;
    o->busy = 0;
    if (scan_reply(reply, &kv) != 0) {
        not_a_hash(o, reply, "HSCAN refused");
        return;
    }
    snprintf(o->cursor, sizeof o->cursor, "%s", reply->element[0]->str);
    for (i = 0; i < kv->elements; i += 2) {
        const redisReply *f = kv->element[i], *v = kv->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        buf_reset(&want);
        /* (a field with a NUL names no topic: not the table's) */
        if ((found = memchr(f->str, '\0', f->len) != NULL ? 0 : table_value(o, f->str, &want)) < 0) {
            buf_free(&want);
            rasync_drop(&o->ra, "cannot read the ownership facts");
            return;
        }
        if (found == 0 && rasync_command(&o->ra, on_written, o, "HDEL %s %b", o->key, f->str, f->len) == 0)
            o->changed++;
        else if (found == 1 && !crypto_equal(v->str, v->len, want.p, want.len))
            put(o, f->str, &want);
    }
    buf_free(&want);
    if (strcmp(o->cursor, "0") != 0) {
        sync_hash_next(o);
        return;
    }
    o->state = O_SYNC_END;
    sent(o, rasync_command(&o->ra, on_sync_end, o, "PING"), "PING not sent");
}

static void sync_hash_next(struct owners *o)
{
    sent(o, rasync_command(&o->ra, on_sync_scan, o, "HSCAN %s %s COUNT %d", o->key, o->cursor, PAGE),
         "HSCAN not sent");
}

/* The facts logged since the last look go in (from the table: the first
 * fact about a topic is the one that stands). In a transaction: its begin
 * is what sees a file put back at the path (db.h), and owners_tick then
 * starts over on it. */
static void live(struct owners *o, long long now_ms)
{
    sqlite3_stmt *st = NULL;
    buf_t want = {0};
    int n = 0, step = SQLITE_ERROR;
    int64_t last = o->since;

    if (db_begin(o->db, 0) == 0 && (st = db_stmt(o->db, SQL_TOPIC_OWNER_LOGGED_AFTER)) != NULL &&
        db_bind_int64(st, 1, o->since) == 0 && db_bind_int64(st, 2, PAGE) == 0) {
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
            const char *topic = (const char *)sqlite3_column_text(st, 1);
            int found;

            buf_reset(&want);
            if ((found = table_value(o, topic, &want)) < 0)
                break; /* not past it: the next look tries it again */
            if (found == 1)
                put(o, topic, &want);
            n++;
            last = sqlite3_column_int64(st, 0);
        }
    }
    db_done(st);
    db_rollback(o->db);
    buf_free(&want);
    if (step != SQLITE_DONE) {
        o->due = now_ms + LIVE_MS; /* busy: the next look tries again */
        return;
    }
    o->since = last;
    o->due = n == PAGE ? now_ms : now_ms + LIVE_MS;
}

/* 1 when the table holds a fact. */
static int table_has_facts(struct owners *o)
{
    sqlite3_stmt *st = db_stmt(o->db, SQL_TOPIC_OWNER_PAGE);
    int found = 0;

    if (st != NULL && db_bind_text(st, 1, "", -1) == 0 && db_bind_int64(st, 2, 1) == 0)
        found = db_lookup(st) == 1;
    db_done(st);
    return found;
}

/* The hash gone while connected (a flush, an eviction) is made again. */
static void on_check(redisAsyncContext *c, void *rep, void *priv)
{
    struct owners *o = priv;
    redisReply *reply = rep;

    (void)c;
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER || reply->integer != 0 || o->state != O_LIVE ||
        o->resync)
        return;
    log_warn("redis owners: %s is gone from Redis (flushed or evicted?); making it again", o->key);
    resync_later(o, 0, 0);
}

static void check(struct owners *o, long long now_ms)
{
    o->check_due = now_ms + CHECK_MS;
    if (rasync_command(&o->ra, on_check, o, "EXISTS %s", o->gen_key) != 0 ||
        (table_has_facts(o) && rasync_command(&o->ra, on_check, o, "EXISTS %s", o->key) != 0))
        rasync_drop(&o->ra, "EXISTS not sent");
}

/* A primary between syncs: a sync when one is due, else the facts logged
 * since, and now and then a look at whether the hash is still there. */
static void live_tick(struct owners *o, long long now_ms)
{
    if (o->resync) {
        start_sync(o);
    } else if (o->write_failed) {
        resync_later(o, RETRY_MS, 0);
    } else {
        live(o, now_ms);
        if (now_ms >= o->check_due && rasync_connected(&o->ra))
            check(o, now_ms);
    }
}

/* ---- an edge: the hash read whole when its generation changes ---- */

static void scan_next(struct owners *o);

/* Files the facts of a page that the primary signed, in one transaction.
 * 0, or -1. */
static int file_page(struct owners *o, const redisReply *kv)
{
    sqlite3_stmt *st;
    buf_t want = {0};
    size_t i;
    int rc = -1;

    if (db_begin(o->db, 1) != 0)
        return -1;
    for (i = 0; i < kv->elements; i += 2) {
        const redisReply *f = kv->element[i], *v = kv->element[i + 1];
        char *copy, *owner, *sha, *nl;
        const char *token_sha;

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || memchr(f->str, '\0', f->len) != NULL ||
            memchr(v->str, '\0', v->len) != NULL)
            continue;
        copy = xstrndup(v->str, v->len);
        owner = copy;
        sha = (nl = strchr(owner, '\n')) != NULL ? nl + 1 : NULL;
        if (nl != NULL)
            *nl = '\0';
        if (sha != NULL && (nl = strchr(sha, '\n')) != NULL) {
            *nl = '\0';
            token_sha = strcmp(sha, "-") == 0 ? NULL : sha;
            buf_reset(&want);
            if (fact_value(o, f->str, owner, token_sha, &want) == 0 && crypto_equal(v->str, v->len, want.p, want.len)) {
                st = db_stmt(o->db, SQL_TOPIC_OWNER_PUT);
                if (st == NULL || db_bind_text(st, 1, f->str, -1) != 0 || db_bind_text(st, 2, owner, -1) != 0 ||
                    db_bind_text(st, 3, token_sha, -1) != 0 || sqlite3_step(st) != SQLITE_DONE) {
                    db_done(st);
                    free(copy);
                    goto out;
                }
                o->changed += sqlite3_changes(db_handle(o->db)) > 0;
                db_done(st);
            }
        }
        free(copy); /* (one whose h does not check is not the primary's: ignored) */
    }
    rc = db_commit(o->db);
out:
    if (rc != 0)
        db_rollback(o->db);
    buf_free(&want);
    return rc;
}

static void on_scan(redisAsyncContext *c, void *rep, void *priv)
{
    struct owners *o = priv;
    redisReply *reply = rep;
    const redisReply *kv;

    (void)c;
    if (reply == NULL || o->state != O_SCAN)
        return;
    o->busy = 0;
    if (scan_reply(reply, &kv) != 0) {
        rasync_drop(&o->ra, "HSCAN refused");
        return;
    }
    if (file_page(o, kv) != 0) {
        log_warn("redis owners: cannot file ownership facts now; reading them again later");
        o->state = O_IDLE;
        o->due = clock_ms() + GEN_MS;
        return;
    }
    snprintf(o->cursor, sizeof o->cursor, "%s", reply->element[0]->str);
    if (strcmp(o->cursor, "0") != 0) {
        scan_next(o);
        return;
    }
    if (o->changed > 0)
        log_info("redis owners: %zu ownership facts filed from %s", o->changed, o->key);
    free(o->gen);
    /* (a file put back meanwhile has none of what went into the old one) */
    o->gen = db_generation(o->db) == o->scan_db_gen ? o->gen_reading : NULL;
    if (o->gen == NULL)
        free(o->gen_reading);
    o->gen_reading = NULL;
    o->state = O_IDLE;
    o->scanned_at = clock_ms();
    o->due = o->scanned_at + GEN_MS;
}

static void scan_next(struct owners *o)
{
    sent(o, rasync_command(&o->ra, on_scan, o, "HSCAN %s %s COUNT %d", o->key, o->cursor, PAGE), "HSCAN not sent");
}

static void on_generation(redisAsyncContext *c, void *rep, void *priv)
{
    struct owners *o = priv;
    redisReply *reply = rep;
    const char *now;

    (void)c;
    if (reply == NULL || o->state != O_IDLE)
        return;
    o->busy = 0;
    rasync_healthy(&o->ra);
    if (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_NIL) {
        rasync_drop(&o->ra, "GET of the generation refused");
        return;
    }
    now = reply->type == REDIS_REPLY_STRING ? reply->str : "";
    if (o->gen != NULL && strcmp(o->gen, now) == 0 && clock_ms() - o->scanned_at < RESCAN_MS) {
        o->due = clock_ms() + GEN_MS;
        return;
    }
    free(o->gen_reading);
    o->gen_reading = xstrdup(now);
    o->scan_db_gen = db_generation(o->db);
    o->state = O_SCAN;
    o->changed = 0;
    snprintf(o->cursor, sizeof o->cursor, "0");
    scan_next(o);
}

/* The hash is read whole again at the next look. */
static void forget_generation(struct owners *o)
{
    free(o->gen);
    o->gen = NULL;
}

/* ---- both ---- */

static void on_ready(struct rasync *ra)
{
    struct owners *o = (struct owners *)ra;

    o->busy = 0;
    o->changed = 0;
    o->due = 0;
    if (o->edge) {
        forget_generation(o); /* Redis may have started over */
        o->state = O_IDLE;
        return;
    }
    start_sync(o);
}

static void on_lost(struct rasync *ra)
{
    struct owners *o = (struct owners *)ra;

    o->state = O_DOWN;
    o->busy = 0;
}

struct owners *owners_start(const struct config *cfg, struct db *db)
{
    struct owners *o = xcalloc(1, sizeof *o);
    buf_t k = {0};

    o->cfg = cfg;
    o->db = db;
    o->edge = cfg->role == ROLE_EDGE;
    o->db_gen = db_generation(db);
    if (!config_redis_enabled(cfg) || (!o->edge && cfg->redis_history == 0) ||
        (o->mac = relaysig_mac_open(cfg, KEY_LABEL)) == NULL)
        return o;
    buf_printf(&k, "%sowners", cfg->redis_prefix);
    o->key = buf_steal(&k);
    buf_printf(&k, "%sowners:gen", cfg->redis_prefix);
    o->gen_key = buf_steal(&k);
    o->ra.name = "owners";
    o->ra.on_ready = on_ready;
    o->ra.on_lost = on_lost;
    rasync_start(&o->ra, cfg); /* (a REDIS_URL it cannot use is logged, and o stays idle) */
    return o;
}

void owners_tick(struct owners *o, long long now_ms)
{
    if (o == NULL || o->key == NULL)
        return;
    /* Another database file (see db.h): its facts are another set. An
     * edge reads the hash again into it; a primary empties the hash and
     * makes it again (at once, or when the sync under way ends). */
    if (db_generation(o->db) != o->db_gen) {
        o->db_gen = db_generation(o->db);
        if (o->edge) {
            forget_generation(o);
        } else {
            o->flush_first = 1;
            o->resync = 1;
            o->due = 0;
        }
    }
    rasync_tick(&o->ra, now_ms);
    if (o->busy || now_ms < o->due || !rasync_connected(&o->ra))
        return;
    if (o->state == O_LIVE)
        live_tick(o, now_ms);
    else if (o->state == O_IDLE)
        sent(o, rasync_command(&o->ra, on_generation, o, "GET %s", o->gen_key), "GET not sent");
}

void owners_stop(struct owners *o)
{
    if (o == NULL)
        return;
    if (o->key != NULL)
        rasync_stop(&o->ra);
    free(o->key);
    free(o->gen_key);
    free(o->gen);
    free(o->gen_reading);
    buf_free(&o->after);
    crypto_mac_close(o->mac);
    free(o);
}
