/* state/kv_test.c - KV verbs, txns, limits and malformed commands. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_util.h"

static struct t_txn tx; /* Big; one at a time. */

static void test_set_get(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_entry e;
    struct cn_kv_op op;
    (void)state;
    assert_int_equal(cn_state_kv_get(st, (const uint8_t *)"a", 1, &e), CN_ENOTFOUND);
    assert_int_equal(cn_state_kv_key_index(st, (const uint8_t *)"a", 1), 0);
    assert_int_equal(t_set(st, "a", "one"), 1);
    assert_int_equal(cn_state_kv_get(st, (const uint8_t *)"a", 1, &e), 0);
    assert_int_equal(e.create_index, 1);
    assert_int_equal(e.modify_index, 1);
    assert_int_equal(e.lock_index, 0);
    assert_null(e.session);
    assert_memory_equal(e.value, "one", 3);
    op = t_op(CN_KV_SET, "a", "two");
    op.flags = 42;
    assert_int_equal(t_kv_op(st, &op, NULL, 0), 1);
    assert_int_equal(cn_state_kv_get(st, (const uint8_t *)"a", 1, &e), 0);
    assert_int_equal(e.create_index, 1);
    assert_int_equal(e.modify_index, 2);
    assert_int_equal(e.flags, 42);
    assert_string_equal(t_get(st, "a"), "two");
    /* Empty value. */
    assert_int_equal(t_set(st, "b", NULL), 1);
    assert_int_equal(cn_state_kv_get(st, (const uint8_t *)"b", 1, &e), 0);
    assert_null(e.value);
    assert_int_equal(e.value_len, 0);
    assert_int_equal(cn_state_kv_count(st), 2);
    assert_int_equal(cn_state_kv_table_index(st), 3);
    assert_int_equal(cn_state_last_index(st), 3);
    /* "a/" and "a" are different keys. */
    assert_int_equal(t_set(st, "a/", "dir"), 1);
    assert_string_equal(t_get(st, "a"), "two");
    assert_string_equal(t_get(st, "a/"), "dir");
    cn_state_free(st);
}

static void test_set_unchanged_is_noop(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_entry e;
    (void)state;
    assert_int_equal(t_set(st, "k", "v"), 1);
    assert_int_equal(t_set(st, "other", "x"), 1);
    assert_int_equal(t_set(st, "k", "v"), 1); /* Consul: Equal() -> no write. */
    assert_int_equal(cn_state_kv_get(st, (const uint8_t *)"k", 1, &e), 0);
    assert_int_equal(e.modify_index, 1);
    assert_int_equal(cn_state_kv_table_index(st), 2);
    assert_int_equal(cn_state_last_index(st), 3);
    cn_state_free(st);
}

static void test_cas(void **state)
{
    struct cn_state *st = t_new(0);
    (void)state;
    assert_int_equal(t_kv(st, CN_KV_CAS, "k", "v1", 0), 1);  /* absent: ok */
    assert_int_equal(t_kv(st, CN_KV_CAS, "k", "v2", 0), 0);  /* present */
    assert_int_equal(t_kv(st, CN_KV_CAS, "k", "v2", 7), 0);  /* stale */
    assert_int_equal(t_kv(st, CN_KV_CAS, "k", "v2", 1), 1);
    assert_string_equal(t_get(st, "k"), "v2");
    assert_int_equal(t_kv(st, CN_KV_CAS, "missing", "v", 3), 0);
    assert_null(t_get(st, "missing"));
    /* A refused CAS consumes the index but moves no table index. */
    assert_int_equal(cn_state_kv_table_index(st), 4);
    assert_int_equal(cn_state_last_index(st), 5);
    /* cas=0 succeeds again once the key is deleted (tombstone). */
    assert_int_equal(t_kv(st, CN_KV_DELETE, "k", NULL, 0), 1);
    assert_int_equal(t_kv(st, CN_KV_CAS, "k", "v3", 0), 1);
    cn_state_free(st);
}

static void test_delete_tombstone(void **state)
{
    struct cn_state *st = t_new(0);
    const uint8_t *p = (const uint8_t *)"app/";
    (void)state;
    assert_int_equal(t_set(st, "app/a", "1"), 1);   /* 1 */
    assert_int_equal(t_set(st, "app/b", "2"), 1);   /* 2 */
    assert_int_equal(t_set(st, "zzz", "3"), 1);     /* 3 */
    assert_int_equal(cn_state_kv_prefix_index(st, p, 4), 2);
    assert_int_equal(t_kv(st, CN_KV_DELETE, "app/b", NULL, 0), 1); /* 4 */
    assert_null(t_get(st, "app/b"));
    assert_int_equal(cn_state_kv_count(st), 2);
    /* The prefix keeps the delete's index (never goes backwards)... */
    assert_int_equal(cn_state_kv_prefix_index(st, p, 4), 4);
    /* ...and a missing key reports the table index. */
    assert_int_equal(cn_state_kv_key_index(st, (const uint8_t *)"app/b", 5), 4);
    /* Missing key: true, nothing changes. */
    assert_int_equal(t_kv(st, CN_KV_DELETE, "nope", NULL, 0), 1); /* 5 */
    assert_int_equal(cn_state_kv_table_index(st), 4);
    /* Deleting a tombstone again changes nothing either. */
    assert_int_equal(t_kv(st, CN_KV_DELETE, "app/b", NULL, 0), 1);
    assert_int_equal(cn_state_kv_table_index(st), 4);
    cn_state_free(st);
}

static void test_delete_cas(void **state)
{
    struct cn_state *st = t_new(0);
    (void)state;
    assert_int_equal(t_set(st, "k", "v"), 1);                      /* 1 */
    assert_int_equal(t_kv(st, CN_KV_DELETE_CAS, "k", NULL, 0), 0); /* 0 never */
    assert_int_equal(t_kv(st, CN_KV_DELETE_CAS, "k", NULL, 9), 0);
    assert_string_equal(t_get(st, "k"), "v");
    assert_int_equal(t_kv(st, CN_KV_DELETE_CAS, "k", NULL, 1), 1);
    assert_null(t_get(st, "k"));
    /* Consul's kvsDeleteCASTxn: a missing key counts as deleted. */
    assert_int_equal(t_kv(st, CN_KV_DELETE_CAS, "k", NULL, 1), 1);
    assert_int_equal(t_kv(st, CN_KV_DELETE_CAS, "never", NULL, 0), 1);
    cn_state_free(st);
}

struct collect {
    char keys[64][32];
    int n;
};

static int collect_fn(void *ctx, const struct cn_kv_entry *e)
{
    struct collect *c = ctx;
    snprintf(c->keys[c->n++], 32, "%.*s", (int)e->key_len, (const char *)e->key);
    return 0;
}

static void test_delete_tree(void **state)
{
    struct cn_state *st = t_new(0);
    struct collect c = {0};
    const uint8_t *p = (const uint8_t *)"a/";
    (void)state;
    assert_int_equal(t_set(st, "a", "x"), 1);       /* 1 */
    assert_int_equal(t_set(st, "a/", "x"), 1);      /* 2 */
    assert_int_equal(t_set(st, "a/b", "x"), 1);     /* 3 */
    assert_int_equal(t_set(st, "a/b/c", "x"), 1);   /* 4 */
    assert_int_equal(t_set(st, "a/c/d", "x"), 1);   /* 5 */
    assert_int_equal(t_set(st, "b", "x"), 1);       /* 6 */
    assert_int_equal(t_kv(st, CN_KV_DELETE, "a/c/d", NULL, 0), 1); /* 7 */
    assert_int_equal(cn_state_kv_prefix_index(st, (const uint8_t *)"a/c/", 4), 7);
    assert_int_equal(t_kv(st, CN_KV_DELETE_TREE, "a/", NULL, 0), 1); /* 8 */
    assert_int_equal(cn_state_kv_list(st, NULL, 0, collect_fn, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.keys[0], "a");
    assert_string_equal(c.keys[1], "b");
    assert_int_equal(cn_state_kv_prefix_index(st, p, 2), 8);
    assert_int_equal(cn_state_kv_prefix_index(st, (const uint8_t *)"a", 1), 8);
    /* Longer prefixes are empty now: the (newer) table index. */
    assert_int_equal(cn_state_kv_prefix_index(st, (const uint8_t *)"a/c/", 4), 8);
    assert_int_equal(cn_state_kv_table_index(st), 8);
    /* Nothing live under the prefix: no change at all. */
    assert_int_equal(t_kv(st, CN_KV_DELETE_TREE, "a/", NULL, 0), 1); /* 9 */
    assert_int_equal(cn_state_kv_table_index(st), 8);
    assert_int_equal(t_kv(st, CN_KV_DELETE_TREE, "zz", NULL, 0), 1); /* 10 */
    assert_int_equal(cn_state_kv_table_index(st), 8);
    /* The empty prefix deletes everything, leaving no tombstone. */
    assert_int_equal(t_kv(st, CN_KV_DELETE_TREE, "", NULL, 0), 1); /* 11 */
    assert_int_equal(cn_state_kv_count(st), 0);
    assert_int_equal(cn_state_kv_table_index(st), 11);
    assert_int_equal(cn_state_kv_prefix_index(st, (const uint8_t *)"a", 1), 11);
    cn_state_free(st);
}

static void test_reap(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_buf cmd, snap;
    const uint8_t *p = (const uint8_t *)"p/";
    (void)state;
    assert_int_equal(t_set(st, "p/a", "1"), 1);                    /* 1 */
    assert_int_equal(t_set(st, "p/b", "2"), 1);                    /* 2 */
    assert_int_equal(t_kv(st, CN_KV_DELETE, "p/b", NULL, 0), 1);   /* 3 */
    assert_int_equal(t_set(st, "q", "3"), 1);                      /* 4 */
    assert_int_equal(t_kv(st, CN_KV_DELETE, "q", NULL, 0), 1);     /* 5 */
    assert_int_equal(cn_state_kv_prefix_index(st, p, 2), 3);
    cn_buf_init(&cmd, 64);
    assert_int_equal(cn_state_cmd_tombstone_reap(&cmd, 3), 0);
    assert_int_equal(cn_state_apply(st, 6, cmd.data, cmd.len, NULL), 0);
    /* p/b's tombstone is gone: the prefix index falls back to p/a's. */
    assert_int_equal(cn_state_kv_prefix_index(st, p, 2), 1);
    assert_int_equal(cn_state_kv_prefix_index(st, (const uint8_t *)"q", 1), 5);
    assert_int_equal(cn_state_kv_table_index(st), 5); /* Unmoved. */
    assert_int_equal(cn_state_last_index(st), 6);
    /* Reaping nothing is fine too. */
    t_snap(st, &snap);
    cmd.len = 0;
    assert_int_equal(cn_state_cmd_tombstone_reap(&cmd, 1), 0);
    assert_int_equal(cn_state_apply(st, 7, cmd.data, cmd.len, NULL), 0);
    cn_buf_close(&snap);
    cn_buf_close(&cmd);
    cn_state_free(st);
}

static void test_lock_without_sessions(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_op op = t_op(CN_KV_LOCK, "lk", "v");
    char err[128];
    (void)state;
    op.session = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
    assert_int_equal(t_kv_op(st, &op, err, sizeof err), -1);
    assert_string_equal(err, "invalid session \"adf4238a-882b-9ddc-4a9d-5b6758e4159e\"");
    assert_null(t_get(st, "lk"));
    op.session = NULL;
    assert_int_equal(t_kv_op(st, &op, err, sizeof err), -1);
    assert_string_equal(err, "missing session");
    op.verb = CN_KV_UNLOCK;
    assert_int_equal(t_kv_op(st, &op, err, sizeof err), -1);
    assert_string_equal(err, "missing session");
    op.session = "s";
    assert_int_equal(t_set(st, "lk", "v"), 1);
    assert_int_equal(t_kv_op(st, &op, err, sizeof err), 0); /* Not held. */
    assert_int_equal(cn_state_kv_table_index(st), 4);
    cn_state_free(st);
}

static void test_txn_success(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_op ops[8];
    (void)state;
    assert_int_equal(t_set(st, "t/x", "old"), 1);  /* 1 */
    ops[0] = t_op(CN_KV_SET, "t/a", "A");
    ops[1] = t_op(CN_KV_CAS, "t/x", "new");
    ops[1].index = 1;
    ops[2] = t_op(CN_KV_GET, "t/x", NULL);
    ops[3] = t_op(CN_KV_CHECK_NOT_EXISTS, "t/nope", NULL);
    ops[4] = t_op(CN_KV_DELETE, "t/gone", NULL);
    ops[5] = t_op(CN_KV_GET_TREE, "t/", NULL);
    ops[6] = t_op(CN_KV_CHECK_INDEX, "t/a", NULL);
    ops[6].index = 2;
    ops[7] = t_op(CN_KV_GET_OR_EMPTY, "t/none", NULL);
    assert_int_equal(t_txn(st, ops, 8, false, &tx), 0);
    assert_true(tx.ok);
    /* set, cas, get, get-tree x2, check-index, get-or-empty. */
    assert_int_equal(tx.n_results, 7);
    assert_memory_equal(tx.results[0].key, "t/a", 3);
    assert_null(tx.results[0].value);              /* No value for set. */
    assert_int_equal(tx.results[0].modify_index, 2);
    assert_int_equal(tx.results[1].create_index, 1);
    assert_int_equal(tx.results[1].modify_index, 2);
    assert_memory_equal(tx.results[2].value, "new", 3); /* get sees the cas. */
    assert_memory_equal(tx.results[3].key, "t/a", 3);
    assert_memory_equal(tx.results[3].value, "A", 1);
    assert_memory_equal(tx.results[4].key, "t/x", 3);
    assert_memory_equal(tx.results[5].key, "t/a", 3);
    assert_null(tx.results[5].value);
    assert_memory_equal(tx.results[6].key, "t/none", 6);
    assert_int_equal(tx.results[6].modify_index, 0);
    cn_buf_close(&tx.reply);
    assert_string_equal(t_get(st, "t/x"), "new");
    assert_int_equal(cn_state_kv_table_index(st), 2);
    /* Only deletes: success with an empty result list. */
    ops[0] = t_op(CN_KV_DELETE, "t/a", NULL);
    assert_int_equal(t_txn(st, ops, 1, false, &tx), 0);
    assert_true(tx.ok);
    assert_int_equal(tx.n_results, 0);
    cn_buf_close(&tx.reply);
    cn_state_free(st);
}

static void test_txn_rollback(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_op ops[5];
    struct collect c = {0};
    (void)state;
    assert_int_equal(t_set(st, "a", "1"), 1);  /* 1 */
    assert_int_equal(t_set(st, "b", "2"), 1);  /* 2 */
    ops[0] = t_op(CN_KV_SET, "c", "new");
    ops[1] = t_op(CN_KV_DELETE_TREE, "", NULL);
    ops[2] = t_op(CN_KV_CAS, "a", "x");
    ops[2].index = 99;
    ops[3] = t_op(CN_KV_SET, "d", "new");
    ops[4] = t_op(CN_KV_GET, "a", NULL); /* Gone by then: a 2nd error. */
    assert_int_equal(t_txn(st, ops, 5, false, &tx), 0);
    assert_false(tx.ok);
    assert_int_equal(tx.n_errors, 2);
    assert_int_equal(tx.err_op[0], 2);
    assert_string_equal(tx.err_what[0], "failed to set key \"a\", index is stale");
    assert_int_equal(tx.err_op[1], 4);
    assert_string_equal(tx.err_what[1], "key \"a\" doesn't exist");
    cn_buf_close(&tx.reply);
    /* No partial effect; the index was consumed, no table index moved. */
    assert_int_equal(cn_state_last_index(st), 3);
    assert_int_equal(cn_state_kv_table_index(st), 2);
    assert_int_equal(cn_state_kv_list(st, NULL, 0, collect_fn, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(t_get(st, "a"), "1");
    assert_string_equal(t_get(st, "b"), "2");
    cn_state_free(st);
}

static void test_txn_error_texts(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_op ops[10];
    (void)state;
    assert_int_equal(t_set(st, "k", "v"), 1);  /* 1 */
    ops[0] = t_op(CN_KV_DELETE_CAS, "k", NULL);
    ops[0].index = 5;
    ops[1] = t_op(CN_KV_LOCK, "k", NULL);
    ops[1].session = "sess";
    ops[2] = t_op(CN_KV_UNLOCK, "k", NULL);
    ops[2].session = "sess";
    ops[3] = t_op(CN_KV_CHECK_INDEX, "k", NULL);
    ops[3].index = 3;
    ops[4] = t_op(CN_KV_CHECK_INDEX, "x", NULL);
    ops[5] = t_op(CN_KV_CHECK_SESSION, "k", NULL);
    ops[5].session = "sess";
    ops[6] = t_op(CN_KV_CHECK_SESSION, "x", NULL);
    ops[7] = t_op(CN_KV_CHECK_NOT_EXISTS, "k", NULL);
    ops[8] = t_op(CN_KV_LOCK, "k", NULL);
    ops[9] = t_op(CN_KV_GET, "we\"ird\n\xff", NULL);
    assert_int_equal(t_txn(st, ops, 10, false, &tx), 0);
    assert_false(tx.ok);
    assert_int_equal(tx.n_errors, 10);
    assert_string_equal(tx.err_what[0], "failed to delete key \"k\", index is stale");
    assert_string_equal(tx.err_what[1], "invalid session \"sess\"");
    assert_string_equal(tx.err_what[2], "failed to unlock key \"k\", lock isn't held, or is held by another session");
    assert_string_equal(tx.err_what[3], "failed index check for key \"k\", current modify index 1 != 3");
    assert_string_equal(tx.err_what[4], "failed to check index, key \"x\" doesn't exist");
    assert_string_equal(tx.err_what[5], "failed session check for key \"k\", current session \"\" != \"sess\"");
    assert_string_equal(tx.err_what[6], "failed to check session, key \"x\" doesn't exist");
    assert_string_equal(tx.err_what[7], "key \"k\" exists");
    assert_string_equal(tx.err_what[8], "missing session");
    assert_string_equal(tx.err_what[9], "key \"we\\\"ird\\n\\xff\" doesn't exist");
    for (int i = 0; i < 10; i++)
        assert_int_equal(tx.err_op[i], i);
    cn_buf_close(&tx.reply);
    /* check-session with no session on an unlocked key passes (Consul
     * compares "" with ""). */
    ops[0] = t_op(CN_KV_CHECK_SESSION, "k", NULL);
    assert_int_equal(t_txn(st, ops, 1, false, &tx), 0);
    assert_true(tx.ok);
    assert_int_equal(tx.n_results, 1);
    cn_buf_close(&tx.reply);
    cn_state_free(st);
}

static void test_txn_read(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_op ops[2];
    struct cn_buf cmd, reply;
    (void)state;
    assert_int_equal(t_set(st, "r", "v"), 1);
    ops[0] = t_op(CN_KV_GET, "r", NULL);
    ops[1] = t_op(CN_KV_GET, "missing", NULL);
    assert_true(cn_state_txn_is_read_only(ops, 2));
    assert_int_equal(t_txn(st, ops, 1, true, &tx), 0);
    assert_true(tx.ok);
    assert_memory_equal(tx.results[0].value, "v", 1);
    cn_buf_close(&tx.reply);
    assert_int_equal(t_txn(st, ops, 2, true, &tx), 0);
    assert_false(tx.ok);
    assert_int_equal(tx.err_op[0], 1);
    cn_buf_close(&tx.reply);
    assert_int_equal(cn_state_last_index(st), 1);
    /* A write verb is refused by txn_read. */
    ops[1] = t_op(CN_KV_SET, "w", "x");
    assert_false(cn_state_txn_is_read_only(ops, 2));
    cn_buf_init(&cmd, 1 << 16);
    cn_buf_init(&reply, 1 << 16);
    assert_int_equal(cn_state_cmd_txn(&cmd, ops, 2), 0);
    assert_int_equal(cn_state_txn_read(st, cmd.data, cmd.len, &reply), CN_EMALFORMED);
    assert_null(t_get(st, "w"));
    cn_buf_close(&cmd);
    cn_buf_close(&reply);
    cn_state_free(st);
}

static void test_encoders_refuse(void **state)
{
    struct cn_buf b;
    struct cn_kv_op op = t_op(CN_KV_GET, "k", NULL), ops[CN_TXN_OPS_MAX + 1];
    static uint8_t big[CN_KV_VALUE_BYTES_MAX + 1];
    (void)state;
    cn_buf_init(&b, 1 << 21);
    assert_int_equal(cn_state_cmd_kv(&b, &op), CN_EMALFORMED); /* Txn only. */
    op.verb = (enum cn_kv_verb)99;
    assert_int_equal(cn_state_cmd_kv(&b, &op), CN_EMALFORMED);
    op = t_op(CN_KV_SET, "", "v");
    assert_int_equal(cn_state_cmd_kv(&b, &op), CN_EMALFORMED); /* Empty key. */
    op = t_op(CN_KV_SET, "k", NULL);
    op.value = big;
    op.value_len = sizeof big;
    assert_int_equal(cn_state_cmd_kv(&b, &op), CN_EMALFORMED);
    op.value_len = CN_KV_VALUE_BYTES_MAX;
    assert_int_equal(cn_state_cmd_kv(&b, &op), 0);
    b.len = 0;
    op = t_op(CN_KV_SET, NULL, "v");
    op.key = big;
    op.key_len = CN_KV_KEY_BYTES_MAX + 1;
    assert_int_equal(cn_state_cmd_kv(&b, &op), CN_EMALFORMED);
    op = t_op(CN_KV_LOCK, "k", "v");
    op.session = "0123456789012345678901234567890123456789"; /* > 36 */
    assert_int_equal(cn_state_cmd_kv(&b, &op), CN_EMALFORMED);
    for (size_t i = 0; i < CN_TXN_OPS_MAX + 1; i++)
        ops[i] = t_op(CN_KV_GET, "k", NULL);
    assert_int_equal(cn_state_cmd_txn(&b, ops, CN_TXN_OPS_MAX + 1), CN_EMALFORMED);
    assert_int_equal(b.len, 0);
    assert_int_equal(cn_state_cmd_txn(&b, ops, CN_TXN_OPS_MAX), 0);
    /* Too small a buffer: -EMSGSIZE and nothing appended. */
    cn_buf_close(&b);
    cn_buf_init(&b, 8);
    op = t_op(CN_KV_SET, "key", "value");
    assert_int_equal(cn_state_cmd_kv(&b, &op), -EMSGSIZE);
    assert_int_equal(b.len, 0);
    cn_buf_close(&b);
}

static void test_malformed_commands(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_buf reply, good, snap;
    struct cn_kv_op op = t_op(CN_KV_SET, "k", "v");
    static const struct {
        uint8_t b[8];
        size_t len;
    } bad[] = {
        {{0}, 1}, {{9}, 1}, {{CN_CMD_KV, 0x90}, 2}, {{CN_CMD_KV, 0xc0}, 2},
        {{CN_CMD_TXN, 0x91, 0x90}, 3}, {{CN_CMD_TOMBSTONE_REAP, 0xc0}, 2},
        {{CN_CMD_TOMBSTONE_REAP, 0x01, 0x01}, 3}, /* Trailing byte. */
        {{CN_CMD_KV, 0x96, 0x01, 0xc4, 0x01, 'k', 0xc4, 0x00}, 8}, /* Short. */
        {{CN_CMD_TXN, 0xdd, 0, 0, 0, 200}, 6}, /* Too many ops. */
    };
    (void)state;
    cn_buf_init(&reply, 1 << 16);
    cn_buf_init(&good, 1 << 16);
    assert_int_equal(t_set(st, "a", "b"), 1);
    t_snap(st, &snap);
    assert_int_equal(cn_state_apply(st, 2, NULL, 0, &reply), CN_EMALFORMED);
    for (size_t i = 0; i < CN_ARRAY_LEN(bad); i++)
        assert_int_equal(cn_state_apply(st, cn_state_last_index(st) + 1,
                                         bad[i].b, bad[i].len, &reply),
                         CN_EMALFORMED);
    assert_int_equal(reply.len, 0);
    assert_int_equal(cn_state_last_index(st), 2 + CN_ARRAY_LEN(bad));
    /* A txn-only verb smuggled into a KV command. */
    assert_int_equal(cn_state_cmd_kv(&good, &op), 0);
    good.data[2] = CN_KV_GET;
    assert_int_equal(cn_state_apply(st, cn_state_last_index(st) + 1, good.data,
                                     good.len, &reply), CN_EMALFORMED);
    /* Trailing garbage after a good command. */
    good.data[2] = CN_KV_SET;
    cn_buf_putc(&good, 0);
    assert_int_equal(cn_state_apply(st, cn_state_last_index(st) + 1, good.data,
                                     good.len, &reply), CN_EMALFORMED);
    assert_int_equal(cn_state_kv_table_index(st), 1);
    assert_int_equal(cn_state_kv_count(st), 1);
    assert_string_equal(t_get(st, "a"), "b");
    cn_buf_close(&snap);
    cn_buf_close(&good);
    cn_buf_close(&reply);
    cn_state_free(st);
}

static void test_bytes_max(void **state)
{
    struct cn_state *st = t_new(20);
    struct cn_buf cmd, reply;
    struct cn_kv_op op = t_op(CN_KV_SET, "k2", "0123456789");
    (void)state;
    cn_buf_init(&cmd, 1 << 16);
    cn_buf_init(&reply, 1 << 16);
    assert_int_equal(t_set(st, "k1", "0123456789"), 1);  /* 12 bytes */
    assert_int_equal(cn_state_cmd_kv(&cmd, &op), 0);
    assert_int_equal(cn_state_apply(st, 2, cmd.data, cmd.len, &reply), CN_ELIMIT);
    assert_int_equal(reply.len, 0);
    assert_int_equal(cn_state_last_index(st), 2);
    assert_null(t_get(st, "k2"));
    /* Shrinking writes and deletes pass. */
    assert_int_equal(t_set(st, "k1", "0"), 1);
    assert_int_equal(t_set(st, "k2", "01234"), 1);
    assert_int_equal(t_kv(st, CN_KV_DELETE, "k1", NULL, 0), 1);
    assert_int_equal(cn_state_kv_count(st), 1);
    cn_buf_close(&cmd);
    cn_buf_close(&reply);
    cn_state_free(st);
}

static void test_entry_codec(void **state)
{
    struct cn_buf b;
    struct cn_mp_writer w;
    struct cn_mp_reader r;
    struct cn_kv_entry in = {0}, out;
    (void)state;
    in.key = (const uint8_t *)"key";
    in.key_len = 3;
    in.value = (const uint8_t *)"val";
    in.value_len = 3;
    in.flags = 7;
    in.create_index = 1;
    in.modify_index = 2;
    in.lock_index = 3;
    in.session = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
    cn_buf_init(&b, 1024);
    cn_mp_writer_init(&w, &b);
    cn_state_kv_entry_encode(&w, &in, true);
    cn_state_kv_entry_encode(&w, &in, false);
    assert_int_equal(w.err, 0);
    cn_mp_reader_init(&r, b.data, b.len);
    assert_int_equal(cn_state_kv_entry_decode(&r, &out), 0);
    assert_memory_equal(out.key, "key", 3);
    assert_memory_equal(out.value, "val", 3);
    assert_int_equal(out.flags, 7);
    assert_int_equal(out.lock_index, 3);
    assert_int_equal(out.create_index, 1);
    assert_int_equal(out.modify_index, 2);
    assert_string_equal(out.session, in.session);
    assert_ptr_equal(out.session, out.session_buf);
    assert_int_equal(cn_state_kv_entry_decode(&r, &out), 0);
    assert_null(out.value);
    assert_int_equal(cn_mp_left(&r), 0);
    /* Garbage is refused. */
    cn_mp_reader_init(&r, "\x81\xa3Key\x05", 6);
    assert_int_equal(cn_state_kv_entry_decode(&r, &out), CN_EMALFORMED);
    cn_mp_reader_init(&r, "\x80", 1); /* No Key. */
    assert_int_equal(cn_state_kv_entry_decode(&r, &out), CN_EMALFORMED);
    cn_buf_close(&b);
}

static void test_reply_too_big(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_op ops[1] = {t_op(CN_KV_GET_TREE, "", NULL)};
    struct cn_buf cmd, reply;
    char key[16];
    (void)state;
    for (int i = 0; i < 50; i++) {
        snprintf(key, sizeof key, "k%02d", i);
        assert_int_equal(t_set(st, key, "0123456789012345678901234567890123456789"), 1);
    }
    cn_buf_init(&cmd, 1 << 16);
    cn_buf_init(&reply, 256);
    ops[0] = t_op(CN_KV_GET_TREE, "", NULL);
    assert_int_equal(cn_state_cmd_txn(&cmd, ops, 1), 0);
    assert_int_equal(cn_state_txn_read(st, cmd.data, cmd.len, &reply), CN_ETOOBIG);
    assert_int_equal(reply.len, 0);
    /* Applied anyway when it is a write (followers agree). */
    cmd.len = 0;
    ops[0] = t_op(CN_KV_SET, "new", "v");
    assert_int_equal(cn_state_cmd_txn(&cmd, ops, 1), 0);
    reply.max = 4;
    assert_int_equal(cn_state_apply(st, 51, cmd.data, cmd.len, &reply), CN_ETOOBIG);
    assert_string_equal(t_get(st, "new"), "v");
    cn_buf_close(&cmd);
    cn_buf_close(&reply);
    cn_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get),
        cmocka_unit_test(test_set_unchanged_is_noop),
        cmocka_unit_test(test_cas),
        cmocka_unit_test(test_delete_tombstone),
        cmocka_unit_test(test_delete_cas),
        cmocka_unit_test(test_delete_tree),
        cmocka_unit_test(test_reap),
        cmocka_unit_test(test_lock_without_sessions),
        cmocka_unit_test(test_txn_success),
        cmocka_unit_test(test_txn_rollback),
        cmocka_unit_test(test_txn_error_texts),
        cmocka_unit_test(test_txn_read),
        cmocka_unit_test(test_encoders_refuse),
        cmocka_unit_test(test_malformed_commands),
        cmocka_unit_test(test_bytes_max),
        cmocka_unit_test(test_entry_codec),
        cmocka_unit_test(test_reply_too_big),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
