/* payos.c - PayOS signature text and verification (see payos.h). */
#include "handlers/payos.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/config.h"
#include "base/crypto.h"
#include "base/jsnum.h"
#include "store/db.h"

#define DEV_KEY_LABEL "pulse dev checkout key"

const char *payos_checksum_key(const struct config *cfg)
{
    static char *derived; /* kept for the process's life */
    buf_t hex = {0};

    if (cfg->payos_checksum_key != NULL)
        return cfg->payos_checksum_key;
    if (config_payos_live(cfg) || cfg->jwt_secret == NULL)
        return NULL;
    if (derived == NULL &&
        crypto_hmac_sha256_hex(cfg->jwt_secret, strlen(cfg->jwt_secret), DEV_KEY_LABEL, strlen(DEV_KEY_LABEL), &hex) ==
            0)
        derived = buf_steal(&hex);
    buf_free(&hex);
    return derived;
}

static void append_value(sqlite3_stmt *st, buf_t *out)
{
    const char *type = (const char *)sqlite3_column_text(st, 1);
    const char *val = (const char *)sqlite3_column_text(st, 2);
    size_t len = (size_t)sqlite3_column_bytes(st, 2);

    if (type == NULL || strcmp(type, "null") == 0)
        return;
    if (strcmp(type, "true") == 0 || strcmp(type, "false") == 0)
        buf_puts(out, type);
    else if (strcmp(type, "real") == 0)
        jsnum_format(sqlite3_column_double(st, 2), out);
    else if (strcmp(type, "integer") == 0 && sqlite3_column_type(st, 2) == SQLITE_INTEGER)
        jsnum_int(sqlite3_column_int64(st, 2), out);
    else if (strcmp(type, "integer") == 0) /* beyond int64: SQLite reads it as a real */
        jsnum_format(sqlite3_column_double(st, 2), out);
    else if (strcmp(type, "object") == 0)
        buf_puts(out, "[object Object]"); /* what `${value}` gives in PayOS's SDK */
    else if (strcmp(type, "text") == 0 && val && (strcmp(val, "null") == 0 || strcmp(val, "undefined") == 0))
        return;
    else if (val != NULL)
        buf_append(out, val, len); /* text, or the array's JSON */
}

/* 1 when body's data is a JSON object. */
static int data_is_object(struct db *db, const char *body, size_t len)
{
    sqlite3_stmt *st = db_stmt(db, SQL_PAYOS_WEBHOOK_BODY);
    const unsigned char *type;
    int ok = 0;

    if (st != NULL && db_bind_text(st, 1, body, (int)len) == 0 && sqlite3_step(st) == SQLITE_ROW) {
        type = sqlite3_column_text(st, 0);
        ok = type != NULL && strcmp((const char *)type, "object") == 0;
    }
    db_done(st);
    return ok;
}

int payos_signed_text(struct db *db, const char *body, size_t len, buf_t *out)
{
    sqlite3_stmt *st = NULL;
    int step, n = 0, rc = -1;

    if (!db_json_object(db, body, len))
        goto out;
    st = db_stmt(db, SQL_PAYOS_SIGN_FIELDS);
    if (st == NULL || db_bind_text(st, 1, body, (int)len) != 0)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_TEXT) { /* data was not an object */
            step = SQLITE_ERROR;
            break;
        }
        if (n++)
            buf_putc(out, '&');
        buf_puts(out, (const char *)sqlite3_column_text(st, 0));
        buf_putc(out, '=');
        append_value(st, out);
    }
    rc = step == SQLITE_DONE ? 0 : -1;
    if (rc == 0 && n == 0 && !data_is_object(db, body, len))
        rc = -1; /* no members: only an empty object is fine, not a missing data */
out:
    db_done(st);
    return rc;
}

int payos_signature_ok(struct db *db, const char *key, const char *body, size_t len, const char *sig)
{
    buf_t text = {0}, mac = {0};
    int ok = 0;

    if (key == NULL || sig == NULL)
        return 0;
    if (payos_signed_text(db, body, len, &text) == 0 &&
        crypto_hmac_sha256_hex(key, strlen(key), text.p ? text.p : "", text.len, &mac) == 0)
        ok = crypto_hex_equal(mac.p, mac.len, sig, strlen(sig));
    buf_free(&text);
    buf_free(&mac);
    return ok;
}
