/* agent/dns/wire.c - request parsing, compiled sets, reply assembly.
 *
 * Parsing: ldns_wire2pkt does the work (labels, compression pointers and
 * their loops, record bounds); around it we apply the acceptance rules of
 * miekg/dns, which Consul runs on: exactly one question, at most one
 * answer and one authority record, at most two additional records
 * (OPT + TSIG), opcode QUERY (else NOTIMP), at most one OPT (RFC 6891).
 *
 * Assembly follows Consul's trimUDPResponse / trimTCPResponse
 * (agent/dns.go): UDP without EDNS (or with an EDNS size <= 512) keeps at
 * most min(udp_answer_limit, 8) answers; then answers are dropped from the
 * end, with their Additional records, until the reply fits 512 bytes
 * (measured uncompressed) or the EDNS size (measured as sent), less 8
 * bytes for the UDP header; TCP fits 65523 bytes and keeps at most 1024
 * SRV or 4096 other answers. The authority section goes first when
 * trimming. At least one answer is always kept (if that one alone is too
 * big, its Additional records are left out). TC is set only with
 * enable_truncate.
 */
#include <errno.h>
#include <string.h>

#include "dns_int.h"
#include <ldns/ldns.h>   /* after dns_int.h: see there */

/* ---- parsing ---- */

/* Reads the raw EDNS option list for a client subnet option to echo.
 * RFC 7871 6: family 1/2, source prefix within the family, address
 * exactly ceil(prefix/8) bytes. A malformed option is a FORMERR (7.1.1). */
static int edns_options(struct cn__dns_req *req, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (n - i < 4)
            return -1;
        uint16_t code = cn__dns_get16(p + i), len = cn__dns_get16(p + i + 2);
        i += 4;
        if (len > n - i)
            return -1;
        if (code == DNS_EDNS_OPT_ECS) {
            if (len < 4 || req->ecs_len)
                return -1;
            uint16_t fam = cn__dns_get16(p + i);
            uint8_t src = p[i + 2];
            unsigned maxbits = fam == 1 ? 32 : fam == 2 ? 128 : 0;
            if (maxbits == 0 || src > maxbits || len - 4u != (src + 7u) / 8u)
                return -1;
            memcpy(req->ecs, p + i, len);
            req->ecs[3] = 0;           /* scope: global (Consul's setEDNS) */
            req->ecs_len = (uint8_t)len;
        }
        i += len;
    }
    return 0;
}

static enum cn__dns_parse_rc parse_pkt(ldns_pkt *pkt, struct cn__dns_req *req)
{
    const ldns_rr_list *ql = ldns_pkt_question(pkt);
    const ldns_rr *qrr;
    const ldns_rdf *owner;

    if (!ql || ldns_rr_list_rr_count(ql) != 1)
        return PARSE_FORMERR;
    qrr = ldns_rr_list_rr(ql, 0);
    owner = ldns_rr_owner(qrr);
    if (!owner || ldns_rdf_size(owner) == 0 ||
        ldns_rdf_size(owner) > DNS_NAME_BYTES_MAX)
        return PARSE_FORMERR;
    req->qname_len = (uint16_t)ldns_rdf_size(owner);
    memcpy(req->qname, ldns_rdf_data(owner), req->qname_len);
    for (size_t i = 0; i < req->qname_len; i++)
        req->qname_lc[i] = cn__dns_lower(req->qname[i]);
    req->qtype = (uint16_t)ldns_rr_get_type(qrr);
    req->qclass = (uint16_t)ldns_rr_get_class(qrr);
    if (pkt->_edns_present > 1)
        return PARSE_FORMERR;              /* RFC 6891 6.1.1 */
    if (pkt->_edns_present) {
        const ldns_rdf *opts = ldns_pkt_edns_data(pkt);
        req->edns = true;
        req->edns_size = ldns_pkt_edns_udp_size(pkt);
        if (opts && edns_options(req, ldns_rdf_data(opts),
                                 ldns_rdf_size(opts)) < 0)
            return PARSE_FORMERR;
    }
    return PARSE_OK;
}

enum cn__dns_parse_rc cn__dns_parse(const uint8_t *p, size_t n,
                                    struct cn__dns_req *req)
{
    ldns_pkt *pkt = NULL;
    enum cn__dns_parse_rc rc;

    memset(req, 0, sizeof *req);
    if (n < DNS_HDR_BYTES)
        return PARSE_DROP;
    req->id = cn__dns_get16(p);
    req->flags = cn__dns_get16(p + 2);
    if (req->flags & 0x8000)
        return PARSE_DROP;                 /* QR: a response, never answer */
    if (((req->flags >> 11) & 0xF) != 0)
        return PARSE_NOTIMP;
    if (n > CN_DNS_REQ_BYTES_MAX)
        return PARSE_FORMERR;
    if (cn__dns_get16(p + 4) != 1 || cn__dns_get16(p + 6) > 1 ||
        cn__dns_get16(p + 8) > 1 || cn__dns_get16(p + 10) > 2)
        return PARSE_FORMERR;              /* miekg/dns defaultMsgAcceptFunc */
    if (ldns_wire2pkt(&pkt, p, n) != LDNS_STATUS_OK)
        return PARSE_FORMERR;
    rc = parse_pkt(pkt, req);
    ldns_pkt_free(pkt);
    return rc;
}

/* ---- compiled sets ---- */

void cn__dns_set_init(struct cn__dns_set *s)
{
    memset(s, 0, sizeof *s);
    cn_buf_init(&s->data, 1u << 24);
}

void cn__dns_set_close(struct cn__dns_set *s)
{
    cn_buf_close(&s->data);
    cn_free(s->groups);
    memset(s, 0, sizeof *s);
}

void cn__dns_set_reset(struct cn__dns_set *s)
{
    cn_buf_reset(&s->data);
    s->n_groups = 0;
    memset(&s->auth, 0, sizeof s->auth);
    s->rcode = RC_NOERROR;
    s->aa = true;
    s->shuffle = s->pick_one = s->a_limit = s->srv = false;
    s->in_group = s->in_ext = false;
}

size_t cn__dns_set_bytes(const struct cn__dns_set *s)
{
    return sizeof *s + s->data.len + s->n_groups * sizeof *s->groups;
}

int cn__dns_set_copy(struct cn__dns_set *dst, const struct cn__dns_set *src)
{
    CN_ASSERT(!src->in_group);
    *dst = *src;
    cn_buf_init(&dst->data, src->data.max);
    dst->groups = NULL;
    dst->cap_groups = 0;
    if (cn_buf_append(&dst->data, src->data.data, src->data.len) < 0)
        goto nomem;
    if (src->n_groups) {
        dst->groups = cn_calloc(src->n_groups, sizeof *dst->groups);
        if (!dst->groups)
            goto nomem;
        memcpy(dst->groups, src->groups, src->n_groups * sizeof *dst->groups);
        dst->cap_groups = src->n_groups;
    }
    return 0;
nomem:
    cn__dns_set_close(dst);
    return -ENOMEM;
}

int cn__dns_set_group_begin(struct cn__dns_set *s)
{
    CN_ASSERT(!s->in_group);
    if (s->n_groups == s->cap_groups) {
        uint32_t cap = s->cap_groups ? s->cap_groups * 2 : 16;
        void *g = cn_realloc(s->groups, cap * sizeof *s->groups);
        if (!g)
            return -ENOMEM;
        s->groups = g;
        s->cap_groups = cap;
    }
    memset(&s->groups[s->n_groups], 0, sizeof s->groups[0]);
    s->groups[s->n_groups].off = (uint32_t)s->data.len;
    s->in_group = true;
    s->in_ext = false;
    return 0;
}

void cn__dns_set_group_end(struct cn__dns_set *s)
{
    CN_ASSERT(s->in_group);
    s->in_group = false;
    s->n_groups++;
}

/* Writes the owner name compressed against the question: the longest
 * suffix of `owner` that equals a suffix of the question name (at a label
 * boundary) becomes a pointer to it. Returns bytes written. */
static size_t owner_compress(const struct cn__dns_req *req,
                             const uint8_t *owner, size_t olen, uint8_t *out)
{
    size_t j = 0;
    while (j < olen && owner[j] != 0) {
        size_t rest = olen - j;
        if (rest <= req->qname_len) {
            size_t qoff = req->qname_len - rest, k = 0;
            /* Is qoff a label boundary of the question name? */
            while (k < qoff)
                k += 1u + req->qname_lc[k];
            if (k == qoff) {
                bool same = true;
                for (size_t i = 0; i < rest && same; i++)
                    same = cn__dns_lower(owner[j + i]) == req->qname_lc[qoff + i];
                if (same) {
                    memcpy(out, owner, j);
                    cn__dns_put16(out + j, (uint16_t)(0xC000 | (DNS_HDR_BYTES + qoff)));
                    return j + 2;
                }
            }
        }
        j += 1u + owner[j];
    }
    memcpy(out, owner, olen);
    return olen;
}

int cn__dns_set_add(struct cn_dns_server *srv, struct cn__dns_set *s,
                    const struct cn__dns_req *req, const ldns_rr *rr,
                    bool additional)
{
    ldns_buffer *b = srv->rrbuf;
    const ldns_rdf *owner = ldns_rr_owner(rr);
    uint8_t own[DNS_NAME_BYTES_MAX];
    size_t olen = ldns_rdf_size(owner), clen, rest, unc;
    int rc;

    ldns_buffer_clear(b);
    if (ldns_rr2buffer_wire(b, rr, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK)
        return -ENOMEM;
    unc = ldns_buffer_position(b);
    CN_ASSERT(olen <= DNS_NAME_BYTES_MAX && unc > olen && unc <= 65535);
    rest = unc - olen;
    clen = owner_compress(req, ldns_rdf_data(owner), olen, own);
    if ((rc = cn_buf_append(&s->data, own, clen)) < 0 ||
        (rc = cn_buf_append(&s->data, ldns_buffer_begin(b) + olen, rest)) < 0)
        return rc;
    if (s->in_group) {
        struct cn__dns_group *g = &s->groups[s->n_groups];
        if (additional) {
            g->ext_len += (uint32_t)(clen + rest);
            g->ext_unc += (uint32_t)unc;
            g->n_ext++;
            s->in_ext = true;
        } else {
            CN_ASSERT(!s->in_ext);         /* answers before Additional */
            g->ans_len += (uint32_t)(clen + rest);
            g->ans_unc += (uint32_t)unc;
            g->n_ans++;
        }
    } else {
        CN_ASSERT(!additional);
        if (s->auth.n_ans == 0)
            s->auth.off = (uint32_t)(s->data.len - clen - rest);
        CN_ASSERT(s->auth.off + s->auth.ans_len + clen + rest == s->data.len);
        s->auth.ans_len += (uint32_t)(clen + rest);
        s->auth.ans_unc += (uint32_t)unc;
        s->auth.n_ans++;
    }
    return 0;
}

/* ---- assembly ---- */

static size_t opt_len(const struct cn__dns_req *r)
{
    return r->edns ? 11u + (r->ecs_len ? 4u + r->ecs_len : 0u) : 0u;
}

static uint8_t *put_opt(const struct cn__dns_req *r, uint8_t *o)
{
    *o++ = 0;                                   /* root owner */
    cn__dns_put16(o, T_OPT);
    cn__dns_put16(o + 2, r->edns_size);          /* echoed, as Consul does */
    cn__dns_put32(o + 4, 0);                     /* ext rcode, version, flags */
    cn__dns_put16(o + 8, (uint16_t)(r->ecs_len ? 4 + r->ecs_len : 0));
    o += 10;
    if (r->ecs_len) {
        cn__dns_put16(o, DNS_EDNS_OPT_ECS);
        cn__dns_put16(o + 2, r->ecs_len);
        memcpy(o + 4, r->ecs, r->ecs_len);
        o += 4 + r->ecs_len;
    }
    return o;
}

static uint8_t *put_header(const struct cn_dns_server *s,
                           const struct cn__dns_req *r, bool aa, bool tc,
                           int rcode, uint16_t counts[4], uint8_t *o)
{
    uint16_t f = 0x8000;                            /* QR */
    f |= r->flags & 0x7800;                         /* opcode */
    f |= aa ? 0x0400 : 0;
    f |= tc ? 0x0200 : 0;
    f |= r->flags & 0x0100;                         /* RD */
    f |= s->conf.n_recursors ? 0x0080 : 0;          /* RA */
    f |= r->flags & 0x0010;                         /* CD */
    f |= (uint16_t)(rcode & 0xF);
    cn__dns_put16(o, r->id);
    cn__dns_put16(o + 2, f);
    for (int i = 0; i < 4; i++)
        cn__dns_put16(o + 4 + 2 * i, counts[i]);
    return o + DNS_HDR_BYTES;
}

size_t cn__dns_error_reply(const struct cn__dns_req *req, int rcode,
                           bool with_question, uint8_t *out)
{
    uint16_t f = (uint16_t)(0x8000 | (req->flags & 0x7900) | (rcode & 0xF));
    bool q = with_question && req->qname_len > 0;
    cn__dns_put16(out, req->id);
    cn__dns_put16(out + 2, f);
    cn__dns_put16(out + 4, q ? 1 : 0);
    memset(out + 6, 0, 6);
    if (!q)
        return DNS_HDR_BYTES;
    memcpy(out + DNS_HDR_BYTES, req->qname, req->qname_len);
    cn__dns_put16(out + DNS_HDR_BYTES + req->qname_len, req->qtype);
    cn__dns_put16(out + DNS_HDR_BYTES + req->qname_len + 2, req->qclass);
    return DNS_HDR_BYTES + req->qname_len + 4u;
}

/* The order groups go out in: shuffled (Consul shuffles on every query)
 * or as compiled. */
static const uint32_t *group_order(struct cn_dns_server *s,
                                   const struct cn__dns_set *set)
{
    static const uint32_t none[1] = { 0 };
    uint32_t n = set->n_groups;
    if (n == 0)
        return none;
    if (n > s->perm_cap) {
        uint32_t cap = n < 64 ? 64 : n;
        uint32_t *p = cn_realloc(s->perm, cap * sizeof *p);
        if (!p)
            return NULL;
        s->perm = p;
        s->perm_cap = cap;
    }
    for (uint32_t i = 0; i < n; i++)
        s->perm[i] = i;
    if (set->shuffle) {
        for (uint32_t i = n; i > 1; i--) {      /* Fisher-Yates */
            uint32_t j = (uint32_t)cn_prng_below(&s->prng, i);
            uint32_t t = s->perm[i - 1];
            s->perm[i - 1] = s->perm[j];
            s->perm[j] = t;
        }
    }
    return s->perm;
}

struct fit {
    uint32_t k;          /* groups sent */
    bool auth;           /* authority section kept */
    bool no_ext;         /* the one group left goes without Additional */
    bool trimmed;
};

/* Consul's trimming rules (file comment); sizes in the units that apply. */
static struct fit fit_groups(const struct cn_dns_server *s,
                             const struct cn__dns_q *q,
                             const struct cn__dns_set *set,
                             const uint32_t *order)
{
    const struct cn__dns_req *r = &q->req;
    bool tcp = q->tcp_rules;
    bool classic = !tcp && !(r->edns && r->edns_size > DNS_UDP_CLASSIC_BYTES);
    size_t max, total, auth;
    struct fit f = { set->n_groups, true, false, false };
    uint32_t before;

    if (tcp)
        max = CN_DNS_TCP_RESP_BYTES_MAX;
    else if (classic)
        max = DNS_UDP_CLASSIC_BYTES - 8;
    else
        max = CN_MIN((size_t)r->edns_size, (size_t)CN_DNS_UDP_RESP_BYTES_MAX) - 8;
    if (set->pick_one)
        f.k = CN_MIN(f.k, 1u);
    if (set->a_limit && s->conf.a_record_limit)
        f.k = CN_MIN(f.k, s->conf.a_record_limit);
    before = f.k;
    if (classic)
        f.k = CN_MIN(f.k, CN_MIN(s->conf.udp_answer_limit,
                                 (unsigned)DNS_UDP_ANSWERS_HARD_MAX));
    if (tcp)
        f.k = CN_MIN(f.k, set->srv ? 1024u : 4096u);
    auth = classic ? set->auth.ans_unc : set->auth.ans_len;
    total = DNS_HDR_BYTES + r->qname_len + 4u + opt_len(r) + auth;
    for (uint32_t i = 0; i < f.k; i++) {
        const struct cn__dns_group *g = &set->groups[order[i]];
        total += classic ? g->ans_unc + g->ext_unc : g->ans_len + g->ext_len;
    }
    if (total > max && f.k > 1 && set->auth.n_ans) {
        f.auth = false;
        total -= auth;
    }
    while (total > max && f.k > 1) {
        const struct cn__dns_group *g = &set->groups[order[--f.k]];
        total -= classic ? g->ans_unc + g->ext_unc : g->ans_len + g->ext_len;
    }
    /* One answer is always sent (Consul); past that, its Additional
     * records (node meta TXT can be kilobytes) go rather than the
     * datagram outgrowing what the client can take. */
    if (total > max && f.k == 1 && set->groups[order[0]].n_ext) {
        f.no_ext = true;
        f.trimmed = true;
    }
    f.trimmed = f.trimmed || f.k < before;
    return f;
}

size_t cn__dns_assemble(struct cn_dns_server *s, const struct cn__dns_q *q,
                        const struct cn__dns_set *set, uint8_t *out,
                        size_t cap)
{
    const struct cn__dns_req *r = &q->req;
    const uint32_t *order = group_order(s, set);
    uint16_t counts[4] = { 1, 0, 0, 0 };
    uint8_t *o;
    struct fit f;
    size_t need;

    if (!order)
        return 0;
    f = fit_groups(s, q, set, order);
    need = DNS_HDR_BYTES + r->qname_len + 4u + opt_len(r) +
           (f.auth ? set->auth.ans_len : 0);
    for (uint32_t i = 0; i < f.k; i++) {
        const struct cn__dns_group *g = &set->groups[order[i]];
        need += g->ans_len + (f.no_ext ? 0 : g->ext_len);
        counts[1] = (uint16_t)(counts[1] + g->n_ans);
        counts[3] = (uint16_t)(counts[3] + (f.no_ext ? 0 : g->n_ext));
    }
    if (need > cap)
        return 0;        /* one group beyond 64 KiB: cannot be sent */
    counts[2] = f.auth ? set->auth.n_ans : 0;
    counts[3] = (uint16_t)(counts[3] + (r->edns ? 1 : 0));
    if (f.trimmed)
        s->stats.truncated++;
    o = put_header(s, r, set->aa, f.trimmed && s->conf.enable_truncate,
                   set->rcode, counts, out);
    memcpy(o, r->qname, r->qname_len);
    o += r->qname_len;
    cn__dns_put16(o, r->qtype);
    cn__dns_put16(o + 2, r->qclass);
    o += 4;
    for (uint32_t i = 0; i < f.k; i++) {
        const struct cn__dns_group *g = &set->groups[order[i]];
        memcpy(o, set->data.data + g->off, g->ans_len);
        o += g->ans_len;
    }
    if (f.auth && set->auth.ans_len) {
        memcpy(o, set->data.data + set->auth.off, set->auth.ans_len);
        o += set->auth.ans_len;
    }
    for (uint32_t i = 0; i < f.k && !f.no_ext; i++) {
        const struct cn__dns_group *g = &set->groups[order[i]];
        memcpy(o, set->data.data + g->off + g->ans_len, g->ext_len);
        o += g->ext_len;
    }
    if (r->edns)
        o = put_opt(r, o);
    CN_ASSERT((size_t)(o - out) == need);
    return need;
}
