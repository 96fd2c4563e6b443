/* libFuzzer target: a stream request's params (routing, topics, tokens,
 * Last-Event-ID) as the stream responder decides on them. */
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "fuzz_db.h"
#include "stream/stream_req.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct db *db = fuzz_db(); /* loads pulse_cfg first */
    buf_t params = {0};
    struct stream_req r;

    buf_append(&params, data, size);
    stream_req_parse(pulse_cfg, db, &params, 1000, &r);
    stream_req_free(&r);
    buf_free(&params);
    return 0;
}
