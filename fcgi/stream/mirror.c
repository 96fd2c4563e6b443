/* mirror.c - an edge's copy of the primary's log (see mirror.h). */
#include "stream/mirror.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/metrics.h"
#include "bus/rasync.h"
#include "bus/relaysig.h"
#include "http/http.h"
#include "store/db.h"
#include "store/store.h"
#include "wire/loop.h"

#define MIRROR_BATCH 512
#define BLOCK_MS 5000
#define STALL_MS (BLOCK_MS + 10000)   /* no reply at all: a half-open connection */
#define PRUNE_BATCH 1024
/* Reads past entries refused (not stored) wait this long at most for more,
 * then read again from what is stored: the relay may have removed them and
 * set the stream back, and the primary's events are then below them. */
#define PARKED_MS 1000

/* Refused entries above the last id stored, logged and counted: a read
 * past them comes back to them while they stay in Redis, and counts only
 * new ones. Sorted; at most REFUSED_KEPT (beyond that, under a flood, the
 * lowest is forgotten and may be counted again). */
#define REFUSED_KEPT 1024

/* Refusals not logged yet: one line a second at most says how many and
 * which (a primary with another secret has every entry refused). */
struct refusals {
    long long unsigned_n, other_n;   /* without an h; with one that does not match */
    char first[48], last[48];        /* their entry ids */
    time_t logged_at;
};

/* An edge's mirror: created by mirror_new, owned by its caller, handed to
 * every callback (rasync's as &ra, hiredis's as priv). */
struct mirror {
    struct rasync ra;                 /* first: rasync's callbacks hand us &ra */
    const struct config *cfg;
    struct db *db;
    char *key;                        /* owned: <prefix>log */
    struct relaysig *sig;             /* what the primary signed is stored, nothing else */
    mirror_news_fn *news;
    void *data;                       /* news's argument */
    int reading;                      /* an XREAD is in flight */
    long long read_sent_at;
    int64_t last;                     /* highest id stored here */
    struct mirror_pos cursor;         /* reads go on after this entry: last, or a refused one above it */
    struct mirror_pos refused_seen[REFUSED_KEPT];
    int refused_n;
    unsigned db_gen;                  /* db_generation() last belongs to */
    int64_t doubt_at;                 /* last when a read first asked to read again, or -1 */
    long long doubt_since;
    struct refusals pending;
};

static void on_entries(redisAsyncContext *c, void *rep, void *priv);

static int pos_cmp(struct mirror_pos a, struct mirror_pos b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    return a.seq < b.seq ? -1 : a.seq > b.seq;
}

static struct mirror_pos pos_of_id(int64_t id)
{
    struct mirror_pos p = {(uint64_t)(id > 0 ? id : 0), 0};

    return p;
}

/* 1 the first time at is refused, 0 when it was before. */
static int refused_first_time(struct mirror *m, struct mirror_pos at)
{
    int lo = 0, hi = m->refused_n;

    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = pos_cmp(m->refused_seen[mid], at);

        if (c == 0)
            return 0;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (m->refused_n == REFUSED_KEPT) {
        if (lo == 0)
            return 1; /* below everything kept: not kept either */
        memmove(m->refused_seen, m->refused_seen + 1, (size_t)(lo - 1) * sizeof m->refused_seen[0]);
        lo--;
    } else {
        memmove(m->refused_seen + lo + 1, m->refused_seen + lo,
                (size_t)(m->refused_n - lo) * sizeof m->refused_seen[0]);
        m->refused_n++;
    }
    m->refused_seen[lo] = at;
    return 1;
}

/* Entries at or below the last id stored are never read again. */
static void refused_forget_upto(struct mirror *m, struct mirror_pos upto)
{
    int k = 0;

    while (k < m->refused_n && pos_cmp(m->refused_seen[k], upto) <= 0)
        k++;
    memmove(m->refused_seen, m->refused_seen + k, (size_t)(m->refused_n - k) * sizeof m->refused_seen[0]);
    m->refused_n -= k;
}

/* "<ms>-<seq>", as Redis writes an entry id. 0 or -1. */
static int parse_pos(const char *s, struct mirror_pos *p)
{
    unsigned long long ms, seq;
    char *end;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    ms = strtoull(s, &end, 10);
    if (errno != 0 || *end != '-' || end[1] < '0' || end[1] > '9')
        return -1;
    seq = strtoull(end + 1, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    p->ms = ms;
    p->seq = seq;
    return 0;
}

/* The first read after a (re)connect does not block, so that an edge with
 * nothing to catch up on starts serving at once; later reads wait in Redis
 * for the next entry, for a short while only past refused entries. */
static void read_next(struct mirror *m, int block)
{
    char from[48], count[16], wait[16];
    const char *argv[8] = {"XREAD", "COUNT", count, "BLOCK", wait, "STREAMS", m->key, from};
    const char *nb[6] = {"XREAD", "COUNT", count, "STREAMS", m->key, from};
    size_t lens[8];
    int i, argc = block ? 8 : 6;

    snprintf(from, sizeof from, "%llu-%llu", (unsigned long long)m->cursor.ms, (unsigned long long)m->cursor.seq);
    snprintf(count, sizeof count, "%d", MIRROR_BATCH);
    snprintf(wait, sizeof wait, "%d", pos_cmp(m->cursor, pos_of_id(m->last)) > 0 ? PARKED_MS : BLOCK_MS);
    if (!block)
        memcpy(argv, nb, sizeof nb);
    for (i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    if (rasync_command_argv(&m->ra, on_entries, m, argc, argv, lens) == 0) {
        m->reading = 1;
        m->read_sent_at = clock_ms();
    }
}

/* The fields of a signed entry into row (borrowing the reply's strings)
 * and the id relayed before it. 0, or -1 if malformed (the primary signed
 * it, so a fault of the primary's: a gap, not a forgery). Topic and type
 * go into every stream's "event:" line as they are: they must be names the
 * primary itself accepts. */
static int parse_entry(const struct relaysig_fields *fs, struct store_row *row, int64_t *prev)
{
    const char *p = fs->v[RS_PREV], *f = fs->v[RS_GAP];
    char *end;

    row->id = strtoll(fs->v[RS_ID], NULL, 10);
    row->topic = fs->v[RS_TOPIC];
    row->type = fs->v[RS_TYPE];
    row->ts = fs->v[RS_TS];
    row->data = fs->v[RS_DATA];
    if (row->id <= 0 || p == NULL || !row->topic || !row->type || !row->ts || !row->data)
        return -1;
    /* (no topic: only the primary's void row, store/db_ids.h) */
    if (!(row->topic[0] == '\0' ? strcmp(row->type, "void") == 0 : http_valid_id(row->topic)) ||
        !http_valid_type(row->type))
        return -1;
    *prev = strtoll(p, NULL, 10);
    /* f (optional): the primary pruned events of this topic up to it */
    row->pruned_upto = 0;
    if (f != NULL) {
        row->pruned_upto = strtoll(f, &end, 10);
        if (end == f || *end != '\0' || row->pruned_upto < 0)
            return -1;
    }
    return 0;
}

static void refusals_log(struct mirror *m, int now_too)
{
    struct refusals *p = &m->pending;
    time_t now;

    if (p->unsigned_n + p->other_n == 0)
        return;
    now = time(NULL);
    if (!now_too && now == p->logged_at)
        return;
    log_error("redis mirror: refused %lld entr%s of %s (%s%s%s): %lld not signed, %lld with a signature this "
              "edge's key (PULSE_RELAY_SECRET, or the key derived from PULSE_JWT_SECRET) does not match: "
              "written by another client of Redis, or by a primary with another secret. Not stored; mirroring "
              "goes on",
              p->unsigned_n + p->other_n, p->unsigned_n + p->other_n == 1 ? "y" : "ies", m->key, p->first,
              strcmp(p->first, p->last) ? " .. " : "", strcmp(p->first, p->last) ? p->last : "", p->unsigned_n,
              p->other_n);
    p->unsigned_n = p->other_n = 0;
    p->logged_at = now;
}

/* Counts a refused entry (the first time it is seen: a read past it comes
 * back to it while it stays in Redis) and logs it, with others of the same
 * second. */
static void refused_entry(struct mirror *m, const redisReply *e, const char *mac, size_t maclen,
                          struct mirror_read *rd)
{
    const char *id = e->type == REDIS_REPLY_ARRAY && e->elements > 0 && e->element[0]->type == REDIS_REPLY_STRING
                         ? e->element[0]->str
                         : "?";
    struct refusals *p = &m->pending;

    rd->refused++;
    metrics_add(M_MIRROR_REFUSED, 1);
    if (p->unsigned_n + p->other_n == 0)
        snprintf(p->first, sizeof p->first, "%.40s", id);
    snprintf(p->last, sizeof p->last, "%.40s", id);
    if (mac != NULL && maclen == RELAYSIG_HEX)
        p->other_n++;
    else
        p->unsigned_n++;
}

/* The primary's void row id (the file it followed ended at after),
 * applied here once (store_mirror_void), before the entry at or after it
 * that names it (its "v", "<id>:<after>") or is the row itself: by an edge
 * that got the row, and by one that did not. (An entry below it may name
 * it too, one relayed after a reconnect: applied then, it would have the
 * entries below it taken for ones already stored.) ts: the row's time,
 * or NULL (now). 1 applied, 0 nothing to do, -1 error. */
static int void_apply(struct db *d, long long id, long long after, const char *ts, int64_t entry, int64_t *have,
                      int *voided)
{
    char now_ts[32];
    int64_t upto;
    struct tm tm;
    time_t now = time(NULL);
    int rc;

    if (id <= 0 || after < 0 || after >= id || id > entry)
        return 0;
    if (store_voided_upto(d, &upto) != 0)
        return -1;
    if (id <= upto)
        return 0;
    if (ts == NULL) {
        gmtime_r(&now, &tm);
        strftime(now_ts, sizeof now_ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        ts = now_ts;
    }
    if ((rc = store_mirror_void(d, id, after, ts)) > 0) {
        log_warn("redis mirror: the primary's database was put back (events after %lld up to %lld are gone there): "
                 "dropped here too, every stream is reset", after, id);
        *voided = 1;
        if (id > *have)
            *have = id;
    }
    return rc;
}

/* void_apply for an entry's "v". */
static int void_field(struct db *d, const char *v, int64_t entry, int64_t *have, int *voided)
{
    char *end;
    long long id, after;

    id = strtoll(v, &end, 10);
    if (end == v || *end != ':')
        return 0;
    after = strtoll(end + 1, &end, 10);
    if (*end != '\0')
        return 0;
    return void_apply(d, id, after, NULL, entry, have, voided);
}

/* Stores one batch in one transaction. Only an entry's own id and its
 * "prev" decide what is missing, never arithmetic on ids. An entry the
 * primary did not sign is refused: not stored, no gap, the head does not
 * move (an entry's id is the primary's only when signed). 0 or -1. */
static int apply(struct mirror *m, const redisReply *entries, struct mirror_read *rd)
{
    struct db *d = m->db;
    int64_t pruned, have;
    size_t i;
    int refused_since, voided = 0;

    if (db_begin(d, 1) != 0)
        return -1;
    if (store_bounds(d, &pruned, &have) != 0)
        goto fail;
    /* entries refused since the last one stored (or before this read) */
    refused_since = pos_cmp(rd->from, pos_of_id(have)) > 0;
    for (i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        struct relaysig_fields fs;
        struct mirror_pos at;
        struct store_row row;
        const char *mac;
        size_t maclen;
        int64_t prev = 0;
        int rc;

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING ||
            parse_pos(e->element[0]->str, &at) != 0) {
            /* not even an entry (Redis sends none such): nobody signed it */
            refused_entry(m, e, NULL, 0, rd);
            continue;
        }
        /* read on past it, whatever it is */
        if (pos_cmp(at, rd->seen) > 0)
            rd->seen = at;
        if (pos_cmp(at, pos_of_id(have)) <= 0)
            continue; /* another stream responder of this edge stored it */
        if (relaysig_fields_of(e, &fs, &mac, &maclen) != 0 || !relaysig_valid(m->sig, &fs, mac, maclen)) {
            if (refused_first_time(m, at))
                refused_entry(m, e, mac, maclen, rd);
            refused_since = 1;
            continue;
        }
        rc = parse_entry(&fs, &row, &prev);
        if (rc == 0 && fs.v[RS_VOID] != NULL && !(prev > have && refused_since && !rd->settled)) {
            if (void_field(d, fs.v[RS_VOID], row.id, &have, &voided) < 0)
                goto fail;
            if (row.id <= have) { /* the void row itself, stored just now */
                refused_since = 0;
                continue;
            }
        }
        if (rc == 0 && prev > have && refused_since && !rd->settled) {
            /* Refused entries came since have: what the primary relayed
             * after have may be below them (the relay removes them, sets
             * the stream back and adds its own again; its pipelined adds
             * can land above them first). Read again from have before
             * calling anything a gap. */
            rd->reread = 1;
            break;
        }
        if (rc != 0) {
            /* Whatever this entry was, a client must not resume across it
             * silently. */
            log_warn("redis mirror: entry %lld is malformed; recorded as a gap", (long long)row.id);
            if (store_mark_gap(d, row.id) != 0)
                goto fail;
            have = row.id;
            refused_since = 0;
            continue;
        }
        if (prev > have) {
            log_warn("redis mirror: events after %lld up to %lld are no longer in Redis; clients resuming "
                     "from before %lld get a reset", (long long)have, (long long)prev, (long long)prev);
            if (store_mark_gap(d, prev) != 0)
                goto fail;
        }
        /* The primary pruned this topic up to f. Events of it this copy
         * never got (pruned before they were relayed) are a gap for that
         * topic's clients resuming from before f, no one else's; those it
         * got (it holds a later one, or its floor is there) are none:
         * store_mark_topic_gap tells which. */
        if (row.pruned_upto > 0 && store_mark_topic_gap(d, row.topic, row.pruned_upto) != 0)
            goto fail;
        if (row.topic[0] == '\0') { /* the void row, come without its "v" */
            long long after;

            rc = sscanf(row.data, "{\"after\":%lld}", &after) == 1
                     ? void_apply(d, (long long)row.id, after, row.ts, row.id, &have, &voided)
                     : 0;
        } else {
            rc = store_mirror_event(d, &row);
        }
        if (rc < 0)
            goto fail;
        if (rc == 0) {
            log_warn("redis mirror: event %lld is malformed; recorded as a gap", (long long)row.id);
            if (store_mark_gap(d, row.id) != 0)
                goto fail;
        }
        have = row.id;
        refused_since = 0;
    }
    if (db_commit(d) != 0)
        goto fail;
    rd->stored = have;
    rd->voided |= voided;
    refused_forget_upto(m, pos_of_id(have));
    refusals_log(m, 0);
    return 0;
fail:
    db_rollback(d);
    refusals_log(m, 0);
    return -1;
}

int mirror_apply(struct mirror *m, const redisReply *reply, struct mirror_read *rd)
{
    const redisReply *entries;

    rd->seen = rd->from;
    rd->reread = 0;
    rd->refused = 0;
    if (reply->type == REDIS_REPLY_NIL)
        return 0; /* BLOCK timed out: nothing new */
    /* [[key, [entry, ...]]] */
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 1 || reply->element[0]->type != REDIS_REPLY_ARRAY ||
        reply->element[0]->elements != 2 || reply->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        log_warn("redis mirror: unexpected XREAD reply (type %d)", reply->type);
        return -1;
    }
    entries = reply->element[0]->element[1];
    if (apply(m, entries, rd) != 0)
        return -1;
    return (int)entries->elements;
}

/* Rereads past refused entries go on for PARKED_MS at most at one head:
 * the relay's fix takes milliseconds, and a forged entry that stays in
 * front of events Redis really lost must not hold the gap back forever. */
static int doubt_settled(const struct mirror *m)
{
    return m->doubt_at == m->last && clock_ms() - m->doubt_since >= PARKED_MS;
}

static void on_entries(redisAsyncContext *c, void *rep, void *priv)
{
    struct mirror *m = priv;
    redisReply *reply = rep;
    struct mirror_read rd = {.from = m->cursor, .stored = m->last, .settled = doubt_settled(m)};
    int n, again;

    (void)c;
    if (reply == NULL)
        return; /* connection lost */
    m->reading = 0;
    if (reply->type == REDIS_REPLY_ERROR) {
        log_error("redis mirror: XREAD refused: %s", reply->str);
        rasync_drop(&m->ra, "XREAD refused");
        return;
    }
    rasync_healthy(&m->ra);
    if ((n = mirror_apply(m, reply, &rd)) < 0) {
        rasync_drop(&m->ra, "cannot store mirrored events");
        return;
    }
    m->last = rd.stored;
    if (rd.reread && m->doubt_at != m->last) {
        m->doubt_at = m->last;
        m->doubt_since = clock_ms();
    }
    /* Past refused entries nothing came for a while, or what came says
     * something may be missing below them: read again at once from what is
     * stored (the refused ones are not counted again). */
    again = rd.reread || (reply->type == REDIS_REPLY_NIL && pos_cmp(m->cursor, pos_of_id(m->last)) > 0);
    if (again)
        m->cursor = pos_of_id(m->last);
    else if (pos_cmp(rd.seen, m->cursor) > 0)
        m->cursor = rd.seen;
    if (pos_cmp(m->cursor, pos_of_id(m->last)) < 0)
        m->cursor = pos_of_id(m->last);
    if (n > 0 &&
        store_prune(m->db, m->cfg->retention, m->cfg->retention_s, PRUNE_BATCH, (int64_t)time(NULL), NULL) < 0)
        log_warn("redis mirror: pruning failed; retrying after the next batch");
    m->news(m->data, m->last, !again && n < MIRROR_BATCH, rd.voided);
    read_next(m, !again);
}

static void on_ready(struct rasync *ra)
{
    struct mirror *m = (struct mirror *)ra;
    int64_t pruned;

    m->reading = 0;
    if (store_bounds(m->db, &pruned, &m->last) != 0) {
        rasync_drop(ra, "cannot read the event log");
        return;
    }
    m->cursor = pos_of_id(m->last);
    read_next(m, 0);
}

struct mirror *mirror_new(const struct config *cfg, struct db *db)
{
    struct mirror *m = xcalloc(1, sizeof *m);
    buf_t k = {0};

    m->cfg = cfg;
    m->db = db;
    m->doubt_at = -1;
    m->sig = relaysig_open(cfg);
    buf_printf(&k, "%slog", cfg->redis_prefix);
    m->key = buf_steal(&k);
    return m;
}

int mirror_start(struct mirror *m, mirror_news_fn *on_news, void *data)
{
    m->news = on_news;
    m->data = data;
    if (!config_redis_enabled(m->cfg)) {
        log_error("PULSE_ROLE=edge needs Redis (REDIS_URL or REDIS_HOST): it mirrors the primary's log from it");
        return -1;
    }
    if (m->sig == NULL) {
        log_error("PULSE_ROLE=edge needs PULSE_RELAY_SECRET or PULSE_JWT_SECRET, the primary's: it stores only "
                  "the entries the primary signed with it");
        return -1;
    }
    m->ra.name = "mirror";
    m->ra.on_ready = on_ready;
    return rasync_start(&m->ra, m->cfg);
}

void mirror_tick(struct mirror *m, long long now_ms)
{
    /* Another database file (see db.h): read on from where it ends. */
    if (db_generation(m->db) != m->db_gen) {
        m->db_gen = db_generation(m->db);
        if (rasync_connected(&m->ra))
            rasync_drop(&m->ra, "the database file was replaced");
    }
    refusals_log(m, 0);
    if (m->reading && rasync_connected(&m->ra) && now_ms - m->read_sent_at > STALL_MS)
        rasync_drop(&m->ra, "XREAD got no reply in time");
    rasync_tick(&m->ra, now_ms);
}

void mirror_free(struct mirror *m)
{
    if (m == NULL)
        return;
    refusals_log(m, 1);
    rasync_stop(&m->ra);
    free(m->key);
    relaysig_close(m->sig);
    free(m);
}
