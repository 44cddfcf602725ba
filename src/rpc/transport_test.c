/* rpc/transport_test.c - two transports on one loop, over loopback. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "rpc.h"

static uv_loop_t loop;

struct side {
    struct cn_transport *t;
    int raft_msgs;
    size_t raft_bytes;
    char last_raft[64];
    int closed_conns;
    bool park;                /* Don't answer RPCs (test cancellation). */
    uint64_t parked_conn, parked_id;
};

static void on_raft(void *ctx, const uint8_t *msg, size_t len)
{
    struct side *s = ctx;
    s->raft_msgs++;
    s->raft_bytes += len;
    snprintf(s->last_raft, sizeof s->last_raft, "%.*s", (int)CN_MIN(len, 60), (const char *)msg);
}

static void on_rpc(void *ctx, uint64_t conn, uint64_t id, enum cn_rpc_method m,
                   const uint8_t *args, size_t len)
{
    struct side *s = ctx;
    struct cn_rpc_call r;
    if (s->park) {
        s->parked_conn = conn;
        s->parked_id = id;
        return;
    }
    cn_rpc_call_init(&r, m);
    if (len == 4 && memcmp(args, "fail", 4) == 0) {
        r.rc = CN_ENOLEADER;
        snprintf(r.errmsg, sizeof r.errmsg, "No cluster leader");
    } else {
        /* Echo the args reversed, with meta. */
        for (size_t i = 0; i < len; i++)
            cn_buf_putc(&r.reply, args[len - 1 - i]);
        r.meta.index = 42;
        r.meta.known_leader = true;
        r.meta.last_contact_ms = 7;
    }
    cn_transport_reply(s->t, conn, id, &r);
    cn_rpc_call_close(&r);
}

static void on_closed(void *ctx, uint64_t conn)
{
    struct side *s = ctx;
    (void)conn;
    s->closed_conns++;
}

static struct side a, b;
static char b_addr[64];

static void start_side(struct side *s, int port)
{
    struct cn_transport_handlers h = {on_raft, on_rpc, on_closed, s};
    char err[CN_ERRMSG_MAX];
    memset(s, 0, sizeof *s);
    assert_int_equal(cn_transport_start(&s->t, &loop, "127.0.0.1", port, &h, err), 0);
}

static void run_until(bool (*pred)(void), int max_iters)
{
    for (int i = 0; i < max_iters && !pred(); i++)
        uv_run(&loop, UV_RUN_ONCE);
}

static int setup(void **state)
{
    (void)state;
    uv_loop_init(&loop);
    start_side(&a, 0);
    start_side(&b, 0);
    snprintf(b_addr, sizeof b_addr, "127.0.0.1:%d", cn_transport_port(b.t));
    return 0;
}

static int stopped;
static void on_stop(void *arg)
{
    (void)arg;
    stopped++;
}

static int teardown(void **state)
{
    (void)state;
    cn_transport_stop(a.t, on_stop, NULL);
    cn_transport_stop(b.t, on_stop, NULL);
    while (stopped < 2 && uv_run(&loop, UV_RUN_ONCE))
        ;
    assert_int_equal(stopped, 2);
    assert_int_equal(uv_loop_close(&loop), 0); /* Every handle closed. */
    return 0;
}

static bool got_raft(void) { return b.raft_msgs >= 100; }

static void test_raft_frames(void **state)
{
    (void)state;
    for (int i = 0; i < 100; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "append %d", i);
        assert_int_equal(cn_transport_send_raft(a.t, b_addr, (uint8_t *)msg, (size_t)n), 0);
    }
    run_until(got_raft, 1000);
    assert_int_equal(b.raft_msgs, 100);
    assert_string_equal(b.last_raft, "append 99"); /* In order. */
}

static int done_count;
static struct cn_rpc_call *last_done;
static void call_done(struct cn_rpc_call *call)
{
    done_count++;
    last_done = call;
}
static bool one_done(void) { return done_count > 0; }

static void test_rpc_roundtrip(void **state)
{
    struct cn_rpc_call call;
    (void)state;
    done_count = 0;
    cn_rpc_call_init(&call, CN_RPC_KVS_GET);
    cn_buf_append(&call.args, "abc", 3);
    call.done = call_done;
    cn_transport_call(a.t, b_addr, &call, 5000);
    run_until(one_done, 1000);
    assert_int_equal(done_count, 1);
    assert_int_equal(call.rc, 0);
    assert_int_equal(call.reply.len, 3);
    assert_memory_equal(call.reply.data, "cba", 3);
    assert_int_equal(call.meta.index, 42);
    assert_true(call.meta.known_leader);
    assert_int_equal(call.meta.last_contact_ms, 7);
    /* An error travels with its message. */
    done_count = 0;
    cn_buf_reset(&call.args);
    cn_buf_append(&call.args, "fail", 4);
    cn_transport_call(a.t, b_addr, &call, 5000);
    run_until(one_done, 1000);
    assert_int_equal(call.rc, CN_ENOLEADER);
    assert_string_equal(call.errmsg, "No cluster leader");
    cn_rpc_call_close(&call);
}

static void test_rpc_to_dead_peer_fails(void **state)
{
    struct cn_rpc_call call;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t sl = sizeof sa;
    char dead[64];
    (void)state;
    /* A port that was free a moment ago: nothing listens there. */
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    snprintf(dead, sizeof dead, "127.0.0.1:%d", ntohs(sa.sin_port));
    done_count = 0;
    cn_rpc_call_init(&call, CN_RPC_STATUS_LEADER);
    call.done = call_done;
    cn_transport_call(a.t, dead, &call, 5000);
    run_until(one_done, 1000);
    assert_int_equal(done_count, 1);
    assert_true(call.rc < 0);
    cn_rpc_call_close(&call);
}

static void test_cancel_and_timeout(void **state)
{
    struct cn_rpc_call call;
    (void)state;
    b.park = true;
    done_count = 0;
    cn_rpc_call_init(&call, CN_RPC_KVS_GET);
    call.done = call_done;
    cn_transport_call(a.t, b_addr, &call, 0);
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    cn_transport_call_cancel(a.t, &call);
    /* A late reply to a cancelled call is ignored. */
    b.park = false;
    struct cn_rpc_call r;
    cn_rpc_call_init(&r, CN_RPC_KVS_GET);
    cn_transport_reply(b.t, b.parked_conn, b.parked_id, &r);
    cn_rpc_call_close(&r);
    for (int i = 0; i < 50; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(done_count, 0);
    /* A call nobody answers times out. */
    b.park = true;
    cn_transport_call(a.t, b_addr, &call, 150);
    run_until(one_done, 100000);
    assert_int_equal(call.rc, CN_ETIMEOUT);
    b.park = false;
    cn_rpc_call_close(&call);
}

static bool b_closed(void) { return b.closed_conns > 0; }

static void test_oversized_frame_closes(void **state)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    uint8_t hdr[5] = {0xff, 0xff, 0xff, 0xff, CN_FRAME_RAFT};
    (void)state;
    sa.sin_port = htons((uint16_t)cn_transport_port(b.t));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    b.closed_conns = 0;
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, hdr, 5), 5);
    run_until(b_closed, 1000);
    assert_int_equal(b.closed_conns, 1);
    struct cn_transport_stats st;
    cn_transport_stats(b.t, &st);
    assert_true(st.bad_frames >= 1);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raft_frames),
        cmocka_unit_test(test_rpc_roundtrip),
        cmocka_unit_test(test_rpc_to_dead_peer_fails),
        cmocka_unit_test(test_cancel_and_timeout),
        cmocka_unit_test(test_oversized_frame_closes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
