/* relaysig.h - the signature of each entry the primary relays to edges.
 *
 * Anyone who can write Redis can XADD to <prefix>log; an edge must store
 * only what the primary wrote. So the relay adds to each entry a field "h":
 * the lowercase hex HMAC-SHA256, under a key the primary and its edges
 * share, of
 *
 *     ns("pulse-relay-1") ns(<prefix>log) F(id) F(p) F(t) F(y) F(s) F(d) F(f) [ns(v)]
 *
 * where ns(x) is the netstring "<decimal length of x>:x," and F(v) is
 * ns(v) for a field the entry has and "-" for one it lacks (only f is left
 * out by the relay, for a topic none of whose events was pruned). v,
 * "<id>:<after>", the primary's newest void row (store/db_ids.h) and the
 * lowest end of a file put back of all, is signed only when the entry
 * has it, so entries from before it was added check as they did. id is
 * the entry id as Redis shows it ("<event id>-0"). The key is
 * PULSE_RELAY_SECRET as given, or else HMAC-SHA256 with key
 * PULSE_JWT_SECRET of the text "pulse relay key" (every instance of a
 * deployment already shares that secret). README, "More than one host",
 * says the same for other implementations. */
#ifndef PULSE_RELAYSIG_H
#define PULSE_RELAYSIG_H

#include <stddef.h>

struct config;
struct crypto_mac;
struct redisReply;
struct relaysig;

/* The fields of one entry, in the order they are signed. */
enum relaysig_field { RS_ID, RS_PREV, RS_TOPIC, RS_TYPE, RS_TS, RS_DATA, RS_GAP, RS_VOID, RS_NFIELDS };

struct relaysig_fields {
    const char *v[RS_NFIELDS];   /* borrowed; NULL: the entry lacks it */
    size_t len[RS_NFIELDS];
};

#define RELAYSIG_HEX 64

/* The signing key of this deployment for the stream <cfg prefix>log, or
 * NULL when neither PULSE_RELAY_SECRET nor PULSE_JWT_SECRET is set (or
 * OpenSSL fails). The caller closes it. */
struct relaysig *relaysig_open(const struct config *cfg);

/* The deployment's shared key for another use than the relay, told apart
 * by what it signs (its own domain string): PULSE_RELAY_SECRET, or a key
 * derived from PULSE_JWT_SECRET with label. NULL when neither is set (or
 * OpenSSL fails). The caller closes it (crypto_mac_close). */
struct crypto_mac *relaysig_mac_open(const struct config *cfg, const char *label);
void relaysig_close(struct relaysig *s);

/* "h" of these fields into hex (NUL-terminated). 0 or -1. */
int relaysig_sign(struct relaysig *s, const struct relaysig_fields *f, char hex[RELAYSIG_HEX + 1]);

/* The fields of a stream entry [id, [name, value, ...]] as XRANGE and XREAD
 * answer it, borrowing the reply's strings (the first value of each name);
 * *mac gets its "h" (NULL when it has none). 0, or -1 when it is not an
 * entry, or a value holds a NUL byte. */
int relaysig_fields_of(const struct redisReply *entry, struct relaysig_fields *f, const char **mac,
                       size_t *maclen);

/* 1 when mac is the signature of f under this key, else 0. */
int relaysig_valid(struct relaysig *s, const struct relaysig_fields *f, const char *mac, size_t maclen);

/* 1 when entry carries a valid signature of its fields, else 0. */
int relaysig_entry_valid(struct relaysig *s, const struct redisReply *entry);

#endif
