/* state/test_util.h - helpers shared by the state module's cmocka tests.
 * Header-only (static functions); include after <cmocka.h>. */
#ifndef CN_STATE_TEST_UTIL_H
#define CN_STATE_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#include "state.h"

static inline struct cn_state *t_new(uint64_t bytes_max)
{
    struct cn_state_config cfg = {.bytes_max = bytes_max};
    struct cn_state *st = NULL;
    assert_int_equal(cn_state_new(&st, &cfg), 0);
    return st;
}

static inline struct cn_kv_op t_op(enum cn_kv_verb verb, const char *key,
                                   const char *value)
{
    struct cn_kv_op op;
    memset(&op, 0, sizeof op);
    op.verb = verb;
    op.key = (const uint8_t *)key;
    op.key_len = key ? strlen(key) : 0;
    op.value = (const uint8_t *)value;
    op.value_len = value ? strlen(value) : 0;
    return op;
}

/* Outcome of a single KV command: 1 true, 0 false, -1 error string (copied
 * to err if given), or a negative apply error below -1. */
static inline int t_kv_op(struct cn_state *st, const struct cn_kv_op *op,
                          char *err, size_t err_size)
{
    struct cn_buf cmd, reply;
    struct cn_mp_reader r;
    const uint8_t *s;
    uint32_t n;
    bool b;
    int rc;
    cn_buf_init(&cmd, 1 << 20);
    cn_buf_init(&reply, 1 << 20);
    assert_int_equal(cn_state_cmd_kv(&cmd, op), 0);
    rc = cn_state_apply(st, cn_state_last_index(st) + 1, cmd.data, cmd.len,
                        &reply);
    if (rc == 0) {
        cn_mp_reader_init(&r, reply.data, reply.len);
        if (cn_mp_read_bool(&r, &b) == 0) {
            rc = b ? 1 : 0;
        } else {
            assert_int_equal(cn_mp_read_str(&r, &s, &n), 0);
            if (err) {
                snprintf(err, err_size, "%.*s", (int)n, (const char *)s);
            }
            rc = -1;
        }
        assert_int_equal(cn_mp_left(&r), 0);
    }
    cn_buf_close(&cmd);
    cn_buf_close(&reply);
    return rc;
}

static inline int t_kv(struct cn_state *st, enum cn_kv_verb verb,
                       const char *key, const char *value, uint64_t index)
{
    struct cn_kv_op op = t_op(verb, key, value);
    op.index = index;
    return t_kv_op(st, &op, NULL, 0);
}

static inline int t_set(struct cn_state *st, const char *key, const char *value)
{
    return t_kv(st, CN_KV_SET, key, value, 0);
}

/* The value of a live key as a C string in a static buffer, or NULL. */
static inline const char *t_get(struct cn_state *st, const char *key)
{
    static char buf[4096];
    struct cn_kv_entry e;
    if (cn_state_kv_get(st, (const uint8_t *)key, strlen(key), &e) != 0)
        return NULL;
    snprintf(buf, sizeof buf, "%.*s", (int)e.value_len,
             e.value ? (const char *)e.value : "");
    return buf;
}

static int t_snap_write(void *ctx, const void *data, size_t len)
{
    return cn_buf_append(ctx, data, len);
}

/* Whole snapshot into b (initialised here). */
static inline void t_snap(const struct cn_state *st, struct cn_buf *b)
{
    cn_buf_init(b, (size_t)1 << 30);
    assert_int_equal(cn_state_snapshot(st, t_snap_write, b), 0);
}

static inline bool t_same_snap(const struct cn_state *st,
                               const struct cn_buf *want)
{
    struct cn_buf b;
    bool same;
    t_snap(st, &b);
    same = b.len == want->len && memcmp(b.data, want->data, b.len) == 0;
    cn_buf_close(&b);
    return same;
}

/* A decoded txn reply. Entries borrow from the reply buffer. */
#define T_TXN_MAX 256
struct t_txn {
    struct cn_buf reply;
    bool ok;                 /* Results present, Errors nil. */
    uint32_t n_results;
    struct cn_kv_entry results[T_TXN_MAX];
    bool result_nil[T_TXN_MAX];
    uint32_t n_errors;
    uint64_t err_op[T_TXN_MAX];
    char err_what[T_TXN_MAX][256];
};

static inline void t_txn_decode(struct t_txn *t)
{
    struct cn_mp_reader r;
    uint32_t n, m;
    const uint8_t *k;
    uint32_t kl;
    cn_mp_reader_init(&r, t->reply.data, t->reply.len);
    assert_int_equal(cn_mp_read_map(&r, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(cn_mp_read_str(&r, &k, &kl), 0);
    assert_memory_equal(k, "Results", 7);
    t->ok = cn_mp_read_nil(&r) != 0;
    if (t->ok) {
        assert_int_equal(cn_mp_read_array(&r, &t->n_results), 0);
        assert_true(t->n_results <= T_TXN_MAX);
        for (uint32_t i = 0; i < t->n_results; i++) {
            assert_int_equal(cn_mp_read_map(&r, &m), 0);
            assert_int_equal(m, 1);
            assert_int_equal(cn_mp_read_str(&r, &k, &kl), 0);
            assert_memory_equal(k, "KV", 2);
            t->result_nil[i] = cn_mp_read_nil(&r) == 0;
            if (!t->result_nil[i])
                assert_int_equal(cn_state_kv_entry_decode(&r, &t->results[i]), 0);
        }
    }
    assert_int_equal(cn_mp_read_str(&r, &k, &kl), 0);
    assert_memory_equal(k, "Errors", 6);
    if (t->ok) {
        assert_int_equal(cn_mp_read_nil(&r), 0);
    } else {
        assert_int_equal(cn_mp_read_array(&r, &t->n_errors), 0);
        assert_true(t->n_errors > 0 && t->n_errors <= T_TXN_MAX);
        for (uint32_t i = 0; i < t->n_errors; i++) {
            const uint8_t *w;
            uint32_t wl;
            assert_int_equal(cn_mp_read_map(&r, &m), 0);
            assert_int_equal(m, 2);
            assert_int_equal(cn_mp_read_str(&r, &k, &kl), 0);
            assert_int_equal(cn_mp_read_uint(&r, &t->err_op[i]), 0);
            assert_int_equal(cn_mp_read_str(&r, &k, &kl), 0);
            assert_int_equal(cn_mp_read_str(&r, &w, &wl), 0);
            snprintf(t->err_what[i], sizeof t->err_what[i], "%.*s", (int)wl,
                     (const char *)w);
        }
    }
    assert_int_equal(cn_mp_left(&r), 0);
}

/* Applies (read_only: evaluates) a txn; the caller closes t->reply. */
static inline int t_txn(struct cn_state *st, const struct cn_kv_op *ops,
                        size_t n, bool read_only, struct t_txn *t)
{
    struct cn_buf cmd;
    int rc;
    memset(t, 0, sizeof *t);
    cn_buf_init(&cmd, 16 << 20);
    cn_buf_init(&t->reply, 16 << 20);
    assert_int_equal(cn_state_cmd_txn(&cmd, ops, n), 0);
    if (read_only)
        rc = cn_state_txn_read(st, cmd.data, cmd.len, &t->reply);
    else
        rc = cn_state_apply(st, cn_state_last_index(st) + 1, cmd.data,
                            cmd.len, &t->reply);
    if (rc == 0)
        t_txn_decode(t);
    cn_buf_close(&cmd);
    return rc;
}

#endif
