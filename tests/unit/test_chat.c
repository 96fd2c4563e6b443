/* test_chat.c - the session id a client's own id names (handlers/chat.c
 * scoped_id): scoped to its owner, stable, and a valid id. */
#include "handlers/chat.c"

#include "check.h"

static void check_scoped(const char *sub, const char *client_id, const char *want, int line)
{
    char *id = scoped_id(sub, client_id);

    check_str_eq(id, want, __FILE__, line, client_id);
    check_report(id != NULL && http_valid_id(id) && strlen(id) == 66, __FILE__, line, "a valid 66-character id");
    free(id);
}
#define CHECK_SCOPED(sub, cid, want) check_scoped((sub), (cid), (want), __LINE__)

static void test_scoped_id(void)
{
    char *a, *b;

    /* "s_" + hex SHA-256 of sub, NUL, id (computed with Python's hashlib) */
    CHECK_SCOPED("lan", "sess-123", "s_2a21e0df9cfad2a71bc0a2b6c5c16f2c8628182d5ab07ccf742e64a60689ce48");
    /* another owner, the same client id: another session */
    CHECK_SCOPED("binh", "sess-123", "s_866c1593d941c166a85c00a51d53d4d24674071ea0934e1f93f86cb02d9555cb");
    CHECK_SCOPED("lan", "sess-1234", "s_0c0cb1fb6a43dd9207baf38bc237411b59f814e17fb21434b50dee6874abe671");
    /* the same owner and id: the same session, every time */
    a = scoped_id("lan", "x");
    b = scoped_id("lan", "x");
    CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
    free(a);
    free(b);
    /* the separator keeps (sub, id) pairs apart: "ab"+"c" is not "a"+"bc" */
    a = scoped_id("ab", "c");
    b = scoped_id("a", "bc");
    CHECK(a != NULL && b != NULL && strcmp(a, b) != 0);
    free(a);
    free(b);
}

int main(void)
{
    test_scoped_id();
    return check_summary("test_chat");
}
