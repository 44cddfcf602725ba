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

/* ---- queries and the cluster keyring over loopback ---- */

struct qstate {
    struct cn_gossip *g;            /* the answering node */
    int in, acks, resps, done, kr_done;
    struct cn_gossip_query_token late;
    char last_from[16];
    struct cn_gossip_keyring_result kr;   /* counts only (pointers die) */
    char kr_first_msg[96];
    uint32_t kr_key_count[4];
    size_t kr_n_keys, kr_n_prim;
};

static void on_query_in(void *ctx, const struct cn_gossip_query_in *q)
{
    struct qstate *s = ctx;
    s->in++;
    if (strcmp(q->name, "later") == 0) {
        s->late = q->token;  /* answered after the callback returned */
        return;
    }
    assert_int_equal(cn_gossip_query_respond(s->g, &q->token, (const uint8_t *)"pong", 4), 0);
}

static void on_reply(void *ctx, const struct cn_gossip_query_reply *r)
{
    struct qstate *s = ctx;
    if (r->type == CN_GOSSIP_QR_ACK)
        s->acks++;
    if (r->type == CN_GOSSIP_QR_RESPONSE) {
        s->resps++;
        snprintf(s->last_from, sizeof s->last_from, "%s", r->from);
    }
    if (r->type == CN_GOSSIP_QR_DONE) {
        assert_null(r->from);
        s->done++;
    }
}

static void on_keyring(void *ctx, const struct cn_gossip_keyring_result *r)
{
    struct qstate *s = ctx;
    s->kr_done++;
    s->kr = *r;
    s->kr_first_msg[0] = '\0';
    if (r->n_messages)
        snprintf(s->kr_first_msg, sizeof s->kr_first_msg, "%s", r->messages[0].message);
    s->kr_n_keys = r->n_keys;
    s->kr_n_prim = r->n_primary_keys;
    for (size_t i = 0; i < r->n_keys && i < 4; i++)
        s->kr_key_count[i] = r->keys[i].count;
}

static bool b_got_two(void *arg) { return ((struct qstate *)arg)->in == 2; }
static bool never(void *arg) { (void)arg; return false; }
static bool q_done(void *arg) { return ((struct qstate *)arg)->done > 0; }
static bool kr_done(void *arg) { return ((struct qstate *)arg)->kr_done > 0; }

static void keyring_op(uv_loop_t *loop, struct cn_gossip *g, struct qstate *s,
                       enum cn_gossip_key_op op, const char *key)
{
    s->kr_done = 0;
    assert_int_equal(cn_gossip_keyring_op(g, op, key, on_keyring, s), 0);
    assert_int_equal(s->kr_done, 0);  /* never from inside the call */
    assert_true(run_until(loop, kr_done, s, 5000));
    assert_int_equal(s->kr_done, 1);
}

static void test_query_and_keyring(void **state)
{
    static const char *const keys[] = { KEY16 };
    uv_loop_t loop;
    struct pair p = { 0 };
    struct qstate qa = { 0 }, qb = { 0 };
    struct cn_gossip_config ca = { .name = "a", .bind_addr = "127.0.0.1", .keys = keys,
                                   .n_keys = 1, .event_cb = on_event, .event_ctx = &p.sa,
                                   .seed = 1 };
    struct cn_gossip_config cb;
    struct cn_gossip_query_params qp = { .timeout_ms = 400, .request_ack = true };
    char err[CN_ERRMSG_MAX], addr[64], list[4][48];
    const char *join[1] = { addr };
    int n_closed = 0;
    (void)state;
    cb = ca;
    cb.name = "b";
    cb.event_ctx = &p.sb;
    cb.seed = 2;
    cb.query_cb = on_query_in;
    cb.query_ctx = &qb;
    uv_loop_init(&loop);
    assert_int_equal(cn_gossip_new(&loop, &ca, &p.a, err), 0);
    assert_int_equal(cn_gossip_new(&loop, &cb, &p.b, err), 0);
    qb.g = p.b;
    snprintf(addr, sizeof addr, "127.0.0.1:%u", cn_gossip_port(p.b));
    assert_int_equal(cn_gossip_join(p.a, join, 1, on_join, &p.sa), 0);
    assert_true(run_until(&loop, both_see_two, &p, 5000));
    /* A user query: both ack, only b (with a query_cb) answers. */
    assert_int_equal(cn_gossip_query(p.a, "ping", NULL, 0, &qp, NULL, NULL), -EINVAL);
    assert_int_equal(cn_gossip_query(p.a, "ping", (const uint8_t *)"x", 1, &qp, on_reply, &qa),
                     0);
    assert_true(run_until(&loop, q_done, &qa, 3000));
    assert_int_equal(qa.acks, 2);
    assert_int_equal(qa.resps, 1);
    assert_string_equal(qa.last_from, "b");
    assert_int_equal(qb.in, 1);
    /* Answering after the asker's deadline fails. */
    memset(&qa, 0, sizeof qa);
    qp.timeout_ms = 600;
    assert_int_equal(cn_gossip_query(p.a, "later", NULL, 0, &qp, on_reply, &qa), 0);
    assert_true(run_until(&loop, b_got_two, &qb, 3000));
    assert_true(run_until(&loop, q_done, &qa, 3000));
    /* b's deadline runs from when b got it (serf: receipt + Timeout). */
    run_until(&loop, never, NULL, 650);
    assert_int_equal(cn_gossip_query_respond(p.b, &qb.late, NULL, 0), -ETIMEDOUT);
    assert_int_equal(qa.resps, 0);
    /* Cluster keyring: install on both, make it primary, drop the old. */
    keyring_op(&loop, p.a, &qa, CN_GOSSIP_KEY_INSTALL, KEY32);
    assert_int_equal(qa.kr.rc, 0);
    assert_int_equal(qa.kr.num_nodes, 2);
    assert_int_equal(qa.kr.num_resp, 2);
    assert_int_equal(cn_gossip_key_list(p.b, list, 4), 2);
    assert_string_equal(list[1], KEY32);
    keyring_op(&loop, p.a, &qa, CN_GOSSIP_KEY_LIST, NULL);
    assert_int_equal(qa.kr.rc, 0);
    assert_int_equal(qa.kr_n_keys, 2);
    assert_int_equal(qa.kr_key_count[0], 2);
    assert_int_equal(qa.kr_key_count[1], 2);
    assert_int_equal(qa.kr_n_prim, 1);
    keyring_op(&loop, p.b, &qa, CN_GOSSIP_KEY_USE, KEY32);
    assert_int_equal(qa.kr.rc, 0);
    keyring_op(&loop, p.a, &qa, CN_GOSSIP_KEY_REMOVE, KEY16);
    assert_int_equal(qa.kr.rc, 0);
    assert_int_equal(cn_gossip_key_list(p.a, list, 4), 1);
    assert_string_equal(list[0], KEY32);
    assert_int_equal(cn_gossip_key_list(p.b, list, 4), 1);
    /* Removing the primary fails on every node, with serf's message. */
    keyring_op(&loop, p.a, &qa, CN_GOSSIP_KEY_REMOVE, KEY32);
    assert_int_equal(qa.kr.rc, -EIO);
    assert_int_equal(qa.kr.num_err, 2);
    assert_string_equal(qa.kr_first_msg, "Removing the primary key is not allowed");
    assert_int_equal(cn_gossip_keyring_op(p.a, CN_GOSSIP_KEY_USE, "bad", on_keyring, &qa),
                     -EINVAL);
    /* Still talking on the new key. */
    assert_int_equal(alive_members(p.a), 2);
    /* An outstanding query at close: no callback, no leak. A keyring
     * operation still gets its one callback, with CN_ECLOSED. */
    assert_int_equal(cn_gossip_query(p.a, "ping", NULL, 0, NULL, on_reply, &qa), 0);
    qa.kr_done = 0;
    assert_int_equal(cn_gossip_keyring_op(p.a, CN_GOSSIP_KEY_LIST, NULL, on_keyring, &qa), 0);
    cn_gossip_close(p.a, closed, &n_closed);
    cn_gossip_close(p.b, closed, &n_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(n_closed, 2);
    assert_int_equal(qa.kr_done, 1);
    assert_int_equal(qa.kr.rc, CN_ECLOSED);
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
        cmocka_unit_test(test_query_and_keyring),
    };
    cn_log_setup(CN_LOG_ERROR, false);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
