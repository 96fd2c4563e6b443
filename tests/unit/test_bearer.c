/* test_bearer.c - the one reading of a request's credentials
 * (auth_request, fcgi/auth/auth.c): the Bearer scheme in any case, the
 * header before ?access_token=, through the verified-token cache; and the
 * stream request (fcgi/stream/stream_req.c) reading them the same way,
 * through its responder's cache. */
#include "auth/auth.c"
#include "stream/stream_req.c"

#include <stdio.h>

#include "check.h"
#include "unit_fcgi.h"
#include "unit_db.h"

#define NOW 1700000000LL

static const char secret[] = "unit-bearer-secret";
static struct db *db;
static char good[1024], expired[1024];

static void sign(const char *claims, char *out, size_t cap)
{
    buf_t t = {0};

    CHECK(auth_jwt_sign(secret, claims, &t) == 0);
    snprintf(out, cap, "%s", buf_str(&t));
    buf_free(&t);
}

/* auth_request's outcome for an Authorization header and a query token. */
static enum auth_outcome outcome(struct auth_cache *cache, const char *authorization, const char *query,
                                 const char **why)
{
    struct auth_claims c;
    enum auth_outcome got;

    memset(&c, 0, sizeof c);
    *why = NULL;
    got = auth_request(cache, db, secret, authorization, query, NOW, &c, why);
    if (got == AUTH_OK)
        CHECK_STR_EQ(c.sub, "u1");
    auth_claims_free(&c);
    return got;
}

static void test_outcomes(struct auth_cache *cache)
{
    char h[1100];
    const char *why;

    snprintf(h, sizeof h, "Bearer %s", good);
    CHECK_INT_EQ(outcome(cache, h, NULL, &why), AUTH_OK);
    snprintf(h, sizeof h, "bearer %s", good);
    CHECK_INT_EQ(outcome(cache, h, NULL, &why), AUTH_OK);
    snprintf(h, sizeof h, "BEARER   %s", good);
    CHECK_INT_EQ(outcome(cache, h, NULL, &why), AUTH_OK);
    /* no header: the query's token, where the route lets the query carry one */
    CHECK_INT_EQ(outcome(cache, NULL, good, &why), AUTH_OK);
    CHECK_INT_EQ(outcome(cache, NULL, NULL, &why), AUTH_ANONYMOUS);
    CHECK_STR_EQ(why, "a bearer token is required");
    /* a header, even a bad one, wins over the query */
    CHECK_INT_EQ(outcome(cache, "Basic dTpw", good, &why), AUTH_BAD_SCHEME);
    CHECK_STR_EQ(why, "Authorization must be 'Bearer <token>'");
    CHECK_INT_EQ(outcome(cache, "", good, &why), AUTH_BAD_SCHEME);
    CHECK_INT_EQ(outcome(cache, "Bearer", good, &why), AUTH_BAD_SCHEME);
    CHECK_INT_EQ(outcome(cache, "Bearer ", good, &why), AUTH_INVALID);
    CHECK_INT_EQ(outcome(cache, "Bearer x.y.z", good, &why), AUTH_INVALID);
    CHECK(why != NULL);
    snprintf(h, sizeof h, "Bearer %s", expired);
    CHECK_INT_EQ(outcome(cache, h, NULL, &why), AUTH_INVALID);
    CHECK_STR_EQ(why, "token expired");
    CHECK_INT_EQ(outcome(cache, NULL, "x.y.z", &why), AUTH_INVALID);
}

/* A verified token is kept in the cache given. */
static void test_cache_is_used(void)
{
    struct auth_cache *cache = auth_cache_open();
    char h[1100];
    const char *why;

    snprintf(h, sizeof h, "Bearer %s", good);
    CHECK(cache_slot(cache, good)->token == NULL);
    CHECK_INT_EQ(outcome(cache, h, NULL, &why), AUTH_OK);
    CHECK_STR_EQ(cache_slot(cache, good)->token, good);
    CHECK_INT_EQ(outcome(cache, h, NULL, &why), AUTH_OK); /* a hit answers the same */
    auth_cache_close(cache);
}

/* The stream responder reads a stream's token through its cache too (it
 * verified every token in full before), and answers as pulse-api does. */
static void test_stream_uses_the_cache(void)
{
    struct config cfg;
    struct auth_cache *cache = auth_cache_open();
    struct stream_req r;
    buf_t params = {0};
    char h[1100];

    memset(&cfg, 0, sizeof cfg);
    cfg.jwt_secret = secret;
    cfg.max_body = 1000;
    snprintf(h, sizeof h, "bearer %s", good);
    unit_nv(&params, "REQUEST_METHOD", "GET");
    unit_nv(&params, "REQUEST_URI", "/api/events/stream?topic=room:a");
    unit_nv(&params, "QUERY_STRING", "topic=room:a");
    unit_nv(&params, "HTTP_AUTHORIZATION", h);
    CHECK(stream_req_parse(&cfg, db, cache, &params, NOW, &r) == 0);
    CHECK_INT_EQ(r.status, 200);
    CHECK_INT_EQ(r.expires, 4000000000LL);
    CHECK_STR_EQ(cache_slot(cache, good)->token, good);
    stream_req_free(&r);
    buf_reset(&params);

    unit_nv(&params, "REQUEST_METHOD", "GET");
    unit_nv(&params, "REQUEST_URI", "/api/events/stream?topic=room:a");
    /* a scheme other than Bearer: 401 unauthorized, as from pulse-api */
    unit_nv(&params, "HTTP_AUTHORIZATION", "Basic dTpw");
    CHECK(stream_req_parse(&cfg, db, cache, &params, NOW, &r) == 0);
    CHECK_INT_EQ(r.status, 401);
    CHECK_STR_EQ(r.code, "unauthorized");
    stream_req_free(&r);
    buf_free(&params);
    auth_cache_close(cache);
}

int main(void)
{
    struct auth_cache *cache;

    db = unit_db_open();
    if (db == NULL)
        return check_summary("test_bearer");
    sign("{\"sub\":\"u1\",\"exp\":4000000000}", good, sizeof good);
    sign("{\"sub\":\"u1\",\"exp\":1600000000}", expired, sizeof expired);
    test_outcomes(NULL);
    cache = auth_cache_open();
    test_outcomes(cache);
    auth_cache_close(cache);
    test_cache_is_used();
    test_stream_uses_the_cache();
    db_close(db);
    return check_summary("test_bearer");
}
