/* routes.h - every domain's route table, and the list of them all that the
 * mains hand to the runtime (runtime_open): the core names no handler. Each
 * handlers/<domain>.c defines its table; a new domain adds its line here
 * and in routes.c. */
#ifndef PULSE_ROUTES_H
#define PULSE_ROUTES_H

#include <stddef.h>

#include "http/router.h"
#include "request/handler.h"

extern const struct route_table events_routes;
extern const struct route_table topup_routes;
extern const struct route_table topup_link_routes;
extern const struct route_table health_routes;
extern const struct route_table live_rooms_routes;
extern const struct route_table live_shop_routes;
extern const struct route_table live_chat_routes;
extern const struct route_table crm_routes;
extern const struct route_table crm_webhook_routes;
extern const struct route_table chat_routes;
extern const struct route_table chat_message_routes;

/* The AI chat's generator hooks (chat_gen.c), which pulse-batch runs. */
extern const struct gen_hooks chat_gen_hooks;

/* The calls pulse-batch's sender makes for the domains (crm_send.c,
 * topup_reconcile.c), in the order it probes them. */
extern const struct send_hooks *const send_all[];
extern const size_t send_all_count;

/* The tables above, in the order the router tries them. */
extern const struct route_table *const routes_all[];
extern const size_t routes_all_count;

#endif
