/* state/snap_test.c - snapshot/restore, determinism, and allocation
 * failure injection across apply, restore and snapshot. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_util.h"

/* A fixed workload with sets, overwrites, deletes, a delete-tree and a
 * txn, so snapshots hold live rows and tombstones. */
static void fill(struct cn_state *st, int n, bool with_reply)
{
    struct cn_buf cmd, reply;
    char key[32], val[64];
    cn_buf_init(&cmd, 1 << 20);
    cn_buf_init(&reply, 1 << 20);
    for (int i = 0; i < n; i++) {
        struct cn_kv_op ops[2];
        size_t n_ops = 1;
        snprintf(key, sizeof key, "dir%d/key%03d", i % 4, i % 37);
        snprintf(val, sizeof val, "value-%d", i * 7);
        ops[0] = t_op(CN_KV_SET, key, val);
        ops[0].flags = (uint64_t)i;
        if (i % 5 == 3)
            ops[0].verb = CN_KV_DELETE;
        if (i % 11 == 10) {
            ops[1] = t_op(CN_KV_SET, "txn/key", val);
            n_ops = 2;
        }
        if (i % 50 == 49)
            ops[0] = t_op(CN_KV_DELETE_TREE, "dir1/", NULL);
        cmd.len = 0;
        reply.len = 0;
        if (n_ops == 2)
            assert_int_equal(cn_state_cmd_txn(&cmd, ops, 2), 0);
        else
            assert_int_equal(cn_state_cmd_kv(&cmd, &ops[0]), 0);
        assert_int_equal(cn_state_apply(st, cn_state_last_index(st) + 1,
                                        cmd.data, cmd.len,
                                        with_reply ? &reply : NULL), 0);
    }
    cn_buf_close(&cmd);
    cn_buf_close(&reply);
}

static void test_roundtrip_and_determinism(void **state)
{
    struct cn_state *a = t_new(0), *b = t_new(0), *c = t_new(0);
    struct cn_buf sa, sb, sc;
    (void)state;
    fill(a, 400, true);
    fill(b, 400, false); /* Replies never change state. */
    t_snap(a, &sa);
    t_snap(b, &sb);
    assert_int_equal(sa.len, sb.len);
    assert_memory_equal(sa.data, sb.data, sa.len);
    assert_int_equal(cn_state_restore(c, sa.data, sa.len), 0);
    t_snap(c, &sc);
    assert_int_equal(sa.len, sc.len);
    assert_memory_equal(sa.data, sc.data, sa.len);
    assert_int_equal(cn_state_last_index(c), 400);
    assert_int_equal(cn_state_kv_count(c), cn_state_kv_count(a));
    assert_int_equal(cn_state_kv_table_index(c), cn_state_kv_table_index(a));
    assert_int_equal(cn_state_kv_prefix_index(c, (const uint8_t *)"dir1/", 5),
                     cn_state_kv_prefix_index(a, (const uint8_t *)"dir1/", 5));
    assert_string_equal(t_get(c, "txn/key"), t_get(a, "txn/key"));
    /* The restored store keeps working, identically. */
    fill(a, 30, true);
    fill(c, 30, true);
    cn_buf_close(&sa);
    t_snap(a, &sa);
    assert_true(t_same_snap(c, &sa));
    cn_buf_close(&sa);
    cn_buf_close(&sb);
    cn_buf_close(&sc);
    cn_state_free(a);
    cn_state_free(b);
    cn_state_free(c);
}

static void test_empty_snapshot(void **state)
{
    struct cn_state *a = t_new(0), *b = t_new(0);
    struct cn_buf s;
    (void)state;
    assert_int_equal(t_set(b, "x", "y"), 1);
    t_snap(a, &s);
    assert_int_equal(cn_state_restore(b, s.data, s.len), 0);
    assert_int_equal(cn_state_kv_count(b), 0);
    assert_int_equal(cn_state_last_index(b), 0);
    cn_buf_close(&s);
    cn_state_free(a);
    cn_state_free(b);
}

static void test_corrupt_and_truncated(void **state)
{
    struct cn_state *src = t_new(0), *dst = t_new(0);
    struct cn_buf s, before;
    (void)state;
    fill(src, 120, false);
    assert_int_equal(t_set(dst, "keep", "me"), 1);
    t_snap(src, &s);
    t_snap(dst, &before);
    for (size_t len = 0; len < s.len; len++)
        assert_int_not_equal(cn_state_restore(dst, s.data, len), 0);
    for (size_t i = 0; i < s.len; i += 3) {
        s.data[i] ^= 0x20;
        assert_int_equal(cn_state_restore(dst, s.data, s.len), CN_ECORRUPT);
        s.data[i] ^= 0x20;
    }
    assert_true(t_same_snap(dst, &before));
    assert_string_equal(t_get(dst, "keep"), "me");
    assert_int_equal(cn_state_restore(dst, s.data, s.len), 0);
    cn_buf_close(&s);
    cn_buf_close(&before);
    cn_state_free(src);
    cn_state_free(dst);
}

/* Streams with a correct CRC but bad content. */
static void seal(struct cn_buf *b)
{
    uint32_t crc = cn_crc32c(0, b->data, b->len);
    uint8_t t[4] = {(uint8_t)(crc >> 24), (uint8_t)(crc >> 16),
                    (uint8_t)(crc >> 8), (uint8_t)crc};
    assert_int_equal(cn_buf_append(b, t, 4), 0);
}

static void section(struct cn_mp_writer *w, const char *name, uint64_t n)
{
    cn_mp_put_array(w, 2);
    cn_mp_put_cstr(w, name);
    cn_mp_put_uint(w, n);
}

/* A v2 stream with empty catalog sections, up to the KV rows. */
static void header(struct cn_mp_writer *w, uint64_t version, uint64_t last,
                   uint64_t kv_index, uint64_t n)
{
    static const char *empty[] = {"nodes", "services", "svcnames", "checks",
                                  "sessions"};
    cn_mp_put_array(w, 9);
    cn_mp_put_cstr(w, "cairn-state");
    cn_mp_put_uint(w, version);
    cn_mp_put_uint(w, last);
    cn_mp_put_uint(w, kv_index);
    for (int i = 0; i < 5; i++)
        cn_mp_put_uint(w, 0);
    for (int i = 0; i < 5; i++)
        section(w, empty[i], 0);
    section(w, "kv", n);
}

static void seal_kv(struct cn_buf *b, struct cn_mp_writer *w)
{
    section(w, "delays", 0);
    seal(b);
}

static void row(struct cn_mp_writer *w, const char *key, const char *value,
                uint64_t create, uint64_t modify)
{
    cn_mp_put_array(w, 7);
    cn_mp_put_bin(w, key, strlen(key));
    if (value)
        cn_mp_put_bin(w, value, strlen(value));
    else
        cn_mp_put_nil(w);
    cn_mp_put_uint(w, 0);
    cn_mp_put_uint(w, create);
    cn_mp_put_uint(w, modify);
    cn_mp_put_uint(w, 0);
    cn_mp_put_nil(w);
}

static void test_bad_content(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_buf b;
    struct cn_mp_writer w;
    (void)state;
    cn_buf_init(&b, 1 << 16);
    /* Good baseline. */
    cn_mp_writer_init(&w, &b);
    header(&w, 2, 9, 5, 2);
    row(&w, "a", "1", 1, 2);
    row(&w, "b", NULL, 0, 5);
    seal_kv(&b, &w);
    assert_int_equal(cn_state_restore(st, b.data, b.len), 0);
    assert_int_equal(cn_state_kv_count(st), 1);
    assert_int_equal(cn_state_kv_prefix_index(st, (const uint8_t *)"b", 1), 5);
    struct {
        const char *k1, *v1, *k2;
        uint64_t version, last, kv_index, c1, m1;
        int want;
    } cases[] = {
        {"b", "1", "a", 2, 9, 5, 1, 2, CN_ECORRUPT},  /* Out of order. */
        {"a", "1", "a", 2, 9, 5, 1, 2, CN_ECORRUPT},  /* Duplicate. */
        {"a", "1", "b", 2, 9, 5, 1, 7, CN_ECORRUPT},  /* modify > kv index. */
        {"a", "1", "b", 2, 4, 5, 1, 2, CN_ECORRUPT},  /* kv index > last. */
        {"a", "1", "b", 2, 9, 5, 3, 2, CN_ECORRUPT},  /* create > modify. */
        {"a", "1", "b", 2, 9, 5, 0, 2, CN_ECORRUPT},  /* create 0. */
        {"", "1", "b", 2, 9, 5, 1, 2, CN_ECORRUPT},   /* Empty key. */
        {"a", "1", "b", 1, 9, 5, 1, 2, CN_EUNSUPPORTED},
    };
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        b.len = 0;
        cn_mp_writer_init(&w, &b);
        header(&w, cases[i].version, cases[i].last, cases[i].kv_index, 2);
        row(&w, cases[i].k1, cases[i].v1, cases[i].c1, cases[i].m1);
        row(&w, cases[i].k2, NULL, 0, 5);
        seal_kv(&b, &w);
        assert_int_equal(cn_state_restore(st, b.data, b.len), cases[i].want);
        assert_int_equal(cn_state_last_index(st), 9);
    }
    /* A row count larger than the rows present; trailing bytes. */
    b.len = 0;
    cn_mp_writer_init(&w, &b);
    header(&w, 2, 9, 5, 3);
    row(&w, "a", "1", 1, 2);
    seal_kv(&b, &w);
    assert_int_equal(cn_state_restore(st, b.data, b.len), CN_ECORRUPT);
    b.len = 0;
    cn_mp_writer_init(&w, &b);
    header(&w, 2, 9, 5, 0);
    section(&w, "delays", 0);
    cn_mp_put_nil(&w);
    seal(&b);
    assert_int_equal(cn_state_restore(st, b.data, b.len), CN_ECORRUPT);
    assert_int_equal(cn_state_kv_count(st), 1);
    cn_buf_close(&b);
    cn_state_free(st);
}

static int failing_write(void *ctx, const void *data, size_t len)
{
    int *calls = ctx;
    (void)data;
    (void)len;
    return ++*calls == 2 ? -EIO : 0;
}

static void test_snapshot_write_error(void **state)
{
    struct cn_state *st = t_new(0);
    int calls = 0;
    (void)state;
    fill(st, 3000, false);
    assert_int_equal(cn_state_snapshot(st, failing_write, &calls), -EIO);
    assert_int_equal(calls, 2); /* Stopped at the failure. */
    cn_state_free(st);
}

/* Applies cmd at each injected failure point until it goes through: each
 * -ENOMEM must leave the store exactly as before (index included); the
 * final state must equal that of a store that never failed. */
static long inject_apply(struct cn_state *st, const struct cn_buf *cmd,
                         bool with_reply)
{
    struct cn_state *ref = t_new(0);
    struct cn_buf before, after, reply;
    uint64_t index = cn_state_last_index(st) + 1;
    long fails = 0;
    int rc = -ENOMEM;
    t_snap(st, &before);
    assert_int_equal(cn_state_restore(ref, before.data, before.len), 0);
    assert_int_equal(cn_state_apply(ref, index, cmd->data, cmd->len, NULL), 0);
    t_snap(ref, &after);
    for (long n = 0; rc == -ENOMEM; n++) {
        cn_buf_init(&reply, 1 << 20);
        cn_alloc_fail_after(n);
        rc = cn_state_apply(st, index, cmd->data, cmd->len,
                            with_reply ? &reply : NULL);
        cn_alloc_fail_after(-1);
        if (rc == -ENOMEM) {
            fails++;
            assert_int_equal(cn_state_last_index(st), index - 1);
            assert_true(t_same_snap(st, &before));
        } else {
            /* A reply that could not grow is CN_ETOOBIG: applied anyway. */
            assert_true(rc == 0 || (with_reply && rc == CN_ETOOBIG));
            assert_true(t_same_snap(st, &after));
        }
        cn_buf_close(&reply);
        assert_true(n < 100000);
    }
    cn_buf_close(&before);
    cn_buf_close(&after);
    cn_state_free(ref);
    return fails;
}

static void test_alloc_failure_apply(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_buf cmd;
    struct cn_kv_op ops[6];
    (void)state;
    fill(st, 300, false);
    cn_buf_init(&cmd, 1 << 20);
    ops[0] = t_op(CN_KV_SET, "dir0/key001", "changed");
    ops[1] = t_op(CN_KV_DELETE, "dir2/key002", NULL);
    ops[2] = t_op(CN_KV_SET, "brand/new", "x");
    ops[3] = t_op(CN_KV_DELETE_TREE, "dir3/", NULL);
    ops[4] = t_op(CN_KV_GET_TREE, "dir", NULL);
    ops[5] = t_op(CN_KV_CAS, "brand/new2", "y");
    assert_int_equal(cn_state_cmd_txn(&cmd, ops, 6), 0);
    assert_true(inject_apply(st, &cmd, false) >= 3);
    cmd.len = 0;
    ops[2] = t_op(CN_KV_SET, "brand/new3", "x");
    ops[5] = t_op(CN_KV_DELETE_TREE, "dir0/", NULL);
    assert_int_equal(cn_state_cmd_txn(&cmd, ops, 6), 0);
    assert_true(inject_apply(st, &cmd, true) >= 3);
    cmd.len = 0;
    ops[0] = t_op(CN_KV_SET, "single", "v");
    assert_int_equal(cn_state_cmd_kv(&cmd, &ops[0]), 0);
    inject_apply(st, &cmd, true);
    cmd.len = 0;
    assert_int_equal(cn_state_cmd_tombstone_reap(&cmd, 200), 0);
    inject_apply(st, &cmd, false);
    cn_buf_close(&cmd);
    cn_state_free(st);
}

static void test_alloc_failure_restore_snapshot(void **state)
{
    struct cn_state *src = t_new(0), *dst = t_new(0);
    struct cn_buf s, before, out;
    int rc = -ENOMEM;
    (void)state;
    fill(src, 200, false);
    assert_int_equal(t_set(dst, "mine", "v"), 1);
    t_snap(src, &s);
    t_snap(dst, &before);
    for (long n = 0; rc == -ENOMEM; n++) {
        cn_alloc_fail_after(n);
        rc = cn_state_restore(dst, s.data, s.len);
        cn_alloc_fail_after(-1);
        if (rc == -ENOMEM)
            assert_true(t_same_snap(dst, &before));
    }
    assert_int_equal(rc, 0);
    assert_true(t_same_snap(dst, &s));
    rc = -ENOMEM;
    for (long n = 0; rc == -ENOMEM; n++) {
        cn_buf_init(&out, 1 << 24);
        cn_alloc_fail_after(n);
        rc = cn_state_snapshot(src, t_snap_write, &out);
        cn_alloc_fail_after(-1);
        if (rc == 0)
            assert_memory_equal(out.data, s.data, s.len);
        cn_buf_close(&out);
    }
    assert_int_equal(rc, 0);
    cn_buf_close(&s);
    cn_buf_close(&before);
    cn_state_free(src);
    cn_state_free(dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_determinism),
        cmocka_unit_test(test_empty_snapshot),
        cmocka_unit_test(test_corrupt_and_truncated),
        cmocka_unit_test(test_bad_content),
        cmocka_unit_test(test_snapshot_write_error),
        cmocka_unit_test(test_alloc_failure_apply),
        cmocka_unit_test(test_alloc_failure_restore_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
