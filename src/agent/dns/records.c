/* agent/dns/records.c - answers compiled into wire records.
 *
 * Each record is built as an ldns_rr and encoded by ldns
 * (cn__dns_set_add), so rdata layouts are ldns's. What goes in which
 * section follows Consul's agent/dns.go:
 *
 * - node (handleNodeQuery): A/AAAA from the address (CNAME if it is a
 *   hostname), TXT from node meta (RFC 1464; keys "rfc1035-*" give the
 *   value alone) in the answer for TXT/ANY, in Additional for A/AAAA when
 *   node_meta_txt is on.
 * - service A/AAAA/ANY/TXT (addServiceNodeRecordsToMessage): one record
 *   per distinct address, service address over node address; hostnames
 *   give a CNAME, used only when no instance has an IP (one of them).
 * - service SRV (addServiceSRVRecordsToMessage): priority 1, weight from
 *   Weights.Passing/Warning, the service port; target the node's FQDN
 *   (node address) or <hex-ip>.addr.<dc>.<domain> (a service address that
 *   differs from the node's), its A/AAAA in Additional, plus the node's
 *   meta TXT when node_meta_txt is on. Duplicate (node, address, port)
 *   tuples are dropped.
 *
 * Health filtering (dns.h): critical instances are dropped, warning ones
 * too with only_passing; nothing left is NXDOMAIN. Not done: chasing a
 * CNAME (hostname addresses) to A records, which Consul does through its
 * own lookups or recursors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "dns_int.h"
#include <ldns/ldns.h>   /* after dns_int.h: see there */

/* ---- names ---- */

struct nb {                     /* name builder: text pieces -> wire */
    uint8_t w[DNS_NAME_BYTES_MAX + 1];
    size_t len;
    bool bad;
};

static void nb_init(struct nb *b)
{
    b->len = 0;
    b->bad = false;
}

/* Appends "a.b.c" (a trailing dot is allowed): labels 1..63 bytes. */
static void nb_text(struct nb *b, const char *s, size_t n)
{
    size_t i = 0;
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || s[n - 1] == '.')
        b->bad = true;             /* empty, or an empty last label */
    while (i < n && !b->bad) {
        size_t start = i;
        while (i < n && s[i] != '.')
            i++;
        size_t l = i - start;
        if (l == 0 || l > DNS_LABEL_BYTES_MAX || b->len + 1 + l + 1 > DNS_NAME_BYTES_MAX) {
            b->bad = true;
            break;
        }
        b->w[b->len++] = (uint8_t)l;
        memcpy(b->w + b->len, s + start, l);
        b->len += l;
        i++;
    }
}

static void nb_str(struct nb *b, const char *s) { nb_text(b, s, strlen(s)); }

static bool nb_done(struct nb *b)
{
    if (b->bad)
        return false;
    b->w[b->len++] = 0;
    return true;
}

static const char *resp_domain(const struct cn_dns_server *s,
                               const struct cn__dns_q *q)
{
    return q->plan.alt ? s->conf.alt : s->conf.domain;
}

/* <name>.<kind>.<dc>.<domain> */
static bool fqdn_of(struct nb *b, const char *name, const char *kind,
                    const char *dc, const char *domain)
{
    nb_init(b);
    nb_str(b, name);
    nb_str(b, kind);
    nb_str(b, dc);
    nb_str(b, domain);
    return nb_done(b);
}

/* ---- addresses ---- */

struct ip {
    int family;          /* 0: not an IP */
    uint8_t b[16];
};

static struct ip ip_parse(const char *s)
{
    struct ip ip = { 0 };
    if (!s || !*s)
        return ip;
    if (inet_pton(AF_INET, s, ip.b) == 1) {
        ip.family = AF_INET;
    } else if (inet_pton(AF_INET6, s, ip.b) == 1) {
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        ip.family = AF_INET6;
        if (memcmp(ip.b, mapped, 12) == 0) {   /* Go's To4() */
            memmove(ip.b, ip.b + 12, 4);
            ip.family = AF_INET;
        }
    }
    return ip;
}

static bool ip_eq(const struct ip *a, const struct ip *b)
{
    return a->family && a->family == b->family &&
           memcmp(a->b, b->b, a->family == AF_INET ? 4 : 16) == 0;
}

/* Consul's makeARecord: which qtypes an address answers. */
static bool ip_answers(const struct ip *ip, uint16_t qtype)
{
    if (qtype == T_ANY || qtype == T_TXT || qtype == T_SRV || qtype == T_NS)
        return true;
    return ip->family == AF_INET ? qtype == T_A : qtype == T_AAAA;
}

/* ---- records ---- */

static ldns_rr *rr_new(uint16_t type, const uint8_t *owner, size_t olen,
                       uint32_t ttl)
{
    ldns_rr *rr = ldns_rr_new();
    ldns_rdf *o;
    if (!rr)
        return NULL;
    o = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, olen, owner);
    if (!o) {
        ldns_rr_free(rr);
        return NULL;
    }
    ldns_rr_set_owner(rr, o);
    ldns_rr_set_type(rr, (ldns_rr_type)type);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    ldns_rr_set_ttl(rr, ttl);
    return rr;
}

/* Pushes rdf (consumed) onto rr; false on allocation failure. */
static bool rr_push(ldns_rr *rr, ldns_rdf *rdf)
{
    if (!rdf)
        return false;
    if (!ldns_rr_push_rdf(rr, rdf)) {
        ldns_rdf_deep_free(rdf);
        return false;
    }
    return true;
}

/* Adds rr (consumed, may be NULL after a failed build) to the set. */
static int add(struct cn_dns_server *s, struct cn__dns_set *set,
               const struct cn__dns_q *q, ldns_rr *rr, bool ok, bool extra)
{
    int rc = -ENOMEM;
    if (rr && ok)
        rc = cn__dns_set_add(s, set, &q->req, rr, extra);
    ldns_rr_free(rr);
    return rc;
}

static int add_ip(struct cn_dns_server *s, struct cn__dns_set *set,
                  const struct cn__dns_q *q, const uint8_t *owner,
                  size_t olen, const struct ip *ip, uint32_t ttl, bool extra)
{
    bool v4 = ip->family == AF_INET;
    ldns_rr *rr = rr_new(v4 ? T_A : T_AAAA, owner, olen, ttl);
    bool ok = rr && rr_push(rr, ldns_rdf_new_frm_data(
                                    v4 ? LDNS_RDF_TYPE_A : LDNS_RDF_TYPE_AAAA,
                                    v4 ? 4 : 16, ip->b));
    return add(s, set, q, rr, ok, extra);
}

/* A record whose rdata is one name (CNAME, NS, PTR). */
static int add_name_rr(struct cn_dns_server *s, struct cn__dns_set *set,
                       const struct cn__dns_q *q, uint16_t type,
                       const uint8_t *owner, size_t olen,
                       const struct nb *target, uint32_t ttl, bool extra)
{
    ldns_rr *rr = rr_new(type, owner, olen, ttl);
    bool ok = rr && rr_push(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME,
                                                      target->len, target->w));
    return add(s, set, q, rr, ok, extra);
}

static int add_srv(struct cn_dns_server *s, struct cn__dns_set *set,
                   const struct cn__dns_q *q, uint16_t weight, uint16_t port,
                   const struct nb *target, uint32_t ttl)
{
    ldns_rr *rr = rr_new(T_SRV, q->req.qname, q->req.qname_len, ttl);
    bool ok = rr && rr_push(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 1)) &&
              rr_push(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, weight)) &&
              rr_push(rr, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, port)) &&
              rr_push(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME,
                                                target->len, target->w));
    return add(s, set, q, rr, ok, false);
}

/* RFC 1464 text of one meta pair, as Consul's encodeKVasRFC1464: in the
 * key, '`' and '=' are escaped with '`', then leading and trailing
 * spaces each become "` "; in the value only '`' is escaped. */
static size_t rfc1464(const char *k, const char *v, char *out, size_t cap)
{
    char tmp[2 * 256 + 8];
    size_t t = 0, o = 0, lead = 0, trail = 0, kl = strlen(k);

    for (size_t i = 0; i < kl && t + 2 < sizeof tmp; i++) {
        if (k[i] == '`' || k[i] == '=')
            tmp[t++] = '`';
        tmp[t++] = k[i];
    }
    while (lead < t && tmp[lead] == ' ')
        lead++;
    for (size_t i = 0; i < lead && o + 2 < cap; i++) {
        out[o++] = '`';
        out[o++] = ' ';
    }
    size_t body = t - lead;
    while (trail < body && tmp[t - 1 - trail] == ' ')
        trail++;
    /* After the leading rewrite the last output byte may itself be a
     * space ("` "); Go's second regexp sees it as trailing too. */
    if (body == trail && lead > 0)
        trail = 1, o -= 1;
    for (size_t i = lead; i < t - trail && o + 1 < cap; i++)
        out[o++] = tmp[i];
    for (size_t i = 0; i < trail && o + 2 < cap; i++) {
        out[o++] = '`';
        out[o++] = ' ';
    }
    if (o + 1 < cap)
        out[o++] = '=';
    for (size_t i = 0; v[i] && o + 2 < cap; i++) {
        if (v[i] == '`')
            out[o++] = '`';
        out[o++] = v[i];
    }
    return o;
}

static bool txt_push(ldns_rr *rr, const char *p, size_t n)
{
    uint8_t chunk[256];
    do {                        /* character-strings hold 255 bytes each */
        size_t l = CN_MIN(n, (size_t)255);
        chunk[0] = (uint8_t)l;
        memcpy(chunk + 1, p, l);
        if (!rr_push(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, l + 1, chunk)))
            return false;
        p += l;
        n -= l;
    } while (n > 0);
    return true;
}

static bool has_prefix_ci(const char *s, const char *pfx)
{
    for (; *pfx; s++, pfx++)
        if (cn__dns_lower((uint8_t)*s) != (uint8_t)*pfx)
            return false;
    return true;
}

/* One TXT record per meta pair (in the backend's order). */
static int add_meta(struct cn_dns_server *s, struct cn__dns_set *set,
                    const struct cn__dns_q *q, const uint8_t *owner,
                    size_t olen, const struct cn_dns_node *node, uint32_t ttl,
                    bool extra)
{
    char text[2048];
    size_t n = CN_MIN(node->n_meta, (size_t)CN_DNS_META_TXT_MAX);
    for (size_t i = 0; i < n; i++) {
        const struct cn_dns_meta *m = &node->meta[i];
        if (!m->key || !m->value)
            continue;
        size_t tl;
        if (has_prefix_ci(m->key, "rfc1035-")) {
            tl = CN_MIN(strlen(m->value), sizeof text);
            memcpy(text, m->value, tl);
        } else {
            tl = rfc1464(m->key, m->value, text, sizeof text);
        }
        ldns_rr *rr = rr_new(T_TXT, owner, olen, ttl);
        int rc = add(s, set, q, rr, rr && txt_push(rr, text, tl), extra);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- SOA, negative answers ---- */

static int add_soa(struct cn_dns_server *s, struct cn__dns_set *set,
                   const struct cn__dns_q *q, bool use_alt)
{
    const char *dom = use_alt ? s->conf.alt : s->conf.domain;
    const struct cn_dns_soa *soa = &s->conf.soa;
    struct nb owner, mname, rname;
    nb_init(&owner);
    nb_str(&owner, dom);
    nb_init(&mname);
    nb_str(&mname, "ns");
    nb_str(&mname, dom);
    nb_init(&rname);
    nb_str(&rname, "hostmaster");
    nb_str(&rname, dom);
    if (!nb_done(&owner) || !nb_done(&mname) || !nb_done(&rname))
        return -EINVAL;                    /* config validated: impossible */
    ldns_rr *rr = rr_new(T_SOA, owner.w, owner.len, soa->minttl_s);
    bool ok = rr &&
        rr_push(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, mname.len, mname.w)) &&
        rr_push(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, rname.len, rname.w)) &&
        rr_push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, (uint32_t)s->wall_s())) &&
        rr_push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, soa->refresh_s)) &&
        rr_push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, soa->retry_s)) &&
        rr_push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, soa->expire_s)) &&
        rr_push(rr, ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, soa->minttl_s));
    return add(s, set, q, rr, ok, false);
}

int cn__dns_compile_negative(struct cn_dns_server *s,
                             const struct cn__dns_q *q, int rcode,
                             struct cn__dns_set *set)
{
    cn__dns_set_reset(set);
    set->rcode = (uint8_t)rcode;
    /* PTR names have no domain of their own: the primary one. */
    bool alt = q->plan.alt && q->plan.kind != K_PTR &&
               q->plan.kind != K_PTR_INVALID;
    return add_soa(s, set, q, alt);
}

/* ---- nodes ---- */

/* Address records of a node answer: A/AAAA, or a CNAME for a hostname. */
static int node_addr(struct cn_dns_server *s, struct cn__dns_set *set,
                     const struct cn__dns_q *q, const char *addr,
                     const uint8_t *owner, size_t olen, uint16_t qtype,
                     uint32_t ttl, bool extra, bool *added)
{
    struct ip ip = ip_parse(addr);
    *added = false;
    if (ip.family) {
        if (!ip_answers(&ip, qtype))
            return 0;
        *added = true;
        return add_ip(s, set, q, owner, olen, &ip, ttl, extra);
    }
    struct nb t;
    nb_init(&t);
    if (!addr || !*addr)
        return 0;
    nb_str(&t, addr);
    if (!nb_done(&t))
        return 0;                          /* not a usable name: skip */
    *added = true;
    return add_name_rr(s, set, q, T_CNAME, owner, olen, &t, ttl, extra);
}

/* Ends the open group, dropping it if it got no record. */
static void group_close(struct cn__dns_set *set)
{
    const struct cn__dns_group *g = &set->groups[set->n_groups];
    bool empty = g->n_ans == 0 && g->n_ext == 0;
    cn__dns_set_group_end(set);
    if (empty)
        set->n_groups--;
}

int cn__dns_compile_node(struct cn_dns_server *s, const struct cn__dns_q *q,
                         const struct cn_dns_node *node,
                         struct cn__dns_set *set)
{
    uint16_t qt = q->req.qtype;
    uint32_t ttl = s->conf.node_ttl_s;
    const uint8_t *qn = q->req.qname;
    size_t ql = q->req.qname_len;
    bool txt_answer = qt == T_TXT || qt == T_ANY, added;
    int rc;

    cn__dns_set_reset(set);
    /* The address record, with meta TXT as its Additional records. */
    if ((rc = cn__dns_set_group_begin(set)) < 0)
        return rc;
    if (qt != T_TXT)
        rc = node_addr(s, set, q, node->address, qn, ql, qt, ttl, false, &added);
    if (rc == 0 && s->conf.node_meta_txt && !txt_answer)
        rc = add_meta(s, set, q, qn, ql, node, ttl, true);
    group_close(set);
    /* TXT in the answer: one group per record, so the UDP answer limit
     * counts them as it counts Consul's answer records. */
    for (size_t i = 0; rc == 0 && txt_answer && i < node->n_meta &&
                       i < CN_DNS_META_TXT_MAX; i++) {
        struct cn_dns_node one = *node;
        one.meta = &node->meta[i];
        one.n_meta = 1;
        if ((rc = cn__dns_set_group_begin(set)) < 0)
            return rc;
        rc = add_meta(s, set, q, qn, ql, &one, ttl, false);
        group_close(set);
    }
    return rc;
}

/* ---- services ---- */

/* Indexes of the instances to consider: all, or a uniform random sample
 * of CN_DNS_INSTANCES_MAX of them (reservoir sampling, so memory stays
 * bounded whatever the backend sends). NULL on -ENOMEM. */
static uint32_t *instance_sample(struct cn_dns_server *s, size_t total,
                                 size_t *n)
{
    size_t keep = CN_MIN(total, (size_t)CN_DNS_INSTANCES_MAX);
    uint32_t *idx = cn_arena_alloc(&s->arena, (keep ? keep : 1) * sizeof *idx);
    *n = 0;
    if (!idx)
        return NULL;
    for (size_t i = 0; i < total; i++) {
        if (i < keep) {
            idx[i] = (uint32_t)i;
        } else {
            uint64_t j = cn_prng_below(&s->prng, i + 1);
            if (j < keep)
                idx[j] = (uint32_t)i;
        }
    }
    *n = keep;
    return idx;
}

static bool healthy(const struct cn_dns_server *s, const struct cn_dns_instance *in)
{
    if (in->health == CN_DNS_CRITICAL)
        return false;
    return !(s->conf.only_passing && in->health != CN_DNS_PASSING);
}

/* Inserts key (copied into the arena) into a dedup map; false if seen. */
static int first_seen(struct cn_dns_server *s, struct cn_map *seen,
                      const void *key, size_t len)
{
    if (cn_map_get(seen, key, len))
        return 0;
    void *k = cn_arena_alloc(&s->arena, len ? len : 1);
    if (!k)
        return -ENOMEM;
    memcpy(k, key, len);
    return cn_map_put(seen, k, len, k, NULL) < 0 ? -ENOMEM : 1;
}

struct svc_ctx {
    struct cn_dns_server *s;
    const struct cn__dns_q *q;
    struct cn__dns_set *set;
    const char *dc;
    uint32_t ttl;
    struct cn_map seen;
};

/* Does the text name equal the question name (case-insensitively)? */
static bool names_question(const struct cn__dns_q *q, const char *name)
{
    struct nb b;
    nb_init(&b);
    nb_str(&b, name);
    if (!nb_done(&b) || b.len != q->req.qname_len)
        return false;
    for (size_t i = 0; i < b.len; i++)
        if (cn__dns_lower(b.w[i]) != q->req.qname_lc[i])
            return false;
    return true;
}

enum target_form { T_SKIP, T_NODE, T_ADDR, T_HOST };

/* Consul's makeNodeServiceRecords: which address an instance answers
 * with. *host is the hostname for T_HOST. */
static enum target_form target_form(const struct cn__dns_q *q,
                                    const struct cn_dns_instance *in,
                                    const struct ip *nip, const struct ip *sip,
                                    const char **host)
{
    const char *svc = in->service_address;
    if (svc && *svc) {
        if (sip->family)
            return ip_eq(sip, nip) ? T_NODE : T_ADDR;
        /* A service address naming the question itself: the node's. */
        if (nip->family && names_question(q, svc))
            return T_NODE;
        *host = svc;
        return T_HOST;
    }
    if (nip->family)
        return T_NODE;
    if (in->node.address && *in->node.address) {
        *host = in->node.address;
        return T_HOST;
    }
    return T_SKIP;
}

/* SRV group for one instance (file comment). 0 (skipped), 1 (added) or
 * -ENOMEM. */
static int srv_group(struct svc_ctx *c, const struct cn_dns_instance *in)
{
    struct cn_dns_server *s = c->s;
    const char *svc = in->service_address ? in->service_address : "";
    struct ip nip = ip_parse(in->node.address), sip = ip_parse(svc);
    const char *dom = resp_domain(s, c->q), *host = NULL;
    struct nb target, nodefq;
    const struct ip *glue = NULL;
    char key[1100];
    int n, rc;

    if (!in->node.name)
        return 0;
    n = snprintf(key, sizeof key, "%s%c%s%c%u", in->node.name, 0, svc, 0,
                 in->port);
    if (n < 0 || (size_t)n >= sizeof key)
        return 0;
    bool node_fq = fqdn_of(&nodefq, in->node.name, "node", c->dc, dom);
    switch (target_form(c->q, in, &nip, &sip, &host)) {
    case T_SKIP:
        return 0;
    case T_NODE:
        if (!node_fq)
            return 0;
        target = nodefq;
        glue = &nip;
        break;
    case T_ADDR: {
        char hex[33];                   /* <hex-ip>.addr.<dc>.<domain> */
        size_t bl = sip.family == AF_INET ? 4 : 16;
        for (size_t i = 0; i < bl; i++)
            snprintf(hex + 2 * i, 3, "%02x", sip.b[i]);
        if (!fqdn_of(&target, hex, "addr", c->dc, dom))
            return 0;
        glue = &sip;
        break;
    }
    case T_HOST:
        nb_init(&target);
        nb_str(&target, host);
        if (!nb_done(&target))
            return 0;
        break;
    }
    if ((rc = first_seen(s, &c->seen, key, (size_t)n)) <= 0)
        return rc;
    uint16_t w = in->health == CN_DNS_WARNING ? in->weight_warning
                                              : in->weight_passing;
    if ((rc = cn__dns_set_group_begin(c->set)) < 0)
        return rc;
    rc = add_srv(s, c->set, c->q, w, in->port, &target, c->ttl);
    if (rc == 0 && glue)
        rc = add_ip(s, c->set, c->q, target.w, target.len, glue, c->ttl, true);
    if (rc == 0 && s->conf.node_meta_txt && node_fq)
        rc = add_meta(s, c->set, c->q, nodefq.w, nodefq.len, &in->node, c->ttl, true);
    cn__dns_set_group_end(c->set);
    return rc < 0 ? rc : 1;
}

/* A/AAAA (or CNAME) group for one instance; cname selects the pass:
 * Consul answers with CNAMEs only when no instance has an IP. */
static int addr_group(struct svc_ctx *c, const struct cn_dns_instance *in,
                      bool cname)
{
    const char *host = NULL;
    struct ip nip = ip_parse(in->node.address);
    struct ip sip = ip_parse(in->service_address);
    const struct ip *ip = NULL;
    uint8_t key[1 + DNS_NAME_BYTES_MAX + 1];
    size_t kl;
    struct nb t;
    int rc;

    switch (target_form(c->q, in, &nip, &sip, &host)) {
    case T_SKIP:
        return 0;
    case T_NODE:
        ip = &nip;
        break;
    case T_ADDR:
        ip = &sip;
        break;
    case T_HOST:
        break;
    }
    if ((ip != NULL) == cname)
        return 0;
    if (ip) {
        if (!ip_answers(ip, c->q->req.qtype))
            return 0;
        key[0] = (uint8_t)ip->family;
        kl = ip->family == AF_INET ? 4 : 16;
        memcpy(key + 1, ip->b, kl);
        kl++;
    } else {
        nb_init(&t);
        nb_str(&t, host);
        if (!nb_done(&t))
            return 0;
        key[0] = 0;
        memcpy(key + 1, t.w, t.len);
        kl = t.len + 1;
    }
    if ((rc = first_seen(c->s, &c->seen, key, kl)) <= 0)
        return rc;
    if ((rc = cn__dns_set_group_begin(c->set)) < 0)
        return rc;
    if (ip)
        rc = add_ip(c->s, c->set, c->q, c->q->req.qname, c->q->req.qname_len,
                    ip, c->ttl, false);
    else
        rc = add_name_rr(c->s, c->set, c->q, T_CNAME, c->q->req.qname,
                         c->q->req.qname_len, &t, c->ttl, false);
    cn__dns_set_group_end(c->set);
    return rc < 0 ? rc : 1;
}

static int service_groups(struct svc_ctx *c, const struct cn_dns_service_result *res,
                          const uint32_t *idx, size_t n, int pass)
{
    int rc;
    cn_map_init(&c->seen);
    for (size_t i = 0; i < n; i++) {
        const struct cn_dns_instance *in = &res->instances[idx[i]];
        if (!healthy(c->s, in))
            continue;
        rc = pass == 0 ? srv_group(c, in) : addr_group(c, in, pass == 2);
        if (rc < 0) {
            cn_map_close(&c->seen);
            return rc;
        }
    }
    cn_map_close(&c->seen);
    return 0;
}

int cn__dns_compile_service(struct cn_dns_server *s,
                            const struct cn__dns_q *q, const char *dc,
                            const struct cn_dns_service_result *res,
                            uint32_t ttl_s, struct cn__dns_set *set)
{
    struct svc_ctx c = { .s = s, .q = q, .set = set, .dc = dc, .ttl = ttl_s };
    const uint32_t *idx;
    size_t n, alive = 0;
    int rc;

    cn__dns_set_reset(set);
    cn_arena_reset(&s->arena);
    if (!res || res->n_instances == 0 || !res->instances)
        return CN__DNS_NXDOMAIN;
    idx = instance_sample(s, res->n_instances, &n);
    if (!idx)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        alive += healthy(s, &res->instances[idx[i]]);
    if (alive == 0)
        return CN__DNS_NXDOMAIN;
    set->shuffle = true;
    if (q->req.qtype == T_SRV) {
        set->srv = true;
        rc = service_groups(&c, res, idx, n, 0);
    } else {
        set->a_limit = true;
        rc = service_groups(&c, res, idx, n, 1);
        if (rc == 0 && set->n_groups == 0) {
            rc = service_groups(&c, res, idx, n, 2);
            set->pick_one = true;
        }
    }
    if (rc < 0)
        return rc;
    return set->n_groups ? 0 : CN__DNS_NODATA;
}

/* ---- servers: SOA and NS (getNameserversAndNodeRecord) ---- */

/* Consul skips servers whose names are not valid DNS labels. */
static bool valid_host_label(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-'))
            return false;
    }
    return n > 0 && n <= DNS_LABEL_BYTES_MAX;
}

/* Up to three healthy servers with valid names, in random order; their
 * lower-cased FQDNs in fq[]. Returns how many. */
static size_t pick_servers(struct cn_dns_server *s, const struct cn__dns_q *q,
                           const struct cn_dns_service_result *res,
                           const struct cn_dns_instance **pick, struct nb *fq)
{
    size_t n = 0, np = 0;
    uint32_t *idx;

    if (!res || !res->instances || res->n_instances == 0)
        return 0;
    idx = instance_sample(s, res->n_instances, &n);
    if (!idx)
        return 0;
    for (size_t i = n; i > 1; i--) {              /* Fisher-Yates */
        size_t j = (size_t)cn_prng_below(&s->prng, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
    for (size_t i = 0; i < n && np < CN_DNS_NS_MAX; i++) {
        const struct cn_dns_instance *in = &res->instances[idx[i]];
        char lower[DNS_LABEL_BYTES_MAX + 1];
        size_t k = 0;
        if (!healthy(s, in) || !in->node.name || !valid_host_label(in->node.name))
            continue;
        for (; in->node.name[k]; k++)
            lower[k] = (char)cn__dns_lower((uint8_t)in->node.name[k]);
        lower[k] = 0;
        if (!fqdn_of(&fq[np], lower, "node", s->conf.dc, resp_domain(s, q)))
            continue;
        pick[np++] = in;
    }
    return np;
}

int cn__dns_compile_servers(struct cn_dns_server *s, const struct cn__dns_q *q,
                            const struct cn_dns_service_result *res,
                            struct cn__dns_set *set)
{
    const struct cn_dns_instance *pick[CN_DNS_NS_MAX];
    struct nb fq[CN_DNS_NS_MAX], apex;
    uint32_t ttl = s->conf.node_ttl_s;
    bool soa = q->req.qtype == T_SOA, added;
    size_t np;
    int rc = 0;

    cn__dns_set_reset(set);
    cn_arena_reset(&s->arena);
    np = pick_servers(s, q, res, pick, fq);
    nb_init(&apex);
    nb_str(&apex, resp_domain(s, q));
    if (!nb_done(&apex))
        return -EINVAL;                   /* validated config: impossible */
    if (soa) {
        /* SOA answer; NS records as authority; glue in Additional. */
        for (size_t i = 0; i < np && rc == 0; i++)
            rc = add_name_rr(s, set, q, T_NS, apex.w, apex.len, &fq[i], ttl, false);
        if (rc < 0 || (rc = cn__dns_set_group_begin(set)) < 0)
            return rc;
        rc = add_soa(s, set, q, q->plan.alt);
        for (size_t i = 0; i < np && rc == 0; i++)
            rc = node_addr(s, set, q, pick[i]->node.address, fq[i].w, fq[i].len,
                           T_ANY, ttl, true, &added);
        cn__dns_set_group_end(set);
        return rc;
    }
    for (size_t i = 0; i < np && rc == 0; i++) {    /* NS: answer + glue */
        if ((rc = cn__dns_set_group_begin(set)) < 0)
            return rc;
        rc = add_name_rr(s, set, q, T_NS, apex.w, apex.len, &fq[i], ttl, false);
        if (rc == 0)
            rc = node_addr(s, set, q, pick[i]->node.address, fq[i].w, fq[i].len,
                           T_ANY, ttl, true, &added);
        cn__dns_set_group_end(set);
    }
    return rc;
}

/* ---- addr and PTR ---- */

int cn__dns_compile_addr(struct cn_dns_server *s, const struct cn__dns_q *q,
                         struct cn__dns_set *set)
{
    struct ip ip = { .family = q->plan.family };
    uint16_t qt = q->req.qtype;
    int rc;

    memcpy(ip.b, q->plan.addr, sizeof ip.b);
    cn__dns_set_reset(set);
    if ((rc = cn__dns_set_group_begin(set)) < 0)
        return rc;
    /* Consul: the record goes to the answer for A (AAAA) and ANY, else
     * to Additional. */
    bool answer = qt == T_ANY || qt == (ip.family == AF_INET ? T_A : T_AAAA);
    rc = add_ip(s, set, q, q->req.qname, q->req.qname_len, &ip,
                s->conf.node_ttl_s, !answer);
    cn__dns_set_group_end(set);
    return rc;
}

int cn__dns_compile_ptr(struct cn_dns_server *s, const struct cn__dns_q *q,
                        const struct cn_dns_reverse_result *res,
                        struct cn__dns_set *set)
{
    struct nb t;
    int rc;

    cn__dns_set_reset(set);
    if (!res || res->kind == CN_DNS_REV_NONE || !res->name ||
        !fqdn_of(&t, res->name, res->kind == CN_DNS_REV_NODE ? "node" : "service",
                 res->datacenter && *res->datacenter ? res->datacenter : s->conf.dc,
                 s->conf.domain))
        return CN__DNS_NXDOMAIN;
    if (q->req.qtype == T_SOA) {          /* handlePtr adds it for SOA */
        if ((rc = cn__dns_set_group_begin(set)) < 0)
            return rc;
        rc = add_soa(s, set, q, false);
        cn__dns_set_group_end(set);
        if (rc < 0)
            return rc;
    }
    if ((rc = cn__dns_set_group_begin(set)) < 0)
        return rc;
    rc = add_name_rr(s, set, q, T_PTR, q->req.qname, q->req.qname_len, &t, 0,
                     false);
    cn__dns_set_group_end(set);
    return rc;
}
