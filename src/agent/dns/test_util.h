/* agent/dns/test_util.h - helpers shared by the DNS unit tests.
 *
 * A test server runs over the fake backend without sockets: queries are
 * injected (cn__dns_inject) and replies land in a sink, parsed with ldns.
 * Clocks are fixed and the shuffle's PRNG seeded, so runs repeat.
 */
#ifndef CN_DNS_TEST_UTIL_H
#define CN_DNS_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "dns_int.h"
#include <ldns/ldns.h>   /* after dns_int.h: see there */
#include "fake.h"

/* Each test file uses a different subset of these helpers. */
#pragma GCC diagnostic ignored "-Wunused-function"

struct t {
    struct cn_dns_server *s;
    struct cn_dns_fake *f;
    struct cn_dns_config cfg;
    uint8_t reply[65536];
    size_t reply_len;
    int n_replies;
    ldns_pkt *pkt;               /* last reply, parsed */
    char text[65536];            /* scratch for section text */
};

static uint64_t t_now_ms_value = 1000;
static uint64_t t_now(const struct cn_dns_server *s) { (void)s; return t_now_ms_value; }
static uint64_t t_wall(void) { return 1700000000; }

static void t_sink(void *ctx, const uint8_t *wire, size_t len)
{
    struct t *t = ctx;
    assert_true(len <= sizeof t->reply);
    memcpy(t->reply, wire, len);
    t->reply_len = len;
    t->n_replies++;
}

/* The standard catalog (see each test for what it relies on). */
static void t_catalog(struct cn_dns_fake *f)
{
    char name[32], addr[32];
    for (int i = 1; i <= 10; i++) {
        snprintf(name, sizeof name, "web-%d", i);
        snprintf(addr, sizeof addr, "10.0.0.%d", i);
        cn_dns_fake_node(f, name, addr);
        cn_dns_fake_service(f, "web", name, NULL, (uint16_t)(8000 + i),
                            i <= 5 ? "http,v1.2" : "http", CN_DNS_PASSING);
    }
    cn_dns_fake_meta(f, "web-1", "rack", "r1");
    cn_dns_fake_meta(f, "web-1", "rfc1035-owner", "team a");
    cn_dns_fake_node(f, "db-1", "10.1.0.1");
    cn_dns_fake_node(f, "db-2", "10.1.0.2");
    cn_dns_fake_node(f, "db-3", "10.1.0.3");
    cn_dns_fake_service(f, "db", "db-1", NULL, 5432, "primary", CN_DNS_PASSING);
    int w = cn_dns_fake_service(f, "db", "db-2", NULL, 5432, "replica",
                                CN_DNS_WARNING);
    cn_dns_fake_weights(f, w, 10, 3);
    cn_dns_fake_service(f, "db", "db-3", NULL, 5432, "replica", CN_DNS_CRITICAL);
    cn_dns_fake_service(f, "dead", "db-3", NULL, 1, NULL, CN_DNS_CRITICAL);
    cn_dns_fake_node(f, "v6", "2001:db8::1");
    cn_dns_fake_node(f, "ext", "example.com");
    cn_dns_fake_node(f, "a.b", "10.2.0.1");
    cn_dns_fake_service(f, "api", "db-1", "192.168.7.1", 9000, NULL, CN_DNS_PASSING);
    cn_dns_fake_service(f, "api", "db-2", "2001:db8::7", 9001, NULL, CN_DNS_PASSING);
    cn_dns_fake_service(f, "api", "v6", "2001:db8::1", 9002, NULL, CN_DNS_PASSING);
    cn_dns_fake_service(f, "same", "db-1", "10.1.0.1", 7000, NULL, CN_DNS_PASSING);
    cn_dns_fake_service(f, "same", "db-2", "10.1.0.1", 7001, NULL, CN_DNS_PASSING);
    cn_dns_fake_service(f, "cname", "db-1", "svc.example.org", 80, NULL, CN_DNS_PASSING);
    cn_dns_fake_service(f, "v6only", "v6", NULL, 80, NULL, CN_DNS_PASSING);
    for (int i = 1; i <= 5; i++) {
        snprintf(name, sizeof name, "server-%d", i);
        snprintf(addr, sizeof addr, "10.9.0.%d", i);
        cn_dns_fake_node(f, name, addr);
        cn_dns_fake_service(f, "consul", name, NULL, 8300, NULL, CN_DNS_PASSING);
    }
    cn_dns_fake_dc(f, "dc2");
    cn_dns_fake_query(f, "pq", "web");
}

typedef void t_cfg_fn(struct cn_dns_config *cfg);

static struct t *t_new(t_cfg_fn *tweak)
{
    struct t *t = calloc(1, sizeof *t);
    struct cn_dns_backend be;
    char err[CN_ERRMSG_MAX];
    assert_non_null(t);
    t->f = cn_dns_fake_new();
    assert_non_null(t->f);
    t_catalog(t->f);
    cn_dns_fake_backend(t->f, &be);
    cn_dns_config_init(&t->cfg);
    if (tweak)
        tweak(&t->cfg);
    assert_int_equal(cn_dns_server_new(&t->s, NULL, &t->cfg, &be, NULL, err), 0);
    t->s->sink = t_sink;
    t->s->sink_ctx = t;
    t->s->now_ms = t_now;
    t->s->wall_s = t_wall;
    cn_prng_seed(&t->s->prng, 7);
    return t;
}

static void t_free(struct t *t)
{
    if (t->pkt)
        ldns_pkt_free(t->pkt);
    cn_dns_server_close(t->s, NULL, NULL);
    cn_dns_fake_free(t->f);
    free(t);
}

/* Builds a query. edns: 0 none, else the advertised size. */
static size_t t_query(uint8_t *out, const char *name, ldns_rr_type type,
                      uint16_t edns, uint16_t id)
{
    ldns_pkt *q = NULL;
    uint8_t *wire = NULL;
    size_t len = 0;
    assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type,
                                                LDNS_RR_CLASS_IN, LDNS_RD),
                     LDNS_STATUS_OK);
    ldns_pkt_set_id(q, id);
    if (edns)
        ldns_pkt_set_edns_udp_size(q, edns);
    assert_int_equal(ldns_pkt2wire(&wire, q, &len), LDNS_STATUS_OK);
    memcpy(out, wire, len);
    free(wire);
    ldns_pkt_free(q);
    return len;
}

/* Sends raw bytes; returns the number of replies it produced (0/1). */
static int t_raw(struct t *t, const uint8_t *p, size_t n, bool tcp)
{
    int before = t->n_replies;
    if (t->pkt) {
        ldns_pkt_free(t->pkt);
        t->pkt = NULL;
    }
    cn__dns_inject(t->s, p, n, tcp ? TR_TCP : TR_UDP);
    if (t->n_replies > before)
        assert_int_equal(ldns_wire2pkt(&t->pkt, t->reply, t->reply_len),
                         LDNS_STATUS_OK);
    return t->n_replies - before;
}

/* Asks name/type (UDP unless tcp, EDNS size edns) and expects a reply. */
static ldns_pkt *t_ask_ex(struct t *t, const char *name, ldns_rr_type type,
                          uint16_t edns, bool tcp)
{
    uint8_t q[512];
    size_t n = t_query(q, name, type, edns, 0x1234);
    assert_int_equal(t_raw(t, q, n, tcp), 1);
    assert_int_equal(ldns_pkt_id(t->pkt), 0x1234);
    assert_true(ldns_pkt_qr(t->pkt));
    return t->pkt;
}

static ldns_pkt *t_ask(struct t *t, const char *name, ldns_rr_type type)
{
    return t_ask_ex(t, name, type, 0, false);
}

static const char *t_sect(struct t *t, ldns_pkt_section sec)
{
    ldns_rr_list *l = NULL;
    switch (sec) {
    case LDNS_SECTION_ANSWER: l = ldns_pkt_answer(t->pkt); break;
    case LDNS_SECTION_AUTHORITY: l = ldns_pkt_authority(t->pkt); break;
    case LDNS_SECTION_ADDITIONAL: l = ldns_pkt_additional(t->pkt); break;
    default: break;
    }
    char *s = l ? ldns_rr_list2str(l) : NULL;
    snprintf(t->text, sizeof t->text, "%s", s ? s : "");
    free(s);
    return t->text;
}

#define T_ANS(t) t_sect((t), LDNS_SECTION_ANSWER)
#define T_AUTH(t) t_sect((t), LDNS_SECTION_AUTHORITY)
#define T_ADD(t) t_sect((t), LDNS_SECTION_ADDITIONAL)
#define T_RCODE(t) ((int)ldns_pkt_get_rcode((t)->pkt))
#define T_NANS(t) ((int)ldns_pkt_ancount((t)->pkt))
#define T_NAUTH(t) ((int)ldns_pkt_nscount((t)->pkt))
#define T_NADD(t) ((int)ldns_pkt_arcount((t)->pkt))
#define T_HAS(hay, needle) assert_non_null(strstr((hay), (needle)))
#define T_HASNT(hay, needle) assert_null(strstr((hay), (needle)))

/* Counts occurrences of needle in hay. */
static int t_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

#endif
