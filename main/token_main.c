/* token_main.c - pulse-token: mints an HS256 JWT with PULSE_JWT_SECRET
 * (from the environment or pulse.conf, as the services read it), for curl
 * walk-throughs and tests.
 *   pulse-token SUB [ROLE [NAME [TTL_SECONDS]]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/auth.h"
#include "base/buf.h"
#include "base/config.h"
#include "http/http.h"

int main(int argc, char **argv)
{
    const char *secret = NULL;
    const char *role = argc > 2 ? argv[2] : "viewer", *name = argc > 3 ? argv[3] : argv[1];
    long long ttl = 3600;
    buf_t claims = {0}, out = {0};
    char *err = NULL;
    int rc = 1;

    if (config_load(&err) != 0) {
        fprintf(stderr, "pulse-token: configuration: %s\n", err);
        free(err);
        return 2;
    }
    secret = pulse_cfg->jwt_secret;
    if (argc < 2 || secret == NULL || *secret == '\0') {
        fprintf(stderr, "usage: PULSE_JWT_SECRET=... pulse-token SUB [ROLE [NAME [TTL_SECONDS]]] (or PULSE_JWT_SECRET in pulse.conf)\n");
        return 2;
    }
    if (argc > 4 && http_parse_i64(argv[4], &ttl) != 0) {
        fprintf(stderr, "pulse-token: TTL must be a number of seconds\n");
        return 2;
    }
    if (!http_valid_id(role) || strpbrk(argv[1], "\"\\") != NULL || strpbrk(name, "\"\\") != NULL) {
        fprintf(stderr, "pulse-token: ROLE must be an id; SUB and NAME may not contain quotes\n");
        return 2;
    }
    buf_printf(&claims, "{\"sub\":\"%s\",\"name\":\"%s\",\"role\":\"%s\",\"exp\":%lld}", argv[1], name, role,
               (long long)time(NULL) + ttl);
    if (auth_jwt_sign(secret, claims.p, &out) == 0) {
        printf("%s\n", out.p);
        rc = 0;
    }
    buf_free(&claims);
    buf_free(&out);
    return rc;
}
