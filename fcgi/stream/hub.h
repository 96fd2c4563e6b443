/* hub.h - inside the stream responder (stream.h): the context every part of
 * it is handed, and what its files call of one another. Not for use outside
 * fcgi/stream/ (the unit tests aside).
 *
 *   topics.c  the topic index: topic -> subscribers, connection -> topics
 *   conn.c    a connection's frames, queue, flush, ending and deadlines
 *   replay.c  where a stream starts, the replay of what it missed, resets
 *   stream.c  the handshake, the accept loop, fan-out, heartbeats, expiry
 */
#ifndef PULSE_STREAM_HUB_H
#define PULSE_STREAM_HUB_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "stream/stream.h"
#include "stream/stream_req.h"
#include "wire/fcgi_rec.h"
#include "wire/loop.h"

struct auth_cache;

#define HUB_TOPIC_BUCKETS 16384
#define HUB_CLIENT_BUCKETS 4096
#define HUB_SHARED_REQUEST_ID 1
#define HUB_CLOSE_GRACE_MS 30000  /* an ended stream the web server has not read to its end by then is closed */

/* Bytes of whole FastCGI STDOUT records, shared by reference count among
 * every connection an event goes to: formatted once per event. */
struct frame {
    unsigned refs;
    size_t len;
    unsigned char wire[];
};

struct topic;
struct conn;

struct sub {
    struct conn *c;
    struct topic *t;
    struct sub *prev, *next;   /* the topic's subscribers */
};

struct topic {
    char *name;
    struct sub *subs;
    unsigned count;
    struct topic *hnext;
};

enum conn_state { C_HANDSHAKE, C_STREAM, C_CLOSING, C_DEAD };

/* Why a stream's deadline ends it (its last comment: conn_deadline_text). */
enum conn_deadline { DEADLINE_NONE, DEADLINE_TOKEN, DEADLINE_LIFETIME };

/* A connection's frames not written yet: allocated with the first, freed
 * with the last, so an idle stream (most of them) holds none of this. */
struct queue {
    uint32_t head, len, cap;    /* a ring of cap entries */
    size_t off;                 /* bytes of f[head] already written */
    struct frame *f[];
};

/* One per stream, held for hours by thousands: every byte here is paid per
 * stream (bench/ figure a), hence the queue and the deadline's reason kept
 * out of it. */
struct conn {
    struct watch w;             /* first: the loop hands us &w */
    struct stream *s;           /* the hub it belongs to */
    uint8_t state;
    uint8_t replaying;          /* live events wait until the replay catches up */
    uint8_t ntopics;
    uint8_t deadline_why;       /* enum conn_deadline, when deadline ends the stream */
    uint16_t reqid;
    int64_t last_sent;          /* highest event id written or queued */
    int64_t cursor;             /* replay position */
    struct fcgi_in in;
    struct sub *subs;           /* ntopics entries: &sub1 for one topic */
    struct client *client;      /* its address's count (clients.c), NULL when not counted */
    struct queue *q;            /* NULL when nothing waits to be written */
    long long deadline;         /* handshake time-out; then the stream's end, 0 = none (ms) */
    struct conn *prev, *next;   /* handshakes, streams or zombies list */
    struct sub sub1;            /* a stream of one topic (most) needs no array */
};

/* Frames queued on c, not yet written. */
static inline uint32_t conn_queued(const struct conn *c)
{
    return c->q != NULL ? c->q->len : 0;
}

struct conn_list {
    struct conn *head;
    unsigned count;
};

/* The stream responder of one process: created by stream_new, owned by its
 * main, handed to every function below. */
struct stream {
    int err;                           /* enum stream_err of the last failure, 0 = none */
    char *errstr;                      /* owned: what failed, or NULL (see stream_set_err) */
    const struct config *cfg;
    struct db *db;
    struct auth_cache *tokens;         /* verified bearer tokens (auth.h) */
    struct listener listener;
    struct topic **buckets;            /* HUB_TOPIC_BUCKETS chains */
    struct client **clients;           /* HUB_CLIENT_BUCKETS chains (clients.c) */
    struct conn_list handshakes, streams, zombies;
    int64_t high_water;                /* every event <= this has been dispatched */
    struct frame *ping_frame;
    long long next_heartbeat;
    long long next_expiry;             /* earliest stream deadline (ms), 0 = none */
    long stream_max_s;                 /* a stream's longest life (s), 0 = none */
    int serving;                       /* 0 while an edge's first copy of the log is incomplete */
    unsigned db_gen;                   /* db_generation() high_water belongs to */
    int log_replaced;                  /* stream_log_replaced: reset every stream at the next read */
    int replays_waiting;               /* a replay stopped on a log it could not read */
    int log_unread;                    /* started without the database file: no position read yet */
};

/* Records a failure in s->err / s->errstr (the one place they are set). */
void stream_set_err(struct stream *s, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- topics.c ---- */
/* FNV-1a of a name: the topic index's hash, and the client counts'. */
unsigned hub_hash(const char *name);
struct topic *topics_find(struct stream *s, const char *name);
/* Links c to each topic (names copied), creating the topics it needs. */
void topics_subscribe(struct stream *s, struct conn *c, char *const *names, int n);
/* Unlinks c from its topics, freeing those left without subscribers. */
void topics_unsubscribe(struct stream *s, struct conn *c);

/* ---- clients.c ---- */
/* Counts c's stream for its address (REMOTE_ADDR; NULL: not counted): 0,
 * or -1 when that address holds PULSE_MAX_PER_CLIENT streams already (0:
 * no limit, nothing counted). */
int clients_hold(struct stream *s, struct conn *c, const char *remote_addr);
/* Gives c's place back; a no-op when it holds none. */
void clients_release(struct stream *s, struct conn *c);

/* ---- conn.c ---- */
/* A new frame (refs 1) of whole records: the SSE text as STDOUT of reqid,
 * or records already framed. */
struct frame *conn_frame_sse(const buf_t *sse, uint16_t reqid);
struct frame *conn_frame_records(const buf_t *recs);
void conn_frame_unref(struct frame *f);
void conn_list_add(struct conn_list *l, struct conn *c);
void conn_list_del(struct conn_list *l, struct conn *c);
/* Closes the socket; the struct waits on the zombies list for stream_reap. */
void conn_close(struct conn *c);
void conn_free(struct conn *c);
/* Writes what the socket takes: 0, or -1 when the connection was closed. */
int conn_flush(struct conn *c);
/* Sets c's deadline and keeps the hub's earliest one (next_expiry). */
void conn_set_deadline(struct conn *c, long long at_ms);
/* The last comment of a stream its deadline ends (static text). */
const char *conn_deadline_text(const struct conn *c);
/* Ends the stream with a last comment and FCGI_END_REQUEST. */
void conn_end(struct conn *c, const char *why);
/* Writes f (copied for another request id) at once when nothing waits
 * before it, else queues it; a client too far behind is ended. 0, or -1 if
 * the stream is over. */
int conn_send(struct conn *c, struct frame *f);

/* ---- replay.c ---- */
/* Opens a read of the log with its bounds (0), or -1 with nothing open. */
int replay_log_begin(struct stream *s, int64_t *pruned, int64_t *last);
/* The response head and position of a stream accepted by the handshake,
 * then its reset or replay. expired: events after r->last_id are gone. */
void replay_start(struct conn *c, const struct stream_req *r, int expired, int64_t last);
/* Sends the next replay batches while the socket keeps up. */
void replay_step(struct conn *c);
/* Resets the live streams that missed pruned events. 0 or -1. */
int replay_reset_pruned(struct stream *s, int64_t pruned, int64_t last);
/* Goes on with the replays a log that could not be read stopped. */
void replay_resume_waiting(struct stream *s);

#endif
