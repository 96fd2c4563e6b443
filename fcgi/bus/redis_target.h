/* redis_target.h - where Redis is, read from the configuration: what the
 * publishing bus (bus.c) and every asynchronous connection (rasync.c)
 * connect to. */
#ifndef PULSE_REDIS_TARGET_H
#define PULSE_REDIS_TARGET_H

struct config;

struct redis_target {
    char *host;       /* owned */
    int port;
    char *password;   /* owned, NULL when none */
    long db;
};

/* From REDIS_URL (redis://[[user]:password@]host[:port][/db]) or
 * REDIS_HOST/PORT/PASSWORD/DB. Returns 0, or -1 for a malformed URL. Free
 * with redis_target_free. */
int redis_target_load(const struct config *cfg, struct redis_target *t);
void redis_target_free(struct redis_target *t);

#endif
