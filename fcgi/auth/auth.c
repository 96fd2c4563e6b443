/* auth.c - HS256 JWT verification and signing (see auth.h). */
#include "auth/auth.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/alloc.h"
#include "base/crypto.h"
#include "store/db.h"

#define AUTH_MAX_SUB 256
#define AUTH_CACHE_SLOTS 64   /* direct-mapped by a hash of the token */

struct auth_cache {
    char *secret;                         /* the secret the entries passed under */
    struct auth_slot {
        char *token;                      /* NULL when empty */
        struct auth_claims claims;
    } slots[AUTH_CACHE_SLOTS];
};

static const char *const role_names[] = {
    [ROLE_VIEWER] = "viewer", [ROLE_OWNER] = "owner", [ROLE_AGENT] = "agent", [ROLE_ADMIN] = "admin",
};

const char *auth_role_name(enum auth_role role)
{
    return role >= ROLE_VIEWER && role <= ROLE_ADMIN ? role_names[role] : "none";
}

const char *auth_bearer_token(const char *header)
{
    static const char scheme[] = "bearer";
    size_t n = sizeof scheme - 1;

    if (header == NULL || strncasecmp(header, scheme, n) != 0 || header[n] != ' ')
        return NULL;
    header += n;
    while (*header == ' ')
        header++;
    return header;
}

enum auth_outcome auth_request(struct auth_cache *cache, struct db *db, const char *secret,
                               const char *authorization, const char *query_token, long long now,
                               struct auth_claims *out, const char **why)
{
    const char *token = query_token;

    if (authorization != NULL && (token = auth_bearer_token(authorization)) == NULL) {
        *why = "Authorization must be 'Bearer <token>'";
        return AUTH_BAD_SCHEME;
    }
    if (token == NULL) {
        *why = "a bearer token is required";
        return AUTH_ANONYMOUS;
    }
    return auth_jwt_verify_cached(cache, db, secret, token, now, out, why) == 0 ? AUTH_OK : AUTH_INVALID;
}

static int role_parse(const char *s, enum auth_role *out)
{
    int r;

    for (r = ROLE_VIEWER; r <= ROLE_ADMIN; r++)
        if (strcmp(s, role_names[r]) == 0) {
            *out = (enum auth_role)r;
            return 0;
        }
    return -1;
}

void auth_claims_free(struct auth_claims *c)
{
    free(c->sub);
    free(c->name);
    free(c->picture);
    memset(c, 0, sizeof *c);
}

/* A claim string is usable when it is non-empty, bounded and free of
 * control characters (it ends up in logs, JSON and SQL parameters). */
static int claim_text_ok(const unsigned char *s, int n)
{
    int i;

    if (s == NULL || n <= 0 || n > AUTH_MAX_SUB)
        return 0;
    for (i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    return 1;
}

static int check_header(struct db *db, const buf_t *hdr, const char **why)
{
    sqlite3_stmt *st = db_stmt(db, SQL_JWT_HEADER);
    const unsigned char *alg;
    int rc = -1;

    *why = "malformed token header";
    if (!db_json_object(db, hdr->p, hdr->len) || db_json_escapes_nul(hdr->p, hdr->len) || st == NULL ||
        db_bind_text(st, 1, hdr->p, (int)hdr->len) != 0)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1)
        goto out;
    alg = sqlite3_column_text(st, 1);
    if (alg == NULL || strcmp((const char *)alg, "HS256") != 0) {
        *why = "token algorithm must be HS256";
        goto out;
    }
    rc = 0;
out:
    db_done(st);
    return rc;
}

/* A NumericDate claim (column i is its JSON type, i + 1 its value) in
 * whole seconds. 1 when it is a number, 0 when absent, -1 else (null too,
 * as for role). */
static int numeric_date(sqlite3_stmt *st, int i, long long *out)
{
    const char *t = (const char *)sqlite3_column_text(st, i);
    double d;

    if (t == NULL)
        return 0;
    if (strcmp(t, "integer") == 0) {
        *out = sqlite3_column_int64(st, i + 1);
        return 1;
    }
    if (strcmp(t, "real") != 0)
        return -1;
    /* A real beyond int64 would make the cast undefined: clamp it. */
    d = sqlite3_column_double(st, i + 1);
    *out = d != d ? 0 : d >= 9.2e18 ? LLONG_MAX : d <= -9.2e18 ? LLONG_MIN : (long long)d;
    return 1;
}

static int read_claims(struct db *db, const buf_t *payload, long long now, struct auth_claims *out,
                       const char **why)
{
    sqlite3_stmt *st = db_stmt(db, SQL_JWT_CLAIMS);
    const char *t;
    long long nbf;
    int rc = -1, has;

    *why = "malformed token claims";
    /* A \u0000 ends the string SQLite 3.40 decodes: "alice\u0000x" would
     * be read as the sub "alice" (db_json_escapes_nul). */
    if (!db_json_object(db, payload->p, payload->len) || db_json_escapes_nul(payload->p, payload->len) ||
        st == NULL ||
        db_bind_text(st, 1, payload->p, (int)payload->len) != 0)
        goto out;
    if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1)
        goto out;
    if (numeric_date(st, 7, &out->exp) != 1) {
        *why = "token has no exp claim";
        goto out;
    }
    if (out->exp <= now) {
        *why = "token expired";
        goto out;
    }
    if ((has = numeric_date(st, 9, &nbf)) < 0) {
        *why = "token nbf claim is not a number";
        goto out;
    }
    if (has && nbf > now && nbf - now > AUTH_NBF_LEEWAY_S) {
        *why = "token not yet valid (nbf)";
        goto out;
    }
    t = (const char *)sqlite3_column_text(st, 1);
    if (t == NULL || strcmp(t, "text") != 0 ||
        !claim_text_ok(sqlite3_column_text(st, 2), sqlite3_column_bytes(st, 2))) {
        *why = "token has no usable sub claim";
        goto out;
    }
    out->sub = xstrdup((const char *)sqlite3_column_text(st, 2));
    t = (const char *)sqlite3_column_text(st, 3);
    if (t != NULL && strcmp(t, "text") == 0 &&
        claim_text_ok(sqlite3_column_text(st, 4), sqlite3_column_bytes(st, 4)))
        out->name = xstrdup((const char *)sqlite3_column_text(st, 4));
    else
        out->name = xstrdup(out->sub);
    out->role = ROLE_VIEWER;
    t = (const char *)sqlite3_column_text(st, 5);
    if (t != NULL && (strcmp(t, "text") != 0 ||
                      role_parse((const char *)sqlite3_column_text(st, 6), &out->role) != 0)) {
        *why = "token role is not one of viewer, owner, agent, admin";
        goto out;
    }
    t = (const char *)sqlite3_column_text(st, 11);
    if (t != NULL) {
        const char *v = (const char *)sqlite3_column_text(st, 12);

        if (strcmp(t, "text") != 0 || v == NULL) {
            *why = "token picture claim is not a string";
            goto out;
        }
        out->picture = xstrdup(v);
    }
    rc = 0;
out:
    db_done(st);
    if (rc != 0)
        auth_claims_free(out);
    return rc;
}

int auth_jwt_verify(struct db *db, const char *secret, const char *token, long long now,
                    struct auth_claims *out, const char **why)
{
    const char *dot1, *dot2;
    size_t len;
    buf_t hdr = {0}, payload = {0}, sig = {0};
    unsigned char mac[32];
    int rc = -1;

    memset(out, 0, sizeof *out);
    *why = "malformed token";
    if (secret == NULL || *secret == '\0') {
        *why = "token auth is not configured (PULSE_JWT_SECRET)";
        goto out;
    }
    len = token ? strnlen(token, AUTH_MAX_TOKEN + 1) : 0;
    if (len == 0 || len > AUTH_MAX_TOKEN)
        goto out;
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        goto out;
    if (crypto_base64url_decode(token, (size_t)(dot1 - token), &hdr) != 0 ||
        crypto_base64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload) != 0 ||
        crypto_base64url_decode(dot2 + 1, len - (size_t)(dot2 + 1 - token), &sig) != 0)
        goto out;
    if (hdr.len == 0 || payload.len == 0 || memchr(hdr.p, 0, hdr.len) || memchr(payload.p, 0, payload.len))
        goto out;
    /* The algorithm is checked before the signature so that "alg":"none"
     * tokens are refused with a clear reason. */
    if (check_header(db, &hdr, why) != 0)
        goto out;
    if (crypto_hmac_sha256(secret, strlen(secret), token, (size_t)(dot2 - token), mac) != 0 ||
        !crypto_equal(mac, sizeof mac, sig.p, sig.len)) {
        *why = "bad token signature";
        goto out;
    }
    rc = read_claims(db, &payload, now, out, why);
out:
    buf_free(&hdr);
    buf_free(&payload);
    buf_free(&sig);
    return rc;
}

int auth_jwt_sign(const char *secret, const char *claims_json, buf_t *out)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    size_t start = out->len;

    if (crypto_base64url_encode(header, sizeof header - 1, out) != 0)
        return -1;
    buf_putc(out, '.');
    if (crypto_base64url_encode(claims_json, strlen(claims_json), out) != 0)
        return -1;
    buf_putc(out, '.');
    {
        unsigned char mac[32];
        if (crypto_hmac_sha256(secret, strlen(secret), out->p + start, out->len - 1 - start, mac) != 0)
            return -1;
        return crypto_base64url_encode(mac, sizeof mac, out);
    }
}

struct auth_cache *auth_cache_open(void)
{
    return xcalloc(1, sizeof(struct auth_cache));
}

static void slot_clear(struct auth_slot *s)
{
    free(s->token);
    auth_claims_free(&s->claims);
    s->token = NULL;
}

void auth_cache_close(struct auth_cache *cache)
{
    size_t i;

    if (cache == NULL)
        return;
    for (i = 0; i < AUTH_CACHE_SLOTS; i++)
        slot_clear(&cache->slots[i]);
    free(cache->secret);
    free(cache);
}

static void claims_copy(struct auth_claims *dst, const struct auth_claims *src)
{
    dst->sub = xstrdup(src->sub);
    dst->name = xstrdup(src->name);
    dst->picture = src->picture != NULL ? xstrdup(src->picture) : NULL;
    dst->role = src->role;
    dst->exp = src->exp;
}

static struct auth_slot *cache_slot(struct auth_cache *cache, const char *token)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    const unsigned char *p;

    for (p = (const unsigned char *)token; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return &cache->slots[h % AUTH_CACHE_SLOTS];
}

int auth_jwt_verify_cached(struct auth_cache *cache, struct db *db, const char *secret, const char *token,
                           long long now, struct auth_claims *out, const char **why)
{
    struct auth_slot *s;
    size_t i;

    if (cache == NULL || secret == NULL || token == NULL || strnlen(token, AUTH_MAX_TOKEN + 1) > AUTH_MAX_TOKEN)
        return auth_jwt_verify(db, secret, token, now, out, why);
    if (cache->secret == NULL || strcmp(cache->secret, secret) != 0) {
        for (i = 0; i < AUTH_CACHE_SLOTS; i++)
            slot_clear(&cache->slots[i]);
        free(cache->secret);
        cache->secret = xstrdup(secret);
    }
    s = cache_slot(cache, token);
    if (s->token != NULL && strcmp(s->token, token) == 0) {
        if (s->claims.exp <= now) {
            memset(out, 0, sizeof *out);
            *why = "token expired";
            return -1;
        }
        claims_copy(out, &s->claims);
        return 0;
    }
    if (auth_jwt_verify(db, secret, token, now, out, why) != 0)
        return -1;
    slot_clear(s);
    s->token = xstrdup(token);
    claims_copy(&s->claims, out);
    return 0;
}
