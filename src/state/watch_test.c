/* state/watch_test.c - watch semantics: what fires, when, in which order,
 * and what callbacks may do. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "test_util.h"

/* Fired watches append their tag here. */
static char fired[256];
static size_t n_fired;

struct tw {
    struct cn_watch w;
    char tag;
    struct cn_state *st;
    /* Optional action in the callback. */
    struct tw *cancel;        /* Cancel this one. */
    const char *rearm_key;    /* Re-arm self as a key watch. */
    struct tw *arm_other;     /* Arm this one as a key watch on "a". */
};

static void on_fire(struct cn_watch *w)
{
    struct tw *t = w->ctx;
    CN_ASSERT(!w->armed);
    fired[n_fired++] = t->tag;
    fired[n_fired] = '\0';
    if (t->cancel)
        cn_state_watch_cancel(t->st, &t->cancel->w);
    if (t->rearm_key)
        assert_int_equal(cn_state_watch_kv(t->st, w, CN_WATCH_KV_KEY,
                                           (const uint8_t *)t->rearm_key,
                                           strlen(t->rearm_key)), 0);
    if (t->arm_other)
        assert_int_equal(cn_state_watch_kv(t->st, &t->arm_other->w,
                                           CN_WATCH_KV_KEY,
                                           (const uint8_t *)"a", 1), 0);
}

static void tw_init(struct tw *t, struct cn_state *st, char tag)
{
    memset(t, 0, sizeof *t);
    t->w.fn = on_fire;
    t->w.ctx = t;
    t->tag = tag;
    t->st = st;
}

static void arm_kv(struct tw *t, enum cn_watch_kind kind, const char *key)
{
    assert_int_equal(cn_state_watch_kv(t->st, &t->w, kind, (const uint8_t *)key,
                                       strlen(key)), 0);
}

static void reset_fired(void)
{
    n_fired = 0;
    fired[0] = '\0';
}

static void test_key_and_prefix(void **state)
{
    struct cn_state *st = t_new(0);
    struct tw t[7];
    (void)state;
    reset_fired();
    for (int i = 0; i < 7; i++)
        tw_init(&t[i], st, (char)('A' + i));
    arm_kv(&t[0], CN_WATCH_KV_KEY, "a/b");
    arm_kv(&t[1], CN_WATCH_KV_PREFIX, "a/");
    arm_kv(&t[2], CN_WATCH_KV_PREFIX, "");
    arm_kv(&t[3], CN_WATCH_KV_PREFIX, "a/b/");  /* Below the key: no. */
    arm_kv(&t[4], CN_WATCH_KV_KEY, "a");        /* Another key: no. */
    arm_kv(&t[5], CN_WATCH_KV_PREFIX, "a/b");   /* The key as a prefix. */
    assert_int_equal(cn_state_watch_table(st, &t[6].w, CN_TABLE_KV), 0);
    assert_int_equal(cn_state_watch_count(st), 7);
    assert_int_equal(t_set(st, "a/b", "v"), 1);
    assert_string_equal(fired, "ABCFG");        /* Arming order. */
    assert_int_equal(cn_state_watch_count(st), 2);
    assert_true(t[3].w.armed && t[4].w.armed);
    assert_false(t[0].w.armed);
    cn_state_free(st);
    /* Freed without firing, and left unarmed. */
    assert_string_equal(fired, "ABCFG");
    assert_false(t[3].w.armed);
}

static void test_no_change_no_fire(void **state)
{
    struct cn_state *st = t_new(0);
    struct tw t;
    struct cn_kv_op ops[2];
    struct t_txn *tx = malloc(sizeof *tx);
    struct cn_buf cmd;
    (void)state;
    reset_fired();
    tw_init(&t, st, 'T');
    assert_int_equal(t_set(st, "k", "v"), 1);
    assert_int_equal(t_kv(st, CN_KV_DELETE, "d", "v", 0), 1);
    assert_int_equal(t_set(st, "d", "v"), 1);
    assert_int_equal(t_kv(st, CN_KV_DELETE, "d", NULL, 0), 1);
    assert_int_equal(cn_state_watch_table(st, &t.w, CN_TABLE_KV), 0);
    assert_int_equal(t_set(st, "k", "v"), 1);                 /* Unchanged. */
    assert_int_equal(t_kv(st, CN_KV_CAS, "k", "x", 99), 0);   /* Refused. */
    assert_int_equal(t_kv(st, CN_KV_DELETE, "zz", NULL, 0), 1); /* Missing. */
    ops[0] = t_op(CN_KV_SET, "n", "v");
    ops[1] = t_op(CN_KV_GET, "missing", NULL);
    assert_int_equal(t_txn(st, ops, 2, false, tx), 0);          /* Rolled back. */
    assert_false(tx->ok);
    cn_buf_close(&tx->reply);
    cn_buf_init(&cmd, 64);
    assert_int_equal(cn_state_cmd_tombstone_reap(&cmd, 100), 0); /* Reap. */
    assert_int_equal(cn_state_apply(st, cn_state_last_index(st) + 1, cmd.data,
                                     cmd.len, NULL), 0);
    assert_int_equal(cn_state_apply(st, cn_state_last_index(st) + 1, cmd.data,
                                     1, NULL), CN_EMALFORMED);
    assert_string_equal(fired, "");
    assert_true(t.w.armed);
    assert_int_equal(t_set(st, "k", "w"), 1);
    assert_string_equal(fired, "T");
    cn_buf_close(&cmd);
    free(tx);
    cn_state_free(st);
}

static void test_callbacks_rearm_and_cancel(void **state)
{
    struct cn_state *st = t_new(0);
    struct tw a, b, c, d, e;
    (void)state;
    reset_fired();
    tw_init(&a, st, 'a');
    tw_init(&b, st, 'b');
    tw_init(&c, st, 'c');
    tw_init(&d, st, 'd');
    tw_init(&e, st, 'e');
    a.cancel = &c;          /* c is touched too, but a cancels it first. */
    a.rearm_key = "x";      /* a re-arms on x: must not fire this round. */
    b.arm_other = &e;       /* b arms e on "a": waits for the next change. */
    arm_kv(&a, CN_WATCH_KV_KEY, "x");
    arm_kv(&b, CN_WATCH_KV_PREFIX, "x");
    arm_kv(&c, CN_WATCH_KV_PREFIX, "");
    arm_kv(&d, CN_WATCH_KV_KEY, "x");
    assert_int_equal(t_set(st, "x", "1"), 1);
    assert_string_equal(fired, "abd");
    assert_true(a.w.armed);
    assert_false(c.w.armed);
    assert_true(e.w.armed);
    assert_int_equal(cn_state_watch_count(st), 2);
    reset_fired();
    a.cancel = NULL;
    a.rearm_key = NULL;
    assert_int_equal(t_set(st, "x", "2"), 1);
    assert_string_equal(fired, "a");
    assert_int_equal(t_set(st, "a", "2"), 1);
    assert_string_equal(fired, "ae");
    assert_int_equal(cn_state_watch_count(st), 0);
    /* Cancelling an unarmed watch is a no-op; arming an armed one moves it. */
    cn_state_watch_cancel(st, &a.w);
    arm_kv(&a, CN_WATCH_KV_KEY, "p");
    arm_kv(&a, CN_WATCH_KV_KEY, "q");
    assert_int_equal(cn_state_watch_count(st), 1);
    reset_fired();
    assert_int_equal(t_set(st, "p", "1"), 1);
    assert_string_equal(fired, "");
    assert_int_equal(t_set(st, "q", "1"), 1);
    assert_string_equal(fired, "a");
    /* Bad arguments. */
    assert_int_equal(cn_state_watch_kv(st, &a.w, CN_WATCH_TABLE,
                                       (const uint8_t *)"k", 1), -EINVAL);
    assert_int_equal(cn_state_watch_table(st, &a.w, (enum cn_state_table)0), -EINVAL);
    assert_false(a.w.armed);
    cn_state_free(st);
}

static void test_delete_tree_and_txn(void **state)
{
    struct cn_state *st = t_new(0);
    struct tw t[5];
    struct cn_kv_op ops[3];
    struct t_txn *tx = malloc(sizeof *tx);
    (void)state;
    reset_fired();
    for (int i = 0; i < 5; i++)
        tw_init(&t[i], st, (char)('0' + i));
    assert_int_equal(t_set(st, "d/x/1", "v"), 1);
    assert_int_equal(t_set(st, "d/y", "v"), 1);
    arm_kv(&t[0], CN_WATCH_KV_KEY, "d/x/1");
    arm_kv(&t[1], CN_WATCH_KV_PREFIX, "d/x/");
    arm_kv(&t[2], CN_WATCH_KV_PREFIX, "d");
    arm_kv(&t[3], CN_WATCH_KV_KEY, "d/y");
    arm_kv(&t[4], CN_WATCH_KV_KEY, "e");
    assert_int_equal(t_kv(st, CN_KV_DELETE_TREE, "d/", NULL, 0), 1);
    assert_string_equal(fired, "0123");
    /* A txn touching a key twice fires its watch once. */
    reset_fired();
    arm_kv(&t[0], CN_WATCH_KV_KEY, "e");
    ops[0] = t_op(CN_KV_SET, "e", "1");
    ops[1] = t_op(CN_KV_SET, "e", "2");
    ops[2] = t_op(CN_KV_SET, "f", "2");
    assert_int_equal(t_txn(st, ops, 3, false, tx), 0);
    assert_true(tx->ok);
    cn_buf_close(&tx->reply);
    assert_string_equal(fired, "40");
    free(tx);
    cn_state_free(st);
}

/* 10,000 parked watchers on other keys: a write fires only its own, and
 * the registry does not keep per-write state proportional to them. */
static void test_many_watchers(void **state)
{
    enum { N = 10000 };
    struct cn_state *st = t_new(0);
    struct tw *t = calloc(N, sizeof *t);
    char key[32];
    (void)state;
    reset_fired();
    for (int i = 0; i < N; i++) {
        tw_init(&t[i], st, 'w');
        snprintf(key, sizeof key, "svc/%05d/cfg", i);
        arm_kv(&t[i], i % 2 ? CN_WATCH_KV_KEY : CN_WATCH_KV_PREFIX, key);
    }
    assert_int_equal(cn_state_watch_count(st), N);
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "other/%d", i);
        assert_int_equal(t_set(st, key, "v"), 1);
    }
    assert_int_equal(n_fired, 0);
    assert_int_equal(t_set(st, "svc/00042/cfg/x", "v"), 1); /* Prefix 42. */
    assert_int_equal(t_set(st, "svc/00043/cfg", "v"), 1);   /* Key 43. */
    assert_int_equal(t_set(st, "svc/00043/cfg/x", "v"), 1); /* Nothing. */
    assert_int_equal(n_fired, 2);
    assert_false(t[42].w.armed);
    assert_false(t[43].w.armed);
    assert_int_equal(cn_state_watch_count(st), N - 2);
    for (int i = 0; i < N; i++)
        cn_state_watch_cancel(st, &t[i].w);
    assert_int_equal(cn_state_watch_count(st), 0);
    free(t);
    cn_state_free(st);
}

static void test_restore_fires_all(void **state)
{
    struct cn_state *st = t_new(0), *other = t_new(0);
    struct tw t[3];
    struct cn_buf snap;
    (void)state;
    reset_fired();
    assert_int_equal(t_set(other, "unrelated", "v"), 1);
    t_snap(other, &snap);
    for (int i = 0; i < 3; i++)
        tw_init(&t[i], st, (char)('0' + i));
    arm_kv(&t[0], CN_WATCH_KV_KEY, "nothing/here");
    assert_int_equal(cn_state_watch_table(st, &t[1].w, CN_TABLE_KV), 0);
    arm_kv(&t[2], CN_WATCH_KV_PREFIX, "zz");
    assert_int_equal(cn_state_restore(st, snap.data, snap.len), 0);
    assert_string_equal(fired, "012");
    assert_int_equal(cn_state_watch_count(st), 0);
    assert_string_equal(t_get(st, "unrelated"), "v");
    cn_buf_close(&snap);
    cn_state_free(other);
    cn_state_free(st);
}

static void test_arm_alloc_failure(void **state)
{
    struct cn_state *st = t_new(0);
    struct tw t;
    (void)state;
    reset_fired();
    tw_init(&t, st, 'x');
    cn_alloc_fail_after(0);
    assert_int_equal(cn_state_watch_kv(st, &t.w, CN_WATCH_KV_PREFIX,
                                       (const uint8_t *)"p", 1), -ENOMEM);
    cn_alloc_fail_after(-1);
    assert_false(t.w.armed);
    assert_int_equal(cn_state_watch_count(st), 0);
    /* The bucket table was allocated, the bucket was not: try n = 1, 2. */
    for (long n = 1; n < 4; n++) {
        cn_alloc_fail_after(n);
        int rc = cn_state_watch_kv(st, &t.w, CN_WATCH_KV_PREFIX,
                                   (const uint8_t *)"q", 1);
        cn_alloc_fail_after(-1);
        assert_true(rc == 0 || rc == -ENOMEM);
        assert_int_equal(t.w.armed, rc == 0);
        cn_state_watch_cancel(st, &t.w);
    }
    arm_kv(&t, CN_WATCH_KV_PREFIX, "p");
    assert_int_equal(t_set(st, "pp", "v"), 1);
    assert_string_equal(fired, "x");
    cn_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_and_prefix),
        cmocka_unit_test(test_no_change_no_fire),
        cmocka_unit_test(test_callbacks_rearm_and_cancel),
        cmocka_unit_test(test_delete_tree_and_txn),
        cmocka_unit_test(test_many_watchers),
        cmocka_unit_test(test_restore_fires_all),
        cmocka_unit_test(test_arm_alloc_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
