/* gossip/shell_test.c - the libuv shell on loopback (ephemeral ports) and
 * the AES-GCM keyring. Polls the loop with a deadline; no sleeps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <uv.h>

#include "gossip_int.h"

#define KEY16 "Y2Fpcm4tdGVzdC1rZXkxNg=="  /* "cairn-test-key16" */
#define KEY32 "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

struct seen {
    int joins, users;
    int joined;
    bool join_done;
};

static void on_event(void *ctx, const struct cn_gossip_event *ev)
{
    struct seen *s = ctx;
    s->joins += ev->type == CN_GOSSIP_EV_JOIN;
    s->users += ev->type == CN_GOSSIP_EV_USER;
}

static void on_join(void *ctx, int n)
{
    struct seen *s = ctx;
    s->joined = n;
    s->join_done = true;
}

static bool run_until(uv_loop_t *loop, bool (*pred)(void *), void *arg, uint64_t ms)
{
    uint64_t end = uv_now(loop) + ms;
    while (uv_now(loop) < end) {
        if (pred(arg))
            return true;
        uv_run(loop, UV_RUN_ONCE);
    }
    return pred(arg);
}

struct pair {
    struct cn_gossip *a, *b;
    struct seen sa, sb;
};

static size_t alive_members(struct cn_gossip *g)
{
    struct cn_gossip_member *m;
    size_t n, alive = 0;
    assert_int_equal(cn_gossip_members(g, &m, &n), 0);
    for (size_t i = 0; i < n; i++)
        alive += m[i].status == CN_GOSSIP_ALIVE;
    cn_gossip_members_free(m, n);
    return alive;
}

static bool both_see_two(void *arg)
{
    struct pair *p = arg;
    return p->sa.join_done && alive_members(p->a) == 2 && alive_members(p->b) == 2;
}

static bool b_got_event(void *arg) { return ((struct pair *)arg)->sb.users == 1; }

static void closed(void *ctx) { (*(int *)ctx)++; }

static void run_pair(const char *const *keys_a, size_t na, const char *const *keys_b, size_t nb,
                     bool expect_join)
{
    uv_loop_t loop;
    struct pair p = { 0 };
    struct cn_gossip_config ca = { .name = "a", .bind_addr = "127.0.0.1", .keys = keys_a,
                                   .n_keys = na, .event_cb = on_event, .event_ctx = &p.sa,
                                   .seed = 1 };
    struct cn_gossip_config cb = ca;
    char err[CN_ERRMSG_MAX], addr[64];
    const char *join[1] = { addr };
    int n_closed = 0;

    cb.name = "b";
    cb.keys = keys_b;
    cb.n_keys = nb;
    cb.event_ctx = &p.sb;
    cb.seed = 2;
    uv_loop_init(&loop);
    assert_int_equal(cn_gossip_new(&loop, &ca, &p.a, err), 0);
    assert_int_equal(cn_gossip_new(&loop, &cb, &p.b, err), 0);
    assert_true(cn_gossip_port(p.a) != 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cn_gossip_port(p.b));
    assert_int_equal(cn_gossip_join(p.a, join, 1, on_join, &p.sa), 0);
    assert_int_equal(cn_gossip_join(p.a, join, 1, on_join, &p.sa), -EBUSY);
    if (expect_join) {
        assert_true(run_until(&loop, both_see_two, &p, 5000));
        assert_int_equal(p.sa.joined, 1);
        assert_int_equal(cn_gossip_user_event(p.a, "deploy", (const uint8_t *)"v1", 2, false),
                         0);
        assert_true(run_until(&loop, b_got_event, &p, 5000));
        struct cn_gossip_stats st;
        cn_gossip_get_stats(p.a, &st);
        assert_true(st.udp_pkts_out > 0 && st.tcp_bytes_out > 0);
        assert_int_equal(st.members_alive, 2);
    } else {
        uv_run(&loop, UV_RUN_ONCE);
        run_until(&loop, both_see_two, &p, 1500);
        assert_true(p.sa.join_done);
        assert_int_equal(p.sa.joined, 0);
        assert_int_equal(alive_members(p.b), 1);
    }
    cn_gossip_close(p.a, closed, &n_closed);
    cn_gossip_close(p.b, closed, &n_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(n_closed, 2);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_pair_plain(void **state)
{
    (void)state;
    run_pair(NULL, 0, NULL, 0, true);
}

static void test_pair_encrypted(void **state)
{
    static const char *const ka[] = { KEY16, KEY32 }, *const kb[] = { KEY32, KEY16 };
    (void)state;
    /* Different primaries: each opens the other's packets with its
     * secondary key (a rotation in progress). */
    run_pair(ka, 2, kb, 2, true);
}

static void test_pair_key_mismatch(void **state)
{
    static const char *const ka[] = { KEY16 };
    (void)state;
    run_pair(ka, 1, NULL, 0, false);
}

static void test_bad_config(void **state)
{
    uv_loop_t loop;
    struct cn_gossip *g;
    char err[CN_ERRMSG_MAX];
    static const char *const bad[] = { "bm90IGEga2V5" };
    struct cn_gossip_config c = { .name = "x", .bind_addr = "127.0.0.1", .keys = bad,
                                  .n_keys = 1 };
    (void)state;
    uv_loop_init(&loop);
    assert_int_equal(cn_gossip_new(&loop, &c, &g, err), -EINVAL);
    assert_non_null(strstr(err, "key"));
    c.n_keys = 0;
    c.bind_addr = "0.0.0.0";  /* needs an advertise address */
    assert_int_equal(cn_gossip_new(&loop, &c, &g, err), -EINVAL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_keyring(void **state)
{
    struct cn__keyring kr = { 0 }, other = { 0 };
    struct cn_buf sealed, plain;
    (void)state;
    assert_int_equal(cn__keyring_install(&kr, KEY16), 0);
    assert_int_equal(cn__keyring_install(&kr, "short"), -EINVAL);
    assert_int_equal(cn__keyring_install(&kr, KEY32), 0);
    assert_int_equal(kr.n, 2);
    cn_buf_init(&sealed, 1 << 16);
    cn_buf_init(&plain, 1 << 16);
    assert_int_equal(cn__keyring_seal(&kr, (const uint8_t *)"hdr", 3,
                                      (const uint8_t *)"hello", 5, &sealed), 0);
    assert_int_equal(sealed.len, 1 + 12 + 5 + 16);
    assert_int_equal(sealed.data[0], 1);
    assert_int_equal(cn__keyring_open(&kr, (const uint8_t *)"hdr", 3, sealed.data, sealed.len,
                                      &plain), 0);
    assert_memory_equal(plain.data, "hello", 5);
    /* Wrong AAD, flipped bit, unknown key: all refused. */
    cn_buf_reset(&plain);
    assert_int_equal(cn__keyring_open(&kr, (const uint8_t *)"hdX", 3, sealed.data, sealed.len,
                                      &plain), CN_EDENIED);
    sealed.data[14] ^= 1;
    assert_int_equal(cn__keyring_open(&kr, (const uint8_t *)"hdr", 3, sealed.data, sealed.len,
                                      &plain), CN_EDENIED);
    sealed.data[14] ^= 1;
    assert_int_equal(cn__keyring_install(&other, KEY32), 0);
    assert_int_equal(cn__keyring_open(&other, (const uint8_t *)"hdr", 3, sealed.data,
                                      sealed.len, &plain), CN_EDENIED);
    /* use/remove: the primary cannot be removed. */
    assert_int_equal(cn__keyring_remove(&kr, KEY16), -EBUSY);
    assert_int_equal(cn__keyring_use(&kr, KEY32), 0);
    assert_int_equal(cn__keyring_remove(&kr, KEY16), 0);
    assert_int_equal(cn__keyring_remove(&kr, KEY16), -ENOENT);
    assert_int_equal(kr.n, 1);
    assert_int_equal(cn__keyring_open(&kr, NULL, 0, (const uint8_t *)"\x01", 1, &plain),
                     CN_EMALFORMED);
    cn_buf_close(&sealed);
    cn_buf_close(&plain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keyring),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_pair_plain),
        cmocka_unit_test(test_pair_encrypted),
        cmocka_unit_test(test_pair_key_mismatch),
    };
    cn_log_setup(CN_LOG_ERROR, false);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
