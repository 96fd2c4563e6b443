/* mirror.h - an edge's copy of the primary's event log.
 *
 * On an edge (PULSE_ROLE=edge) the stream responder reads the Redis Stream
 * the primary's relays write (see relay.h) with a blocking XREAD and stores
 * each event in the local database under its own id, in order, one
 * transaction per batch. Everything else - replay, resume, resets, polling -
 * then works on the edge exactly as on the primary, from the local copy.
 * An entry whose "prev" is not the last id mirrored here means the edge fell
 * behind what Redis keeps: the gap is recorded as pruned history, so a
 * client resuming across it gets a reset instead of a silent skip. An entry
 * with "f" (the primary pruned its topic up to it) records the same for its
 * topic alone, when f is above the topic's newest event here and its floor
 * here (events the edge got before they were pruned are no gap). The edge
 * prunes its own copy with the same retention rules as the primary
 * (store_prune).
 * Only entries the primary signed (relaysig.h) are stored: anyone who can
 * write Redis can add entries, and an edge delivers what it stores to
 * browsers as the primary's. A read past refused entries waits a short
 * while only, then reads again from the last id stored: the relay removes
 * entries it did not write and sets the stream back below them. */
#ifndef PULSE_MIRROR_H
#define PULSE_MIRROR_H

#include <stdint.h>

struct config;
struct db;
struct mirror;
struct redisReply;

/* Called after each read with the highest id stored, caught_up once that
 * read found nothing more waiting in Redis, voided when it stored the
 * primary's void row (mirror_read), and the data given to mirror_start. */
typedef void mirror_news_fn(void *data, int64_t id, int caught_up, int voided);

/* A mirror of the log stream named by cfg (<prefix>log) into db, checking
 * entries with cfg's relay key; cfg and db are kept by reference (both must
 * outlive it). Not connected: mirror_start does that; mirror_apply works
 * on it either way. Never NULL; owned by the caller, freed by mirror_free. */
struct mirror *mirror_new(const struct config *cfg, struct db *db);
/* Starts mirroring: Redis must be configured, and PULSE_RELAY_SECRET or
 * PULSE_JWT_SECRET set. 0, or -1 (logged). */
int mirror_start(struct mirror *m, mirror_news_fn *on_news, void *data);
/* Reconnects when due, drops a read that got no reply in time, starts over
 * on another database file, and logs the refusals of the last second. */
void mirror_tick(struct mirror *m, long long now_ms);

/* A Redis stream entry id, <ms>-<seq>. */
struct mirror_pos {
    uint64_t ms, seq;
};

struct mirror_read {
    struct mirror_pos from;  /* in: the XREAD read the entries after this one */
    int64_t stored;          /* out: the highest id the log holds (unchanged for a nil reply) */
    struct mirror_pos seen;  /* out: the newest entry of the reply (from when none) */
    int settled;             /* in: rereads past refused entries ran out: what is missing is a gap */
    int reread;              /* out: 1 when events may be missing below refused ones: read again from stored */
    int refused;             /* out: entries refused (not signed by m's key), each counted and logged once */
    int voided;              /* out: set to 1 when the primary's void row was stored (its file put back:
                                what this copy served past the file's end is gone; store_mirror_void) */
};

/* Stores the entries of one XREAD reply (nil, or [[key, [entry...]]]) in
 * m's database in one transaction, those signed under m's key (relaysig.h)
 * alone; an entry not signed is refused, logged and counted
 * (pulse_mirror_refused_entries_total): not stored, no gap, the head does
 * not move. Returns the number of entries in the reply, or -1 (nothing
 * stored). The loop's read path, also called directly by the unit and
 * fuzz tests. */
int mirror_apply(struct mirror *m, const struct redisReply *reply, struct mirror_read *rd);
/* Logs the refusals not logged yet, disconnects and frees m. NULL is a
 * no-op. */
void mirror_free(struct mirror *m);

#endif
