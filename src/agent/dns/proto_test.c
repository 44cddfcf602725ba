/* agent/dns/proto_test.c - rcodes, malformed input, truncation, EDNS,
 * asynchronous lookups, timeouts, cancellation, overload, the answer
 * cache and configuration (consul-compat.md 6.3, 6.4). */
#include <errno.h>

#include "test_util.h"

static void test_rcodes(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_AXFR);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOTIMPL);
    assert_int_equal(T_NANS(t) + T_NAUTH(t), 0);
    /* Not our domain, no recursors: REFUSED, not authoritative. */
    t_ask(t, "example.org", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_REFUSED);
    assert_false(ldns_pkt_aa(t->pkt));
    assert_false(ldns_pkt_ra(t->pkt));
    t_ask(t, "consulx", LDNS_RR_TYPE_A);             /* label boundary */
    assert_int_equal(T_RCODE(t), LDNS_RCODE_REFUSED);
    /* One label between the type and the domain at most. */
    t_ask(t, "web.service.dc1.extra.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    T_HAS(T_AUTH(t), "IN\tSOA");
    t_ask(t, "web-1.node.dc1.extra.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_ask(t, "service.consul", LDNS_RR_TYPE_A);      /* no service name */
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_ask(t, "foo.bar.consul", LDNS_RR_TYPE_A);      /* no type label */
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    /* Store failure: SERVFAIL without SOA; unknown DC: NXDOMAIN. */
    t->f->status = -EIO;
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_SERVFAIL);
    assert_int_equal(T_NAUTH(t), 0);
    t_ask(t, "web-1.node.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_SERVFAIL);
    t_ask(t, "pq.query.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_SERVFAIL);
    t_ask(t, "3.0.0.10.in-addr.arpa", LDNS_RR_TYPE_PTR);  /* as not found */
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t->f->status = CN_ENODC;
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t->f->status = 0;
    t_ask(t, "web.service.dc9.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    assert_true(t->s->stats.nxdomain >= 5);
    assert_true(t->s->stats.servfail >= 3);
    t_free(t);
}

static void test_malformed(void **state)
{
    struct t *t = t_new(NULL);
    uint8_t q[CN_DNS_REQ_BYTES_MAX + 16];
    size_t n;
    (void)state;

    /* Shorter than a header: dropped, counted. */
    assert_int_equal(t_raw(t, (const uint8_t *)"\x12\x34\x01", 3, false), 0);
    assert_int_equal(t_raw(t, q, 0, false), 0);
    assert_int_equal(t->s->stats.dropped_short, 2);
    /* A response: never answered. */
    n = t_query(q, "web.service.consul", LDNS_RR_TYPE_A, 0, 7);
    q[2] |= 0x80;
    assert_int_equal(t_raw(t, q, n, false), 0);
    assert_int_equal(t->s->stats.dropped_response, 1);
    /* Header only, qdcount 1: FORMERR echoing the ID. */
    memcpy(q, "\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 12);
    assert_int_equal(t_raw(t, q, 12, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_FORMERR);
    assert_int_equal(ldns_pkt_id(t->pkt), 0xabcd);
    assert_int_equal(ldns_pkt_qdcount(t->pkt), 0);
    /* Two questions. */
    n = t_query(q, "web.service.consul", LDNS_RR_TYPE_A, 0, 8);
    q[5] = 2;
    assert_int_equal(t_raw(t, q, n, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_FORMERR);
    /* Opcode STATUS: NOTIMP. */
    n = t_query(q, "web.service.consul", LDNS_RR_TYPE_A, 0, 9);
    q[2] = (uint8_t)((q[2] & 0x87) | (2 << 3));
    assert_int_equal(t_raw(t, q, n, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOTIMPL);
    /* Too big. */
    n = t_query(q, "web.service.consul", LDNS_RR_TYPE_A, 0, 10);
    memset(q + n, 0, sizeof q - n);
    assert_int_equal(t_raw(t, q, CN_DNS_REQ_BYTES_MAX + 1, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_FORMERR);
    /* A compression pointer loop in the question. */
    memcpy(q, "\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
              "\xc0\x0c\x00\x01\x00\x01", 18);
    assert_int_equal(t_raw(t, q, 18, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_FORMERR);
    /* Truncated question. */
    n = t_query(q, "web.service.consul", LDNS_RR_TYPE_A, 0, 11);
    assert_int_equal(t_raw(t, q, n - 3, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_FORMERR);
    /* A label holding a dot: not a name we can hand on. */
    memcpy(q, "\x00\x02\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
              "\x03" "a.b" "\x04" "node" "\x06" "consul" "\x00"
              "\x00\x01\x00\x01", 12 + 18 + 4);
    assert_int_equal(t_raw(t, q, 34, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    assert_int_equal(t->s->stats.formerr, 5);
    assert_int_equal(t->s->stats.notimp, 1);
    assert_int_equal(t->s->n_qs, 0);
    t_free(t);
}

/* EDNS: OPT echoed; client subnet echoed with scope 0; bad ones FORMERR. */
static void test_edns(void **state)
{
    struct t *t = t_new(NULL);
    uint8_t q[512];
    size_t n;
    (void)state;
    t_ask_ex(t, "web-1.node.consul", LDNS_RR_TYPE_A, 1232, false);
    assert_true(ldns_pkt_edns(t->pkt));
    assert_int_equal(ldns_pkt_edns_udp_size(t->pkt), 1232);
    /* Append an OPT with ECS 192.0.2.0/24 by hand. */
    n = t_query(q, "web-1.node.consul", LDNS_RR_TYPE_A, 0, 5);
    static const uint8_t opt[] = {
        0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 11,       /* root OPT 4096, rdlen */
        0, 8, 0, 7, 0, 1, 24, 0, 192, 0, 2,         /* ECS v4 /24 */
    };
    memcpy(q + n, opt, sizeof opt);
    q[11] = 1;                                      /* arcount */
    assert_int_equal(t_raw(t, q, n + sizeof opt, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    const ldns_rdf *d = ldns_pkt_edns_data(t->pkt);
    assert_non_null(d);
    assert_int_equal(ldns_rdf_size(d), 11);
    assert_memory_equal(ldns_rdf_data(d), "\x00\x08\x00\x07\x00\x01\x18\x00\xc0\x00\x02", 11);
    /* Prepared query answers are scoped to the client's subnet. */
    n = t_query(q, "pq.query.consul", LDNS_RR_TYPE_A, 0, 6);
    memcpy(q + n, opt, sizeof opt);
    q[11] = 1;
    assert_int_equal(t_raw(t, q, n + sizeof opt, false), 1);
    d = ldns_pkt_edns_data(t->pkt);
    assert_non_null(d);
    assert_int_equal(ldns_rdf_data(d)[7], 24);
    /* ECS whose address is longer than its prefix: FORMERR. */
    memcpy(q + n, opt, sizeof opt);
    q[n + 10] = 12;
    q[n + 14] = 8;
    q[n + 18] = 16;
    assert_int_equal(t_raw(t, q, n + sizeof opt + 1, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_FORMERR);
    /* Two OPT records: FORMERR. */
    memcpy(q + n, opt, 11);
    memcpy(q + n + 11, opt, 11);
    q[n + 10] = 0;
    q[n + 21] = 0;
    q[11] = 2;
    assert_int_equal(t_raw(t, q, n + 22, false), 1);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_FORMERR);
    t_free(t);
}

static void limit5(struct cn_dns_config *c) { c->udp_answer_limit = 5; }
static void limit20(struct cn_dns_config *c) { c->udp_answer_limit = 20; }
static void trunc_on(struct cn_dns_config *c) { c->enable_truncate = true; }

static void test_truncation_counts(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    /* UDP without EDNS: udp_answer_limit (3), silently. */
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 3);
    assert_false(ldns_pkt_tc(t->pkt));
    assert_int_equal(t_count(T_ADD(t), "IN\tA\t10.0.0."), 3);  /* glue kept */
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_NANS(t), 3);
    /* EDNS up to 512 counts as classic; bigger: no count cap. */
    t_ask_ex(t, "web.service.consul", LDNS_RR_TYPE_SRV, 512, false);
    assert_int_equal(T_NANS(t), 3);
    t_ask_ex(t, "web.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
    assert_int_equal(T_NANS(t), 10);
    /* TCP: everything. */
    t_ask_ex(t, "web.service.consul", LDNS_RR_TYPE_SRV, 0, true);
    assert_int_equal(T_NANS(t), 10);
    assert_true(t->s->stats.truncated >= 3);
    t_free(t);

    t = t_new(limit5);
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_NANS(t), 5);
    t_free(t);
    t = t_new(limit20);                               /* capped at 8 */
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_NANS(t), 8);
    t_free(t);
    t = t_new(trunc_on);
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 3);
    assert_true(ldns_pkt_tc(t->pkt));
    t_ask_ex(t, "web.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
    assert_false(ldns_pkt_tc(t->pkt));
    t_free(t);
}

static void limit8_trunc(struct cn_dns_config *c)
{
    c->udp_answer_limit = 8;
    c->enable_truncate = true;
}

/* Sizes: 512 bytes uncompressed, the EDNS size, 64 KiB over TCP. */
static void test_truncation_sizes(void **state)
{
    struct t *t = t_new(limit8_trunc);
    char node[80], addr[32];
    (void)state;
    for (int i = 0; i < 40; i++) {
        snprintf(node, sizeof node, "a-rather-long-node-name-for-trimming-tests-%02d", i);
        cn_dns_fake_node(t->f, node, "10.3.0.1");
        cn_dns_fake_service(t->f, "long", node, NULL, 80, NULL, CN_DNS_PASSING);
    }
    t_ask(t, "long.service.consul", LDNS_RR_TYPE_SRV);
    assert_true(t->reply_len <= 512);
    assert_true(T_NANS(t) >= 1 && T_NANS(t) < 8);
    assert_int_equal(T_NADD(t), T_NANS(t));       /* glue trimmed with them */
    assert_true(ldns_pkt_tc(t->pkt));
    t_ask_ex(t, "long.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
    assert_true(t->reply_len <= 4096 - 8);
    assert_true(T_NANS(t) > 8 && T_NANS(t) < 40);
    t_ask_ex(t, "long.service.consul", LDNS_RR_TYPE_SRV, 0, true);
    assert_int_equal(T_NANS(t), 40);
    assert_false(ldns_pkt_tc(t->pkt));
    /* One answer whose Additional alone is too big: sent without it. */
    char key[16], value[400];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof key, "k%d", i);
        cn_dns_fake_meta(t->f, "web-7", key, value);
    }
    t_ask(t, "web-7.node.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_NANS(t), 1);
    assert_int_equal(T_NADD(t), 0);
    assert_true(ldns_pkt_tc(t->pkt));
    t_ask_ex(t, "web-7.node.consul", LDNS_RR_TYPE_A, 4096, false);
    assert_int_equal(T_NADD(t), 4);
    /* 5000 distinct addresses over TCP: 4096 A records at most... */
    for (int i = 0; i < 4900; i++) {
        snprintf(addr, sizeof addr, "10.%d.%d.%d", 100 + i / 65536,
                 (i / 256) % 256, i % 256);
        cn_dns_fake_service(t->f, "big", "db-1", addr, 1, NULL, CN_DNS_PASSING);
    }
    t_ask_ex(t, "big.service.consul", LDNS_RR_TYPE_A, 0, true);
    assert_true(T_NANS(t) > 4000 && T_NANS(t) <= 4096);
    assert_true(t->reply_len <= CN_DNS_TCP_RESP_BYTES_MAX);
    /* ...and SRV answers until 64 KiB are full. */
    t_ask_ex(t, "big.service.consul", LDNS_RR_TYPE_SRV, 0, true);
    assert_true(T_NANS(t) > 500 && T_NANS(t) <= 1024);
    assert_true(t->reply_len <= CN_DNS_TCP_RESP_BYTES_MAX);
    /* UDP with the largest EDNS size. */
    t_ask_ex(t, "big.service.consul", LDNS_RR_TYPE_A, 65535, false);
    assert_true(t->reply_len <= CN_DNS_UDP_RESP_BYTES_MAX - 8);
    t_free(t);
}

static void test_async_and_timeouts(void **state)
{
    struct t *t = t_new(NULL);
    uint8_t q[512];
    size_t n;
    (void)state;
    t->f->async = true;
    n = t_query(q, "web-1.node.consul", LDNS_RR_TYPE_A, 0, 1);
    assert_int_equal(t_raw(t, q, n, false), 0);       /* waiting */
    n = t_query(q, "db.service.consul", LDNS_RR_TYPE_SRV, 0, 2);
    assert_int_equal(t_raw(t, q, n, false), 0);
    assert_int_equal(t->s->inflight.count, 2);
    /* A completion of the wrong kind or an unknown id is ignored. */
    assert_int_equal(cn_dns_node_done(t->s, t->f->pending[1].id, 0, NULL),
                     CN_ENOTFOUND);
    assert_int_equal(cn_dns_service_done(t->s, 999999, 0, NULL), CN_ENOTFOUND);
    assert_int_equal(cn_dns_fake_complete(t->f), 2);
    assert_int_equal(t->n_replies, 2);
    assert_int_equal(ldns_wire2pkt(&t->pkt, t->reply, t->reply_len), LDNS_STATUS_OK);
    assert_int_equal(T_NANS(t), 2);                  /* the db SRV reply */
    assert_int_equal(t->s->inflight.count, 0);

    /* Timeout: SERVFAIL, the backend is told, a late answer is dropped. */
    n = t_query(q, "web.service.consul", LDNS_RR_TYPE_A, 0, 3);
    assert_int_equal(t_raw(t, q, n, false), 0);
    uint64_t id = t->f->pending[0].id;
    cn__dns_sweep(t->s, t_now_ms_value + t->cfg.lookup_timeout_ms - 1);
    assert_int_equal(t->n_replies, 2);
    cn__dns_sweep(t->s, t_now_ms_value + t->cfg.lookup_timeout_ms);
    assert_int_equal(t->n_replies, 3);
    ldns_pkt_free(t->pkt);
    assert_int_equal(ldns_wire2pkt(&t->pkt, t->reply, t->reply_len), LDNS_STATUS_OK);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_SERVFAIL);
    assert_int_equal(t->f->cancels, 1);
    assert_true(t->f->last_cancelled == id);
    assert_int_equal(t->s->stats.lookup_timeouts, 1);
    struct cn_dns_service_result r = { NULL, 0, 0 };
    assert_int_equal(cn_dns_service_done(t->s, id, 0, &r), CN_ENOTFOUND);
    assert_true(t->s->stats.late_completions >= 3);
    assert_int_equal(t->s->n_qs, 0);

    /* Closing the server cancels what waits, without replies. */
    n = t_query(q, "web.service.consul", LDNS_RR_TYPE_A, 0, 4);
    assert_int_equal(t_raw(t, q, n, false), 0);
    cn_dns_server_close(t->s, NULL, NULL);
    assert_int_equal(t->f->cancels, 2);
    assert_int_equal(t->n_replies, 3);
    cn_dns_fake_free(t->f);
    ldns_pkt_free(t->pkt);
    free(t);
}

static void test_overload(void **state)
{
    struct t *t = t_new(NULL);
    uint8_t q[512];
    size_t n = t_query(q, "web.service.consul", LDNS_RR_TYPE_A, 0, 1);
    (void)state;
    t->f->ignore = true;                            /* never answers */
    for (int i = 0; i < CN_DNS_INFLIGHT_MAX; i++)
        assert_int_equal(t_raw(t, q, n, false), 0);
    assert_int_equal(t->s->stats.dropped_overload, 0);
    assert_int_equal(t_raw(t, q, n, false), 0);
    assert_int_equal(t->s->stats.dropped_overload, 1);
    cn__dns_sweep(t->s, t_now_ms_value + 60000);
    assert_int_equal(t->n_replies, CN_DNS_INFLIGHT_MAX);
    assert_int_equal(t->s->n_qs, 0);
    /* Room again. */
    t->f->ignore = false;
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_NANS(t), 3);
    t_free(t);
}

static void test_cache(void **state)
{
    struct t *t = t_new(NULL);
    char name[64];
    (void)state;
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_SRV);
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(t->s->stats.cache_misses, 1);
    assert_int_equal(t->s->stats.cache_hits, 1);
    /* New data under a new index is seen at once. */
    cn_dns_fake_service(t->f, "db", "web-9", NULL, 6000, NULL, CN_DNS_PASSING);
    t->f->index++;
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 3);
    assert_int_equal(t->s->stats.cache_misses, 2);
    /* Another qtype or case of the name: its own entry / the same one. */
    t_ask(t, "DB.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(t->s->stats.cache_hits, 2);
    T_HAS(T_ANS(t), "DB.service.consul.\t0\tIN\tSRV");
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(t->s->stats.cache_misses, 3);
    /* Index 0: never cached. */
    t->f->index = 0;
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_A);
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(t->s->stats.cache_misses, 5);
    /* Bounded. */
    t->f->index = 9;
    for (int i = 0; i < CN_DNS_CACHE_ENTRIES_MAX + 50; i++) {
        snprintf(name, sizeof name, "s%d", i);
        cn_dns_fake_service(t->f, name, "web-1", NULL, 1, NULL, CN_DNS_PASSING);
        snprintf(name, sizeof name, "s%d.service.consul", i);
        t_ask(t, name, LDNS_RR_TYPE_A);
        assert_int_equal(T_NANS(t), 1);
    }
    assert_int_equal(t->s->cache.n, CN_DNS_CACHE_ENTRIES_MAX);
    cn_dns_server_flush_cache(t->s);
    assert_int_equal(t->s->cache.n, 0);
    t_free(t);
}

static void test_alloc_failures(void **state)
{
    static const struct { const char *name; ldns_rr_type type; } qs[] = {
        { "web.service.consul", LDNS_RR_TYPE_SRV },
        { "api.service.consul", LDNS_RR_TYPE_A },
        { "web-1.node.consul", LDNS_RR_TYPE_ANY },
        { "nope.service.consul", LDNS_RR_TYPE_A },
        { "consul", LDNS_RR_TYPE_SOA },
        { "3.0.0.10.in-addr.arpa", LDNS_RR_TYPE_PTR },
    };
    (void)state;
    for (size_t k = 0; k < CN_ARRAY_LEN(qs); k++) {
        for (long n = 0; n < 40; n++) {
            struct t *t = t_new(NULL);
            uint8_t q[512];
            size_t len = t_query(q, qs[k].name, qs[k].type, 0, 1);
            cn_alloc_fail_after(n);
            cn__dns_inject(t->s, q, len, TR_UDP);
            cn_alloc_fail_after(-1);
            assert_int_equal(t->s->n_qs, 0);
            assert_true(t->n_replies <= 1);
            t_free(t);
        }
    }
}

static void test_config(void **state)
{
    struct cn_dns_config c;
    struct cn_dns_backend be = { 0 };
    struct cn_dns_fake *f = cn_dns_fake_new();
    struct cn_dns_server *s = NULL;
    char err[CN_ERRMSG_MAX];
    struct sockaddr_storage ss;
    (void)state;
    cn_dns_fake_backend(f, &be);

    static const char *const bad_domains[] = { "", ".", "a..b", "-x.." };
    for (size_t i = 0; i < CN_ARRAY_LEN(bad_domains); i++) {
        cn_dns_config_init(&c);
        c.domain = bad_domains[i];
        assert_int_equal(cn_dns_server_new(&s, NULL, &c, &be, NULL, err), -EINVAL);
        T_HAS(err, "domain");
    }
    cn_dns_config_init(&c);
    c.datacenter = "a.b";
    assert_int_equal(cn_dns_server_new(&s, NULL, &c, &be, NULL, err), -EINVAL);
    T_HAS(err, "datacenter");
    const char *bad_rec[] = { "nope" };
    cn_dns_config_init(&c);
    c.recursors = bad_rec;
    c.n_recursors = 1;
    assert_int_equal(cn_dns_server_new(&s, NULL, &c, &be, NULL, err), -EINVAL);
    T_HAS(err, "recursor");
    c.n_recursors = CN_DNS_RECURSORS_MAX + 1;
    assert_int_equal(cn_dns_server_new(&s, NULL, &c, &be, NULL, err), -EINVAL);
    struct cn_dns_backend half = be;
    half.node = NULL;
    cn_dns_config_init(&c);
    assert_int_equal(cn_dns_server_new(&s, NULL, &c, &half, NULL, err), -EINVAL);

    assert_int_equal(cn__dns_parse_hostport("8.8.8.8", &ss), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 53);
    assert_int_equal(cn__dns_parse_hostport("127.0.0.1:5353", &ss), 0);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 5353);
    assert_int_equal(cn__dns_parse_hostport("[::1]:54", &ss), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(cn__dns_parse_hostport("2001:db8::1", &ss), 0);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 53);
    assert_int_equal(cn__dns_parse_hostport("1.2.3.4:0", &ss), -EINVAL);
    assert_int_equal(cn__dns_parse_hostport("1.2.3.4:65536", &ss), -EINVAL);
    assert_int_equal(cn__dns_parse_hostport("1.2.3.4:x", &ss), -EINVAL);
    assert_int_equal(cn__dns_parse_hostport("[::1", &ss), -EINVAL);
    assert_int_equal(cn__dns_parse_hostport("host.example:53", &ss), -EINVAL);

    /* Service TTL rules: exact, then longest prefix, then "*". */
    static const struct cn_dns_ttl_rule r[] = {
        { "*", 1 }, { "we*", 2 }, { "web*", 3 }, { "web", 4 },
    };
    cn_dns_config_init(&c);
    c.service_ttl = r;
    c.n_service_ttl = 4;
    assert_int_equal(cn_dns_server_new(&s, NULL, &c, &be, NULL, err), 0);
    assert_int_equal(cn__dns_conf_service_ttl(&s->conf, "web"), 4);
    assert_int_equal(cn__dns_conf_service_ttl(&s->conf, "webx"), 3);
    assert_int_equal(cn__dns_conf_service_ttl(&s->conf, "wex"), 2);
    assert_int_equal(cn__dns_conf_service_ttl(&s->conf, "db"), 1);
    cn_dns_server_close(s, NULL, NULL);
    cn_dns_fake_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rcodes),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_edns),
        cmocka_unit_test(test_truncation_counts),
        cmocka_unit_test(test_truncation_sizes),
        cmocka_unit_test(test_async_and_timeouts),
        cmocka_unit_test(test_overload),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
