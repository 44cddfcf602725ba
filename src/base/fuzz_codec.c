/* base/fuzz_codec.c - libFuzzer target: msgpack reader, Go durations,
 * base64 and integer parsing must never crash or read out of bounds, and
 * what they accept must round-trip. */
#include <stdio.h>
#include <stdlib.h>

#include "base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_mp(const uint8_t *data, size_t size)
{
    struct cn_mp_reader r;
    cn_mp_reader_init(&r, data, size);
    while (cn_mp_left(&r) > 0) {
        const uint8_t *before = r.p;
        if (cn_mp_skip(&r) < 0) {
            CN_ASSERT(r.p == before); /* Errors never advance. */
            break;
        }
        CN_ASSERT(r.p > before && r.p <= r.end);
    }
}

static void fuzz_duration(const uint8_t *data, size_t size)
{
    int64_t ns, again;
    char out[40];
    if (cn_duration_parse((const char *)data, size, &ns) < 0)
        return;
    cn_duration_format(ns, out, sizeof out);
    /* Formatting is exact, so parsing our output gives the value back. */
    CN_ASSERT(cn_duration_parse(out, strlen(out), &again) == 0);
    CN_ASSERT(again == ns);
}

static void fuzz_base64(const uint8_t *data, size_t size)
{
    uint8_t *dec = malloc(size / 4 * 3 + 1);
    char *enc;
    size_t n;
    if (!dec)
        return;
    if (cn_base64_decode((const char *)data, size, dec, &n) == 0) {
        enc = malloc(cn_base64_encoded_len(n) + 1);
        CN_ASSERT(enc != NULL);
        cn_base64_encode(dec, n, enc);
        CN_ASSERT(cn_base64_encoded_len(n) == size);
        /* Like Go's StdEncoding we accept non-zero trailing bits, so the
         * text may differ; the bytes must survive a second round. */
        uint8_t *again = malloc(size / 4 * 3 + 1);
        size_t n2;
        CN_ASSERT(again != NULL);
        CN_ASSERT(cn_base64_decode(enc, size, again, &n2) == 0);
        CN_ASSERT(n2 == n && memcmp(again, dec, n) == 0);
        free(again);
        free(enc);
    }
    free(dec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t u;
    fuzz_mp(data, size);
    fuzz_duration(data, size);
    fuzz_base64(data, size);
    (void)cn_parse_u64((const char *)data, size, &u);
    return 0;
}
