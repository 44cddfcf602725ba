/* state/fuzz_restore.c - libFuzzer target: arbitrary snapshot bytes. A
 * failed restore must leave the old store exactly as it was; a successful
 * one must hold every invariant, re-snapshot to a stream that restores to
 * the same bytes again, and keep working (apply after restore). The CRC
 * gate makes random bytes fail early; the seed corpus carries streams
 * whose CRC the fuzzer will break, and the replay below also tries each
 * input with its CRC fixed up so the parser behind the gate is reached. */

#include "state_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int write_buf(void *ctx, const void *p, size_t n)
{
    return cn_buf_append(ctx, p, n);
}

static void snap(const struct cn_state *st, struct cn_buf *b)
{
    cn_buf_init(b, (size_t)1 << 30);
    CN_ASSERT(cn_state_snapshot(st, write_buf, b) == 0);
}

static bool same(const struct cn_buf *a, const struct cn_buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static void one(const uint8_t *data, size_t size)
{
    struct cn_state_config cfg = {0};
    struct cn_state *st, *again;
    struct cn_buf before, s1, s2, cmd;
    struct cn_kv_op op = {.verb = CN_KV_SET, .key = (const uint8_t *)"k",
                          .key_len = 1};
    int rc;

    CN_ASSERT(cn_state_new(&st, &cfg) == 0);
    cn_buf_init(&cmd, 1 << 16);
    CN_ASSERT(cn_state_cmd_kv(&cmd, &op) == 0);
    CN_ASSERT(cn_state_apply(st, 1, cmd.data, cmd.len, NULL) == 0);
    snap(st, &before);
    rc = cn_state_restore(st, data, size);
    cn__state_verify(st);
    if (rc < 0) {
        CN_ASSERT(rc == CN_ECORRUPT || rc == CN_EUNSUPPORTED);
        snap(st, &s1);
        CN_ASSERT(same(&s1, &before));
    } else {
        CN_ASSERT(cn_state_new(&again, &cfg) == 0);
        snap(st, &s1);
        CN_ASSERT(cn_state_restore(again, s1.data, s1.len) == 0);
        snap(again, &s2);
        CN_ASSERT(same(&s1, &s2));
        cn_buf_close(&s2);
        CN_ASSERT(cn_state_apply(st, cn_state_last_index(st) + 1, cmd.data,
                                 cmd.len, NULL) == 0);
        cn__state_verify(st);
        cn_state_free(again);
    }
    cn_buf_close(&s1);
    cn_buf_close(&before);
    cn_buf_close(&cmd);
    cn_state_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *fixed;
    uint32_t crc;
    one(data, size);
    if (size < 4 || size > (16u << 20))
        return 0;
    fixed = cn_alloc(size);
    if (!fixed)
        return 0;
    memcpy(fixed, data, size);
    crc = cn_crc32c(0, fixed, size - 4);
    fixed[size - 4] = (uint8_t)(crc >> 24);
    fixed[size - 3] = (uint8_t)(crc >> 16);
    fixed[size - 2] = (uint8_t)(crc >> 8);
    fixed[size - 1] = (uint8_t)crc;
    one(fixed, size);
    cn_free(fixed);
    return 0;
}
