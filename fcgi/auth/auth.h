/* auth.h - HS256 JSON Web Tokens: verify (every request) and sign (the
 * pulse-token tool and tests). JSON is read with SQLite's JSON functions. */
#ifndef PULSE_AUTH_H
#define PULSE_AUTH_H

#include "base/buf.h"

struct db;

enum auth_role { ROLE_VIEWER = 1, ROLE_OWNER, ROLE_AGENT, ROLE_ADMIN };

struct auth_claims {
    char *sub;            /* owned; user id */
    char *name;           /* owned; display name, sub when absent */
    char *picture;        /* owned; the picture claim as sent (checked where
                             it is used: an avatar URL), NULL when absent */
    enum auth_role role;  /* viewer when the token has no role */
    long long exp;
};

/* A token whose nbf ("not before") is later than now plus this many seconds
 * is refused: the issuer's clock may run a little ahead of ours. */
#define AUTH_NBF_LEEWAY_S 60

#define AUTH_MAX_TOKEN 8192

/* The credentials of an Authorization header value in the Bearer scheme
 * ("Bearer <token>", RFC 6750), or NULL when it names another scheme or
 * none. The scheme is matched without regard to case (RFC 7235 2.1:
 * "bearer", "BEARER" work too) and one or more spaces may follow it. The
 * result points into header. Both the request pool (ctx_auth) and the
 * stream responder read the header through this. */
const char *auth_bearer_token(const char *header);

/* Verifies token (the compact JWT) against secret at time now: exp must be
 * after now, nbf (when present) at most AUTH_NBF_LEEWAY_S after it. On success
 * fills out (free with auth_claims_free) and returns 0. On failure returns
 * -1 and points *why at a static reason. A NULL or empty secret rejects
 * every token. */
int auth_jwt_verify(struct db *db, const char *secret, const char *token, long long now,
                    struct auth_claims *out, const char **why);
void auth_claims_free(struct auth_claims *c);

/* Tokens that passed verification, so that a client sending the same
 * token with every request (a publishing backend) pays for base64, HMAC and
 * two JSON parses once. Found only by the whole token under the same
 * secret; exp is checked again on every hit. Owned by the runtime. */
struct auth_cache;
struct auth_cache *auth_cache_open(void);
void auth_cache_close(struct auth_cache *cache);
/* auth_jwt_verify through cache (NULL: no cache). */
int auth_jwt_verify_cached(struct auth_cache *cache, struct db *db, const char *secret, const char *token,
                           long long now, struct auth_claims *out, const char **why);

/* What a request's credentials came to (auth_request). */
enum auth_outcome {
    AUTH_OK,           /* a valid token: the claims are filled */
    AUTH_ANONYMOUS,    /* no token at all */
    AUTH_BAD_SCHEME,   /* an Authorization header in another scheme than Bearer */
    AUTH_INVALID,      /* a token, refused */
};

/* The one reading of a request's credentials, for every responder: the
 * Authorization header's token (auth_bearer_token: scheme in any case),
 * or, when the request sent no Authorization header, query_token (the
 * ?access_token= value; NULL where the query may not carry one), verified
 * through cache (NULL: none) against secret at now. AUTH_OK fills out
 * (free with auth_claims_free); any other outcome points *why at static
 * text for the 401. */
enum auth_outcome auth_request(struct auth_cache *cache, struct db *db, const char *secret,
                               const char *authorization, const char *query_token, long long now,
                               struct auth_claims *out, const char **why);

const char *auth_role_name(enum auth_role role);

/* Signs claims_json (a JSON object) as an HS256 JWT appended to out. */
int auth_jwt_sign(const char *secret, const char *claims_json, buf_t *out);

#endif
