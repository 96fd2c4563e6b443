/* chat.h - what the AI chat's files share (seed 004): chat.c the
 * sessions, chat_messages.c the messages, chat_gen.c the generator's
 * hooks. */
#ifndef PULSE_HANDLERS_CHAT_H
#define PULSE_HANDLERS_CHAT_H

#include "request/handler.h"

/* 0 when the caller may use session sid (its owner, or an admin); else
 * answers 404 (no such session) or 403 and returns -1. ctx_auth first. */
int chat_session_allowed(struct ctx *c, const char *sid);

/* Ends answer mid while it streams, as status ("complete", "cancelled",
 * "error") with code and text for the event (finish_reason and usage for
 * "complete"), and emits the event that says so. owner: the lease it must
 * still hold (NULL for anyone: a user's cancel); by: who ended it, for
 * the audit. 1 ended, 0 it was not streaming (or not owner's), -1 with
 * an error answered. */
struct chat_end {
    const char *status, *code, *message, *finish_reason, *usage_json, *owner, *by;
};
int chat_message_end(struct ctx *c, const char *mid, const struct chat_end *e);

#endif
