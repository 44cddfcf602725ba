/* agent/fuzz_event.c - libFuzzer target: a Consul user event's payload as
 * it arrives over gossip. Decoding either fails cleanly or yields an
 * event that re-encodes and decodes to the same fields. */
#include <string.h>

#include "local.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cn_user_event ev, again;
    struct cn_buf b;
    char *mem, *mem2;
    if (cn__event_decode(data, size, &ev, &mem) < 0) {
        CN_ASSERT(mem == NULL);
        return 0;
    }
    cn_buf_init(&b, 1u << 20);
    CN_ASSERT(cn__event_encode(&ev, &b) == 0);
    CN_ASSERT(cn__event_decode(b.data, b.len, &again, &mem2) == 0);
    CN_ASSERT(strcmp(ev.name, again.name) == 0 && strcmp(ev.id, again.id) == 0);
    CN_ASSERT(ev.payload_len == again.payload_len);
    CN_ASSERT(ev.payload_len == 0 || memcmp(ev.payload, again.payload, ev.payload_len) == 0);
    CN_ASSERT(strcmp(ev.node_filter, again.node_filter) == 0);
    CN_ASSERT(strcmp(ev.service_filter, again.service_filter) == 0);
    CN_ASSERT(strcmp(ev.tag_filter, again.tag_filter) == 0 && ev.version == again.version);
    cn_free(mem2);
    cn_free(mem);
    cn_buf_close(&b);
    return 0;
}
