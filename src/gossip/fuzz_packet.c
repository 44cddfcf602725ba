/* gossip/fuzz_packet.c - fuzz target: one UDP datagram into a live core
 * (every memberlist/serf message type, compound, CRC, LZW), then a tick,
 * the codec's LZW decoder on its own, and the serf query payload decoders
 * (key request/response, filters) the shell runs on untrusted bytes.
 * Input: any bytes. */
#include "gossip_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct cn_gossip_tag tags[] = { { "role", "node" }, { "dc", "dc1" } };
    struct cn__gcore_config cfg = {
        .name = "fuzz", .addr = { .ip = { 127, 0, 0, 1 }, .len = 4, .port = 7946 },
        .tags = tags, .n_tags = 2, .compress = true, .seed = 1,
        .reconnect_timeout_ms = 1000, .tombstone_timeout_ms = 1000,
    };
    struct cn__gaddr from = { .ip = { 127, 0, 0, 2 }, .len = 4, .port = 7947 };
    struct cn__gcore *c;
    struct cn__gready rd;
    struct cn_buf out;

    cn__gossip_timing_init(&cfg.t, CN_GOSSIP_LAN);
    if (cn__gcore_new(&c, &cfg, 1000) < 0)
        return 0;
    /* Twice: the second pass meets the state the first one built. */
    cn__gcore_recv(c, 1000, &from, data, size);
    cn__gcore_recv(c, 1001, &from, data, size);
    cn__gcore_tick(c, 40000);
    cn__gcore_ready(c, &rd);
    cn__gcore_advance(c, &rd);
    cn__gcore_free(c);

    cn_buf_init(&out, 1 << 20);
    (void)cn__lzw_decode(data, size, &out);
    cn_buf_close(&out);
    if (size > 2 && size < UINT32_MAX) {
        struct cn__sm_keyresp k;
        struct cn__gstr key, f = { data, (uint32_t)size }, tag, expr;
        bool match;
        (void)cn__sm_keyresp_decode(data, size, &k);
        (void)cn__sm_keyreq_decode(data, size, &key);
        (void)cn__sm_filter_nodes_match(&f, "fuzz", 4, &match);
        (void)cn__sm_filter_tag_read(&f, &tag, &expr);
    }
    return 0;
}
