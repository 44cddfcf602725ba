/* gossip/fuzz_stream.c - fuzz target: a TCP stream message (push/pull,
 * fallback ping, reliable user message, possibly LZW-compressed) through
 * framing detection, the responder path and the initiator merge path. */
#include "gossip_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cn__gcore_config cfg = {
        .name = "fuzz", .addr = { .ip = { 127, 0, 0, 1 }, .len = 4, .port = 7946 },
        .compress = true, .seed = 2,
    };
    struct cn__gaddr peer = { .ip = { 127, 0, 0, 2 }, .len = 4, .port = 7947 };
    struct cn__gcore *c;
    struct cn__gready rd;
    struct cn_buf reply;
    size_t msg_len;
    uint32_t id;

    (void)cn__gm_stream_complete(data, size, &msg_len);
    cn__gossip_timing_init(&cfg.t, CN_GOSSIP_LAN);
    if (cn__gcore_new(&c, &cfg, 1000) < 0)
        return 0;
    cn_buf_init(&reply, CN_GOSSIP_INFLATE_BYTES_MAX);
    (void)cn__gcore_stream_in(c, 1000, &peer, data, size, &reply);
    cn_buf_close(&reply);
    if (cn__gcore_join(c, 1000, &peer, &id) == 0)
        (void)cn__gcore_stream_done(c, 1001, id, 0, data, size);
    cn__gcore_tick(c, 2000);
    cn__gcore_ready(c, &rd);
    cn__gcore_advance(c, &rd);
    cn__gcore_free(c);
    return 0;
}
