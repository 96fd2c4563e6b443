/* libFuzzer target: a stream request's params (routing, topics, tokens,
 * Last-Event-ID, Origin) as the stream responder decides on them, and what
 * the decision must always be: one of the statuses the API names, an error
 * with a snake_case code and a message, Allow on a 405 alone, 1..16 topics
 * on a stream that opens (none else) each a valid id, only GET opening one,
 * a resume point never negative, and an Origin echoed only when it is one
 * of PULSE_CORS_ORIGINS, exactly as sent. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "wire/fcgi_rec.h"
#include "fuzz_db.h"
#include "http/http.h"
#include "stream/stream_req.h"

#define ORIGIN_A "https://shop.example"
#define ORIGIN_B "http://127.0.0.1:8080"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int param_is(const buf_t *params, const char *name, const char *want)
{
    const char *v;
    size_t n;

    return fcgi_param(params, name, &v, &n) == 1 && n == strlen(want) && memcmp(v, want, n) == 0;
}

static int snake_case(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || *s == '_'))
            return 0;
    return 1;
}

/* A topic the generic endpoint takes is a valid id; a shortcut's is its
 * prefix and a valid id (tx_ref and room ids are 1..128 of the id
 * alphabet, so topup:/room: topics can be longer than 128). */
static int topic_ok(const char *t)
{
    if (t == NULL)
        return 0;
    if (http_valid_id(t))
        return 1;
    if (strncmp(t, "topup:", 6) == 0)
        return http_valid_id(t + 6);
    if (strncmp(t, "room:", 5) == 0)
        return http_valid_id(t + 5);
    return 0;
}

static void check(const buf_t *params, const struct stream_req *r)
{
    int i;

    switch (r->status) {
    case 200: case 400: case 401: case 403: case 404: case 405: case 503:
        break;
    default:
        __builtin_trap();
    }
    if (r->status != 200 && (!snake_case(r->code) || r->message == NULL || r->message[0] == '\0'))
        __builtin_trap();
    if ((r->status == 405) != (r->allow != NULL) || (r->allow != NULL && strcmp(r->allow, "GET") != 0))
        __builtin_trap();
    if (r->ntopics < 0 || r->ntopics > STORE_MAX_TOPICS)
        __builtin_trap();
    for (i = 0; i < STORE_MAX_TOPICS; i++)
        if (i < r->ntopics ? !topic_ok(r->topics[i]) : r->topics[i] != NULL)
            __builtin_trap();
    if (r->status == 200 && (r->ntopics < 1 || !param_is(params, "REQUEST_METHOD", "GET")))
        __builtin_trap();
    if (r->has_last_id && r->last_id < 0)
        __builtin_trap();
    if (r->origin != NULL && (!(strcmp(r->origin, ORIGIN_A) == 0 || strcmp(r->origin, ORIGIN_B) == 0) ||
                              !param_is(params, "HTTP_ORIGIN", r->origin)))
        __builtin_trap();
    /* (a request refused as bad_request, no URI or a malformed query, is
     * answered before its Origin is read) */
    if (r->origin == NULL && (param_is(params, "HTTP_ORIGIN", ORIGIN_A) || param_is(params, "HTTP_ORIGIN", ORIGIN_B)) &&
        !(r->code != NULL && strcmp(r->code, "bad_request") == 0))
        __builtin_trap();
}

/* The one binary, run as CGI, sends a request to the stream responder by
 * its REQUEST_URI alone (stream_req_is_stream_uri): every stream that
 * opens must have been sent there. */
static void uri_check(const buf_t *params, const struct stream_req *r)
{
    const char *v;
    size_t n;
    char *uri;

    if (fcgi_param(params, "REQUEST_URI", &v, &n) != 1)
        return;
    uri = strndup(v, n);
    if (uri == NULL)
        return;
    if (stream_req_is_stream_uri(uri) < 0 ||
        (r->status == 200 && strlen(uri) == n && !stream_req_is_stream_uri(uri)))
        __builtin_trap();
    free(uri);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    struct db *db;
    buf_t params = {0};
    struct stream_req r;

    if (!ready) {
        setenv("PULSE_CORS_ORIGINS", ORIGIN_A ", " ORIGIN_B, 1);
        fuzz_db(); /* reads the configuration */
        ready = 1;
    }
    buf_append(&params, data, size);
    db = fuzz_db(); /* loads pulse_cfg first */
    stream_req_parse(pulse_cfg, db, NULL, &params, 1000, &r);
    check(&params, &r);
    uri_check(&params, &r);
    stream_req_free(&r);
    buf_free(&params);
    return 0;
}
