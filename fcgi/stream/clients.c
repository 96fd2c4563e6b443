/* clients.c - the streams each client address holds (PULSE_MAX_PER_CLIENT,
 * see hub.h): a hash of the addresses holding streams, each with its count:
 * nothing to walk per stream opened, and, counted in the one stream
 * responder every web server process talks to, it would hold across
 * lighttpd's workers (server.max-worker), which each see only their own
 * connections. An address is keyed as rate limits key it
 * (http_client_key: an IPv6 address by its /64). A stream without
 * REMOTE_ADDR is not counted: the shipped nginx.conf sends none to the
 * stream responder (a value held for the stream's life), nginx's own
 * limit_conn counting there. */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/config.h"
#include "http/http.h"
#include "stream/hub.h"

struct client {
    char *key;
    unsigned count;
    struct client *hnext;
};

static unsigned client_hash(const char *key)
{
    return hub_hash(key) % HUB_CLIENT_BUCKETS;
}

int clients_hold(struct stream *s, struct conn *c, const char *remote_addr)
{
    buf_t key = {0};
    struct client *cl;
    unsigned h;
    int rc = 0;

    if (s->cfg->max_per_client == 0 || remote_addr == NULL || c->client != NULL)
        return 0;
    http_client_key(remote_addr, &key);
    h = client_hash(buf_str(&key));
    for (cl = s->clients[h]; cl != NULL && strcmp(cl->key, buf_str(&key)) != 0; cl = cl->hnext)
        ;
    if (cl != NULL && cl->count >= (unsigned)s->cfg->max_per_client) {
        rc = -1;
        goto out;
    }
    if (cl == NULL) {
        cl = xcalloc(1, sizeof *cl);
        cl->key = buf_steal(&key);
        cl->hnext = s->clients[h];
        s->clients[h] = cl;
    }
    cl->count++;
    c->client = cl;
out:
    buf_free(&key);
    return rc;
}

void clients_release(struct stream *s, struct conn *c)
{
    struct client *cl = c->client, **pp;

    if (cl == NULL)
        return;
    c->client = NULL;
    if (--cl->count > 0)
        return;
    for (pp = &s->clients[client_hash(cl->key)]; *pp != NULL; pp = &(*pp)->hnext) {
        if (*pp == cl) {
            *pp = cl->hnext;
            break;
        }
    }
    free(cl->key);
    free(cl);
}
