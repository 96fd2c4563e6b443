/* relay.h - ships the event log to Redis for stream responders on other
 * hosts (edges, see mirror.h).
 *
 * Every stream responder of a primary relays: it reads the log in id order
 * and XADDs each event to one Redis Stream, <prefix>log, under the entry id
 * "<event id>-0" with the id of the event relayed before it ("prev"), capped
 * at PULSE_REDIS_HISTORY entries. Redis refuses an id that is not above the
 * stream's top, so any number of relays produce one ordered copy; "prev"
 * lets a mirror prove it has every event or know exactly where it has not.
 * Retention is per topic, so events of one topic may be pruned before they
 * are relayed while the others are not, and "prev" cannot show it (events
 * of other topics may be relayed in between). So every event of a topic
 * with events pruned here carries "f", the highest of its ids pruned (one
 * short field); the relay cannot know what an edge holds, and the mirror
 * records a gap of that topic alone when f is above what its copy accounts
 * for (the topic's newest event it holds, its floor for the topic). Each
 * entry is signed ("h", see relaysig.h; f included): anyone who can write
 * Redis can add entries, and edges store only signed ones. */
#ifndef PULSE_RELAY_H
#define PULSE_RELAY_H

struct config;
struct db;
struct relay;

/* A relay of db's log (cfg and db are kept by reference: both must outlive
 * it), connecting at once when Redis is configured, PULSE_REDIS_HISTORY > 0
 * and this is a primary with a relay secret; idle otherwise (a missing
 * secret or a REDIS_URL it cannot use is logged). Never NULL; owned by the
 * caller, freed by relay_stop. */
struct relay *relay_start(const struct config *cfg, struct db *db);
/* The log may have grown: relay what is new (cheap when nothing is). */
void relay_kick(struct relay *r);
/* Reconnects when due, and starts over on another database file. */
void relay_tick(struct relay *r, long long now_ms);
/* Disconnects and frees r. NULL is a no-op. */
void relay_stop(struct relay *r);

#endif
