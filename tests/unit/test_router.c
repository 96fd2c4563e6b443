/* test_router.c - route tables: matches with captures, 404 vs 405 with
 * Allow, malformed ids (fcgi/http/router.c). */
#include "http/router.c"

#include "check.h"

static void h(struct ctx *c)
{
    (void)c;
}

static const struct route events[] = {
    {.method = "GET", .pattern = "/api/x/{}/y", .handler = h},
    {.method = "POST", .pattern = "/api/x/{}/y", .handler = h, .flags = ROUTE_WRITE},
    {.method = "GET", .pattern = "/api/health", .handler = h},
    {.method = "DELETE", .pattern = "/api/a/{}/b/{}", .handler = h},
};
static const struct route more[] = {
    {.method = "GET", .pattern = "/api/z", .handler = h},
    {.method = "PUT", .pattern = "/api/health", .handler = h},
};
static const struct route_table tables[] = {
    {events, sizeof events / sizeof events[0]},
    {more, sizeof more / sizeof more[0]},
};

static enum router_result find(const char *method, const char *path, struct route_match *m)
{
    return router_find(tables, 2, method, path, m);
}

static void test_ok(void)
{
    struct route_match m;

    CHECK(find("GET", "/api/x/abc/y", &m) == ROUTER_OK);
    CHECK(m.route == &events[0]);
    CHECK_INT_EQ(m.ncaptures, 1);
    CHECK_STR_EQ(m.captures[0], "abc");
    router_match_free(&m);
    CHECK(m.captures[0] == NULL && m.ncaptures == 0);

    CHECK(find("POST", "/api/x/topup:9_a.b-c/y", &m) == ROUTER_OK);
    CHECK(m.route == &events[1] && (m.route->flags & ROUTE_WRITE));
    CHECK_STR_EQ(m.captures[0], "topup:9_a.b-c");
    router_match_free(&m);

    CHECK(find("DELETE", "/api/a/1/b/two", &m) == ROUTER_OK);
    CHECK_INT_EQ(m.ncaptures, 2);
    CHECK_STR_EQ(m.captures[0], "1");
    CHECK_STR_EQ(m.captures[1], "two");
    router_match_free(&m);

    CHECK(find("GET", "/api/z", &m) == ROUTER_OK && m.route == &more[0]); /* second table */
    CHECK_INT_EQ(m.ncaptures, 0);
    router_match_free(&m);
}

static void test_not_found_and_method(void)
{
    static const char *const missing[] = {
        "/api/x/abc/z", "/api/x//y", "/api/x/abc/y/", "/api/x/abc", "/api/x/a/b/y", "/api/healthz",
        "/api/healt", "/", "", "/api/a/1/b/", "/api/a/1/b/2/c",
    };
    struct route_match m;
    size_t i;

    for (i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        CHECK(find("GET", missing[i], &m) == ROUTER_NOT_FOUND);
        CHECK(m.route == NULL && m.ncaptures == 0);
        router_match_free(&m);
    }

    CHECK(find("DELETE", "/api/x/abc/y", &m) == ROUTER_BAD_METHOD);
    CHECK_STR_EQ(buf_str(&m.allow), "GET, HEAD, POST");
    CHECK(m.route == NULL && m.ncaptures == 0);
    router_match_free(&m);

    CHECK(find("POST", "/api/health", &m) == ROUTER_BAD_METHOD); /* across tables */
    CHECK_STR_EQ(buf_str(&m.allow), "GET, HEAD, PUT");
    router_match_free(&m);

    CHECK(find("get", "/api/z", &m) == ROUTER_BAD_METHOD); /* methods are case-sensitive */
    router_match_free(&m);
}

static void test_bad_id(void)
{
    char path[200], id[HTTP_MAX_ID + 2];
    struct route_match m;

    CHECK(find("GET", "/api/x/a b/y", &m) == ROUTER_BAD_ID);
    CHECK(m.ncaptures == 0 && m.captures[0] == NULL);
    router_match_free(&m);
    CHECK(find("DELETE", "/api/x/a b/y", &m) == ROUTER_BAD_ID); /* whatever the method */
    router_match_free(&m);
    CHECK(find("GET", "/api/x/a%20b/y", &m) == ROUTER_BAD_ID);
    router_match_free(&m);
    CHECK(find("DELETE", "/api/a/ok/b/n\xc3\xa9", &m) == ROUTER_BAD_ID);
    router_match_free(&m);

    memset(id, 'i', sizeof id);
    id[HTTP_MAX_ID] = '\0';
    snprintf(path, sizeof path, "/api/x/%s/y", id);
    CHECK(find("GET", path, &m) == ROUTER_OK); /* 128 */
    router_match_free(&m);
    id[HTTP_MAX_ID] = 'i';
    id[HTTP_MAX_ID + 1] = '\0';
    snprintf(path, sizeof path, "/api/x/%s/y", id);
    CHECK(find("GET", path, &m) == ROUTER_BAD_ID); /* 129 */
    router_match_free(&m);
}

int main(void)
{
    test_ok();
    test_not_found_and_method();
    test_bad_id();
    return check_summary("test_router");
}
