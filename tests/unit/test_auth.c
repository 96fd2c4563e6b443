/* test_auth.c - HS256 JWTs (fcgi/auth/auth.c) and the crypto helpers under them
 * (fcgi/base/crypto.c). */
#include "auth/auth.c"

#include <stdio.h>

#include "check.h"
#include "unit_db.h"

#define NOW 1700000000LL

static const char secret[] = "unit-test-secret";
static struct db *db;

/* b64(header).b64(claims).b64(HMAC under key), or an empty signature when
 * key is NULL - built by hand so that tokens auth_jwt_sign would never make
 * can be tried. Caller frees. */
static char *token_by_hand(const char *header, const char *claims, const char *key)
{
    buf_t t = {0};
    unsigned char mac[32];

    crypto_base64url_encode(header, strlen(header), &t);
    buf_putc(&t, '.');
    crypto_base64url_encode(claims, strlen(claims), &t);
    if (key != NULL && crypto_hmac_sha256(key, strlen(key), t.p, t.len, mac) == 0) {
        buf_putc(&t, '.');
        crypto_base64url_encode(mac, sizeof mac, &t);
    } else {
        buf_putc(&t, '.');
    }
    return buf_steal(&t);
}

/* auth_jwt_sign of claims under secret. Caller frees. */
static char *signed_token(const char *claims)
{
    buf_t t = {0};

    CHECK(auth_jwt_sign(secret, claims, &t) == 0);
    return buf_steal(&t);
}

/* Verifies tok under secret at NOW; returns the result, *why the reason. */
static int verify(const char *tok, const char **why)
{
    struct auth_claims c;
    int rc = auth_jwt_verify(db, secret, tok, NOW, &c, why);

    auth_claims_free(&c);
    return rc;
}

/* Checks that claims (signed properly) are refused with reason why. */
static void check_refused(const char *claims, const char *want_why, int line)
{
    char *tok = signed_token(claims);
    const char *why = NULL;

    check_report(verify(tok, &why) == -1, __FILE__, line, claims);
    check_str_eq(why, want_why, __FILE__, line, claims);
    free(tok);
}
#define CHECK_REFUSED(claims, why) check_refused((claims), (why), __LINE__)

/* Checks that claims (signed properly) are accepted at NOW; *c holds them
 * (the caller frees them with auth_claims_free). */
static void check_accepted(const char *claims, struct auth_claims *c, int line)
{
    char *tok = signed_token(claims);
    const char *why = NULL;

    check_report(auth_jwt_verify(db, secret, tok, NOW, c, &why) == 0, __FILE__, line, claims);
    free(tok);
}
#define CHECK_ACCEPTED(claims, c) check_accepted((claims), (c), __LINE__)

/* Checks that a token made by hand with this header (token_by_hand) is
 * refused, for reason want_why unless that is NULL. */
static void check_header_refused(const char *header, const char *claims, const char *key, const char *want_why,
                                 int line)
{
    char *tok = token_by_hand(header, claims, key);
    const char *why = NULL;

    check_report(verify(tok, &why) == -1, __FILE__, line, header);
    if (want_why != NULL)
        check_str_eq(why, want_why, __FILE__, line, header);
    free(tok);
}
#define CHECK_HEADER_REFUSED(header, claims, key, why) check_header_refused((header), (claims), (key), (why), __LINE__)

static void test_sign_verify(void)
{
    struct auth_claims c;
    const char *why = NULL;
    char *tok;

    tok = signed_token("{\"sub\":\"u-1\",\"name\":\"Ann Lee\",\"role\":\"admin\",\"exp\":1700000060}");
    CHECK(auth_jwt_verify(db, secret, tok, NOW, &c, &why) == 0);
    CHECK_STR_EQ(c.sub, "u-1");
    CHECK_STR_EQ(c.name, "Ann Lee");
    CHECK_INT_EQ(c.role, ROLE_ADMIN);
    CHECK_INT_EQ(c.exp, 1700000060);
    auth_claims_free(&c);
    CHECK(c.sub == NULL && c.name == NULL);

    /* expiry: exp must be after now */
    CHECK(auth_jwt_verify(db, secret, tok, 1700000060, &c, &why) == -1);
    CHECK_STR_EQ(why, "token expired");
    CHECK(c.sub == NULL);
    CHECK(auth_jwt_verify(db, secret, tok, 1700000059, &c, &why) == 0);
    auth_claims_free(&c);

    /* wrong, NULL or empty secret */
    CHECK(auth_jwt_verify(db, "other-secret", tok, NOW, &c, &why) == -1);
    CHECK_STR_EQ(why, "bad token signature");
    CHECK(auth_jwt_verify(db, NULL, tok, NOW, &c, &why) == -1);
    CHECK(auth_jwt_verify(db, "", tok, NOW, &c, &why) == -1);
    free(tok);

    /* no role: viewer; no name: the sub; a real exp is fine */
    CHECK_ACCEPTED("{\"sub\":\"u2\",\"exp\":1700000060.5}", &c);
    CHECK_INT_EQ(c.role, ROLE_VIEWER);
    CHECK_STR_EQ(c.name, "u2");
    auth_claims_free(&c);

    CHECK_ACCEPTED("{\"sub\":\"u3\",\"role\":\"agent\",\"exp\":1700000060}", &c);
    CHECK_INT_EQ(c.role, ROLE_AGENT);
    CHECK_STR_EQ(auth_role_name(c.role), "agent");
    auth_claims_free(&c);
    CHECK_STR_EQ(auth_role_name(ROLE_OWNER), "owner");
    CHECK_STR_EQ(auth_role_name((enum auth_role)0), "none");
}

static void test_bad_claims(void)
{
    CHECK_REFUSED("{\"sub\":\"u\",\"exp\":1699999999}", "token expired");
    CHECK_REFUSED("{\"sub\":\"u\"}", "token has no exp claim");
    CHECK_REFUSED("{\"sub\":\"u\",\"exp\":\"1800000000\"}", "token has no exp claim");
    CHECK_REFUSED("{\"sub\":\"u\",\"exp\":null}", "token has no exp claim");
    CHECK_REFUSED("{\"sub\":\"u\",\"role\":\"root\",\"exp\":1800000000}",
                  "token role is not one of viewer, owner, agent, admin");
    CHECK_REFUSED("{\"sub\":\"u\",\"role\":\"Admin\",\"exp\":1800000000}",
                  "token role is not one of viewer, owner, agent, admin");
    CHECK_REFUSED("{\"sub\":\"u\",\"role\":4,\"exp\":1800000000}",
                  "token role is not one of viewer, owner, agent, admin");
    CHECK_REFUSED("{\"sub\":\"u\",\"role\":null,\"exp\":1800000000}",
                  "token role is not one of viewer, owner, agent, admin");
    CHECK_REFUSED("{\"exp\":1800000000}", "token has no usable sub claim");
    CHECK_REFUSED("{\"sub\":\"\",\"exp\":1800000000}", "token has no usable sub claim");
    CHECK_REFUSED("{\"sub\":42,\"exp\":1800000000}", "token has no usable sub claim");
    CHECK_REFUSED("{\"sub\":\"a\\nb\",\"exp\":1800000000}", "token has no usable sub claim");
    CHECK_REFUSED("[1,2]", "malformed token claims");
    CHECK_REFUSED("not json", "malformed token claims");
}

static void test_forged_tokens(void)
{
    const char *claims = "{\"sub\":\"u\",\"role\":\"admin\",\"exp\":1800000000}";
    const char *why = NULL;
    char *tok, *other, *dot;
    buf_t t = {0};

    /* alg none, with an empty signature and with a valid HS256 one */
    CHECK_HEADER_REFUSED("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, NULL, "token algorithm must be HS256");
    CHECK_HEADER_REFUSED("{\"alg\":\"none\"}", claims, secret, NULL);
    CHECK_HEADER_REFUSED("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", claims, secret, "token algorithm must be HS256");
    CHECK_HEADER_REFUSED("{\"typ\":\"JWT\"}", claims, secret, NULL);
    CHECK_HEADER_REFUSED("\"HS256\"", claims, secret, NULL);
    /* by hand with the right header and key: accepted (the helper is sound) */
    tok = token_by_hand("{\"alg\":\"HS256\"}", claims, secret);
    CHECK(verify(tok, &why) == 0);
    free(tok);

    /* a viewer token with its payload swapped for an admin one */
    tok = signed_token("{\"sub\":\"u\",\"exp\":1800000000}");
    other = signed_token(claims);
    dot = strchr(tok, '.');
    buf_append(&t, tok, (size_t)(dot - tok));
    buf_append(&t, strchr(other, '.'), (size_t)(strrchr(other, '.') - strchr(other, '.')));
    buf_puts(&t, strrchr(tok, '.'));
    CHECK(verify(buf_str(&t), &why) == -1);
    CHECK_STR_EQ(why, "bad token signature");
    buf_free(&t);

    /* one flipped character in the payload, then in the signature */
    other[strchr(other, '.') - other + 3] ^= 1;
    CHECK(verify(other, &why) == -1);
    free(other);
    tok[strlen(tok) - 2] = tok[strlen(tok) - 2] == 'A' ? 'B' : 'A';
    CHECK(verify(tok, &why) == -1);
    /* signature cut short */
    tok[strlen(tok) - 4] = '\0';
    CHECK(verify(tok, &why) == -1);
    free(tok);
}

static void test_garbage(void)
{
    static const char *const bad[] = {
        "", "garbage", "a.b", "a.b.c", "..", "...", "a.b.c.d", "eyJhbGciOiJIUzI1NiJ9..sig",
        "e30.e30.", "+++.///.===", "eyJ hbGc.e30.e30",
    };
    const char *why = NULL;
    struct auth_claims c;
    char *tok, *huge;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(verify(bad[i], &why) == -1);
        CHECK(why != NULL);
    }
    CHECK(auth_jwt_verify(db, secret, NULL, NOW, &c, &why) == -1);

    /* too many dots around a valid token */
    tok = signed_token("{\"sub\":\"u\",\"exp\":1800000000}");
    huge = xmalloc(strlen(tok) + 2);
    sprintf(huge, "%s.", tok);
    CHECK(verify(huge, &why) == -1);
    free(huge);
    free(tok);

    huge = xmalloc(AUTH_MAX_TOKEN + 2);
    memset(huge, 'A', AUTH_MAX_TOKEN + 1);
    huge[AUTH_MAX_TOKEN + 1] = '\0';
    huge[10] = huge[20] = '.';
    CHECK(verify(huge, &why) == -1);
    free(huge);
}

/* Decodes s; returns the result and leaves the bytes in out. */
static int b64dec(const char *s, buf_t *out)
{
    buf_reset(out);
    return crypto_base64url_decode(s, strlen(s), out);
}

static void test_base64url(void)
{
    static const char *const bad[] = {"ab+c", "ab/c", "ab==", "abc=", "ab c", "ab\nc", "ab\tc", "abcde", "a", "ab.c"};
    unsigned char data[70];
    buf_t enc = {0}, dec = {0};
    size_t len, i, ok = 0;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(b64dec(bad[i], &dec) == -1);

    CHECK(crypto_base64url_encode("\xfb\xff", 2, &enc) == 0);
    CHECK_STR_EQ(buf_str(&enc), "-_8");
    CHECK(b64dec("-_8", &dec) == 0 && dec.len == 2 && memcmp(dec.p, "\xfb\xff", 2) == 0);
    CHECK(b64dec("", &dec) == 0 && dec.len == 0);
    buf_reset(&enc);
    CHECK(crypto_base64url_encode("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", 27, &enc) == 0);
    CHECK_STR_EQ(buf_str(&enc), "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");

    for (len = 0; len <= sizeof data; len++) {
        for (i = 0; i < len; i++)
            data[i] = (unsigned char)(i * 151 + len * 7 + 0xf8);
        buf_reset(&enc);
        if (crypto_base64url_encode(data, len, &enc) == 0 && strcspn(buf_str(&enc), "+/=") == enc.len &&
            b64dec(buf_str(&enc), &dec) == 0 && dec.len == len && memcmp(dec.p ? dec.p : "", data, len) == 0)
            ok++;
        else
            fprintf(stderr, "    base64url round trip fails at length %zu\n", len);
    }
    CHECK_INT_EQ(ok, sizeof data + 1);
    buf_free(&enc);
    buf_free(&dec);
}

static void test_hashes(void)
{
    buf_t b = {0}, c = {0};

    CHECK(crypto_hex_equal("abcDEF09", 8, "ABCdef09", 8));
    CHECK(!crypto_hex_equal("abcdef09", 8, "abcdef08", 8));
    CHECK(!crypto_hex_equal("abcdef09", 8, "abcdef0", 7));
    CHECK(crypto_hex_equal("", 0, "", 0));
    CHECK(crypto_equal("abc", 3, "abc", 3));
    CHECK(!crypto_equal("abc", 3, "abd", 3));
    CHECK(!crypto_equal("abc", 3, "ab", 2));

    /* RFC 4231 test case 2; FIPS 180-2 "abc" */
    CHECK(crypto_hmac_sha256_hex("Jefe", 4, "what do ya want for nothing?", 28, &b) == 0);
    CHECK_STR_EQ(buf_str(&b), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    buf_reset(&b);
    CHECK(crypto_sha256_hex("abc", 3, &b) == 0);
    CHECK_STR_EQ(buf_str(&b), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    buf_reset(&b);
    CHECK(crypto_random_hex(16, &b) == 0 && b.len == 32 && strspn(b.p, "0123456789abcdef") == 32);
    CHECK(crypto_random_hex(16, &c) == 0 && strcmp(buf_str(&b), buf_str(&c)) != 0);
    CHECK(crypto_random_hex(65, &c) == -1);
    buf_free(&b);
    buf_free(&c);
}

/* The verified-token cache answers like auth_jwt_verify: the same claims,
 * expiry checked on every hit, nothing found under another secret or for a
 * token that differs in any byte. */
static void test_cache(void)
{
    struct auth_cache *cache = auth_cache_open();
    struct auth_claims c;
    const char *why = NULL;
    char *tok = signed_token("{\"sub\":\"u-1\",\"name\":\"Ann\",\"role\":\"admin\",\"exp\":1700000060}");
    char *forged = xstrdup(tok);
    int i;

    for (i = 0; i < 2; i++) { /* a miss that fills the slot, then a hit */
        CHECK(auth_jwt_verify_cached(cache, db, secret, tok, NOW, &c, &why) == 0);
        CHECK_STR_EQ(c.sub, "u-1");
        CHECK_STR_EQ(c.name, "Ann");
        CHECK_INT_EQ(c.role, ROLE_ADMIN);
        CHECK_INT_EQ(c.exp, 1700000060);
        auth_claims_free(&c);
    }
    CHECK(cache_slot(cache, tok)->token != NULL && strcmp(cache_slot(cache, tok)->token, tok) == 0);

    CHECK(auth_jwt_verify_cached(cache, db, secret, tok, 1700000060, &c, &why) == -1);
    CHECK_STR_EQ(why, "token expired");
    CHECK(c.sub == NULL);

    i = (int)strlen(forged) - 2; /* a different signature, still base64url */
    forged[i] = forged[i] == 'A' ? 'B' : 'A';
    CHECK(auth_jwt_verify_cached(cache, db, secret, forged, NOW, &c, &why) == -1);
    CHECK_STR_EQ(why, "bad token signature");

    CHECK(auth_jwt_verify_cached(cache, db, "other-secret", tok, NOW, &c, &why) == -1);
    CHECK_STR_EQ(why, "bad token signature");
    CHECK(cache_slot(cache, tok)->token == NULL); /* a new secret empties the cache */
    CHECK(auth_jwt_verify_cached(cache, db, NULL, tok, NOW, &c, &why) == -1);
    CHECK(auth_jwt_verify_cached(NULL, db, secret, tok, NOW, &c, &why) == 0);
    auth_claims_free(&c);

    auth_cache_close(cache);
    free(forged);
    free(tok);
}

/* The Authorization header's scheme is case-insensitive (RFC 7235 2.1);
 * the request pool and the stream responder both read it through here. */
static void test_bearer_header(void)
{
    CHECK_STR_EQ(auth_bearer_token("Bearer abc.def.ghi"), "abc.def.ghi");
    CHECK_STR_EQ(auth_bearer_token("bearer abc.def.ghi"), "abc.def.ghi");
    CHECK_STR_EQ(auth_bearer_token("BEARER abc"), "abc");
    CHECK_STR_EQ(auth_bearer_token("bEaReR abc"), "abc");
    CHECK_STR_EQ(auth_bearer_token("Bearer   abc"), "abc"); /* 1*SP */
    CHECK_STR_EQ(auth_bearer_token("Bearer "), "");         /* no token: refused by verification */
    CHECK(auth_bearer_token("Bearer") == NULL);
    CHECK(auth_bearer_token("Bearerabc") == NULL);
    CHECK(auth_bearer_token("Basic dTpw") == NULL);
    CHECK(auth_bearer_token("Token abc") == NULL);
    CHECK(auth_bearer_token(" Bearer abc") == NULL);
    CHECK(auth_bearer_token("Bear abc") == NULL);
    CHECK(auth_bearer_token("") == NULL);
    CHECK(auth_bearer_token(NULL) == NULL);
}

/* nbf: a token is not valid before it, with AUTH_NBF_LEEWAY_S for clocks
 * that disagree a little. */
static void test_not_before(void)
{
    struct auth_claims c;
    const char *why = NULL;
    char *tok;

    CHECK_INT_EQ(AUTH_NBF_LEEWAY_S, 60);
    CHECK_REFUSED("{\"sub\":\"u\",\"nbf\":1700000061,\"exp\":1800000000}", "token not yet valid (nbf)");
    CHECK_REFUSED("{\"sub\":\"u\",\"nbf\":1700003600,\"exp\":1800000000}", "token not yet valid (nbf)");
    CHECK_REFUSED("{\"sub\":\"u\",\"nbf\":1.7e300,\"exp\":1800000000}", "token not yet valid (nbf)");
    CHECK_REFUSED("{\"sub\":\"u\",\"nbf\":\"1600000000\",\"exp\":1800000000}", "token nbf claim is not a number");
    CHECK_REFUSED("{\"sub\":\"u\",\"nbf\":null,\"exp\":1800000000}", "token nbf claim is not a number");
    /* within the leeway, now, or past: valid */
    tok = signed_token("{\"sub\":\"u\",\"nbf\":1700000060,\"exp\":1800000000}");
    CHECK(auth_jwt_verify(db, secret, tok, NOW, &c, &why) == 0);
    auth_claims_free(&c);
    /* and the same token a minute and a second earlier is not */
    CHECK(auth_jwt_verify(db, secret, tok, NOW - 1, &c, &why) == -1);
    CHECK_STR_EQ(why, "token not yet valid (nbf)");
    free(tok);
    CHECK_ACCEPTED("{\"sub\":\"u\",\"nbf\":1699999999.5,\"exp\":1800000000}", &c);
    auth_claims_free(&c);
}

/* picture is kept as sent (checked as a URL where it is used); the whole
 * payload must be UTF-8 with no lone surrogate escape, as every JSON text
 * from outside (a name would be stored and echoed). */
static void test_picture_and_utf8(void)
{
    struct auth_claims c;

    CHECK_ACCEPTED("{\"sub\":\"u\",\"picture\":\"https://cdn.example.com/u.png\",\"exp\":1800000000}", &c);
    CHECK_STR_EQ(c.picture, "https://cdn.example.com/u.png");
    auth_claims_free(&c);
    CHECK(c.picture == NULL);
    CHECK_ACCEPTED("{\"sub\":\"u\",\"exp\":1800000000}", &c);
    CHECK(c.picture == NULL);
    auth_claims_free(&c);
    CHECK_REFUSED("{\"sub\":\"u\",\"picture\":7,\"exp\":1800000000}", "token picture claim is not a string");
    CHECK_REFUSED("{\"sub\":\"u\",\"picture\":null,\"exp\":1800000000}", "token picture claim is not a string");
    CHECK_REFUSED("{\"sub\":\"u\",\"name\":\"Ann \xff\",\"exp\":1800000000}", "malformed token claims");
    CHECK_REFUSED("{\"sub\":\"u\xc3\",\"exp\":1800000000}", "malformed token claims");
    CHECK_REFUSED("{\"sub\":\"u\",\"name\":\"\xed\xa0\x80\",\"exp\":1800000000}", "malformed token claims");
    CHECK_REFUSED("{\"sub\":\"u\",\"name\":\"\\ud800\",\"exp\":1800000000}", "malformed token claims");
    CHECK_REFUSED("{\"sub\":\"\\udc00\",\"exp\":1800000000}", "malformed token claims");
    /* SQLite 3.40 cuts a decoded string at \u0000: this sub would be "alice" */
    CHECK_REFUSED("{\"sub\":\"alice\\u0000x\",\"exp\":1800000000}", "malformed token claims");
    CHECK_REFUSED("{\"sub\":\"u\",\"name\":\"Ev\\u0000il\",\"exp\":1800000000}", "malformed token claims");
    CHECK_HEADER_REFUSED("{\"alg\":\"HS256\\u0000x\",\"typ\":\"JWT\"}", "{\"sub\":\"u\",\"exp\":1800000000}", secret,
                         "malformed token header");
    /* an escaped backslash before u0000 is text, not a NUL */
    CHECK_ACCEPTED("{\"sub\":\"u\",\"name\":\"a\\\\u0000\",\"exp\":1800000000}", &c);
    CHECK_STR_EQ(c.name, "a\\u0000");
    auth_claims_free(&c);
    /* UTF-8 itself, and escapes of whole characters, are fine */
    CHECK_ACCEPTED("{\"sub\":\"u\",\"name\":\"L\xc3\xa2n \\ud83d\\ude00\",\"exp\":1800000000}", &c);
    CHECK_STR_EQ(c.name, "L\xc3\xa2n \xf0\x9f\x98\x80");
    auth_claims_free(&c);
}

int main(void)
{
    static unit_test_fn *const tests[] = {test_sign_verify, test_bad_claims, test_forged_tokens, test_garbage,
                                          test_base64url, test_hashes, test_cache, test_bearer_header,
                                          test_not_before, test_picture_and_utf8, NULL};

    return unit_db_main("test_auth", &db, tests);
}
