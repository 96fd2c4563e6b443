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

struct runtime;

/* Serves FastCGI connections accepted on listen_fd (made non-blocking) with
 * rt. Returns 0, or -1 with errno set. */
int batch_init(struct runtime *rt, int listen_fd);
/* Answers every request that arrived whole since the last call: one
 * transaction per BATCH_MAX of them. Call after each loop iteration. */
void batch_flush(void);
/* Announces the events of the commits answered so far (after the answers:
 * the web server waits on those, a wake-up only delays delivery), at most
 * once per ANNOUNCE_MS. Returns the milliseconds until announcing is due
 * again when events are still waiting, else -1. */
int batch_announce(long long now_ms);
/* Closes connections whose request has been arriving for too long and
 * frees the ones closed since the last call. */
void batch_tick(long long now_ms);
void batch_shutdown(void);

#endif
