/* agent/dns/dns_test.c - names and answers (consul-compat.md 6.1, 6.2),
 * driven through the real query path with the fake backend. */
#include "test_util.h"

/* ---- nodes ---- */

static void test_node_a(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask(t, "web-1.node.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_true(ldns_pkt_aa(t->pkt));
    assert_false(ldns_pkt_ra(t->pkt));              /* no recursors */
    assert_true(ldns_pkt_rd(t->pkt));               /* copied */
    assert_int_equal(T_NANS(t), 1);
    T_HAS(T_ANS(t), "web-1.node.consul.\t0\tIN\tA\t10.0.0.1");
    /* Meta as TXT in Additional (enable_additional_node_meta_txt). */
    T_HAS(T_ADD(t), "web-1.node.consul.\t0\tIN\tTXT\t\"rack=r1\"");
    T_HAS(T_ADD(t), "\"team a\"");                  /* rfc1035- key: value */
    assert_int_equal(T_NAUTH(t), 0);

    /* With the datacenter, and case-insensitively (owner as asked). */
    t_ask(t, "WEB-1.Node.DC1.Consul", LDNS_RR_TYPE_A);
    T_HAS(T_ANS(t), "WEB-1.Node.DC1.Consul.\t0\tIN\tA\t10.0.0.1");
    /* Node names may contain dots. */
    t_ask(t, "a.b.node.consul", LDNS_RR_TYPE_A);
    T_HAS(T_ANS(t), "IN\tA\t10.2.0.1");
    t_free(t);
}

static void no_meta_txt(struct cn_dns_config *c)
{
    c->node_meta_txt = false;
    c->node_ttl_s = 30;
}

static void test_node_txt_any(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask(t, "web-1.node.consul", LDNS_RR_TYPE_ANY);
    assert_int_equal(T_NANS(t), 3);                 /* A + two TXT */
    T_HAS(T_ANS(t), "IN\tA\t10.0.0.1");
    T_HAS(T_ANS(t), "IN\tTXT\t\"rack=r1\"");
    assert_int_equal(T_NADD(t), 0);
    t_ask(t, "web-1.node.consul", LDNS_RR_TYPE_TXT);
    assert_int_equal(T_NANS(t), 2);
    T_HASNT(T_ANS(t), "IN\tA\t");
    t_free(t);

    t = t_new(no_meta_txt);
    t_ask(t, "web-1.node.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_NADD(t), 0);
    T_HAS(T_ANS(t), "web-1.node.consul.\t30\tIN\tA");   /* node_ttl */
    /* TXT still answers TXT questions. */
    t_ask(t, "web-1.node.consul", LDNS_RR_TYPE_TXT);
    assert_int_equal(T_NANS(t), 2);
    t_free(t);
}

static void test_node_rfc1464(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    cn_dns_fake_meta(t->f, "db-1", "a=b`c", "x`y");
    cn_dns_fake_meta(t->f, "db-1", " sp ", "v");
    cn_dns_fake_meta(t->f, "db-1", "  ", "w");
    t_ask(t, "db-1.node.consul", LDNS_RR_TYPE_TXT);
    T_HAS(T_ANS(t), "\"a`=b``c=x``y\"");
    T_HAS(T_ANS(t), "\"` sp` =v\"");
    T_HAS(T_ANS(t), "\"` `` =w\"");              /* Go's two regexps */
    t_free(t);
}

static void test_node_other_forms(void **state)
{
    struct t *t = t_new(NULL);
    unsigned calls;
    (void)state;
    /* IPv6 node. */
    t_ask(t, "v6.node.consul", LDNS_RR_TYPE_AAAA);
    T_HAS(T_ANS(t), "IN\tAAAA\t2001:db8::1");
    /* AAAA on an IPv4 node: NOERROR, empty, no SOA (handleNodeQuery). */
    t_ask(t, "web-2.node.consul", LDNS_RR_TYPE_AAAA);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_int_equal(T_NANS(t), 0);
    assert_int_equal(T_NAUTH(t), 0);
    /* Hostname address: CNAME. */
    t_ask(t, "ext.node.consul", LDNS_RR_TYPE_A);
    T_HAS(T_ANS(t), "ext.node.consul.\t0\tIN\tCNAME\texample.com.");
    /* Unsupported qtype: NOERROR, empty, no SOA, and no lookup at all. */
    calls = t->f->calls;
    t_ask(t, "web-1.node.consul", LDNS_RR_TYPE_MX);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_int_equal(T_NANS(t) + T_NAUTH(t) + T_NADD(t), 0);
    assert_int_equal(t->f->calls, calls);
    /* Unknown node: NXDOMAIN with the SOA. */
    t_ask(t, "nope.node.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    T_HAS(T_AUTH(t), "consul.\t0\tIN\tSOA\tns.consul. hostmaster.consul. "
                     "1700000000 3600 600 86400 0");
    /* Unknown datacenter: NXDOMAIN. */
    t_ask(t, "web-1.node.dc9.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_free(t);
}

/* ---- services ---- */

static void test_service_a(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask_ex(t, "web.service.consul", LDNS_RR_TYPE_A, 4096, false);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_int_equal(T_NANS(t), 10);
    for (int i = 1; i <= 10; i++) {
        char want[64];
        snprintf(want, sizeof want, "IN\tA\t10.0.0.%d\n", i);
        T_HAS(T_ANS(t), want);
    }
    /* Service address over node address; one record per address. */
    t_ask_ex(t, "same.service.consul", LDNS_RR_TYPE_A, 4096, false);
    assert_int_equal(T_NANS(t), 1);
    t_ask_ex(t, "api.service.consul", LDNS_RR_TYPE_A, 4096, false);
    assert_int_equal(T_NANS(t), 1);
    T_HAS(T_ANS(t), "api.service.consul.\t0\tIN\tA\t192.168.7.1");
    t_ask_ex(t, "api.service.consul", LDNS_RR_TYPE_AAAA, 4096, false);
    assert_int_equal(T_NANS(t), 2);
    t_ask_ex(t, "api.service.consul", LDNS_RR_TYPE_ANY, 4096, false);
    assert_int_equal(T_NANS(t), 3);
    /* Hostname service address: a CNAME when no instance has an IP. */
    t_ask(t, "cname.service.consul", LDNS_RR_TYPE_A);
    T_HAS(T_ANS(t), "IN\tCNAME\tsvc.example.org.");
    t_free(t);
}

static void a_limit(struct cn_dns_config *c) { c->a_record_limit = 4; }

static void test_service_a_limit(void **state)
{
    struct t *t = t_new(a_limit);
    (void)state;
    t_ask_ex(t, "web.service.consul", LDNS_RR_TYPE_A, 4096, true);
    assert_int_equal(T_NANS(t), 4);
    /* Not a trim: TC never set for it. */
    assert_false(ldns_pkt_tc(t->pkt));
    /* SRV answers are not subject to it. */
    t_ask_ex(t, "web.service.consul", LDNS_RR_TYPE_SRV, 4096, true);
    assert_int_equal(T_NANS(t), 10);
    t_free(t);
}

static void test_service_srv(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask_ex(t, "db.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_int_equal(T_NANS(t), 2);                 /* critical db-3 dropped */
    T_HAS(T_ANS(t), "db.service.consul.\t0\tIN\tSRV\t1 1 5432 db-1.node.dc1.consul.");
    /* Warning instance: Weights.Warning. */
    T_HAS(T_ANS(t), "IN\tSRV\t1 3 5432 db-2.node.dc1.consul.");
    T_HAS(T_ADD(t), "db-1.node.dc1.consul.\t0\tIN\tA\t10.1.0.1");
    T_HAS(T_ADD(t), "db-2.node.dc1.consul.\t0\tIN\tA\t10.1.0.2");
    T_HASNT(T_ANS(t), "db-3");

    /* Meta TXT of the node rides along in Additional. */
    t_ask_ex(t, "web.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
    assert_int_equal(T_NANS(t), 10);
    T_HAS(T_ADD(t), "web-1.node.dc1.consul.\t0\tIN\tTXT\t\"rack=r1\"");

    /* Service address different from the node's: <hex>.addr targets. */
    t_ask_ex(t, "api.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
    assert_int_equal(T_NANS(t), 3);
    T_HAS(T_ANS(t), "9000 c0a80701.addr.dc1.consul.");
    T_HAS(T_ADD(t), "c0a80701.addr.dc1.consul.\t0\tIN\tA\t192.168.7.1");
    T_HAS(T_ANS(t), "9001 20010db8000000000000000000000007.addr.dc1.consul.");
    T_HAS(T_ADD(t), "20010db8000000000000000000000007.addr.dc1.consul.\t0\tIN\tAAAA\t2001:db8::7");
    /* Equal to the node's: the node's name. */
    T_HAS(T_ANS(t), "9002 v6.node.dc1.consul.");
    T_HAS(T_ADD(t), "v6.node.dc1.consul.\t0\tIN\tAAAA\t2001:db8::1");

    /* Hostname address: that name is the target, no glue. */
    t_ask_ex(t, "cname.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
    T_HAS(T_ANS(t), "80 svc.example.org.");
    T_HASNT(T_ADD(t), "svc.example.org.");
    t_free(t);
}

static void test_service_tags(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask(t, "primary.db.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 1);
    T_HAS(T_ANS(t), "db-1.node");
    /* RFC 2782 form: _service._tag. */
    t_ask(t, "_db._replica.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 1);
    T_HAS(T_ANS(t), "db-2.node");
    /* _tcp: no tag filter. */
    t_ask(t, "_db._tcp.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 2);
    /* ".service" may be omitted for SRV, with or without a datacenter. */
    t_ask(t, "_db._tcp.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 2);
    t_ask(t, "_db._primary.dc1.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 1);
    /* ...but not for other types. */
    t_ask(t, "_db._tcp.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    /* Dots in the tag: all leading labels. */
    t_ask_ex(t, "v1.2.web.service.consul", LDNS_RR_TYPE_A, 4096, false);
    assert_int_equal(T_NANS(t), 5);
    t_ask(t, "nosuch.web.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_free(t);
}

static void only_passing(struct cn_dns_config *c) { c->only_passing = true; }

static void test_service_health(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    /* All instances critical: NXDOMAIN with the SOA. */
    t_ask(t, "dead.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    T_HAS(T_AUTH(t), "IN\tSOA\tns.consul.");
    t_ask(t, "nosuch.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_free(t);

    t = t_new(only_passing);
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 1);                 /* warning dropped too */
    T_HAS(T_ANS(t), "db-1.node");
    t_ask(t, "replica.db.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_free(t);
}

static void test_service_nodata(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    /* Instances exist, none of the asked type: NOERROR, empty, SOA. */
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_AAAA);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_int_equal(T_NANS(t), 0);
    T_HAS(T_AUTH(t), "IN\tSOA\tns.consul.");
    t_ask(t, "v6only.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_NANS(t), 0);
    assert_int_equal(T_NAUTH(t), 1);
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_MX);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_int_equal(T_NAUTH(t), 1);
    /* TXT on a service answers with address records (makeARecord). */
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_TXT);
    assert_int_equal(T_NANS(t), 2);
    T_HAS(T_ANS(t), "IN\tA\t10.1.0.");
    t_free(t);
}

static void test_shuffle(void **state)
{
    struct t *t = t_new(NULL);
    int first[11] = { 0 }, distinct = 0;
    (void)state;
    /* Every instance comes first sometimes, and orders differ. */
    for (int i = 0; i < 400; i++) {
        t_ask_ex(t, "web.service.consul", LDNS_RR_TYPE_SRV, 4096, false);
        const ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(t->pkt), 0);
        int port = (int)ldns_rdf2native_int16(ldns_rr_rdf(rr, 2));
        assert_true(port > 8000 && port <= 8010);
        first[port - 8000]++;
    }
    for (int i = 1; i <= 10; i++) {
        assert_true(first[i] > 10);      /* ~40 expected each */
        distinct++;
    }
    assert_int_equal(distinct, 10);
    /* Served from the cache after the first query, still shuffled. */
    assert_true(t->s->stats.cache_hits >= 399);
    t_free(t);
}

static const struct cn_dns_ttl_rule ttl_rules[] = {
    { "web", 30 }, { "d*", 5 }, { "db*", 6 }, { "*", 7 }, { "API", 8 },
};

static void ttls(struct cn_dns_config *c)
{
    c->service_ttl = ttl_rules;
    c->n_service_ttl = CN_ARRAY_LEN(ttl_rules);
    c->node_ttl_s = 11;
}

static void test_ttls(void **state)
{
    struct t *t = t_new(ttls);
    (void)state;
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_A);
    T_HAS(T_ANS(t), "web.service.consul.\t30\tIN\tA");
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_SRV);   /* longest prefix */
    T_HAS(T_ANS(t), "db.service.consul.\t6\tIN\tSRV");
    T_HAS(T_ADD(t), "db-1.node.dc1.consul.\t6\tIN\tA"); /* glue: service TTL */
    t_ask(t, "dead.service.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_ask(t, "api.service.consul", LDNS_RR_TYPE_A);   /* exact, lower-cased */
    T_HAS(T_ANS(t), "api.service.consul.\t8\tIN\tA");
    t_ask(t, "same.service.consul", LDNS_RR_TYPE_A);  /* "*" */
    T_HAS(T_ANS(t), "same.service.consul.\t7\tIN\tA");
    t_ask(t, "web-1.node.consul", LDNS_RR_TYPE_A);
    T_HAS(T_ANS(t), "web-1.node.consul.\t11\tIN\tA");
    t_ask(t, "0a000001.addr.consul", LDNS_RR_TYPE_A);
    T_HAS(T_ANS(t), "\t11\tIN\tA\t10.0.0.1");
    t_free(t);
}

/* ---- other names ---- */

static void test_addr(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask(t, "0a000001.addr.dc1.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    T_HAS(T_ANS(t), "0a000001.addr.dc1.consul.\t0\tIN\tA\t10.0.0.1");
    t_ask(t, "20010DB8000000000000000000000007.addr.dc1.consul", LDNS_RR_TYPE_AAAA);
    T_HAS(T_ANS(t), "IN\tAAAA\t2001:db8::7");
    /* Other types: the record goes to Additional. */
    t_ask(t, "0a000001.addr.dc1.consul", LDNS_RR_TYPE_AAAA);
    assert_int_equal(T_NANS(t), 0);
    T_HAS(T_ADD(t), "IN\tA\t10.0.0.1");
    t_ask(t, "0a00001.addr.dc1.consul", LDNS_RR_TYPE_A);      /* 7 digits */
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_ask(t, "0a00000g.addr.dc1.consul", LDNS_RR_TYPE_A);     /* not hex */
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_ask(t, "x.0a000001.addr.dc1.consul", LDNS_RR_TYPE_A);   /* two parts */
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_free(t);
}

static void test_ptr(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask(t, "3.0.0.10.in-addr.arpa", LDNS_RR_TYPE_PTR);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_true(ldns_pkt_aa(t->pkt));
    T_HAS(T_ANS(t), "3.0.0.10.in-addr.arpa.\t0\tIN\tPTR\tweb-3.node.dc1.consul.");
    /* A service address. */
    t_ask(t, "1.7.168.192.in-addr.arpa", LDNS_RR_TYPE_PTR);
    T_HAS(T_ANS(t), "IN\tPTR\tapi.service.dc1.consul.");
    /* IPv6. */
    t_ask(t, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
          LDNS_RR_TYPE_PTR);
    T_HAS(T_ANS(t), "IN\tPTR\tv6.node.dc1.consul.");
    /* Unknown address, bad arpa names: NXDOMAIN with the SOA. */
    t_ask(t, "9.9.9.9.in-addr.arpa", LDNS_RR_TYPE_PTR);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    T_HAS(T_AUTH(t), "consul.\t0\tIN\tSOA");
    t_ask(t, "300.0.0.10.in-addr.arpa", LDNS_RR_TYPE_PTR);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_ask(t, "in-addr.arpa", LDNS_RR_TYPE_PTR);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_free(t);
}

static void alt_domain(struct cn_dns_config *c)
{
    c->domain = "Consul";
    c->alt_domain = "cairn.example.";
}

static void test_alt_domain(void **state)
{
    struct t *t = t_new(alt_domain);
    (void)state;
    t_ask(t, "db.service.cairn.example", LDNS_RR_TYPE_SRV);
    assert_int_equal(T_NANS(t), 2);
    T_HAS(T_ANS(t), "5432 db-1.node.dc1.cairn.example.");
    T_HAS(T_ADD(t), "db-1.node.dc1.cairn.example.\t0\tIN\tA");
    t_ask(t, "nope.service.cairn.example", LDNS_RR_TYPE_A);
    T_HAS(T_AUTH(t), "cairn.example.\t0\tIN\tSOA\tns.cairn.example. "
                     "hostmaster.cairn.example.");
    /* The primary domain still works. */
    t_ask(t, "db.service.consul", LDNS_RR_TYPE_SRV);
    T_HAS(T_ANS(t), "5432 db-1.node.dc1.consul.");
    /* PTR answers use the primary domain. */
    t_ask(t, "1.0.1.10.in-addr.arpa", LDNS_RR_TYPE_PTR);
    T_HAS(T_ANS(t), "IN\tPTR\tdb-1.node.dc1.consul.");
    t_free(t);
}

static void test_prepared_and_mesh(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask_ex(t, "pq.query.consul", LDNS_RR_TYPE_SRV, 4096, false);
    assert_int_equal(T_NANS(t), 10);
    T_HAS(T_ANS(t), "pq.query.consul.\t0\tIN\tSRV\t1 1 80");
    t_ask_ex(t, "_pq._tcp.query.dc1.consul", LDNS_RR_TYPE_SRV, 4096, false);
    assert_int_equal(T_NANS(t), 10);
    t_ask(t, "nope.query.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    T_HAS(T_AUTH(t), "IN\tSOA");
    /* Mesh forms go to the backend with their kind (the fake has none). */
    t_ask(t, "web.connect.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_ask(t, "web.ingress.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_ask(t, "web.virtual.consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    t_free(t);
}

static void test_soa_ns(void **state)
{
    struct t *t = t_new(NULL);
    (void)state;
    t_ask(t, "consul", LDNS_RR_TYPE_SOA);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_int_equal(T_NANS(t), 1);
    T_HAS(T_ANS(t), "consul.\t0\tIN\tSOA\tns.consul. hostmaster.consul. "
                    "1700000000 3600 600 86400 0");
    assert_int_equal(T_NAUTH(t), 3);                /* three of five */
    assert_int_equal(t_count(T_AUTH(t), "consul.\t0\tIN\tNS\tserver-"), 3);
    assert_int_equal(T_NADD(t), 3);
    assert_int_equal(t_count(T_ADD(t), "IN\tA\t10.9.0."), 3);

    t_ask(t, "consul", LDNS_RR_TYPE_NS);
    assert_int_equal(T_NANS(t), 3);
    assert_int_equal(T_NADD(t), 3);
    /* Any name in the domain answers SOA/NS questions (Consul). */
    t_ask(t, "web.service.consul", LDNS_RR_TYPE_SOA);
    T_HAS(T_ANS(t), "IN\tSOA");
    /* The apex itself has no address: NXDOMAIN. */
    t_ask(t, "consul", LDNS_RR_TYPE_A);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NXDOMAIN);
    /* No servers (lookup failed): SOA still answered. */
    t->f->status = -EIO;
    t_ask(t, "consul", LDNS_RR_TYPE_SOA);
    assert_int_equal(T_RCODE(t), LDNS_RCODE_NOERROR);
    assert_int_equal(T_NANS(t), 1);
    assert_int_equal(T_NAUTH(t), 0);
    t_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_a),
        cmocka_unit_test(test_node_txt_any),
        cmocka_unit_test(test_node_rfc1464),
        cmocka_unit_test(test_node_other_forms),
        cmocka_unit_test(test_service_a),
        cmocka_unit_test(test_service_a_limit),
        cmocka_unit_test(test_service_srv),
        cmocka_unit_test(test_service_tags),
        cmocka_unit_test(test_service_health),
        cmocka_unit_test(test_service_nodata),
        cmocka_unit_test(test_shuffle),
        cmocka_unit_test(test_ttls),
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_ptr),
        cmocka_unit_test(test_alt_domain),
        cmocka_unit_test(test_prepared_and_mesh),
        cmocka_unit_test(test_soa_ns),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
