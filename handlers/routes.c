/* routes.c - the route registry (see routes.h). */
#include "handlers/routes.h"

#include "handlers/crm.h"
#include "handlers/topup.h"

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

const struct send_hooks *const send_all[] = {
    &crm_send_hooks,
    &topup_reconcile_hooks,
};

const size_t send_all_count = sizeof send_all / sizeof send_all[0];
