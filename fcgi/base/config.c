/* config.c - table-driven configuration from environment variables and
 * pulse.conf. */
#include "base/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/conffile.h"

/* CFG_PATH: a string that names a file or folder; given relative in
 * pulse.conf, it is taken relative to the file's folder. CFG_URL: an
 * http(s) URL, refused at start otherwise (not at the first call that
 * needs it, hours later). */
enum cfg_type { CFG_STR, CFG_PATH, CFG_URL, CFG_LONG, CFG_CHOICE };

struct cfg_row {
    const char *env;
    enum cfg_type type;
    size_t offset;
    const char *def;   /* default as text; NULL = unset */
    long min, max;     /* bounds for CFG_LONG */
    const char *const *choices; /* CFG_CHOICE: the value stored is the index */
};

#define STR(env, field, def) { env, CFG_STR, offsetof(struct config, field), def, 0, 0, NULL }
#define PATH(env, field, def) { env, CFG_PATH, offsetof(struct config, field), def, 0, 0, NULL }
#define URL(env, field, def) { env, CFG_URL, offsetof(struct config, field), def, 0, 0, NULL }
#define NUM(env, field, def, lo, hi) { env, CFG_LONG, offsetof(struct config, field), def, lo, hi, NULL }
#define CHOICE(env, field, def, list) { env, CFG_CHOICE, offsetof(struct config, field), def, 0, 0, list }

/* Index order matches enum pulse_role. */
static const char *const roles[] = {"primary", "edge", NULL};

static const struct cfg_row cfg_table[] = {
    PATH("PULSE_DATA", data_dir, "data"),
    PATH("PULSE_DB", db_path, NULL),
    PATH("PULSE_BELL_DIR", bell_dir, NULL),
    STR("REDIS_URL", redis_url, NULL),
    STR("REDIS_HOST", redis_host, NULL),
    NUM("REDIS_PORT", redis_port, "6379", 1, 65535),
    STR("REDIS_PASSWORD", redis_password, NULL),
    NUM("REDIS_DB", redis_db, "0", 0, 1000000),
    STR("PULSE_REDIS_PREFIX", redis_prefix, "pulse:"),
    STR("PULSE_JWT_SECRET", jwt_secret, NULL),
    STR("PULSE_RELAY_SECRET", relay_secret, NULL),
    STR("PAYOS_CHECKSUM_KEY", payos_checksum_key, NULL),
    URL("PAYOS_API_URL", payos_api_url, "https://api-merchant.payos.vn"),
    STR("PAYOS_CLIENT_ID", payos_client_id, NULL),
    STR("PAYOS_API_KEY", payos_api_key, NULL),
    NUM("PAYOS_TIMEOUT_S", payos_timeout_s, "5", 1, 60),
    URL("PULSE_PUBLIC_URL", public_url, NULL),
    STR("PULSE_BASE_PATH", base_path, NULL),
    STR("PULSE_WEBHOOK_SECRET", webhook_secret, NULL),
    STR("FB_VERIFY_TOKEN", fb_verify_token, NULL),
    STR("FB_APP_SECRET", fb_app_secret, NULL),
    STR("ZALO_OA_SECRET", zalo_oa_secret, NULL),
    STR("TIKTOK_APP_SECRET", tiktok_app_secret, NULL),
    STR("PULSE_CORS_ORIGINS", cors_origins, NULL),
    NUM("PULSE_HEARTBEAT_S", heartbeat_s, "15", 1, 3600),
    NUM("PULSE_RETRY_MS", retry_ms, "2000", 100, 600000),
    NUM("PULSE_MAX_CONNECTIONS", max_connections, "19900", 1, 1000000),
    NUM("PULSE_WEB_MAX_STREAMS", web_max_streams, "1000000", 1, 1000000),
    NUM("PULSE_MAX_PER_TOPIC", max_per_topic, "20000", 1, 1000000),
    NUM("PULSE_MAX_PER_CLIENT", max_per_client, "100", 0, 65535),
    NUM("PULSE_RETENTION", retention, "100000", 1, 1000000000),
    NUM("PULSE_RETENTION_S", retention_s, "604800", 1, 315360000),
    NUM("PULSE_MAX_BODY", max_body, "65536", 256, 16777216),
    NUM("PULSE_MAX_PUBLISH_BODY", max_publish_body, "1048576", 256, 16777216),
    NUM("PULSE_TAIL_POLL_MS", tail_poll_ms, "1000", 10, 60000),
    NUM("PULSE_STREAM_QUEUE", stream_queue, "1024", 128, 1000000),
    NUM("PULSE_STREAM_MAX_S", stream_max_s, "0", 0, 86400),
    NUM("PULSE_CGI_STREAMS", cgi_streams, "16", 1, 10000),
    NUM("PULSE_SPAWN_WORKER", spawn_worker, "0", 0, 1),
    NUM("PULSE_PRESENCE_TTL_S", presence_ttl_s, "60", 5, 86400),
    NUM("PULSE_CHAT_RATE", chat_rate, "5", 1, 1000),
    NUM("PULSE_JOIN_RATE", join_rate, "2", 1, 1000),
    NUM("PULSE_JOIN_ADDR_RATE", join_addr_rate, "20", 1, 100000),
    NUM("PULSE_GUESTS_PER_ADDR", guests_per_addr, "50", 1, 100000),
    NUM("PULSE_EXIT_WITH_PARENT", exit_with_parent, "0", 0, 1),
    NUM("PULSE_PREFORK", workers, "0", 0, 256),
    CHOICE("PULSE_ROLE", role, "primary", roles),
    NUM("PULSE_REDIS_HISTORY", redis_history, "10000", 0, 100000000),
    NUM("PULSE_MAX_PRODUCTS", max_products, "100", 1, 10000),
    NUM("PULSE_MAX_EVENT_BYTES", max_event_bytes, "524288", 1024, 16777216),
    URL("PULSE_LLM_URL", llm_url, NULL),
    STR("PULSE_LLM_MODEL", llm_model, "gpt-4o-mini"),
    STR("PULSE_LLM_API_KEY", llm_api_key, NULL),
    NUM("PULSE_LLM_TIMEOUT_S", llm_timeout_s, "30", 1, 3600),
    NUM("PULSE_LLM_HISTORY", llm_history, "20", 1, 1000),
    NUM("PULSE_LLM_MAX_BYTES", llm_max_bytes, "262144", 1024, 16777216),
    NUM("PULSE_LLM_DEMO_MS", llm_demo_ms, "50", 1, 10000),
    NUM("PULSE_LLM_CONCURRENCY", llm_concurrency, "2000", 1, 100000),
    NUM("PULSE_CHAT_MESSAGE_RATE", chat_message_rate, "10", 1, 10000),
    URL("FB_GRAPH_URL", fb_graph_url, "https://graph.facebook.com/v19.0"),
    STR("FB_PAGE_TOKEN", fb_page_token, NULL),
    URL("ZALO_OA_API_URL", zalo_api_url, "https://openapi.zalo.me"),
    STR("ZALO_OA_ACCESS_TOKEN", zalo_token, NULL),
    URL("TIKTOK_API_URL", tiktok_api_url, "https://business-api.tiktok.com/open_api/v1.3"),
    STR("TIKTOK_ACCESS_TOKEN", tiktok_token, NULL),
    NUM("PAYOS_RECONCILE_S", payos_reconcile_s, "900", 1, 2592000),
    NUM("PULSE_SEND_TIMEOUT_S", send_timeout_s, "10", 1, 600),
    NUM("PULSE_SEND_RETRY_MS", send_retry_ms, "2000", 10, 3600000),
    NUM("PULSE_SEND_ATTEMPTS", send_attempts, "6", 1, 100),
    URL("PULSE_PRIMARY_URL", primary_url, NULL),
    NUM("PULSE_FORWARD_TIMEOUT_S", forward_timeout_s, "30", 1, 600),
};

static struct config cfg_storage;
const struct config *pulse_cfg;

/* What the configuration points into, kept until the next config_load:
 * the file's settings, its name, and PULSE_BASE_PATH as stored. */
static struct conffile cfg_file;
static char *cfg_file_name;
static char *cfg_base_path;
static char *cfg_db_path, *cfg_bell_dir; /* derived defaults */

/* The largest pulse.conf read: a few dozen lines are expected. */
#define CFG_FILE_MAX (1 << 20)

#define N_ROWS (sizeof cfg_table / sizeof cfg_table[0])

/* 1 for "http://" or "https://" (any case), a host (after any user@, not
 * empty: "http://:8080" and "http://user@" name none), and no blank or
 * control byte: what libcurl is then asked to reach. */
static int cfg_url_ok(const char *u)
{
    size_t skip = strncasecmp(u, "http://", 7) == 0 ? 7 : strncasecmp(u, "https://", 8) == 0 ? 8 : 0;
    size_t end, host = skip, i;
    const char *p;

    if (skip == 0)
        return 0;
    end = skip + strcspn(u + skip, "/?#");
    for (i = skip; i < end; i++) {
        if (u[i] == '@')
            host = i + 1;
    }
    if (host >= end || u[host] == ':')
        return 0;
    for (p = u; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return 0;
    }
    return 1;
}

static int cfg_set(const struct cfg_row *row, const char *text, buf_t *errb)
{
    char *end;
    long v;

    if (row->type == CFG_URL && !cfg_url_ok(text)) {
        buf_printf(errb, "%s=%s: expected an http:// or https:// URL", row->env, text);
        return -1;
    }
    if (row->type == CFG_STR || row->type == CFG_PATH || row->type == CFG_URL) {
        *(const char **)((char *)&cfg_storage + row->offset) = text;
        return 0;
    }
    if (row->type == CFG_CHOICE) {
        for (v = 0; row->choices[v] != NULL; v++) {
            if (strcmp(row->choices[v], text) == 0) {
                *(long *)((char *)&cfg_storage + row->offset) = v;
                return 0;
            }
        }
        buf_printf(errb, "%s=%s: expected one of", row->env, text);
        for (v = 0; row->choices[v] != NULL; v++)
            buf_printf(errb, " %s", row->choices[v]);
        return -1;
    }
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < row->min || v > row->max) {
        buf_printf(errb, "%s=%s: expected an integer from %ld to %ld", row->env, text, row->min,
                   row->max);
        return -1;
    }
    *(long *)((char *)&cfg_storage + row->offset) = v;
    return 0;
}

/* Derived defaults: the database lives in the data dir, the doorbell
 * sockets beside the database so that every instance sharing one database
 * rings the same bells. The strings are kept until the next config_load.
 * The stream cap never exceeds what the web server in front can hold with
 * room to spare (PULSE_WEB_MAX_STREAMS, set by the shipped configs): past
 * that the web server would stop accepting, and every request would hang
 * instead of the surplus streams getting a 503. */
static void cfg_derive(void)
{
    buf_t b = {0};

    if (cfg_storage.max_connections > cfg_storage.web_max_streams)
        cfg_storage.max_connections = cfg_storage.web_max_streams;

    if (cfg_storage.db_path == NULL) {
        buf_printf(&b, "%s/pulse.db", cfg_storage.data_dir);
        cfg_storage.db_path = cfg_db_path = buf_steal(&b);
    }
    if (cfg_storage.bell_dir == NULL) {
        buf_printf(&b, "%s-bell", cfg_storage.db_path);
        cfg_storage.bell_dir = cfg_bell_dir = buf_steal(&b);
    }
}

/* PayOS's credentials come together or not at all: with one missing, a
 * top-up would fail at PayOS (no API key) or could not be checked (no
 * checksum key), and the dev checkout would not know which mode it is in. */
static int cfg_check_payos(buf_t *errb)
{
    const struct config *c = &cfg_storage;

    if ((c->payos_client_id == NULL) != (c->payos_api_key == NULL)) {
        buf_puts(errb, "PAYOS_CLIENT_ID and PAYOS_API_KEY: set both or neither");
        return -1;
    }
    if (c->payos_client_id != NULL && c->payos_checksum_key == NULL) {
        buf_puts(errb, "PAYOS_CLIENT_ID and PAYOS_API_KEY need PAYOS_CHECKSUM_KEY too");
        return -1;
    }
    return 0;
}

/* PULSE_BASE_PATH, the path prefix Pulse is installed under: a path
 * (it starts with '/') stored without its trailing slashes, "/" alone
 * meaning none. It is compared byte for byte with the REQUEST_URI the web
 * server passes, so it holds nothing a URL would escape. */
static int cfg_check_base_path(buf_t *errb)
{
    const char *b = cfg_storage.base_path;
    buf_t segs = {0};
    size_t n, i;
    int bad;

    if (b == NULL)
        return 0;
    n = strlen(b);
    for (i = 0; i < n; i++) {
        if ((unsigned char)b[i] <= ' ' || b[i] == 0x7f || strchr("?#%\\\"'<>", b[i]) != NULL)
            break;
    }
    while (n > 1 && b[n - 1] == '/')
        n--;
    buf_append(&segs, b, n);
    buf_putc(&segs, '/'); /* every segment, the last too, ends with '/' */
    bad = b[0] != '/' || i < n || strstr(b, "//") != NULL || strstr(segs.p, "/./") != NULL ||
          strstr(segs.p, "/../") != NULL;
    buf_free(&segs);
    if (bad) {
        buf_printf(errb, "PULSE_BASE_PATH=%s: expected a URL path such as /pulse (no //, . or .. segments, "
                   "blanks, quotes or ?#%%\\<>)", b);
        return -1;
    }
    if (n == 1)
        n = 0; /* "/" is the site's root: no prefix */
    cfg_base_path = n > 0 ? xstrndup(b, n) : NULL;
    cfg_storage.base_path = cfg_base_path;
    return 0;
}

/* 1 for a key pulse.conf may set: a variable of the table. */
static int cfg_known(const char *key)
{
    size_t i;

    for (i = 0; i < N_ROWS; i++) {
        if (strcmp(cfg_table[i].env, key) == 0)
            return 1;
    }
    return 0;
}

/* The folder of the running program (readlink /proc/self/exe), caller
 * frees; NULL when it cannot be read. */
static char *cfg_exe_dir(void)
{
    size_t cap = 256;

    for (;;) {
        char *p = xmalloc(cap), *slash;
        ssize_t n = readlink("/proc/self/exe", p, cap);

        if (n < 0) {
            free(p);
            return NULL;
        }
        if ((size_t)n < cap) {
            p[n] = '\0';
            slash = strrchr(p, '/');
            if (slash == NULL) {
                free(p);
                return NULL;
            }
            slash[slash == p] = '\0'; /* "/pulse" lives in "/" */
            return p;
        }
        free(p);
        cap *= 2;
    }
}

/* Reads the whole file into text. 0, 1 when it does not exist and
 * need not, or -1 with errb. */
static int cfg_read_file(const char *path, int required, buf_t *text, buf_t *errb)
{
    FILE *f = fopen(path, "rb");
    char chunk[4096];
    size_t n;
    int rc = -1;

    if (f == NULL) {
        if (errno == ENOENT && !required)
            return 1;
        buf_printf(errb, "%s: %s", path, strerror(errno));
        return -1;
    }
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        buf_append(text, chunk, n);
        if (text->len > CFG_FILE_MAX) {
            buf_printf(errb, "%s: larger than %d bytes", path, CFG_FILE_MAX);
            goto out;
        }
    }
    if (ferror(f)) {
        buf_printf(errb, "%s: %s", path, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    fclose(f);
    return rc;
}

/* Loads pulse.conf into cfg_file: $PULSE_CONF (which must then exist),
 * else pulse.conf beside the executable when there is one. No file is
 * fine: the environment alone configures lighttpd and nginx installs.
 * 0, or -1 with errb. */
static int cfg_load_file(buf_t *errb)
{
    const char *env = getenv("PULSE_CONF");
    buf_t text = {0};
    char *dir = NULL;
    int rc = -1, got;

    if (env != NULL && *env != '\0') {
        cfg_file_name = xstrdup(env);
    } else {
        if ((dir = cfg_exe_dir()) == NULL)
            return 0; /* no /proc: nothing beside the program can be found */
        buf_printf(&text, "%s%spulse.conf", dir, strcmp(dir, "/") == 0 ? "" : "/");
        cfg_file_name = buf_steal(&text);
    }
    got = cfg_read_file(cfg_file_name, env != NULL && *env != '\0', &text, errb);
    if (got == 1) {
        free(cfg_file_name);
        cfg_file_name = NULL;
        rc = 0;
    } else if (got == 0) {
        rc = conffile_parse(text.p != NULL ? text.p : "", text.len, cfg_file_name, cfg_known, &cfg_file, errb);
    }
    buf_free(&text);
    free(dir);
    return rc;
}

/* A relative path from the file is relative to the file's folder, so an
 * install works from whatever folder the web server starts it in. */
static void cfg_resolve_path(struct conffile_entry *e)
{
    const char *slash = strrchr(cfg_file_name, '/');
    buf_t b = {0};

    if (e->value[0] == '/' || e->value[0] == '\0' || slash == NULL)
        return;
    buf_append(&b, cfg_file_name, (size_t)(slash - cfg_file_name) + 1);
    buf_puts(&b, e->value);
    free(e->value);
    e->value = buf_steal(&b);
}

/* The file's setting of key, or NULL. */
static struct conffile_entry *cfg_file_entry(const char *key)
{
    size_t i;

    for (i = 0; i < cfg_file.n; i++) {
        if (strcmp(cfg_file.v[i].key, key) == 0)
            return &cfg_file.v[i];
    }
    return NULL;
}

/* Each variable from the environment, else the file, else its default
 * (an empty value counts as unset). 0, or -1 with errb naming the variable,
 * and file:line when the value came from the file. */
static int cfg_fill(buf_t *errb)
{
    size_t i;

    for (i = 0; i < N_ROWS; i++) {
        const struct cfg_row *row = &cfg_table[i];
        struct conffile_entry *fe = cfg_file_entry(row->env);
        const char *v = getenv(row->env);

        if (v == NULL || *v == '\0') {
            v = row->def;
            if (fe != NULL && fe->value[0] != '\0') {
                if (row->type == CFG_PATH)
                    cfg_resolve_path(fe);
                v = fe->value;
                buf_printf(errb, "%s:%d: ", cfg_file_name, fe->line);
            }
        }
        if (v != NULL && cfg_set(row, v, errb) != 0)
            return -1;
        buf_reset(errb);
    }
    return 0;
}

int config_load(char **err)
{
    buf_t errb = {0};

    memset(&cfg_storage, 0, sizeof cfg_storage);
    conffile_free(&cfg_file);
    free(cfg_file_name);
    free(cfg_base_path);
    free(cfg_db_path);
    free(cfg_bell_dir);
    cfg_file_name = NULL;
    cfg_base_path = NULL;
    cfg_db_path = NULL;
    cfg_bell_dir = NULL;
    if (cfg_load_file(&errb) != 0 || cfg_fill(&errb) != 0 || cfg_check_payos(&errb) != 0 ||
        cfg_check_base_path(&errb) != 0) {
        *err = buf_steal(&errb);
        return -1;
    }
    buf_free(&errb);
    cfg_storage.conf_file = cfg_file_name;
    cfg_derive();
    pulse_cfg = &cfg_storage;
    return 0;
}

int config_payos_live(const struct config *c)
{
    return c->payos_client_id != NULL && c->payos_api_key != NULL;
}

int config_redis_enabled(const struct config *c)
{
    return c->redis_url != NULL || c->redis_host != NULL;
}
