/* routes.c - the route registry (see routes.h). */
#include "handlers/routes.h"

const struct route_table *const routes_all[] = {
    &events_routes,
    &topup_routes,
    &topup_link_routes,
    &health_routes,
    &live_rooms_routes,
    &live_shop_routes,
    &live_chat_routes,
    &crm_routes,
    &crm_webhook_routes,
    &chat_routes,
    &chat_message_routes,
};

const size_t routes_all_count = sizeof routes_all / sizeof routes_all[0];
