/* agent/dns/fuzz_query.c - fuzz target: the whole query path.
 *
 * Input: one DNS message as it would arrive. The first byte, if the
 * message is longer than one byte, picks knobs (TCP size rules, EDNS-sized
 * replies aside, alt domain, async completion); the rest is the packet.
 * The server runs over the fake backend's catalog and replies into a sink
 * that checks every reply parses with ldns and echoes the query's ID.
 */
#include <stdlib.h>
#include <string.h>


#include "dns_int.h"
#include <ldns/ldns.h>   /* after dns_int.h: see there */
#include "fake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct cn_dns_server *srv[2];
static struct cn_dns_fake *fake;
static uint16_t want_id;
static bool have_id;

static void sink(void *ctx, const uint8_t *wire, size_t len)
{
    ldns_pkt *p = NULL;
    (void)ctx;
    if (len < 12)
        abort();                       /* we never send less than a header */
    if (have_id && (uint16_t)(wire[0] << 8 | wire[1]) != want_id)
        abort();
    if (ldns_wire2pkt(&p, wire, len) != LDNS_STATUS_OK)
        abort();                       /* every reply must be well-formed */
    ldns_pkt_free(p);
}

static uint64_t fixed_now(const struct cn_dns_server *s) { (void)s; return 1000; }
static uint64_t fixed_wall(void) { return 1700000000; }

static void setup(void)
{
    struct cn_dns_config cfg;
    struct cn_dns_backend be;
    char name[32], addr[32];
    static const struct cn_dns_ttl_rule ttls[] = { { "web", 30 }, { "d*", 5 } };

    fake = cn_dns_fake_new();
    for (int i = 1; i <= 12; i++) {
        snprintf(name, sizeof name, "web-%d", i);
        snprintf(addr, sizeof addr, i % 4 ? "10.0.0.%d" : "2001:db8::%d", i);
        cn_dns_fake_node(fake, name, addr);
        cn_dns_fake_meta(fake, name, i % 2 ? "rack" : "rfc1035-x", " a=b` ");
        cn_dns_fake_service(fake, "web", name, i % 3 ? NULL : "192.0.2.1",
                            (uint16_t)(80 + i), i % 2 ? "http,v1" : "grpc",
                            (enum cn_dns_health)(i % 3));
    }
    cn_dns_fake_node(fake, "ext", "example.com");
    cn_dns_fake_service(fake, "ext", "ext", NULL, 1, NULL, CN_DNS_PASSING);
    cn_dns_fake_service(fake, "consul", "web-1", NULL, 8300, NULL, CN_DNS_PASSING);
    cn_dns_fake_dc(fake, "dc2");
    cn_dns_fake_query(fake, "pq", "web");
    cn_dns_fake_backend(fake, &be);
    cn_dns_config_init(&cfg);
    cfg.service_ttl = ttls;
    cfg.n_service_ttl = 2;
    cfg.a_record_limit = 4;
    for (int k = 0; k < 2; k++) {
        cfg.alt_domain = k ? "alt.example." : NULL;
        cfg.enable_truncate = k;
        cfg.only_passing = k;
        cfg.node_meta_txt = !k;
        if (cn_dns_server_new(&srv[k], NULL, &cfg, &be, NULL, NULL) < 0)
            abort();
        srv[k]->sink = sink;
        srv[k]->now_ms = fixed_now;
        srv[k]->wall_s = fixed_wall;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t knobs = 0;
    if (!fake)
        setup();
    if (size > 1) {
        knobs = data[0];
        data++;
        size--;
    }
    struct cn_dns_server *s = srv[knobs & 1];
    fake->async = knobs & 4;
    have_id = size >= 2;
    want_id = have_id ? (uint16_t)(data[0] << 8 | data[1]) : 0;
    cn__dns_inject(s, data, size, (knobs & 2) ? TR_TCP : TR_UDP);
    if (knobs & 8)
        cn__dns_sweep(s, 1000000);     /* expire what is waiting */
    cn_dns_fake_complete(fake);        /* late completions are ignored */
    cn__dns_sweep(s, 1000000);
    if (s->n_qs != 0)
        abort();                       /* every query ends */
    return 0;
}
