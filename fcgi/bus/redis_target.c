/* redis_target.c - where Redis is (see redis_target.h). */
#include "bus/redis_target.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/config.h"
#include "http/http.h"

/* redis://[[user]:password@]host[:port][/db] */
static int parse_url(const char *url, struct redis_target *t)
{
    const char *p, *at, *slash, *colon, *hostend;
    long long v;

    if (strncmp(url, "redis://", 8) != 0)
        return -1;
    p = url + 8;
    slash = strchr(p, '/');
    hostend = slash ? slash : p + strlen(p);
    at = memchr(p, '@', (size_t)(hostend - p));
    if (at != NULL) {
        const char *c = memchr(p, ':', (size_t)(at - p));
        if (c != NULL && at > c + 1)
            t->password = xstrndup(c + 1, (size_t)(at - c - 1));
        p = at + 1;
    }
    colon = memchr(p, ':', (size_t)(hostend - p));
    if ((colon ? colon : hostend) == p)
        return -1;
    t->host = xstrndup(p, (size_t)((colon ? colon : hostend) - p));
    if (colon != NULL) {
        char *port = xstrndup(colon + 1, (size_t)(hostend - colon - 1));
        int bad = http_parse_i64(port, &v) != 0 || v < 1 || v > 65535;
        free(port);
        if (bad)
            return -1;
        t->port = (int)v;
    }
    if (slash != NULL && slash[1] != '\0') {
        if (http_parse_i64(slash + 1, &v) != 0 || v > 1000000)
            return -1;
        t->db = (long)v;
    }
    return 0;
}

int redis_target_load(const struct config *cfg, struct redis_target *t)
{
    memset(t, 0, sizeof *t);
    t->port = (int)cfg->redis_port;
    t->db = cfg->redis_db;
    if (cfg->redis_url != NULL) {
        if (parse_url(cfg->redis_url, t) != 0) {
            redis_target_free(t);
            return -1;
        }
        return 0;
    }
    t->host = xstrdup(cfg->redis_host);
    if (cfg->redis_password != NULL)
        t->password = xstrdup(cfg->redis_password);
    return 0;
}

void redis_target_free(struct redis_target *t)
{
    free(t->host);
    free(t->password);
    memset(t, 0, sizeof *t);
}
