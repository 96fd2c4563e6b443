/* test_sse.c - Server-Sent Events text (fcgi/http/sse.c). */
#include "http/sse.c"

#include "check.h"

static void check_event(int64_t id, const char *type, const char *data, const char *want, int line)
{
    buf_t b = {0};

    sse_event(&b, id, type, data, strlen(data));
    check_str_eq(buf_str(&b), want, __FILE__, line, want);
    buf_free(&b);
}
#define CHECK_EVENT(id, type, data, want) check_event((id), (type), (data), (want), __LINE__)

int main(void)
{
    buf_t b = {0};

    CHECK_EVENT(7, "message", "{\"a\":1}", "id: 7\nevent: message\ndata: {\"a\":1}\n\n");
    CHECK_EVENT(8, "chat", "line one\nline two\nthree",
                "id: 8\nevent: chat\ndata: line one\ndata: line two\ndata: three\n\n");
    CHECK_EVENT(9, "t", "a\n\nb", "id: 9\nevent: t\ndata: a\ndata: \ndata: b\n\n");
    CHECK_EVENT(10, "t", "", "id: 10\nevent: t\ndata: \n\n");
    CHECK_EVENT(INT64_MAX, "t", "x", "id: 9223372036854775807\nevent: t\ndata: x\n\n");

    /* only len bytes are sent */
    sse_event(&b, 1, "t", "abcdef", 3);
    CHECK_STR_EQ(buf_str(&b), "id: 1\nevent: t\ndata: abc\n\n");
    buf_reset(&b);

    sse_comment(&b, "ping");
    CHECK_STR_EQ(buf_str(&b), ": ping\n\n");
    buf_reset(&b);
    /* retry, then a comment line (API.md), and the position in the same
     * block: no data, so nothing is dispatched */
    sse_open(&b, 3000, "open", 0);
    CHECK_STR_EQ(buf_str(&b), "retry: 3000\n: open\nid: 0\n\n");
    buf_reset(&b);
    sse_open(&b, 3000, "open", INT64_MAX);
    CHECK_STR_EQ(buf_str(&b), "retry: 3000\n: open\nid: 9223372036854775807\n\n");
    sse_comment(&b, "");
    CHECK_STR_EQ(buf_str(&b), "retry: 3000\n: open\nid: 9223372036854775807\n\n: \n\n"); /* appends */
    buf_free(&b);
    return check_summary("test_sse");
}
