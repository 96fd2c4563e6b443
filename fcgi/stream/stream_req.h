/* stream_req.h - deciding what a stream request gets, from its FastCGI
 * params: which topics, resumed from which id, or which error. Shared by
 * the stream responder and its fuzz target; no sockets here. */
#ifndef PULSE_STREAM_REQ_H
#define PULSE_STREAM_REQ_H

#include "base/buf.h"
#include "store/store.h"

struct auth_cache;
struct config;
struct db;

struct stream_req {
    int status;                          /* 200, or the error status */
    const char *code, *message;          /* error text (static) */
    const char *allow;                   /* Allow header for 405 */
    char *topics[STORE_MAX_TOPICS];      /* owned */
    int ntopics;
    int has_last_id;
    long long last_id;
    long long expires;                   /* the bearer token's exp (Unix s), or 0 */
    char *origin;                        /* owned: CORS origin to allow, or NULL */
};

/* Fills r from a PARAMS block (cgi_req_read, then the route, the resume
 * point and the bearer token, through tokens: the stream responder's
 * verified-token cache, NULL for none). Always returns 0 with r->status
 * set; free r with stream_req_free. cfg: the JWT secret, CORS origins and
 * body limit; now: Unix seconds for token expiry. */
int stream_req_parse(const struct config *cfg, struct db *db, struct auth_cache *tokens, const buf_t *params,
                     long long now, struct stream_req *r);
/* Appends r's error answer, CGI head and JSON body (the response writer of
 * http/cgi.h: CORS, WWW-Authenticate on 401, Allow on 405, Retry-After on
 * 503), to out. */
void stream_req_answer_error(const struct stream_req *r, struct db *db, buf_t *out);
void stream_req_free(struct stream_req *r);
/* 1 when uri (a REQUEST_URI, under any prefix) names a stream route
 * (/api/events/stream, /api/topup/stream, /api/live/rooms/{id}/stream):
 * which responder a CGI run of the one binary becomes. */
int stream_req_is_stream_uri(const char *uri);

#endif
