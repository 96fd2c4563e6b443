/* batch.h - the batching request responder (pulse-batch): the routes of
 * pulse-api, served on one epoll loop so that connections can stay open
 * between requests (nginx's fastcgi_keep_conn) and the requests that
 * arrive together commit in one transaction (group commit).
 *
 * A libfcgi process answers one connection at a time, so the web server
 * pays a connect and an accept per request and every request pays its own
 * commit. Here a kept connection costs nothing between requests, and a
 * burst of N publishes costs one commit. Each request still runs in its own
 * savepoint: one that fails changes nothing, the others are kept. */
#ifndef PULSE_BATCH_H
#define PULSE_BATCH_H

struct batch;
struct runtime;

/* A responder serving FastCGI connections accepted on listen_fd (made
 * non-blocking) with rt (borrowed: it must outlive the batch). Needs
 * loop_init() first. NULL with errno set when fd cannot be watched;
 * otherwise owned by the caller, freed by batch_stop. */
struct batch *batch_start(struct runtime *rt, int listen_fd);
/* Answers every request that arrived whole since the last call: one
 * transaction per BATCH_MAX of them. Call after each loop iteration. */
void batch_flush(struct batch *b);
/* Announces the events of the commits answered so far (after the answers:
 * the web server waits on those, a wake-up only delays delivery), at most
 * once per ANNOUNCE_MS. Returns the milliseconds until announcing is due
 * again when events are still waiting, else -1. */
int batch_announce(struct batch *b, long long now_ms);
/* Closes connections whose request has been arriving for too long and
 * frees the ones closed since the last call. */
void batch_tick(struct batch *b, long long now_ms);
/* Announces what is left to announce, closes every connection and frees
 * b. NULL is a no-op. */
void batch_stop(struct batch *b);

#endif
