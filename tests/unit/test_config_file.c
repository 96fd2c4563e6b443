/* test_config_file.c - pulse.conf as config_load reads it
 * (fcgi/base/config.c): $PULSE_CONF, the environment winning over the
 * file, relative paths against the file's folder, errors naming file:line,
 * and the checks of PULSE_BASE_PATH and of the URL settings. */
#include "base/config.c"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

static char dir[] = "/tmp/pulse-test-config-XXXXXX";
static char conf[sizeof dir + 32];

static void write_conf(const char *text)
{
    FILE *f = fopen(conf, "w");

    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs(text, f);
    fclose(f);
}

/* config_load with conf holding text; *err (caller frees) on failure. */
static int load(const char *text, char **err)
{
    write_conf(text);
    *err = NULL;
    return config_load(err);
}

static void test_file(void)
{
    char *err = NULL;
    char want[sizeof conf + 128];

    unsetenv("PULSE_HEARTBEAT_S");
    unsetenv("PULSE_JWT_SECRET");
    CHECK_INT_EQ(load("# settings\nPULSE_JWT_SECRET=from-file\nPULSE_HEARTBEAT_S=7\nPULSE_DATA=data\n"
                      "PULSE_DB=/abs/p.db\nPULSE_BELL_DIR=b\nPULSE_ROLE=edge\n", &err), 0);
    CHECK_STR_EQ(pulse_cfg->jwt_secret, "from-file");
    CHECK_INT_EQ(pulse_cfg->heartbeat_s, 7);
    CHECK_INT_EQ(pulse_cfg->role, ROLE_EDGE);
    snprintf(want, sizeof want, "%s/data", dir);
    CHECK_STR_EQ(pulse_cfg->data_dir, want); /* relative: the file's folder */
    CHECK_STR_EQ(pulse_cfg->db_path, "/abs/p.db");
    snprintf(want, sizeof want, "%s/b", dir);
    CHECK_STR_EQ(pulse_cfg->bell_dir, want);
    CHECK_STR_EQ(pulse_cfg->conf_file, conf);
    CHECK_INT_EQ(pulse_cfg->retry_ms, 2000); /* what the file leaves out keeps its default */

    /* the environment wins, and an empty variable counts as unset */
    setenv("PULSE_JWT_SECRET", "from-env", 1);
    setenv("PULSE_HEARTBEAT_S", "", 1);
    setenv("PULSE_DATA", "envdata", 1);
    CHECK_INT_EQ(load("PULSE_JWT_SECRET=from-file\nPULSE_HEARTBEAT_S=9\nPULSE_DATA=data\n", &err), 0);
    CHECK_STR_EQ(pulse_cfg->jwt_secret, "from-env");
    CHECK_INT_EQ(pulse_cfg->heartbeat_s, 9);
    CHECK_STR_EQ(pulse_cfg->data_dir, "envdata"); /* the environment's relative path is the cwd's */
    unsetenv("PULSE_JWT_SECRET");
    unsetenv("PULSE_HEARTBEAT_S");
    unsetenv("PULSE_DATA");

    /* a bad value from the file names file:line; from the environment, the variable */
    CHECK_INT_EQ(load("\nPULSE_HEARTBEAT_S=often\n", &err), -1);
    snprintf(want, sizeof want, "%s:2: PULSE_HEARTBEAT_S=often: expected an integer from 1 to 3600", conf);
    CHECK_STR_EQ(err, want);
    free(err);
    setenv("PULSE_HEARTBEAT_S", "0", 1);
    CHECK_INT_EQ(load("PULSE_HEARTBEAT_S=5\n", &err), -1);
    CHECK_STR_EQ(err, "PULSE_HEARTBEAT_S=0: expected an integer from 1 to 3600");
    free(err);
    unsetenv("PULSE_HEARTBEAT_S");
    CHECK_INT_EQ(load("PULSE_ROLE=boss\n", &err), -1);
    CHECK(err != NULL && strstr(err, ":1: PULSE_ROLE=boss: expected one of primary edge") != NULL);
    free(err);

    /* an unknown key or a malformed line stops the start */
    CHECK_INT_EQ(load("PULSE_JWT_SECRET=x\nPULSE_JWT_SECERT=y\n", &err), -1);
    CHECK(err != NULL && strstr(err, ":2: unknown key PULSE_JWT_SECERT") != NULL);
    free(err);
    CHECK_INT_EQ(load("PULSE_CONF=/elsewhere\n", &err), -1); /* not a setting of the file */
    free(err);
    CHECK_INT_EQ(load("just some words\n", &err), -1);
    CHECK(err != NULL && strstr(err, ":1: expected KEY=value") != NULL);
    free(err);

    /* PULSE_CONF names a file that must exist */
    setenv("PULSE_CONF", "/nonexistent/pulse.conf", 1);
    err = NULL;
    CHECK_INT_EQ(config_load(&err), -1);
    CHECK_STR_EQ(err, "/nonexistent/pulse.conf: No such file or directory");
    free(err);
    setenv("PULSE_CONF", conf, 1);
}

/* Without PULSE_CONF and with no pulse.conf beside the program (this test's
 * folder has none): the environment alone, as lighttpd and nginx installs run. */
static void test_no_file(void)
{
    char *err = NULL;

    unsetenv("PULSE_CONF");
    setenv("PULSE_JWT_SECRET", "env-only", 1);
    CHECK_INT_EQ(config_load(&err), 0);
    CHECK_STR_EQ(pulse_cfg->jwt_secret, "env-only");
    CHECK(pulse_cfg->conf_file == NULL);
    unsetenv("PULSE_JWT_SECRET");
    setenv("PULSE_CONF", conf, 1);
}

static void test_base_path(void)
{
    static const struct {
        const char *set, *want; /* want NULL: unset; "!": refused */
    } rows[] = {
        {"/pulse", "/pulse"}, {"/pulse/", "/pulse"}, {"/a/b", "/a/b"}, {"/", NULL}, {"//", "!"},
        {"pulse", "!"}, {"/a//b", "!"}, {"/a b", "!"}, {"/a?x", "!"}, {"/a#x", "!"}, {"/a%20", "!"},
        {"/a/../b", "!"}, {"/a/./b", "!"}, {"/a/..", "!"}, {"/.", "!"}, {"/a/.x", "/a/.x"}, {"/a\"", "!"},
        {"/a<", "!"}, {"/a/", "/a"},
    };
    size_t i;
    char *err;

    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        int rc;

        setenv("PULSE_BASE_PATH", rows[i].set, 1);
        rc = load("", &err);
        if (strcmp(rows[i].want ? rows[i].want : "", "!") == 0) {
            CHECK_INT_EQ(rc, -1);
            CHECK(err != NULL && strncmp(err, "PULSE_BASE_PATH=", 16) == 0);
            free(err);
        } else {
            CHECK_INT_EQ(rc, 0);
            CHECK_STR_EQ(pulse_cfg->base_path, rows[i].want);
        }
    }
    unsetenv("PULSE_BASE_PATH");
    CHECK_INT_EQ(load("PULSE_BASE_PATH=/from/file/\n", &err), 0);
    CHECK_STR_EQ(pulse_cfg->base_path, "/from/file");
}

/* Every URL setting is refused at start unless it is an http(s) URL with
 * a host: "ftp://x" or "notaurl" would otherwise fail only at the first
 * call, and PULSE_PUBLIC_URL would go into PayOS's return URL as it is. */
static void test_urls(void)
{
    static const char *const names[] = {"PAYOS_API_URL", "PULSE_PUBLIC_URL", "PULSE_LLM_URL", "FB_GRAPH_URL",
                                        "ZALO_OA_API_URL", "TIKTOK_API_URL", "PULSE_PRIMARY_URL"};
    static const struct {
        const char *set;
        int ok;
    } rows[] = {
        {"http://127.0.0.1:8080", 1}, {"https://example.com/pulse", 1}, {"HTTPS://Example.com/v1?x=1", 1},
        {"http://[::1]:9/", 1}, {"ftp://x", 0}, {"notaurl", 0}, {"javascript:x", 0}, {"http://", 0},
        {"https:///path", 0}, {"http://:8080", 0}, {"http://@/x", 0}, {"http://user@", 0},
        {"http://user:pw@[::1]:11434/v1", 1}, {"http://u@h", 1}, {"http://a b", 0}, {"http://a\tb", 0}, {"//example.com", 0}, {"zz", 0},
    };
    size_t i, k;
    char *err;
    char want[256];

    for (k = 0; k < sizeof names / sizeof names[0]; k++) {
        for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            setenv(names[k], rows[i].set, 1);
            CHECK_INT_EQ(load("", &err), rows[i].ok ? 0 : -1);
            if (!rows[i].ok) {
                snprintf(want, sizeof want, "%s=%s: expected an http:// or https:// URL", names[k], rows[i].set);
                CHECK_STR_EQ(err, want);
                free(err);
            }
        }
        unsetenv(names[k]);
    }
    /* from the file: file:line, and an empty value is the default */
    CHECK_INT_EQ(load("PULSE_LLM_URL=notaurl\n", &err), -1);
    CHECK(err != NULL && strstr(err, ":1: PULSE_LLM_URL=notaurl: expected an http:// or https:// URL") != NULL);
    free(err);
    CHECK_INT_EQ(load("PAYOS_API_URL=\n", &err), 0);
    CHECK_STR_EQ(pulse_cfg->payos_api_url, "https://api-merchant.payos.vn");
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(conf, sizeof conf, "%s/pulse.conf", dir);
    setenv("PULSE_CONF", conf, 1);
    test_file();
    test_no_file();
    test_base_path();
    test_urls();
    unlink(conf);
    rmdir(dir);
    return check_summary("test_config_file");
}
