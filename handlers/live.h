/* live.h - helpers the live-commerce handlers share (seed 001): loading a
 * room, the ownership rule, and the room's events. Every change to a room
 * is a state change plus an event on room:{id}. */
#ifndef PULSE_LIVE_H
#define PULSE_LIVE_H

#include "auth/topic.h"
#include "request/handler.h"

/* Loads room id; answers 404 and returns -1 when there is none. *status
 * gets a copy of its status (caller frees). */
int live_room_status(struct ctx *c, const char *id, char **status);

/* Only the room's owner (role owner, JWT sub = shopOwnerId) or an admin
 * may change a room: 401 without a token, 403 for anyone else, 404 for no
 * room. On success *status is a copy of the room's status (caller frees). */
int live_room_owned(struct ctx *c, const char *id, char **status);

/* 0 when a room in status may still change (chat, products, joins), or
 * -1 with 409 room_ended answered: an ENDED room is the broadcast's record. */
int live_room_open(struct ctx *c, const char *status);

/* Emits `status` (the public room) or `product` (the full product list) on
 * room:{id}. 0, or -1 with a 503 answered. */
int live_emit_status(struct ctx *c, const char *id);
int live_emit_products(struct ctx *c, const char *id);


#endif
