/* topic.h - topic names, built and read in one place: the handlers that
 * emit to a topic, the stream request's shortcuts and the access rules
 * (access.h) that decide who may read one all go through this table.
 *
 *   room:{room id}     a live room
 *   topup:{tx_ref}     one top-up transaction
 *   chat:{session}     one AI chat session
 *   crm                the CRM inbox (no id)
 * Any other valid id is a topic of its own kind (admins publish to it). */
#ifndef PULSE_TOPIC_H
#define PULSE_TOPIC_H

#include <stddef.h>

#include "http/http.h"

enum topic_kind { TOPIC_OTHER, TOPIC_ROOM, TOPIC_TOPUP, TOPIC_CHAT, TOPIC_CRM };

/* Room for the longest name topic_name builds, its NUL included. */
#define TOPIC_MAX (8 + HTTP_MAX_ID + 1)
/* The admins' topic of topic.owner events: who owns which chat and
 * top-up topic, facts the log carries to edges (migration 10). */
#define TOPIC_OWNERS_NAME "pulse.owners"
/* The CRM inbox topic's whole name (it takes no id). */
#define TOPIC_CRM_NAME "crm"

/* Writes the name of kind's topic for id (NULL for TOPIC_CRM) into out.
 * Returns 0, or -1 (out "") when kind is TOPIC_OTHER, when kind takes an
 * id and id is not 1..HTTP_MAX_ID bytes or when it takes none and id is
 * given. topic_name_n takes an id of idlen bytes, not NUL-terminated. */
int topic_name(char out[TOPIC_MAX], enum topic_kind kind, const char *id);
int topic_name_n(char out[TOPIC_MAX], enum topic_kind kind, const char *id, size_t idlen);

/* The kind of topic, *id pointed at the id part of its name ("" for a
 * kind without one and for TOPIC_OTHER). A prefix with nothing after it
 * ("room:") is of the prefix's kind with the id "", which names nothing
 * (no room, transaction or session has it). */
enum topic_kind topic_kind(const char *topic, const char **id);

#endif
