/* agent/fuzz_dns_reply.c - libFuzzer target: the DNS backend's decoders of
 * catalog/health RPC replies (dns_backend.c). Any bytes must decode or
 * fail with an error code, never crash or read out of bounds. */
#include "agent/agent_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    (void)cn__agent_dns_decode_fuzz(data, size);
    return 0;
}
