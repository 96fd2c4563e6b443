/* test_relaysig.c - the signature of the relayed log's entries: the bytes
 * relaysig.h documents, the key it derives, and the reusable HMAC key of
 * crypto.c it is computed with. */
#include <hiredis/hiredis.h>
#include <stdlib.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/crypto.h"
#include "bus/relaysig.h"
#include "check.h"

static void hex32(const unsigned char *mac, char out[65])
{
    static const char d[] = "0123456789abcdef";
    int i;

    for (i = 0; i < 32; i++) {
        out[2 * i] = d[mac[i] >> 4];
        out[2 * i + 1] = d[mac[i] & 15];
    }
    out[64] = '\0';
}

/* One key, many messages: each the same as a one-shot HMAC. */
static void test_a_reused_key(void)
{
    static const char key[] = "k";
    const char *msgs[] = {"", "hello", "hello, world", "hello"};
    struct crypto_mac *m = crypto_mac_open(key, 1);
    size_t i;

    CHECK(m != NULL);
    for (i = 0; m != NULL && i < sizeof msgs / sizeof msgs[0]; i++) {
        unsigned char a[32], b[32];
        size_t half = strlen(msgs[i]) / 2;

        CHECK(crypto_mac_begin(m) == 0 && crypto_mac_add(m, msgs[i], half) == 0 &&
              crypto_mac_add(m, msgs[i] + half, strlen(msgs[i]) - half) == 0 && crypto_mac_end(m, a) == 0);
        CHECK(crypto_hmac_sha256(key, 1, msgs[i], strlen(msgs[i]), b) == 0);
        CHECK(memcmp(a, b, 32) == 0);
        {   /* the same in hex, appended */
            buf_t h = {0}, want = {0};

            buf_puts(&h, "x");
            buf_puts(&want, "x");
            CHECK(crypto_mac_hex(m, msgs[i], strlen(msgs[i]), &h) == 0);
            CHECK(crypto_hmac_sha256_hex(key, 1, msgs[i], strlen(msgs[i]), &want) == 0);
            CHECK_STR_EQ(buf_str(&h), buf_str(&want));
            buf_free(&h);
            buf_free(&want);
        }
    }
    crypto_mac_close(m);
}

/* The signed bytes, spelled out as relaysig.h (and README) give them. */
static void test_the_documented_message(void)
{
    struct config c = {.jwt_secret = "jwt", .redis_prefix = "px:"};
    struct relaysig *s = relaysig_open(&c);
    struct relaysig_fields f = {{"7-0", "6", "room:a", "note", "2026-12-04T00:00:00Z", "{\"n\":1}", NULL},
                                {3, 1, 6, 4, 20, 7, 0}};
    const char *msg = "13:pulse-relay-1,6:px:log,3:7-0,1:6,6:room:a,4:note,20:2026-12-04T00:00:00Z,7:{\"n\":1},-";
    unsigned char key[32], mac[32];
    char got[RELAYSIG_HEX + 1], want[65];

    CHECK(s != NULL);
    if (s == NULL)
        return;
    CHECK(crypto_hmac_sha256("jwt", 3, "pulse relay key", 15, key) == 0);
    CHECK(crypto_hmac_sha256((const char *)key, 32, msg, strlen(msg), mac) == 0);
    hex32(mac, want);
    CHECK(relaysig_sign(s, &f, got) == 0);
    CHECK_STR_EQ(got, want);
    CHECK(relaysig_valid(s, &f, want, 64));
    /* upper case, cut short, another f: not valid */
    want[0] = want[0] >= 'a' ? (char)(want[0] - 32) : want[0] == '0' ? '1' : '0';
    CHECK(!relaysig_valid(s, &f, want, 64));
    CHECK(!relaysig_valid(s, &f, got, 63));
    f.v[RS_GAP] = "";
    CHECK(!relaysig_valid(s, &f, got, 64));
    relaysig_close(s);

    /* PULSE_RELAY_SECRET, when set, is the key itself; in another stream
     * (another prefix) the same entry is not valid */
    c.relay_secret = "relay";
    s = relaysig_open(&c);
    f.v[RS_GAP] = NULL;
    msg = "13:pulse-relay-1,6:px:log,3:7-0,1:6,6:room:a,4:note,20:2026-12-04T00:00:00Z,7:{\"n\":1},-";
    CHECK(crypto_hmac_sha256("relay", 5, msg, strlen(msg), mac) == 0);
    hex32(mac, want);
    CHECK(s != NULL && relaysig_sign(s, &f, got) == 0);
    CHECK_STR_EQ(got, want);
    relaysig_close(s);
    c.redis_prefix = "py:";
    s = relaysig_open(&c);
    CHECK(s != NULL && !relaysig_valid(s, &f, want, 64));
    relaysig_close(s);
}

static void test_no_secret_no_key(void)
{
    struct config c = {.redis_prefix = "pulse:"};

    CHECK(relaysig_open(&c) == NULL);
}

/* [id, [name, value, ...]] as hiredis reads it. */
static redisReply *entry(const char *resp)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;

    if (redisReaderFeed(r, resp, strlen(resp)) != REDIS_OK || redisReaderGetReply(r, &reply) != REDIS_OK)
        reply = NULL;
    redisReaderFree(r);
    return reply;
}

static void test_fields_of_an_entry(void)
{
    /* the first value of each name counts; names longer than one letter are not the relay's */
    redisReply *e = entry("*2\r\n$3\r\n5-0\r\n*8\r\n$1\r\np\r\n$1\r\n4\r\n$2\r\npp\r\n$1\r\n9\r\n"
                          "$1\r\np\r\n$1\r\n8\r\n$1\r\nh\r\n$2\r\nab\r\n");
    struct relaysig_fields f;
    const char *mac = NULL;
    size_t maclen = 0;

    CHECK(e != NULL);
    if (e == NULL)
        return;
    CHECK(relaysig_fields_of(e, &f, &mac, &maclen) == 0);
    CHECK_STR_EQ(f.v[RS_ID], "5-0");
    CHECK_STR_EQ(f.v[RS_PREV], "4");
    CHECK(f.v[RS_TOPIC] == NULL && f.v[RS_GAP] == NULL);
    CHECK(mac != NULL && maclen == 2 && memcmp(mac, "ab", 2) == 0);
    freeReplyObject(e);
    e = entry("*2\r\n$3\r\n5-0\r\n$1\r\nx\r\n");
    CHECK(e != NULL && relaysig_fields_of(e, &f, &mac, &maclen) == -1);
    freeReplyObject(e);
}

int main(void)
{
    test_a_reused_key();
    test_the_documented_message();
    test_no_secret_no_key();
    test_fields_of_an_entry();
    return check_summary("test_relaysig");
}
