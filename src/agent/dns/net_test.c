/* agent/dns/net_test.c - the server on a real loop: UDP and TCP clients
 * on loopback (ephemeral ports), TCP framing and pipelining, clients that
 * leave, backends that answer later, recursors, shutdown. Waits are for
 * events, each with a generous deadline that only fails the test. */
#include <errno.h>

#include <uv.h>

#include "test_util.h"

#define DEADLINE_MS 5000

struct client {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    bool connected, eof, closed;
    uint8_t in[1 << 17];
    size_t in_len;
    int replies;
    uint8_t last[65536];
    size_t last_len;
    uint8_t out[8192];
};

static uv_loop_t loop;

/* Runs the loop until *flag or the deadline (then the test fails). */
static void run_until(bool (*cond)(void *), void *arg)
{
    uint64_t end = uv_now(&loop) + DEADLINE_MS;
    while (!cond(arg)) {
        assert_true(uv_now(&loop) < end);
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
}

static uv_timer_t tick;
static void on_tick(uv_timer_t *t) { (void)t; }

static void start_ticker(void)
{
    /* Keeps UV_RUN_ONCE from blocking past a deadline. */
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 20, 20);
}

static struct cn_dns_server *start_server(struct cn_dns_fake *f,
                                          const struct cn_dns_config *cfg)
{
    struct cn_dns_server *s;
    struct cn_dns_backend be;
    char err[CN_ERRMSG_MAX];
    cn_dns_fake_backend(f, &be);
    assert_int_equal(cn_dns_server_new(&s, &loop, cfg, &be, NULL, err), 0);
    assert_int_equal(cn_dns_server_listen(s, "127.0.0.1", 0, err), 0);
    assert_true(cn_dns_server_port(s) != 0);
    return s;
}

static bool closed_flag;
static void on_server_closed(void *arg) { *(bool *)arg = true; }
static bool is_true(void *p) { return *(bool *)p; }

static void stop_server(struct cn_dns_server *s)
{
    closed_flag = false;
    cn_dns_server_close(s, on_server_closed, &closed_flag);
    run_until(is_true, &closed_flag);
}

/* ---- UDP client ---- */

static void cl_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    struct client *c = h->data;
    (void)sz;
    *b = uv_buf_init((char *)c->in + c->in_len, (unsigned)(sizeof c->in - c->in_len));
}

static void cl_udp_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b,
                        const struct sockaddr *addr, unsigned flags)
{
    struct client *c = h->data;
    (void)flags;
    if (n <= 0 || !addr)
        return;
    memcpy(c->last, b->base, (size_t)n);
    c->last_len = (size_t)n;
    c->replies++;
}

static void cl_udp_open(struct client *c)
{
    memset(c, 0, sizeof *c);
    assert_int_equal(uv_udp_init(&loop, &c->udp), 0);
    c->udp.data = c;
}

static void cl_udp_send(struct client *c, uint16_t port, const uint8_t *p,
                        size_t n)
{
    struct sockaddr_in to;
    uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);
    uv_ip4_addr("127.0.0.1", port, &to);
    assert_true(uv_udp_try_send(&c->udp, &b, 1, (struct sockaddr *)&to) >= 0);
    if (!uv_is_active((uv_handle_t *)&c->udp))
        assert_int_equal(uv_udp_recv_start(&c->udp, cl_alloc, cl_udp_recv), 0);
}

static bool has_replies(void *p)
{
    struct client *c = p;
    return c->replies > 0;
}

static void cl_closed(uv_handle_t *h)
{
    struct client *c = h->data;
    c->closed = true;
}

static void cl_close_udp(struct client *c)
{
    uv_close((uv_handle_t *)&c->udp, cl_closed);
    run_until(is_true, &c->closed);
}

static ldns_pkt *parse_last(struct client *c)
{
    ldns_pkt *p = NULL;
    assert_int_equal(ldns_wire2pkt(&p, c->last, c->last_len), LDNS_STATUS_OK);
    return p;
}

/* ---- TCP client ---- */

static void cl_tcp_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct client *c = st->data;
    (void)b;
    if (n < 0) {
        c->eof = true;
        return;
    }
    c->in_len += (size_t)n;
    while (c->in_len >= 2) {
        size_t l = cn__dns_get16(c->in);
        if (c->in_len < 2 + l)
            break;
        memcpy(c->last, c->in + 2, l);
        c->last_len = l;
        c->replies++;
        memmove(c->in, c->in + 2 + l, c->in_len - 2 - l);
        c->in_len -= 2 + l;
    }
}

static void cl_connected(uv_connect_t *r, int status)
{
    struct client *c = r->data;
    assert_int_equal(status, 0);
    c->connected = true;
    assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, cl_alloc, cl_tcp_read), 0);
}

static bool is_connected(void *p) { return ((struct client *)p)->connected; }
static bool is_eof(void *p) { return ((struct client *)p)->eof; }

static void cl_tcp_open(struct client *c, uint16_t port)
{
    struct sockaddr_in to;
    memset(c, 0, sizeof *c);
    assert_int_equal(uv_tcp_init(&loop, &c->tcp), 0);
    c->tcp.data = c;
    c->creq.data = c;
    uv_ip4_addr("127.0.0.1", port, &to);
    assert_int_equal(uv_tcp_connect(&c->creq, &c->tcp, (struct sockaddr *)&to,
                                    cl_connected), 0);
    run_until(is_connected, c);
}

static void cl_written(uv_write_t *w, int status)
{
    (void)w;
    (void)status;
}

/* Writes raw bytes (already framed by the caller). */
static void cl_tcp_write(struct client *c, const uint8_t *p, size_t n)
{
    uv_buf_t b;
    assert_true(n <= sizeof c->out);
    memcpy(c->out, p, n);
    b = uv_buf_init((char *)c->out, (unsigned)n);
    assert_int_equal(uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, cl_written), 0);
}

static size_t frame(uint8_t *out, const char *name, ldns_rr_type type, uint16_t id)
{
    size_t n = t_query(out + 2, name, type, 0, id);
    cn__dns_put16(out, (uint16_t)n);
    return n + 2;
}

static void cl_close_tcp(struct client *c)
{
    uv_close((uv_handle_t *)&c->tcp, cl_closed);
    run_until(is_true, &c->closed);
}

static struct client *cl_new(void)
{
    struct client *c = calloc(1, sizeof *c);
    assert_non_null(c);
    return c;
}

/* ---- tests ---- */

static int setup(void **state)
{
    (void)state;
    uv_loop_init(&loop);
    start_ticker();
    return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);     /* after a failed test: whatever is left */
}

static int teardown(void **state)
{
    (void)state;
    uv_close((uv_handle_t *)&tick, NULL);
    uv_walk(&loop, close_any, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static void test_udp_and_tcp(void **state)
{
    struct cn_dns_fake *f = cn_dns_fake_new();
    struct cn_dns_config cfg;
    struct client *c = cl_new();
    uint8_t q[1024];
    size_t n, n2;
    ldns_pkt *p;
    (void)state;
    t_catalog(f);
    cn_dns_config_init(&cfg);
    struct cn_dns_server *s = start_server(f, &cfg);
    uint16_t port = cn_dns_server_port(s);

    cl_udp_open(c);
    n = t_query(q, "db.service.consul", LDNS_RR_TYPE_SRV, 0, 77);
    cl_udp_send(c, port, q, n);
    run_until(has_replies, c);
    p = parse_last(c);
    assert_int_equal(ldns_pkt_id(p), 77);
    assert_int_equal(ldns_pkt_ancount(p), 2);
    ldns_pkt_free(p);
    cl_close_udp(c);

    /* TCP: two pipelined queries in one write, then an oversized one. */
    cl_tcp_open(c, port);
    n = frame(q, "web.service.consul", LDNS_RR_TYPE_SRV, 1);
    n2 = frame(q + n, "web-1.node.consul", LDNS_RR_TYPE_A, 2);
    cl_tcp_write(c, q, n + n2);
    run_until(has_replies, c);
    while (c->replies < 2)
        run_until(has_replies, c);
    p = parse_last(c);
    assert_true(ldns_pkt_id(p) == 1 || ldns_pkt_id(p) == 2);
    ldns_pkt_free(p);
    /* A runt frame is dropped; the connection lives on. */
    memcpy(q, "\x00\x03\x01\x02\x03", 5);
    n = frame(q + 5, "web-2.node.consul", LDNS_RR_TYPE_A, 3);
    cl_tcp_write(c, q, n + 5);
    c->replies = 0;
    run_until(has_replies, c);
    p = parse_last(c);
    assert_int_equal(ldns_pkt_id(p), 3);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    ldns_pkt_free(p);
    /* A frame larger than any query: the server closes the connection. */
    cl_tcp_write(c, (const uint8_t *)"\xff\xff\x00\x00", 4);
    run_until(is_eof, c);
    cl_close_tcp(c);

    struct cn_dns_stats st;
    cn_dns_server_stats(s, &st);
    assert_int_equal(st.queries_udp, 1);
    assert_int_equal(st.queries_tcp, 4);
    assert_int_equal(st.dropped_short, 1);
    assert_int_equal(st.tcp_closed_bad, 1);
    stop_server(s);
    cn_dns_fake_free(f);
    free(c);
}

/* The backend answers later (as over RPC), from a timer. */
static struct cn_dns_fake *later_fake;
static void on_later(uv_timer_t *t)
{
    (void)t;
    cn_dns_fake_complete(later_fake);
}

static bool has_pending(void *p) { return ((struct cn_dns_fake *)p)->n_pending > 0; }
static bool cancelled(void *p) { return ((struct cn_dns_fake *)p)->cancels > 0; }

static void test_async_backend_and_client_gone(void **state)
{
    struct cn_dns_fake *f = cn_dns_fake_new();
    struct cn_dns_config cfg;
    struct client *c = cl_new();
    uv_timer_t later;
    uint8_t q[1024];
    size_t n;
    (void)state;
    t_catalog(f);
    f->async = true;
    later_fake = f;
    cn_dns_config_init(&cfg);
    struct cn_dns_server *s = start_server(f, &cfg);
    uint16_t port = cn_dns_server_port(s);
    uv_timer_init(&loop, &later);
    uv_timer_start(&later, on_later, 5, 5);

    cl_udp_open(c);
    n = t_query(q, "web.service.consul", LDNS_RR_TYPE_A, 0, 9);
    cl_udp_send(c, port, q, n);
    run_until(has_replies, c);
    ldns_pkt *p = parse_last(c);
    assert_int_equal(ldns_pkt_ancount(p), 3);
    ldns_pkt_free(p);
    cl_close_udp(c);

    /* A TCP client that leaves while its lookup waits: cancelled. */
    uv_timer_stop(&later);
    cl_tcp_open(c, port);
    n = frame(q, "web.service.consul", LDNS_RR_TYPE_A, 1);
    cl_tcp_write(c, q, n);
    run_until(has_pending, f);
    cl_close_tcp(c);
    run_until(cancelled, f);
    assert_int_equal(f->n_pending, 0);
    struct cn_dns_stats st;
    cn_dns_server_stats(s, &st);
    assert_int_equal(st.lookups_cancelled, 1);
    assert_int_equal(st.inflight, 0);

    uv_close((uv_handle_t *)&later, NULL);
    stop_server(s);
    cn_dns_fake_free(f);
    free(c);
}

/* A recursor on the loop: answers example.org, fails fail.example. */
static uv_udp_t rec;
static int rec_seen;

static void rec_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *b,
                     const struct sockaddr *addr, unsigned flags)
{
    ldns_pkt *qp = NULL, *r;
    uint8_t *wire;
    size_t len;
    (void)flags;
    if (n <= 0 || !addr || ldns_wire2pkt(&qp, (uint8_t *)b->base, (size_t)n))
        return;
    rec_seen++;
    r = ldns_pkt_new();
    ldns_pkt_set_id(r, ldns_pkt_id(qp));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_ra(r, true);
    ldns_rr *qrr = ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(qp), 0));
    char *name = ldns_rdf2str(ldns_rr_owner(qrr));
    ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION, qrr);
    if (strcmp(name, "example.org.") == 0) {
        ldns_rr *a = NULL;
        ldns_rr_new_frm_str(&a, "example.org. 60 IN A 192.0.2.80", 0, NULL, NULL);
        ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, a);
    } else if (strcmp(name, "9.9.9.9.in-addr.arpa.") == 0) {
        ldns_rr *a = NULL;
        ldns_rr_new_frm_str(&a, "9.9.9.9.in-addr.arpa. 60 IN PTR dns.example.", 0,
                            NULL, NULL);
        ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, a);
    } else {
        ldns_pkt_set_rcode(r, LDNS_RCODE_SERVFAIL);
    }
    free(name);
    ldns_pkt2wire(&wire, r, &len);
    uv_buf_t ob = uv_buf_init((char *)wire, (unsigned)len);
    uv_udp_try_send(h, &ob, 1, addr);
    free(wire);
    ldns_pkt_free(r);
    ldns_pkt_free(qp);
}

static void rec_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    static char buf[65536];
    (void)h;
    (void)sz;
    *b = uv_buf_init(buf, sizeof buf);
}

static void test_recursors(void **state)
{
    struct cn_dns_fake *f = cn_dns_fake_new();
    struct cn_dns_config cfg;
    struct client *c = cl_new();
    struct sockaddr_in a;
    int alen = sizeof a;
    char recs[2][64];
    const char *rlist[2];
    uint8_t q[1024];
    size_t n;
    ldns_pkt *p;
    (void)state;
    t_catalog(f);
    uv_udp_init(&loop, &rec);
    uv_ip4_addr("127.0.0.1", 0, &a);
    assert_int_equal(uv_udp_bind(&rec, (struct sockaddr *)&a, 0), 0);
    uv_udp_getsockname(&rec, (struct sockaddr *)&a, &alen);
    uv_udp_recv_start(&rec, rec_alloc, rec_recv);
    /* The first recursor never answers; the second does. */
    snprintf(recs[0], sizeof recs[0], "127.0.0.1:9");
    snprintf(recs[1], sizeof recs[1], "127.0.0.1:%u", ntohs(a.sin_port));
    rlist[0] = recs[0];
    rlist[1] = recs[1];
    cn_dns_config_init(&cfg);
    cfg.recursors = rlist;
    cfg.n_recursors = 2;
    cfg.recursor_timeout_ms = 300;
    struct cn_dns_server *s = start_server(f, &cfg);
    uint16_t port = cn_dns_server_port(s);

    cl_udp_open(c);
    n = t_query(q, "example.org", LDNS_RR_TYPE_A, 0, 4242);
    cl_udp_send(c, port, q, n);
    run_until(has_replies, c);
    p = parse_last(c);
    assert_int_equal(ldns_pkt_id(p), 4242);            /* the client's ID */
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    ldns_pkt_free(p);
    /* Our own answers now say recursion is available. */
    c->replies = 0;
    n = t_query(q, "web-1.node.consul", LDNS_RR_TYPE_A, 0, 5);
    cl_udp_send(c, port, q, n);
    run_until(has_replies, c);
    p = parse_last(c);
    assert_true(ldns_pkt_ra(p));
    ldns_pkt_free(p);
    /* Every recursor fails: SERVFAIL. */
    c->replies = 0;
    n = t_query(q, "fail.example", LDNS_RR_TYPE_A, 0, 6);
    cl_udp_send(c, port, q, n);
    run_until(has_replies, c);
    p = parse_last(c);
    assert_int_equal(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
    assert_int_equal(ldns_pkt_id(p), 6);
    ldns_pkt_free(p);
    /* An address we do not know goes to the recursors too. */
    c->replies = 0;
    n = t_query(q, "9.9.9.9.in-addr.arpa", LDNS_RR_TYPE_PTR, 0, 7);
    cl_udp_send(c, port, q, n);
    run_until(has_replies, c);
    p = parse_last(c);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    ldns_pkt_free(p);
    /* A TCP client's forwarded query. */
    cl_close_udp(c);
    cl_tcp_open(c, port);
    n = frame(q, "example.org", LDNS_RR_TYPE_A, 8);
    cl_tcp_write(c, q, n);
    run_until(has_replies, c);
    p = parse_last(c);
    assert_int_equal(ldns_pkt_id(p), 8);
    assert_int_equal(ldns_pkt_ancount(p), 1);
    ldns_pkt_free(p);
    /* Shut down with a forward in flight. */
    n = frame(q, "fail.example", LDNS_RR_TYPE_A, 9);
    cl_tcp_write(c, q, n);
    uv_run(&loop, UV_RUN_NOWAIT);
    struct cn_dns_stats st;
    cn_dns_server_stats(s, &st);
    assert_true(st.recursed >= 3);
    assert_int_equal(st.recurse_failed, 1);
    stop_server(s);
    cl_close_tcp(c);
    uv_close((uv_handle_t *)&rec, NULL);
    cn_dns_fake_free(f);
    free(c);
}

static void test_listen_errors(void **state)
{
    struct cn_dns_fake *f = cn_dns_fake_new();
    struct cn_dns_config cfg;
    struct cn_dns_backend be;
    struct cn_dns_server *s, *s2;
    char err[CN_ERRMSG_MAX];
    (void)state;
    cn_dns_fake_backend(f, &be);
    cn_dns_config_init(&cfg);
    s = start_server(f, &cfg);
    assert_int_equal(cn_dns_server_new(&s2, &loop, &cfg, &be, NULL, err), 0);
    assert_int_equal(cn_dns_server_listen(s2, "bogus", 0, err), -EINVAL);
    /* The port is taken (UDP and TCP). */
    assert_int_equal(cn_dns_server_listen(s2, "127.0.0.1", cn_dns_server_port(s), err),
                     -EADDRINUSE);
    T_HAS(err, "bind");
    /* A second address of the same server. */
    assert_int_equal(cn_dns_server_listen(s, "::1", 0, err) == 0 ||
                     cn_dns_server_listen(s, "127.0.0.2", 0, err) == 0, 1);
    stop_server(s2);
    stop_server(s);
    cn_dns_fake_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_udp_and_tcp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_backend_and_client_gone,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_recursors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_listen_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
