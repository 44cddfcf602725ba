/* state/session_test.c - sessions: creation rules, KV locks, invalidation
 * (destroy, node/check deregistration, critical checks), lock delays,
 * snapshots and allocation failures with locks held. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cat_test_util.h"

#define S1 "adf4238a-882b-9ddc-4a9d-5b6758e4159e"
#define S2 "0b5ad0a8-30e7-4e0c-8b4e-3a0a4c1f2e11"

static struct t_txn tx;

static int lock(struct cn_state *st, const char *key, const char *value,
                const char *session, enum cn_kv_verb verb)
{
    struct cn_kv_op op = t_op(verb, key, value);
    op.session = session;
    return t_kv_op(st, &op, t_err, sizeof t_err);
}

static struct cn_kv_entry entry(struct cn_state *st, const char *key)
{
    struct cn_kv_entry e;
    assert_int_equal(cn_state_kv_get(st, (const uint8_t *)key, strlen(key), &e), 0);
    return e;
}

static void test_create_rules(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_session s;
    struct cn_buf cmd;
    struct t_names c = {0};
    (void)state;
    assert_int_equal(t_session(st, S1, "n1", CN_SESSION_RELEASE, 0, NULL), -1);
    assert_string_equal(t_err, "Missing node registration");
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", NULL, NULL, NULL, 0,
                           CN_HEALTH_PASSING), 1);
    assert_int_equal(t_session(st, S1, "n1", CN_SESSION_RELEASE, 0, "nope"), -1);
    assert_string_equal(t_err, "Missing check 'nope' registration");
    assert_int_equal(t_session(st, S1, "N1", CN_SESSION_RELEASE, 15000000000ull,
                               "serfHealth"), 1);
    assert_int_equal(t_session(st, S1, "n1", CN_SESSION_RELEASE, 0, NULL), -1);
    assert_string_equal(t_err, "Session ID already exists");
    assert_int_equal(cn_state_session_get(st, S1, &s), 0);
    assert_string_equal(s.node, "N1");   /* As the request spelled it. */
    assert_int_equal(s.lock_delay_ns, 15000000000ull);
    assert_int_equal(s.n_node_checks, 1);
    assert_int_equal(s.create_index, 4);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_SESSIONS), 4);
    /* TTLs: Go syntax, 0 or within [10s, 24h]. */
    memset(&s, 0, sizeof s);
    s.id = S2;
    s.node = "n1";
    s.behavior = CN_SESSION_DELETE;
    cn_buf_init(&cmd, 1 << 16);
    s.ttl = "5s";
    assert_int_equal(cn_state_cmd_session_create(&cmd, &s), 0);
    assert_int_equal(t_apply_cmd(st, &cmd), -1);
    assert_string_equal(t_err, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]");
    cmd.len = 0;
    s.ttl = "abc";
    assert_int_equal(cn_state_cmd_session_create(&cmd, &s), 0);
    assert_int_equal(t_apply_cmd(st, &cmd), -1);
    assert_string_equal(t_err, "Session TTL 'abc' invalid: time: invalid duration \"abc\"");
    cmd.len = 0;
    s.ttl = "30s";
    assert_int_equal(cn_state_cmd_session_create(&cmd, &s), 0);
    assert_int_equal(t_apply_cmd(st, &cmd), 1);
    /* A critical check cannot back a new session. */
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", NULL, NULL, NULL, 0,
                           CN_HEALTH_CRITICAL), 1);  /* Also kills S1. */
    assert_int_equal(t_session(st, "11111111-882b-9ddc-4a9d-5b6758e4159e", "n1",
                               CN_SESSION_RELEASE, 0, "serfHealth"), -1);
    assert_string_equal(t_err, "Check 'serfHealth' is in critical state");
    assert_int_equal(cn_state_sessions_list(st, t_collect_session, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0], S2);   /* S2 named no check. */
    c.n = 0;
    assert_int_equal(cn_state_node_sessions(st, "n1", t_collect_session, &c), 0);
    assert_int_equal(c.n, 1);
    cn_buf_close(&cmd);
    cn__state_verify(st);
    cn_state_free(st);
}

static void test_locks(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_entry e;
    struct cn_kv_op ops[2];
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", NULL, NULL, NULL, 0, 0), 1);
    assert_int_equal(t_session(st, S1, "n1", CN_SESSION_RELEASE, 0, NULL), 1);
    assert_int_equal(t_session(st, S2, "n1", CN_SESSION_RELEASE, 0, NULL), 1);
    assert_int_equal(lock(st, "lk", "a", S1, CN_KV_LOCK), 1);      /* 4 */
    e = entry(st, "lk");
    assert_int_equal(e.lock_index, 1);
    assert_string_equal(e.session, S1);
    assert_int_equal(e.create_index, 4);
    assert_int_equal(lock(st, "lk", "a", S1, CN_KV_LOCK), 1);      /* Held: ok. */
    assert_int_equal(entry(st, "lk").modify_index, 4);              /* Unchanged. */
    assert_int_equal(lock(st, "lk", "b", S2, CN_KV_LOCK), 0);      /* Other. */
    assert_int_equal(lock(st, "lk", "b", S2, CN_KV_UNLOCK), 0);
    /* A plain set keeps the holder; LockIndex goes to 0 (kvs.go). */
    assert_int_equal(t_set(st, "lk", "c"), 1);
    e = entry(st, "lk");
    assert_string_equal(e.session, S1);
    assert_int_equal(e.lock_index, 0);
    assert_int_equal(lock(st, "lk", "d", S1, CN_KV_UNLOCK), 1);
    e = entry(st, "lk");
    assert_null(e.session);
    assert_string_equal(t_get(st, "lk"), "d");   /* Unlock writes the value. */
    assert_int_equal(lock(st, "lk", "e", S2, CN_KV_LOCK), 1);
    assert_int_equal(entry(st, "lk").lock_index, 1);
    /* check-session in a txn. */
    ops[0] = t_op(CN_KV_CHECK_SESSION, "lk", NULL);
    ops[0].session = S2;
    ops[1] = t_op(CN_KV_CHECK_SESSION, "lk", NULL);
    ops[1].session = S1;
    assert_int_equal(t_txn(st, ops, 2, false, &tx), 0);
    assert_false(tx.ok);
    assert_int_equal(tx.n_errors, 1);
    assert_int_equal(tx.err_op[0], 1);
    assert_string_equal(tx.err_what[0], "failed session check for key \"lk\", current session \""
                        S2 "\" != \"" S1 "\"");
    cn_buf_close(&tx.reply);
    /* A deleted locked key drops its lock row. */
    assert_int_equal(t_kv(st, CN_KV_DELETE, "lk", NULL, 0), 1);
    cn__state_verify(st);
    assert_int_equal(lock(st, "gone", "x", "11111111-882b-9ddc-4a9d-5b6758e4159e",
                          CN_KV_LOCK), -1);
    assert_string_equal(t_err, "invalid session \"11111111-882b-9ddc-4a9d-5b6758e4159e\"");
    cn_state_free(st);
}

static void test_destroy_release_and_delete(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_kv_entry e;
    struct cn_session s;
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", NULL, NULL, NULL, 0, 0), 1);
    assert_int_equal(t_session(st, S1, "n1", CN_SESSION_RELEASE, 5000000000ull, NULL), 1);
    assert_int_equal(t_session(st, S2, "n1", CN_SESSION_DELETE,
                               120000000000ull, NULL), 1);    /* 120 s */
    assert_int_equal(lock(st, "a", "1", S1, CN_KV_LOCK), 1);  /* 4 */
    assert_int_equal(lock(st, "b", "2", S1, CN_KV_LOCK), 1);  /* 5 */
    assert_int_equal(lock(st, "c", "3", S2, CN_KV_LOCK), 1);  /* 6 */
    assert_int_equal(t_set(st, "free", "x"), 1);              /* 7 */
    assert_int_equal(t_destroy(st, S1, 1000000), 1);          /* 8 */
    e = entry(st, "a");
    assert_null(e.session);
    assert_int_equal(e.lock_index, 1);       /* Kept. */
    assert_int_equal(e.modify_index, 8);
    assert_string_equal(t_get(st, "b"), "2");
    assert_int_equal(cn_state_kv_lock_delay(st, (const uint8_t *)"a", 1), 1005000);
    assert_int_equal(cn_state_kv_lock_delay(st, (const uint8_t *)"free", 4), 0);
    assert_int_equal(cn_state_session_get(st, S1, &s), CN_ENOTFOUND);
    assert_int_equal(t_destroy(st, S2, 1001000), 1);          /* 9 */
    assert_null(t_get(st, "c"));             /* Behavior delete. */
    /* Capped at 60 s. */
    assert_int_equal(cn_state_kv_lock_delay(st, (const uint8_t *)"c", 1), 1061000);
    assert_int_equal(t_destroy(st, S2, 1001000), 1);          /* Gone: true. */
    assert_int_equal(cn_state_table_index(st, CN_TABLE_SESSIONS), 9);
    /* A later command's clock prunes delays that ended. */
    assert_int_equal(t_dereg(st, "nothing", NULL, NULL), 1);  /* now 2000 ms */
    assert_int_equal(cn_state_kv_lock_delay(st, (const uint8_t *)"a", 1), 1005000);
    struct cn_deregister d = {"nothing", NULL, NULL};
    struct cn_buf cmd;
    cn_buf_init(&cmd, 1 << 10);
    assert_int_equal(cn_state_cmd_deregister(&cmd, &d, 1010000), 0);
    assert_int_equal(t_apply_cmd(st, &cmd), 1);
    assert_int_equal(cn_state_kv_lock_delay(st, (const uint8_t *)"a", 1), 0);
    assert_int_equal(cn_state_kv_lock_delay(st, (const uint8_t *)"c", 1), 1061000);
    cn_buf_close(&cmd);
    cn__state_verify(st);
    cn_state_free(st);
}

static void test_invalidation_triggers(void **state)
{
    struct cn_state *st = t_new(0);
    struct t_names c = {0};
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", NULL, NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);
    assert_int_equal(t_session(st, S1, "n1", CN_SESSION_RELEASE, 0, "web"), 1);
    assert_int_equal(t_session(st, S2, "n1", CN_SESSION_RELEASE, 0, "serfHealth"), 1);
    assert_int_equal(lock(st, "k1", "v", S1, CN_KV_LOCK), 1);
    /* Warning does not invalidate. */
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", NULL, NULL,
                           CN_HEALTH_WARNING, CN_HEALTH_PASSING), 1);
    assert_int_equal(cn_state_sessions_list(st, t_collect_session, &c), 0);
    assert_int_equal(c.n, 2);
    /* Deregistering the service deletes its check: S1 goes, k1 released. */
    assert_int_equal(t_dereg(st, "n1", "web", NULL), 1);
    c.n = 0;
    assert_int_equal(cn_state_sessions_list(st, t_collect_session, &c), 0);
    assert_int_equal(c.n, 1);
    assert_null(entry(st, "k1").session);
    /* Node deregistration takes the rest. */
    assert_int_equal(lock(st, "k2", "v", S2, CN_KV_LOCK), 1);
    assert_int_equal(t_dereg(st, "n1", NULL, NULL), 1);
    c.n = 0;
    assert_int_equal(cn_state_sessions_list(st, t_collect_session, &c), 0);
    assert_int_equal(c.n, 0);
    assert_null(entry(st, "k2").session);
    cn__state_verify(st);
    cn_state_free(st);
}

static void test_snapshot_with_catalog(void **state)
{
    struct cn_state *a = t_new(0), *b = t_new(0), *c = t_new(0);
    struct cn_buf sa, sc;
    struct cn_register r;
    struct cn_pair meta[2] = {{"env", "prod"}, {"rack", "r1"}};
    struct cn_svc_addr addrs[1] = {{"lan", "10.0.0.1", 80}};
    const char *tags[2] = {"v1", "primary"};
    struct cn_service s = {.name = "web", .id = "web-1", .tags = tags, .n_tags = 2,
                           .tagged_addresses = addrs, .n_tagged_addresses = 1,
                           .meta = meta, .n_meta = 1, .port = 80,
                           .proxy = (const uint8_t *)"\x81\xa1x\x01", .proxy_len = 4};
    struct cn_check chk = {.name = "http", .service_id = "web-1",
                           .status = CN_HEALTH_PASSING, .output = "ok",
                           .definition = (const uint8_t *)"\x80", .definition_len = 1};
    (void)state;
    memset(&r, 0, sizeof r);
    r.node.name = "n1";
    r.node.id = "40e4a748-2192-161a-0510-9bf59fe950b5";
    r.node.address = "10.0.0.1";
    r.node.meta = meta;
    r.node.n_meta = 2;
    r.service = &s;
    r.checks = &chk;
    r.n_checks = 1;
    for (struct cn_state *st = a; st; st = st == a ? b : NULL) {
        assert_int_equal(t_register(st, &r, 10), 1);
        assert_int_equal(t_reg(st, "n2", "10.0.0.2", "db", NULL, NULL,
                               CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);
        assert_int_equal(t_dereg(st, "n2", "db", NULL), 1);   /* Extinction. */
        assert_int_equal(t_session(st, S1, "n1", CN_SESSION_RELEASE, 1000000000, "http"), 1);
        assert_int_equal(t_session(st, S2, "n1", CN_SESSION_DELETE, 0, NULL), 1);
        assert_int_equal(lock(st, "held", "v", S1, CN_KV_LOCK), 1);
        assert_int_equal(lock(st, "tmp", "v", S2, CN_KV_LOCK), 1);
        assert_int_equal(t_destroy(st, S2, 7000), 1);
        assert_int_equal(t_set(st, "plain", "v"), 1);
    }
    t_snap(a, &sa);
    assert_true(t_same_snap(b, &sa));    /* Deterministic. */
    assert_int_equal(cn_state_restore(c, sa.data, sa.len), 0);
    cn__state_verify(c);
    t_snap(c, &sc);
    assert_int_equal(sa.len, sc.len);
    assert_memory_equal(sa.data, sc.data, sa.len);
    assert_string_equal(entry(c, "held").session, S1);
    assert_int_equal(cn_state_service_index(c, "db"), cn_state_service_index(a, "db"));
    assert_int_equal(cn_state_service_index(c, "web"), cn_state_service_index(a, "web"));
    /* The restored store keeps invalidating: S1 depends on "http". */
    chk.status = CN_HEALTH_CRITICAL;
    assert_int_equal(t_register(c, &r, 20), 1);
    assert_null(entry(c, "held").session);
    assert_int_equal(cn_state_kv_lock_delay(c, (const uint8_t *)"held", 4), 1020);
    cn__state_verify(c);
    /* Corruption anywhere keeps c as it is. */
    cn_buf_close(&sc);
    t_snap(c, &sc);
    for (size_t i = 0; i < sa.len; i += 7) {
        sa.data[i] ^= 0x01;
        assert_int_not_equal(cn_state_restore(c, sa.data, sa.len), 0);
        sa.data[i] ^= 0x01;
    }
    assert_true(t_same_snap(c, &sc));
    cn_buf_close(&sa);
    cn_buf_close(&sc);
    cn_state_free(a);
    cn_state_free(b);
    cn_state_free(c);
}

/* Applies cmd at every allocation failure point until it goes through;
 * each failure must leave the store exactly as it was. Returns how many
 * failures were injected. */
static long inject(struct cn_state *st, const struct cn_buf *cmd)
{
    struct cn_buf before, reply;
    long fails = 0;
    int rc = -ENOMEM;
    t_snap(st, &before);
    for (long n = 0; rc == -ENOMEM; n++) {
        uint64_t index = cn_state_last_index(st) + 1;
        cn_buf_init(&reply, 1 << 16);
        cn_alloc_fail_after(n);
        rc = cn_state_apply(st, index, cmd->data, cmd->len, &reply);
        cn_alloc_fail_after(-1);
        cn_buf_close(&reply);
        if (rc == -ENOMEM) {
            fails++;
            assert_true(t_same_snap(st, &before));
        }
        assert_true(n < 100000);
    }
    /* A reply that could not grow: applied anyway (followers agree). */
    assert_true(rc == 0 || rc == CN_ETOOBIG);
    cn__state_verify(st);
    cn_buf_close(&before);
    return fails;
}

static void test_alloc_failure_register(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_buf cmd;
    struct cn_register r;
    const char *tags[2] = {"a", "b"};
    struct cn_service s = {.name = "web", .tags = tags, .n_tags = 2};
    struct cn_check chk[2] = {{.id = "serfHealth", .name = "s", .status = CN_HEALTH_PASSING},
                              {.name = "http", .service_id = "web", .status = CN_HEALTH_PASSING}};
    (void)state;
    memset(&r, 0, sizeof r);
    r.node.name = "n1";
    r.node.address = "10.0.0.1";
    r.service = &s;
    r.checks = chk;
    r.n_checks = 2;
    cn_buf_init(&cmd, 1 << 16);
    assert_int_equal(cn_state_cmd_register(&cmd, &r, 100), 0);
    assert_true(inject(st, &cmd) >= 5);      /* Fresh node, service, checks. */
    assert_int_equal(t_session(st, S1, "n1", CN_SESSION_DELETE, 1000000000, "http"), 1);
    assert_int_equal(lock(st, "k", "v", S1, CN_KV_LOCK), 1);
    chk[1].status = CN_HEALTH_CRITICAL;      /* Invalidates S1: k deleted. */
    cmd.len = 0;
    assert_int_equal(cn_state_cmd_register(&cmd, &r, 200), 0);
    assert_true(inject(st, &cmd) >= 3);
    assert_null(t_get(st, "k"));
    assert_int_equal(cn_state_kv_lock_delay(st, (const uint8_t *)"k", 1), 1200);
    cn_buf_close(&cmd);
    cn_state_free(st);
}

/* Every failure point of a command that invalidates sessions holding
 * locks must leave the store as it was. */
static void test_alloc_failure_with_locks(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_buf cmd;
    struct cn_deregister d = {"n1", NULL, NULL};
    char key[16];
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", NULL, NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);
    assert_int_equal(t_session(st, S1, "n1", CN_SESSION_RELEASE, 1000000000, NULL), 1);
    assert_int_equal(t_session(st, S2, "n1", CN_SESSION_DELETE, 1000000000, "web"), 1);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "k%02d", i);
        assert_int_equal(lock(st, key, "v", i % 2 ? S1 : S2, CN_KV_LOCK), 1);
    }
    cn_buf_init(&cmd, 1 << 16);
    assert_int_equal(cn_state_cmd_deregister(&cmd, &d, 5000), 0);
    assert_true(inject(st, &cmd) > 10);
    assert_int_equal(cn_state_kv_count(st), 10);  /* S2's keys deleted. */
    assert_null(entry(st, "k01").session);
    cn_buf_close(&cmd);
    cn_state_free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rules),
        cmocka_unit_test(test_locks),
        cmocka_unit_test(test_destroy_release_and_delete),
        cmocka_unit_test(test_invalidation_triggers),
        cmocka_unit_test(test_snapshot_with_catalog),
        cmocka_unit_test(test_alloc_failure_register),
        cmocka_unit_test(test_alloc_failure_with_locks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
