/* test_clients.c - the streams each client address holds (fcgi/stream/
 * clients.c, PULSE_MAX_PER_CLIENT): counted per address however many web
 * server processes the streams came through, refused at the limit, given
 * back when a stream ends; an IPv6 address counts by its /64; no address
 * (nginx sends none: its limit_conn counts) and a limit of 0 count
 * nothing. LeakSanitizer checks that the last stream of an address frees
 * its entry. */
#include "stream/hub.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/config.h"
#include "check.h"

static struct config cfg;

static struct stream *new_stream(long limit)
{
    struct stream *s = xcalloc(1, sizeof *s);

    cfg.max_per_client = limit;
    s->cfg = &cfg;
    s->clients = xcalloc(HUB_CLIENT_BUCKETS, sizeof *s->clients);
    return s;
}

static void free_stream(struct stream *s)
{
    size_t i, left = 0;

    for (i = 0; i < HUB_CLIENT_BUCKETS; i++)
        left += s->clients[i] != NULL;
    CHECK(left == 0); /* every entry went with its last stream */
    free(s->clients);
    free(s);
}

static void test_an_address_holds_at_most_the_limit(void)
{
    struct stream *s = new_stream(2);
    struct conn a1 = {0}, a2 = {0}, a3 = {0}, b1 = {0};

    CHECK(clients_hold(s, &a1, "192.0.2.1") == 0);
    CHECK(clients_hold(s, &a2, "192.0.2.1") == 0);
    CHECK(clients_hold(s, &a3, "192.0.2.1") == -1);
    CHECK(a3.client == NULL);
    CHECK(clients_hold(s, &b1, "192.0.2.2") == 0); /* another address is not affected */
    clients_release(s, &a1);
    clients_release(s, &a1); /* twice (a close, then the reap): once */
    CHECK(clients_hold(s, &a3, "192.0.2.1") == 0); /* the place given back is taken */
    CHECK(clients_hold(s, &a1, "192.0.2.1") == -1);
    clients_release(s, &a2);
    clients_release(s, &a3);
    clients_release(s, &b1);
    free_stream(s);
}

static void test_ipv6_counts_by_its_64(void)
{
    struct stream *s = new_stream(1);
    struct conn x = {0}, y = {0}, z = {0};

    CHECK(clients_hold(s, &x, "2001:db8:1:2::1") == 0);
    CHECK(clients_hold(s, &y, "2001:db8:1:2::ffff") == -1); /* same /64 */
    CHECK(clients_hold(s, &z, "2001:db8:1:3::1") == 0);
    clients_release(s, &x);
    clients_release(s, &z);
    free_stream(s);
}

static void test_no_address_or_no_limit_counts_nothing(void)
{
    struct stream *s = new_stream(1);
    struct conn c[3];
    int i;

    memset(c, 0, sizeof c);
    for (i = 0; i < 3; i++) {
        CHECK(clients_hold(s, &c[i], NULL) == 0);
        CHECK(c[i].client == NULL);
    }
    free_stream(s);
    s = new_stream(0);
    for (i = 0; i < 3; i++)
        CHECK(clients_hold(s, &c[i], "192.0.2.9") == 0);
    free_stream(s);
}

int main(void)
{
    test_an_address_holds_at_most_the_limit();
    test_ipv6_counts_by_its_64();
    test_no_address_or_no_limit_counts_nothing();
    return check_summary("test_clients");
}
