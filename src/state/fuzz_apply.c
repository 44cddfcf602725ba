/* state/fuzz_apply.c - libFuzzer target: arbitrary bytes as a sequence of
 * commands. Input = frames of [2-byte big-endian length][command bytes].
 * Every frame is applied at the next index with a reply; the store must
 * never crash, must keep every invariant (cn__state_verify), must stay
 * identical to a twin store that applies without replies, and must
 * survive a snapshot/restore round trip byte for byte. A few watches (KV,
 * table, service and node) stay armed, re-arming themselves, to exercise
 * the firing paths. */

#include "state_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fw {
    struct cn_watch w;
    struct cn_state *st;
    int kind;
    unsigned fired;
};

static void on_fire(struct cn_watch *w)
{
    struct fw *f = w->ctx;
    f->fired++;
    if (f->kind == 0)
        (void)cn_state_watch_kv(f->st, w, CN_WATCH_KV_PREFIX, NULL, 0);
    else if (f->kind == 1)
        (void)cn_state_watch_kv(f->st, w, CN_WATCH_KV_KEY, (const uint8_t *)"a", 1);
    else if (f->kind == 2)
        (void)cn_state_watch_table(f->st, w, CN_TABLE_KV);
    else if (f->kind == 3)
        (void)cn_state_watch_name(f->st, w, CN_WATCH_SERVICE, "web", 3);
    else
        (void)cn_state_watch_name(f->st, w, CN_WATCH_NODE, "n1", 2);
}

static int write_buf(void *ctx, const void *p, size_t n)
{
    return cn_buf_append(ctx, p, n);
}

static void snap(const struct cn_state *st, struct cn_buf *b)
{
    cn_buf_init(b, (size_t)1 << 30);
    CN_ASSERT(cn_state_snapshot(st, write_buf, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cn_state_config cfg = {.bytes_max = 1 << 20};
    struct cn_state *st, *twin, *copy;
    struct fw fw[5];
    struct cn_buf reply, s1, s2, s3;
    uint64_t index = 0;

    CN_ASSERT(cn_state_new(&st, &cfg) == 0);
    CN_ASSERT(cn_state_new(&twin, &cfg) == 0);
    CN_ASSERT(cn_state_new(&copy, &cfg) == 0);
    for (int i = 0; i < 5; i++) {
        memset(&fw[i], 0, sizeof fw[i]);
        fw[i].w.fn = on_fire;
        fw[i].w.ctx = &fw[i];
        fw[i].st = st;
        fw[i].kind = i;
        on_fire(&fw[i].w);
    }
    cn_buf_init(&reply, 4 << 20);
    while (size >= 2) {
        size_t len = (size_t)data[0] << 8 | data[1];
        int rc, rc2;
        data += 2;
        size -= 2;
        if (len > size)
            len = size;
        index += 1 + (len & 1); /* Index gaps are legal. */
        reply.len = 0;
        rc = cn_state_apply(st, index, data, len, &reply);
        rc2 = cn_state_apply(twin, index, data, len, NULL);
        CN_ASSERT(rc == 0 || rc == CN_EMALFORMED || rc == CN_ELIMIT ||
                  rc == CN_ETOOBIG);
        CN_ASSERT(rc2 == (rc == CN_ETOOBIG ? 0 : rc));
        CN_ASSERT(rc != 0 || reply.len > 0);
        CN_ASSERT(cn_state_last_index(st) == index);
        cn__state_verify(st);
        data += len;
        size -= len;
    }
    snap(st, &s1);
    snap(twin, &s2);
    CN_ASSERT(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0);
    CN_ASSERT(cn_state_restore(copy, s1.data, s1.len) == 0);
    cn__state_verify(copy);
    snap(copy, &s3);
    CN_ASSERT(s1.len == s3.len && memcmp(s1.data, s3.data, s1.len) == 0);
    cn_buf_close(&s1);
    cn_buf_close(&s2);
    cn_buf_close(&s3);
    cn_buf_close(&reply);
    cn_state_free(st);
    cn_state_free(twin);
    cn_state_free(copy);
    return 0;
}
