/* test_config_payos.c - PayOS's credentials (fcgi/base/config.c) come
 * together or not at all: PAYOS_CLIENT_ID and PAYOS_API_KEY both or
 * neither, and with PAYOS_CHECKSUM_KEY; config_payos_live says which. */
#include "base/config.c"

#include <stdlib.h>
#include <string.h>

#include "check.h"

static void set(const char *name, const char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

/* Loads the configuration with these three variables (NULL: unset). */
static int load(const char *id, const char *key, const char *checksum, char **err)
{
    set("PAYOS_CLIENT_ID", id);
    set("PAYOS_API_KEY", key);
    set("PAYOS_CHECKSUM_KEY", checksum);
    *err = NULL;
    return config_load(err);
}

int main(void)
{
    char *err;

    setenv("PULSE_DB", "/nonexistent/pulse.db", 1);
    setenv("PULSE_BELL_DIR", "/nonexistent/bells", 1);
    CHECK_INT_EQ(load(NULL, NULL, NULL, &err), 0);
    CHECK(!config_payos_live(pulse_cfg));
    CHECK_STR_EQ(pulse_cfg->payos_api_url, "https://api-merchant.payos.vn");
    CHECK_INT_EQ(pulse_cfg->payos_timeout_s, 5);
    CHECK_INT_EQ(load(NULL, NULL, "ck", &err), 0); /* the webhook alone: still no PayOS calls */
    CHECK(!config_payos_live(pulse_cfg));
    CHECK_INT_EQ(load("id", "key", "ck", &err), 0);
    CHECK(config_payos_live(pulse_cfg));
    CHECK_INT_EQ(load("id", NULL, "ck", &err), -1);
    CHECK(err != NULL && strstr(err, "PAYOS_API_KEY") != NULL);
    free(err);
    CHECK_INT_EQ(load(NULL, "key", "ck", &err), -1);
    free(err);
    CHECK_INT_EQ(load("id", "key", NULL, &err), -1);
    CHECK(err != NULL && strstr(err, "PAYOS_CHECKSUM_KEY") != NULL);
    free(err);
    setenv("PAYOS_TIMEOUT_S", "0", 1);
    CHECK_INT_EQ(load(NULL, NULL, NULL, &err), -1);
    free(err);
    return check_summary("test_config_payos");
}
