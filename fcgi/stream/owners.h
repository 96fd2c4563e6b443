/* owners.h - the ownership facts kept in Redis for edges, past the log's
 * history.
 *
 * Who may read chat:{id} and topup:{tx} travels in the log (topic.owner
 * events, migration 0010), but <prefix>log keeps PULSE_REDIS_HISTORY
 * entries of all topics together: an edge that starts, or comes back,
 * after a fact left it would refuse that topic's owner. So a primary's
 * stream responder also keeps every fact of its topic_owners table in the
 * Redis hash <prefix>owners: field the topic, value
 *
 *     <owner id> LF <token sha256, or -> LF <h>
 *
 * h the lowercase hex HMAC-SHA256, under a key derived from the relay's
 * secret, of ns("pulse-owner-1") ns(<prefix>owners) ns(topic) ns(owner)
 * F(token sha256) (netstrings, as relaysig.h). At each connect it makes the
 * hash equal to the table, adding what is missing and removing what the
 * table does not hold, then (when that changed anything) sets
 * <prefix>owners:gen to a new random value; after that it adds each fact
 * logged, within a second. The sync runs again when the hash is found
 * gone (looked at every 5 s) and 5 s after Redis refused a write; a
 * database put back at the path has the hash emptied first (it must leave
 * no fact of the file's future behind), then made again from the file. An edge
 * reads the whole hash at connect, whenever the generation changes
 * (looked at every 5 s) and every 10 minutes, and files each fact whose h
 * checks (the first fact about a topic stands, as in the log). Anyone who can write Redis
 * can add fields; without the key they cannot make one that checks. */
#ifndef PULSE_OWNERS_H
#define PULSE_OWNERS_H

struct config;
struct db;
struct owners;

/* Keeps the hash (a primary) or reads it (an edge, PULSE_ROLE=edge) for
 * db; cfg and db are kept by reference. Idle (never NULL) without Redis,
 * without PULSE_REDIS_HISTORY, or without a relay key (logged by the relay
 * and the mirror). Owned by the caller, freed by owners_stop. */
struct owners *owners_start(const struct config *cfg, struct db *db);
/* Reconnects when due, and does what is due. */
void owners_tick(struct owners *o, long long now_ms);
/* Disconnects and frees o. NULL is a no-op. */
void owners_stop(struct owners *o);

#endif
