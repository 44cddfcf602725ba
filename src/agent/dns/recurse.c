/* agent/dns/recurse.c - forwarding names that are not ours to recursors.
 *
 * Consul's handleRecurse: the request is sent to each recursor in turn
 * (the "sequential" strategy) with recursor_timeout; the first answer
 * whose rcode is NOERROR or NXDOMAIN (or that is truncated) is relayed to
 * the client; when every recursor fails the client gets SERVFAIL.
 *
 * Each attempt uses its own UDP socket (a fresh source port) and a fresh
 * random message ID; a reply must come from the recursor's address, carry
 * that ID and our question, and parse with ldns, else it is ignored
 * (spoofing and stray packets) and the attempt waits for its timeout.
 * The relayed reply gets the client's ID back. Attempts time out through
 * the server's sweep (the `forwards` list, in deadline order).
 *
 * Not done: forwarding over TCP when the client used TCP (the UDP answer
 * is relayed as is, TC bit included).
 */
#include <errno.h>
#include <string.h>

#include <uv.h>

#include "dns_int.h"
#include <ldns/ldns.h>   /* after dns_int.h: see there */

#define FWD_RECV_BYTES 65536

struct cn__dns_fwd {
    uv_udp_t udp;
    struct cn_dns_server *s;
    struct cn__dns_q *q;          /* NULL once detached */
    uint16_t id;                  /* the ID sent upstream */
    struct sockaddr_storage to;
};

static void fwd_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct cn__dns_fwd *f = h->data;
    (void)suggested;
    /* One buffer per server: callbacks never overlap on the loop. */
    if (!f->s->fwd_buf)
        f->s->fwd_buf = cn_alloc(FWD_RECV_BYTES);
    b->base = (char *)f->s->fwd_buf;
    b->len = f->s->fwd_buf ? FWD_RECV_BYTES : 0;   /* 0: UV_ENOBUFS */
}

static void fwd_closed(uv_handle_t *h)
{
    cn_free(h->data);
}

void cn__dns_forward_stop(struct cn_dns_server *s, struct cn__dns_q *q)
{
    struct cn__dns_fwd *f = q->fwd;
    (void)s;
    if (!f)
        return;
    cn__dns_list_unlink(q);
    q->fwd = NULL;
    f->q = NULL;
    uv_udp_recv_stop(&f->udp);
    uv_close((uv_handle_t *)&f->udp, fwd_closed);
}

static bool same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return false;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return x->sin6_port == y->sin6_port &&
           memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}

/* Is p a well-formed reply to our question, with our ID? */
static bool reply_ok(const struct cn__dns_fwd *f, const uint8_t *p, size_t n)
{
    ldns_pkt *pkt = NULL;
    bool ok = false;
    if (n < DNS_HDR_BYTES || cn__dns_get16(p) != f->id || !(p[2] & 0x80))
        return false;
    if (ldns_wire2pkt(&pkt, p, n) != LDNS_STATUS_OK)
        return false;
    const ldns_rr_list *ql = ldns_pkt_question(pkt);
    if (ql && ldns_rr_list_rr_count(ql) == 1) {
        const ldns_rr *rr = ldns_rr_list_rr(ql, 0);
        const ldns_rdf *o = ldns_rr_owner(rr);
        const struct cn__dns_req *r = &f->q->req;
        ok = ldns_rr_get_type(rr) == r->qtype && o &&
             ldns_rdf_size(o) == r->qname_len;
        for (size_t i = 0; ok && i < r->qname_len; i++)
            ok = cn__dns_lower(ldns_rdf_data(o)[i]) == r->qname_lc[i];
    }
    ldns_pkt_free(pkt);
    return ok;
}

static void fwd_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *b,
                     const struct sockaddr *addr, unsigned flags)
{
    struct cn__dns_fwd *f = h->data;
    struct cn__dns_q *q = f->q;
    struct cn_dns_server *s = f->s;
    uint8_t *p = (uint8_t *)b->base;
    (void)flags;

    if (!q || nread == 0 || !addr)
        return;
    if (nread < 0) {                     /* ICMP unreachable and the like */
        cn__dns_forward_next(s, q);
        return;
    }
    if (!same_addr(addr, &f->to) || !reply_ok(f, p, (size_t)nread))
        return;                          /* stray or spoofed: keep waiting */
    int rcode = p[3] & 0xF;
    bool tc = p[2] & 0x02;
    if (rcode != RC_NOERROR && rcode != RC_NXDOMAIN && !tc) {
        cn__dns_forward_next(s, q);
        return;
    }
    cn__dns_forward_stop(s, q);
    cn__dns_put16(p, q->req.id);
    s->stats.recursed++;
    cn__dns_count_rcode(s, rcode);
    cn__dns_send(s, q, p, (size_t)nread);
    cn__dns_q_free(s, q);
}

/* Sends q's request to recursor q->rec_i. 0 or a negative error. */
static int attempt(struct cn_dns_server *s, struct cn__dns_q *q)
{
    uint8_t buf[CN_DNS_REQ_BYTES_MAX];
    struct cn__dns_fwd *f;
    uv_buf_t ub;
    int rc;

    CN_ASSERT(q->raw_len <= sizeof buf && !q->fwd);
    f = cn_calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    f->s = s;
    f->q = q;
    f->to = s->conf.recursors[q->rec_i];
    /* Unpredictable IDs (with the kernel's random source port) make
     * forged upstream answers hard to slip in. */
    if (cn_rand_bytes(&f->id, sizeof f->id) < 0)
        f->id = (uint16_t)cn_prng_next(&s->prng);
    rc = uv_udp_init(s->loop, &f->udp);
    if (rc < 0) {
        cn_free(f);
        return rc;
    }
    f->udp.data = f;
    memcpy(buf, q->raw, q->raw_len);
    cn__dns_put16(buf, f->id);
    ub = uv_buf_init((char *)buf, q->raw_len);
    rc = uv_udp_try_send(&f->udp, &ub, 1, (const struct sockaddr *)&f->to);
    if (rc >= 0)
        rc = uv_udp_recv_start(&f->udp, fwd_alloc, fwd_recv);
    if (rc < 0) {
        uv_close((uv_handle_t *)&f->udp, fwd_closed);
        return rc;
    }
    q->fwd = f;
    q->deadline_ms = s->now_ms(s) + s->conf.recursor_timeout_ms;
    cn__dns_list_append(&s->forwards, q);
    return 0;
}

/* All recursors failed: SERVFAIL, not authoritative (handleRecurse). */
static void fail(struct cn_dns_server *s, struct cn__dns_q *q)
{
    struct cn__dns_set *set = &s->scratch;
    s->stats.recurse_failed++;
    cn__dns_set_reset(set);
    set->rcode = RC_SERVFAIL;
    set->aa = false;
    cn__dns_reply(s, q, set);
}

/* Tries recursors from q->rec_i on until one accepts the request. */
static void try_from(struct cn_dns_server *s, struct cn__dns_q *q)
{
    while (q->rec_i < s->conf.n_recursors) {
        if (attempt(s, q) == 0)
            return;
        q->rec_i++;
    }
    fail(s, q);
}

int cn__dns_forward(struct cn_dns_server *s, struct cn__dns_q *q,
                    const uint8_t *p, size_t n)
{
    CN_ASSERT(s->conf.n_recursors > 0 && n <= CN_DNS_REQ_BYTES_MAX);
    if (!s->loop)
        return -EINVAL;
    if (!q->raw) {
        q->raw = cn_memdup(p, n);
        if (!q->raw)
            return -ENOMEM;
        q->raw_len = (uint16_t)n;
    }
    q->rec_i = 0;
    try_from(s, q);
    return 0;
}

void cn__dns_forward_next(struct cn_dns_server *s, struct cn__dns_q *q)
{
    cn__dns_forward_stop(s, q);
    q->rec_i++;
    try_from(s, q);
}
