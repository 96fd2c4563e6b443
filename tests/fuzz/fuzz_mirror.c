/* libFuzzer target: what an edge reads from Redis (mirror_apply on every
 * reply hiredis's reader makes of the bytes).
 *
 * Each input goes twice: as it is (an entry is refused unless it carries a
 * valid "h", which the fuzzer cannot make: the signature check on any
 * input), then with every entry signed with the deployment's key first, as
 * the primary would have (what follows the check: storing, gaps, names),
 * read from the stored head or, for an input of odd length, from past
 * refused entries far above it.
 *
 * What must hold: as read, nothing is stored and no gap recorded (nothing
 * is signed); signed, every stored event has a valid topic, type, time and
 * JSON data, and after each reply applied the head the edge reports is the
 * log's own and never goes back. */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "bus/relaysig.h"
#include "fuzz_db.h"
#include "http/http.h"
#include "store/store.h"
#include "stream/mirror.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* hiredis 0.14's reader allocates whatever array size a reply announces
 * (it has no element limit), so "*66666610" spends the run in calloc and
 * free inside hiredis. An XREAD of ours (COUNT 512) never comes near: such
 * inputs test hiredis, not Pulse, and are skipped. */
static int huge_aggregate(const uint8_t *data, size_t size)
{
    size_t i;

    for (i = 0; i < size; i++) {
        if (data[i] == '*' || data[i] == '%' || data[i] == '~') {
            long long n = 0;
            size_t k = i + 1;

            while (k < size && data[k] >= '0' && data[k] <= '9' && n < 1000000)
                n = n * 10 + (data[k++] - '0');
            if (n > 10000)
                return 1;
        }
    }
    return 0;
}

/* r as RESP again; with sign, each [id, [name, value, ...]] where XREAD
 * puts entries ([[key, [entry, ...]]]: depth 3) gets the right "h" first
 * among its fields (the first value of a name counts). */
static void resp(buf_t *b, const redisReply *r, struct relaysig *sig, int sign, int depth)
{
    struct relaysig_fields f;
    char mac[RELAYSIG_HEX + 1];
    const char *had;
    size_t i, hadlen;

    switch (r->type) {
    case REDIS_REPLY_STRING:
        buf_printf(b, "$%zu\r\n", r->len);
        buf_append(b, r->str, r->len);
        buf_puts(b, "\r\n");
        return;
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        buf_putc(b, r->type == REDIS_REPLY_STATUS ? '+' : '-');
        buf_append(b, r->str, r->len);
        buf_puts(b, "\r\n");
        return;
    case REDIS_REPLY_INTEGER:
        buf_printf(b, ":%lld\r\n", r->integer);
        return;
    case REDIS_REPLY_ARRAY:
        break;
    default:
        buf_puts(b, "*-1\r\n");
        return;
    }
    if (sign && depth == 3 && relaysig_fields_of(r, &f, &had, &hadlen) == 0 && relaysig_sign(sig, &f, mac) == 0) {
        const redisReply *kv = r->element[1];

        buf_puts(b, "*2\r\n");
        resp(b, r->element[0], sig, 0, 0);
        buf_printf(b, "*%zu\r\n$1\r\nh\r\n$%d\r\n%s\r\n", kv->elements + 2, RELAYSIG_HEX, mac);
        for (i = 0; i < kv->elements; i++)
            resp(b, kv->element[i], sig, 0, 0);
        return;
    }
    buf_printf(b, "*%zu\r\n", r->elements);
    for (i = 0; i < r->elements; i++)
        resp(b, r->element[i], sig, sign, depth + 1);
}

static long long count(const char *sql)
{
    sqlite3_stmt *st = NULL;
    long long n = -1;

    if (sqlite3_prepare_v2(db_handle(fuzz_db()), sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (n < 0)
        abort();
    return n;
}

/* Every stored event as a client would be given it: a valid topic and
 * type, a time, JSON data. */
static void check_events(void)
{
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db_handle(fuzz_db()), "SELECT id, topic, type, length(ts), json_valid(data) FROM events",
                           -1, &st, NULL) != SQLITE_OK)
        abort();
    while (sqlite3_step(st) == SQLITE_ROW)
        if (sqlite3_column_int64(st, 0) <= 0 || !http_valid_id((const char *)sqlite3_column_text(st, 1)) ||
            !http_valid_type((const char *)sqlite3_column_text(st, 2)) || sqlite3_column_int(st, 3) < 1 ||
            sqlite3_column_int(st, 3) > 64 || sqlite3_column_int(st, 4) != 1)
            __builtin_trap();
    sqlite3_finalize(st);
}

/* After a reply applied: the head the edge reports (where it reads on
 * from) is in the log (not above its bounds) and never goes back; the
 * log's own head never goes back either. (Not equal to the log's: an entry
 * whose prev is above its own id, which no primary signs, marks a gap above
 * the event stored.) */
static void check_head(const redisReply *reply, int rc, const struct mirror_read *rd, int64_t *reported,
                       int64_t *head)
{
    int64_t pruned, last;

    if (rc < -1 || store_bounds(fuzz_db(), &pruned, &last) != 0)
        __builtin_trap();
    if (rc >= 0 && reply->type != REDIS_REPLY_NIL && !rd->reread) {
        if (rd->stored > last || rd->stored < *reported)
            __builtin_trap();
        *reported = rd->stored;
    }
    if (last < *head)
        __builtin_trap();
    *head = last;
}

static struct mirror *edge; /* the edge's mirror, not connected: mirror_apply alone */

/* Every reply the bytes make, applied; with sign, its entries signed first
 * (then applied as signed). */
static void apply_all(const char *bytes, size_t size, struct relaysig *sig, int sign, int parked, int is_signed)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    buf_t again = {0};
    int64_t reported = 0, head = 0;

    if (r == NULL)
        return;
    if (redisReaderFeed(r, bytes, size) == REDIS_OK) {
        while (redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL) {
            struct mirror_read rd = {.from = {parked ? 1000000000u : 0u, 0u}};

            if (sign) {
                resp(&again, reply, sig, 1, 0);
            } else {
                check_head(reply, mirror_apply(edge, reply, &rd), &rd, &reported, &head);
                /* unsigned, nothing is stored and no gap recorded */
                if (!is_signed && (count("SELECT count(*) FROM events") != 0 ||
                                   count("SELECT count(*) FROM topic_retention") != 0 ||
                                   count("SELECT count(*) FROM meta WHERE v != 0") != 0))
                    __builtin_trap();
            }
            freeReplyObject(reply);
            reply = NULL;
        }
    }
    redisReaderFree(r);
    if (sign && again.len > 0)
        apply_all(again.p, again.len, sig, 0, parked, 1);
    if (!sign)
        check_events();
    buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct relaysig *sig;

    if (huge_aggregate(data, size))
        return 0;
    if (sig == NULL) {
        fuzz_db(); /* loads the configuration (PULSE_JWT_SECRET: the key is derived from it) */
        if ((sig = relaysig_open(pulse_cfg)) == NULL)
            abort();
        edge = mirror_new(pulse_cfg, fuzz_db());
    }
    /* As read: refused unless signed (the fuzzer cannot sign). Then signed,
     * as the primary would have: stored, gaps, names checked. */
    apply_all((const char *)data, size, sig, 0, 0, 0);
    apply_all((const char *)data, size, sig, 1, size % 2, 1);
    /* Every input starts from an empty log, no topic's floor recorded (and
     * memory stays flat). */
    if (sqlite3_exec(db_handle(fuzz_db()), "DELETE FROM events; DELETE FROM topic_retention; "
                     "UPDATE meta SET v = 0", NULL, NULL, NULL) != SQLITE_OK)
        abort();
    return 0;
}
