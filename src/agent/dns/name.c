/* agent/dns/name.c - question name -> plan (consul-compat.md 6.1).
 *
 * Mirrors DNSServer.dispatch in Consul's agent/dns.go: the name (lower-
 * cased) minus the domain is scanned from the right for the first type
 * label (service, connect, virtual, ingress, node, query, addr); for SRV
 * questions a label starting with '_' also starts a service lookup (the
 * ".service" label may be omitted). Labels left of it are the query
 * parts, labels right of it the locality: none, or one datacenter label;
 * anything more is NXDOMAIN. Names outside domain/alt_domain are either
 * reverse lookups (".arpa.") or not ours. The longer of domain and
 * alt_domain that matches wins, as in miekg/dns's ServeMux.
 */
#include <string.h>

#include "dns_int.h"

#define LABELS_MAX 128   /* a 255-byte name has at most 127 labels */

struct labels {
    const uint8_t *p[LABELS_MAX];
    uint8_t len[LABELS_MAX];
    unsigned n;
};

static void split(const struct cn__dns_req *req, struct labels *l)
{
    size_t i = 0;
    l->n = 0;
    while (i < req->qname_len && req->qname_lc[i] != 0 && l->n < LABELS_MAX) {
        l->p[l->n] = req->qname_lc + i + 1;
        l->len[l->n] = req->qname_lc[i];
        l->n++;
        i += 1u + req->qname_lc[i];
    }
}

static bool label_is(const struct labels *l, unsigned i, const char *s)
{
    size_t n = strlen(s);
    return l->len[i] == n && memcmp(l->p[i], s, n) == 0;
}

/* Labels of the domain that ends the name (0: none). The wire forms are
 * lower-cased; a match must start at a label boundary. */
static unsigned domain_labels(const struct labels *l, const uint8_t *wire,
                              size_t wire_len)
{
    unsigned dl = 0;
    if (wire_len == 0)
        return 0;
    for (size_t i = 0; wire[i] != 0; i += 1u + wire[i])
        dl++;
    if (dl > l->n)
        return 0;
    size_t off = 0;
    for (unsigned k = l->n - dl; k < l->n; k++) {
        if (l->len[k] != wire[off] || memcmp(l->p[k], wire + off + 1, l->len[k]))
            return 0;
        off += 1u + wire[off];
    }
    return dl;
}

/* A label usable in a name we hand to the backend: no '.', NUL or '\'
 * (a "a.b" label would be indistinguishable from two labels). */
static bool label_clean(const struct labels *l, unsigned i)
{
    for (unsigned k = 0; k < l->len[i]; k++) {
        uint8_t c = l->p[i][k];
        if (c == '.' || c == 0 || c == '\\')
            return false;
    }
    return true;
}

/* Joins labels [from, to) with dots into the plan's text; `skip` bytes of
 * the first label are left out (the RFC 2782 underscore). */
static const char *join(struct cn__dns_plan *p, size_t *used,
                        const struct labels *l, unsigned from, unsigned to,
                        unsigned skip)
{
    char *start = p->text + *used, *o = start;
    for (unsigned i = from; i < to; i++) {
        unsigned s = i == from ? skip : 0;
        if (i != from)
            *o++ = '.';
        memcpy(o, l->p[i] + s, l->len[i] - s);
        o += l->len[i] - s;
    }
    *o++ = 0;
    *used += (size_t)(o - start);
    CN_ASSERT(*used <= sizeof p->text);
    return start;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* <hex>.addr: 8 hex digits -> IPv4, 32 -> IPv6 (Go's hex.DecodeString). */
static void plan_addr(struct cn__dns_plan *p, const struct labels *l)
{
    unsigned n = l->len[0];
    if (n != 8 && n != 32) {
        p->kind = K_INVALID;
        return;
    }
    for (unsigned i = 0; i < n; i += 2) {
        int hi = hexval(l->p[0][i]), lo = hexval(l->p[0][i + 1]);
        if (hi < 0 || lo < 0) {
            p->kind = K_INVALID;
            return;
        }
        p->addr[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    p->family = n == 8 ? AF_INET : AF_INET6;
    p->kind = K_ADDR;
}

static void plan_service(struct cn__dns_plan *p, size_t *used,
                         const struct labels *l, unsigned n)
{
    /* _name._tag (RFC 2782); _tcp means no tag filter. */
    if (n == 2 && l->len[0] > 0 && l->p[0][0] == '_' && l->len[1] > 0 &&
        l->p[1][0] == '_') {
        p->name = join(p, used, l, 0, 1, 1);
        if (!label_is(l, 1, "_tcp"))
            p->tag = join(p, used, l, 1, 2, 1);
    } else {
        p->name = join(p, used, l, n - 1, n, 0);
        if (n >= 2)
            p->tag = join(p, used, l, 0, n - 1, 0);
    }
    p->kind = p->name[0] ? K_SERVICE : K_INVALID;
}

static void plan_prepared(struct cn__dns_plan *p, size_t *used,
                          const struct labels *l, unsigned n)
{
    /* _<query>._<proto>.query: the last part is the protocol (ignored). */
    if (n >= 2 && l->len[0] > 0 && l->p[0][0] == '_' && l->len[n - 1] > 0 &&
        l->p[n - 1][0] == '_')
        p->name = join(p, used, l, 0, n - 1, 1);
    else
        p->name = join(p, used, l, 0, n, 0);
    p->kind = p->name[0] ? K_PREPARED : K_INVALID;
}

static bool is_type_label(const struct labels *l, unsigned i)
{
    static const char *const kinds[] = { "service", "connect", "virtual",
                                         "ingress", "node", "query", "addr" };
    for (size_t k = 0; k < CN_ARRAY_LEN(kinds); k++)
        if (label_is(l, i, kinds[k]))
            return true;
    return false;
}

static void dispatch(const struct cn__dns_conf *c, const struct cn__dns_req *req,
                     struct cn__dns_plan *p, const struct labels *l,
                     unsigned dn)
{
    size_t used = 0;
    unsigned i, n;
    bool found = false, implicit_service = false;

    for (unsigned k = 0; k < dn; k++)
        if (!label_clean(l, k)) {
            p->kind = K_INVALID;
            return;
        }
    for (i = dn; i-- > 0;) {
        if (is_type_label(l, i)) {
            found = true;
            break;
        }
        if (req->qtype == T_SRV && l->len[i] > 0 && l->p[i][0] == '_') {
            found = implicit_service = true;
            break;
        }
    }
    p->kind = K_INVALID;
    if (!found)
        return;
    n = implicit_service ? i + 1 : i;            /* query parts [0, n) */
    unsigned sfx = dn - i - 1;                   /* locality labels */
    if (n < 1 || sfx > 1)
        return;
    p->dc = sfx ? join(p, &used, l, i + 1, dn, 0) : c->dc;
    if (implicit_service || label_is(l, i, "service")) {
        plan_service(p, &used, l, n);
    } else if (label_is(l, i, "connect") || label_is(l, i, "ingress")) {
        p->name = join(p, &used, l, n - 1, n, 0);
        p->svc_kind = label_is(l, i, "connect") ? CN_DNS_SVC_CONNECT
                                                : CN_DNS_SVC_INGRESS;
        p->kind = K_SERVICE;
    } else if (label_is(l, i, "node")) {
        p->name = join(p, &used, l, 0, n, 0);
        bool ok = req->qtype == T_A || req->qtype == T_AAAA ||
                  req->qtype == T_ANY || req->qtype == T_TXT;
        p->kind = ok ? K_NODE : K_NODE_NODATA;
    } else if (label_is(l, i, "query")) {
        plan_prepared(p, &used, l, n);
    } else if (label_is(l, i, "addr")) {
        if (n == 1)
            plan_addr(p, l);
    }
    /* "virtual" (virtual IPs) is not supported: NXDOMAIN. */
}

static bool dec_octet(const struct labels *l, unsigned i, uint8_t *out)
{
    unsigned v = 0;
    if (l->len[i] == 0 || l->len[i] > 3 || (l->len[i] > 1 && l->p[i][0] == '0'))
        return false;
    for (unsigned k = 0; k < l->len[i]; k++) {
        if (l->p[i][k] < '0' || l->p[i][k] > '9')
            return false;
        v = v * 10 + (l->p[i][k] - '0');
    }
    *out = (uint8_t)v;
    return v <= 255;
}

static void plan_ptr(struct cn__dns_plan *p, const struct labels *l)
{
    p->kind = K_PTR_INVALID;
    if (l->n == 6 && label_is(l, 4, "in-addr")) {
        for (unsigned i = 0; i < 4; i++)
            if (!dec_octet(l, 3 - i, &p->addr[i]))
                return;
        p->family = AF_INET;
        p->kind = K_PTR;
    } else if (l->n == 34 && label_is(l, 32, "ip6")) {
        for (unsigned i = 0; i < 32; i++) {
            int v = l->len[31 - i] == 1 ? hexval(l->p[31 - i][0]) : -1;
            if (v < 0)
                return;
            p->addr[i / 2] = (uint8_t)(i % 2 ? p->addr[i / 2] | v : v << 4);
        }
        p->family = AF_INET6;
        p->kind = K_PTR;
    }
}

void cn__dns_plan_make(const struct cn__dns_conf *c,
                       const struct cn__dns_req *req,
                       struct cn__dns_plan *p)
{
    struct labels l;
    unsigned d1, d2, dl;

    memset(p, 0, offsetof(struct cn__dns_plan, text));
    p->text[0] = 0;
    p->dc = c->dc;
    split(req, &l);
    d1 = domain_labels(&l, c->domain_wire, c->domain_wire_len);
    d2 = domain_labels(&l, c->alt_wire, c->alt_wire_len);
    dl = CN_MAX(d1, d2);
    if (dl == 0) {
        if (l.n > 0 && label_is(&l, l.n - 1, "arpa"))
            plan_ptr(p, &l);
        else
            p->kind = K_OUTSIDE;
        return;
    }
    p->alt = d2 > d1;
    switch (req->qtype) {
    case T_SOA: p->kind = K_SOA; return;
    case T_NS: p->kind = K_NS; return;
    case T_AXFR: p->kind = K_AXFR; return;
    default: break;
    }
    dispatch(c, req, p, &l, l.n - dl);
}
