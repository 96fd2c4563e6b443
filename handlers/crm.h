/* crm.h - what the CRM handlers share (seed 003): the topic agents stream
 * and emitting a row's object on it. */
#ifndef PULSE_CRM_H
#define PULSE_CRM_H

#include "auth/topic.h"
#include "request/handler.h"
#include "store/db.h"

#define CRM_TOPIC TOPIC_CRM_NAME

/* Emits type on topic crm with the object q builds for id (one text
 * column). 0, or -1 with a 503 answered. */
int crm_emit_row(struct ctx *c, const char *type, enum sql_id q, const char *id);

#endif
