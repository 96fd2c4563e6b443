/* test_websig.c - the messaging platforms' webhook signatures
 * (handlers/websig.c), against digests computed independently (Python's
 * hmac and hashlib). */
#include "handlers/websig.c"

#include "check.h"

static const char body[] = "{\"object\":\"page\",\"entry\":[]}";
static const char fb[] = "sha256=d8149abe61ca3e0fe8a73768d039189ba616cab57b5a355bf7867ee24e51d1d4";
static const char zalo[] = "mac=866bba95a066a2d5b3e795fbfea6b070fef1b8685a62823122d2b65960446c7a";
static const char tt_sig[] = "b0fd20acd211a0ec6c23eaf5b912added0d42629ec580ac0ed5de40d00408c47";

static void test_facebook(void)
{
    CHECK(websig_facebook("fb-secret", body, strlen(body), fb));
    CHECK(websig_facebook("fb-secret", body, strlen(body), "sha256=D8149ABE61CA3E0FE8A73768D039189BA616CAB57B5A355BF7867EE24E51D1D4"));
    CHECK(!websig_facebook("fb-secret", body, strlen(body) - 1, fb));
    CHECK(!websig_facebook("other", body, strlen(body), fb));
    CHECK(!websig_facebook("fb-secret", body, strlen(body), fb + 7)); /* no sha256= */
    CHECK(!websig_facebook("fb-secret", body, strlen(body), "sha256="));
    CHECK(!websig_facebook(NULL, body, strlen(body), fb));
    CHECK(!websig_facebook("fb-secret", body, strlen(body), NULL));
}

static void test_zalo(void)
{
    CHECK(websig_zalo("oa-secret", "app1", "1795000000123", body, strlen(body), zalo));
    CHECK(!websig_zalo("oa-secret", "app2", "1795000000123", body, strlen(body), zalo));
    CHECK(!websig_zalo("oa-secret", "app1", "1795000000124", body, strlen(body), zalo));
    CHECK(!websig_zalo("oa-secret", "app1", "1795000000123", body, strlen(body), zalo + 4));
    CHECK(!websig_zalo(NULL, "app1", "1795000000123", body, strlen(body), zalo));
    CHECK(!websig_zalo("oa-secret", NULL, "1795000000123", body, strlen(body), zalo));
}

static void test_tiktok(void)
{
    char h[200];
    const char *s = NULL;
    size_t slen = 0;
    long long t = 0;

    snprintf(h, sizeof h, "t=1795000000,s=%s", tt_sig);
    CHECK(websig_tiktok_parse(h, &t, &s, &slen) == 0);
    CHECK(t == 1795000000 && slen == 64 && strncmp(s, tt_sig, 64) == 0);
    CHECK(websig_tiktok("tt-secret", body, strlen(body), h, 1795000000, 300) == WEBSIG_OK);
    CHECK(websig_tiktok("tt-secret", body, strlen(body), h, 1795000300, 300) == WEBSIG_OK);
    CHECK(websig_tiktok("tt-secret", body, strlen(body), h, 1795000301, 300) == WEBSIG_STALE);
    CHECK(websig_tiktok("tt-secret", body, strlen(body), h, 1794999699, 300) == WEBSIG_STALE);
    CHECK(websig_tiktok("tt-other", body, strlen(body), h, 1795000000, 300) == WEBSIG_BAD);
    snprintf(h, sizeof h, "s=%s, t=1795000000,v=1", tt_sig); /* any order, other pairs ignored */
    CHECK(websig_tiktok("tt-secret", body, strlen(body), h, 1795000000, 300) == WEBSIG_OK);
    snprintf(h, sizeof h, "t=01795000000,s=%s", tt_sig); /* t as sent must be t as signed */
    CHECK(websig_tiktok("tt-secret", body, strlen(body), h, 1795000000, 300) == WEBSIG_BAD);
    CHECK(websig_tiktok_parse("t=1", &t, &s, &slen) == -1);
    CHECK(websig_tiktok_parse("s=ab", &t, &s, &slen) == -1);
    CHECK(websig_tiktok_parse("t=,s=ab", &t, &s, &slen) == -1);
    CHECK(websig_tiktok_parse("t=1,s=", &t, &s, &slen) == -1);
    CHECK(websig_tiktok_parse("t=1x,s=ab", &t, &s, &slen) == -1);
    CHECK(websig_tiktok_parse("t=1,t=2,s=ab", &t, &s, &slen) == -1);
    CHECK(websig_tiktok_parse("t=1234567890123456789,s=ab", &t, &s, &slen) == -1);
    CHECK(websig_tiktok_parse("", &t, &s, &slen) == -1);
    CHECK(websig_tiktok_parse(",,,", &t, &s, &slen) == -1);
    CHECK(websig_tiktok(NULL, body, strlen(body), "t=1,s=ab", 1, 300) == WEBSIG_BAD);
    CHECK(websig_tiktok("tt-secret", body, strlen(body), NULL, 1, 300) == WEBSIG_BAD);
}

int main(void)
{
    test_facebook();
    test_zalo();
    test_tiktok();
    return check_summary("test_websig");
}
