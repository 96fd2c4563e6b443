/* routes.h - every handler module's route table, combined by the runtime.
 * Each handlers/<domain>.c defines its table; add new domains here. */
#ifndef PULSE_ROUTES_H
#define PULSE_ROUTES_H

#include "router.h"

extern const struct route_table events_routes;
extern const struct route_table topup_routes;
extern const struct route_table health_routes;
extern const struct route_table live_rooms_routes;
extern const struct route_table live_shop_routes;
extern const struct route_table live_chat_routes;
extern const struct route_table crm_routes;
extern const struct route_table crm_webhook_routes;
extern const struct route_table chat_routes;

#endif
