/* test_config_streams.c - the stream cap (fcgi/base/config.c): PULSE_MAX_CONNECTIONS
 * never exceeds PULSE_WEB_MAX_STREAMS, what the shipped web server configs
 * say they hold with room to spare. */
#include "base/config.c"

#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Loads the configuration with these two variables (NULL: unset). */
static int load(const char *max_connections, const char *web_max_streams, char **err)
{
    if (max_connections)
        setenv("PULSE_MAX_CONNECTIONS", max_connections, 1);
    else
        unsetenv("PULSE_MAX_CONNECTIONS");
    if (web_max_streams)
        setenv("PULSE_WEB_MAX_STREAMS", web_max_streams, 1);
    else
        unsetenv("PULSE_WEB_MAX_STREAMS");
    *err = NULL;
    return config_load(err);
}

static void test_cap(void)
{
    char *err;

    CHECK_INT_EQ(load(NULL, NULL, &err), 0);
    CHECK_INT_EQ(pulse_cfg->max_connections, 19900); /* no web server said anything */
    CHECK_INT_EQ(load(NULL, "5000", &err), 0);
    CHECK_INT_EQ(pulse_cfg->max_connections, 5000); /* lighttpd.conf's */
    CHECK_INT_EQ(load("19900", "18000", &err), 0);
    CHECK_INT_EQ(pulse_cfg->max_connections, 18000); /* an explicit cap above it is lowered */
    CHECK_INT_EQ(load("3", "5000", &err), 0);
    CHECK_INT_EQ(pulse_cfg->max_connections, 3); /* a lower one stands */
    CHECK_INT_EQ(load(NULL, "0", &err), -1);
    CHECK(err != NULL && strstr(err, "PULSE_WEB_MAX_STREAMS") != NULL);
    free(err);
    CHECK_INT_EQ(load(NULL, "lots", &err), -1);
    free(err);
}

int main(void)
{
    /* set, so that no load derives (allocates) the paths */
    setenv("PULSE_DB", "/nonexistent/pulse.db", 1);
    setenv("PULSE_BELL_DIR", "/nonexistent/bells", 1);
    test_cap();
    return check_summary("test_config_streams");
}
