/* test_stream_uri.c - which responder a CGI run of the one binary becomes:
 * stream routes under any prefix, nothing else (stream_req_is_stream_uri). */
#include "stream/stream_req.h"

#include "check.h"

int main(void)
{
    static const char *const streams[] = {
        "/api/events/stream", "/api/events/stream?topic=room:a", "/api/topup/stream?tx_ref=T1&token=x",
        "/api/live/rooms/r1/stream", "/pulse/api/live/rooms/r1/stream?access_token=t",
        "/a/b/api/events/stream", "/api/x/api/events/stream",
    };
    static const char *const others[] = {
        "", "/", "/api/", "/api/health", "/api/events", "/api/events/streams", "/api/events/stream/",
        "/api/live/rooms//stream", "/api/live/rooms/r1/x/stream", "/api/live/rooms/r1/streamx",
        "/api/live/rooms/stream", "/api/topup/status?x=/api/events/stream", "/stream", "/pulse/events/stream",
        "/api/events/stream/api/health", "/api/live/rooms/r1/stream/api/",
    };
    size_t i;

    for (i = 0; i < sizeof streams / sizeof streams[0]; i++)
        CHECK_INT_EQ(stream_req_is_stream_uri(streams[i]), 1);
    for (i = 0; i < sizeof others / sizeof others[0]; i++)
        CHECK_INT_EQ(stream_req_is_stream_uri(others[i]), 0);
    CHECK_INT_EQ(stream_req_is_stream_uri(NULL), 0);
    return check_summary("test_stream_uri");
}
