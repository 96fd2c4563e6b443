/* forward.h - writes that reach an edge go on to the primary.
 *
 * An edge (PULSE_ROLE=edge) holds a copy of the log and nothing else, so a
 * request it does not serve itself (a webhook, CRUD, a publish, chat) is
 * sent on to PULSE_PRIMARY_URL over a connection kept open, with its raw
 * body and the headers Pulse reads, and answered with exactly what the
 * primary answered (status, headers, body). No answer from the primary:
 * 503 primary_unavailable with Retry-After; the request was either applied
 * there whole or not at all, as for a client talking to the primary itself.
 *
 * The client's address (per-address limits), Host and scheme (URLs Pulse
 * builds) travel in signed headers, since the primary sees the edge as its
 * client:
 *
 *   Pulse-Forwarded-For, -Host, -Proto, -At (unix seconds), -Id, -Sig
 *
 * -Sig is the lowercase hex HMAC-SHA256, under the deployment's relay key
 * (relaysig_mac_open: PULSE_RELAY_SECRET, or derived from PULSE_JWT_SECRET
 * with "pulse forward key"), of
 *
 *   ns("pulse-forward-3") ns(method) ns(REQUEST_URI) ns(for) ns(host) ns(proto) ns(at) ns(id)
 *   ns(Authorization, "" when absent) ns(body)
 *
 * (the raw body, so a header set seen on the wire vouches for no other
 * write; edges and their primary are upgraded together, as for the relay)
 * The primary takes them in place of REMOTE_ADDR, HTTP_HOST and HTTPS when
 * the signature holds and -At is within FORWARD_SKEW_S of its clock, and
 * answers 403 bad_forward when it does not: a header only a real edge can
 * write, never trusted from anyone else.
 *
 * -Id (32 random hex digits, one per forward) names the forward: libcurl
 * sends a request again on a new connection when a kept one dies before
 * any byte of the answer, so a primary may get a write it applied already;
 * it keeps each forwarded write's answer by id (forward_record) and gives
 * a copy that answer again, applying nothing (forward_replayed). */
#ifndef PULSE_FORWARD_H
#define PULSE_FORWARD_H

#include "request/handler.h"

#define FORWARD_SKEW_S 60

struct forward;

/* The process's forwarder: on an edge with PULSE_PRIMARY_URL it sends; on
 * any instance with a relay key it checks forwarded requests. NULL when
 * neither applies. The caller closes it. */
struct forward *forward_open(const struct config *cfg);
void forward_close(struct forward *f);

/* 1 when this process forwards what it does not serve (an edge with a primary). */
int forward_enabled(const struct forward *f);

/* Queues c's request for the primary, its answer 503 primary_unavailable
 * (marked forwarded) until forward_flush replaces it with the primary's.
 * The request and its answer must outlive the flush. */
void forward_request(struct forward *f, struct ctx *c);
/* Sends every queued request at once, over up to 16 connections kept
 * open, and answers each with what the primary answered: a batch's
 * requests take about one round trip, not one each. NULL allowed. */
void forward_flush(struct forward *f);

/* On the primary, in a write's transaction, before its handler: 1 when an
 * edge forwarded this same request before (its Pulse-Forwarded-Id) and it
 * was applied, c then answered as it was the first time; 0 to go on; -1
 * when the store could not say. */
int forward_replayed(struct ctx *c);
/* After the handler, in the same transaction: keeps c's answer by its
 * forward's id for a few minutes. 0 (also for a request no edge
 * forwarded), or -1 when it could not: the write must then not commit. */
int forward_record(struct ctx *c);

/* Before routing: when c's request carries Pulse-Forwarded-* headers,
 * checks them and makes ctx_req_header answer their values for
 * REMOTE_ADDR, HTTP_HOST and HTTPS. 0 when there are none or they hold;
 * -1 with c answered (403) when they do not. forward_end undoes it. */
int forward_begin(struct forward *f, struct ctx *c);
void forward_end(struct ctx *c);

#endif
