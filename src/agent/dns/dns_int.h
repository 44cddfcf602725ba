/* agent/dns/dns_int.h - shared by the .c files of src/agent/dns only.
 *
 * Shape of the module:
 *
 *   net.c      libuv UDP/TCP listeners, TCP framing, sending, sweep timer
 *   proc.c     a query's life: parse, plan, lookup, complete, respond,
 *              timeouts; the in-flight table of lookup ids
 *   wire.c     request parsing (ldns), response assembly and trimming
 *   name.c     question name -> plan (node / service / addr / PTR / ...)
 *   records.c  answers compiled into position-independent wire records,
 *              each RR built with ldns
 *   cache.c    compiled answers kept per (name, qtype, backend index)
 *   recurse.c  forwarding to recursors
 *   conf.c     configuration copy, validation, service TTLs
 *
 * The key representation is the compiled set (struct cn__dns_set): an
 * answer as a list of groups (one answer record and the Additional
 * records that go with it), each record already in wire form. Owner names
 * are compressed only with pointers into the question (offset 12), never
 * into other records, so groups can be permuted, trimmed and copied from
 * the cache without re-encoding: the per-query work is a shuffle and a few
 * memcpys. Record data names (SRV targets etc.) are not compressed
 * (RFC 2782 forbids it for SRV targets).
 */
#ifndef CN_DNS_INT_H
#define CN_DNS_INT_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "dns.h"

/* ldns/common.h, when stdbool.h has not been seen yet, defines _Bool as
 * signed char: a file that included ldns first would disagree with the
 * others about every bool. Always include this header (which brings
 * stdbool.h) before any ldns header. */
#ifdef _Bool
#error "include dns_int.h before ldns headers"
#endif

/* DNS constants (RFC 1035, 6891, 7871). */
enum {
    T_A = 1, T_NS = 2, T_CNAME = 5, T_SOA = 6, T_PTR = 12, T_MX = 15,
    T_TXT = 16, T_AAAA = 28, T_SRV = 33, T_OPT = 41, T_IXFR = 251,
    T_AXFR = 252, T_ANY = 255,
};
enum {
    RC_NOERROR = 0, RC_FORMERR = 1, RC_SERVFAIL = 2, RC_NXDOMAIN = 3,
    RC_NOTIMP = 4, RC_REFUSED = 5,
};
#define DNS_HDR_BYTES 12
#define DNS_NAME_BYTES_MAX 255
#define DNS_LABEL_BYTES_MAX 63
#define DNS_UDP_CLASSIC_BYTES 512
#define DNS_EDNS_OPT_ECS 8
/* Consul's maxUDPAnswerLimit. */
#define DNS_UDP_ANSWERS_HARD_MAX 8

/* ---- configuration (conf.c) ---- */

struct cn__dns_ttl {
    char *prefix;          /* lower-cased; exact when !is_prefix */
    size_t len;
    bool is_prefix;
    uint32_t ttl_s;
};

struct cn__dns_conf {
    /* Domains, lower-cased: text with trailing dot, and wire form. */
    char domain[DNS_NAME_BYTES_MAX + 2];
    uint8_t domain_wire[DNS_NAME_BYTES_MAX + 1];
    size_t domain_wire_len;
    char alt[DNS_NAME_BYTES_MAX + 2];        /* "" if none */
    uint8_t alt_wire[DNS_NAME_BYTES_MAX + 1];
    size_t alt_wire_len;                     /* 0 if none */
    char dc[DNS_LABEL_BYTES_MAX + 1];        /* lower-cased */
    uint32_t node_ttl_s;
    struct cn__dns_ttl *ttls;
    size_t n_ttls;
    unsigned udp_answer_limit;
    unsigned a_record_limit;
    bool enable_truncate, only_passing, node_meta_txt;
    struct sockaddr_storage recursors[CN_DNS_RECURSORS_MAX];
    size_t n_recursors;
    uint32_t recursor_timeout_ms;
    uint32_t lookup_timeout_ms;
    struct cn_dns_soa soa;
};

int cn__dns_conf_build(struct cn__dns_conf *c, const struct cn_dns_config *in,
                       char *errmsg);
void cn__dns_conf_free(struct cn__dns_conf *c);
/* dns_config.service_ttl for a lower-cased service name (0 if no rule). */
uint32_t cn__dns_conf_service_ttl(const struct cn__dns_conf *c,
                                  const char *service);
/* "ip", "ip:port", "[v6]:port" -> sockaddr (port 53 if absent). */
int cn__dns_parse_hostport(const char *s, struct sockaddr_storage *out);
/* Text name ("a.b.c" or "a.b.c.") to lower-cased wire. 0 or -EINVAL. */
int cn__dns_text_to_wire(const char *text, uint8_t *out, size_t *len_out);

/* ---- a parsed request (wire.c) ---- */

struct cn__dns_req {
    uint16_t id;
    uint16_t flags;                 /* header word 2 as received */
    uint16_t qtype, qclass;
    uint8_t qname[DNS_NAME_BYTES_MAX];     /* wire, case as received */
    uint8_t qname_lc[DNS_NAME_BYTES_MAX];  /* wire, lower-cased */
    uint16_t qname_len;
    bool edns;
    uint16_t edns_size;             /* as advertised (>= 512 when edns) */
    uint8_t ecs[24];                /* client subnet option body to echo */
    uint8_t ecs_len;                /* 0: none */
};

enum cn__dns_parse_rc {
    PARSE_OK = 0,
    PARSE_DROP,        /* no header, or a response: never answered */
    PARSE_FORMERR,     /* header readable, rest malformed */
    PARSE_NOTIMP,      /* opcode other than QUERY */
};

/* Parses a query. On PARSE_FORMERR/NOTIMP the id and flags are set (and
 * the question when it was read), so an error reply can be built. */
enum cn__dns_parse_rc cn__dns_parse(const uint8_t *p, size_t n,
                                    struct cn__dns_req *req);

/* ---- the plan for a question name (name.c) ---- */

enum cn__dns_kind {
    K_OUTSIDE = 1,     /* not ours: recursors, else REFUSED */
    K_INVALID,         /* ours but unparsable: NXDOMAIN + SOA */
    K_SOA,             /* qtype SOA in the domain */
    K_NS,              /* qtype NS in the domain */
    K_AXFR,            /* NOTIMP */
    K_NODE,
    K_NODE_NODATA,     /* node name, qtype neither A/AAAA/ANY/TXT */
    K_SERVICE,
    K_PREPARED,
    K_ADDR,
    K_PTR,             /* a valid in-addr/ip6.arpa name */
    K_PTR_INVALID,     /* arpa name we cannot map: as "nothing found" */
};

struct cn__dns_plan {
    enum cn__dns_kind kind;
    bool alt;                   /* the question used alt_domain */
    const char *dc;             /* points into text[] or the config */
    const char *name;           /* node, service or prepared query name */
    const char *tag;            /* NULL: none */
    enum cn_dns_service_kind svc_kind;
    int family;                 /* K_ADDR, K_PTR */
    uint8_t addr[16];
    char text[2 * DNS_NAME_BYTES_MAX + 8];  /* backing for the strings */
};

void cn__dns_plan_make(const struct cn__dns_conf *c,
                       const struct cn__dns_req *req,
                       struct cn__dns_plan *plan);

/* ---- compiled answers (records.c, wire.c) ---- */

/* A group's records are contiguous in set->data: its answer records
 * (ans_len bytes) then its Additional records (ext_len bytes). */
struct cn__dns_group {
    uint32_t off;
    uint32_t ans_len, ext_len;          /* as sent (owners compressed) */
    uint32_t ans_unc, ext_unc;          /* uncompressed: the 512-byte rule */
    uint16_t n_ans, n_ext;
};

struct cn__dns_set {
    struct cn_buf data;
    struct cn__dns_group *groups;
    uint32_t n_groups, cap_groups;
    struct cn__dns_group auth;  /* authority records (as answers) */
    uint8_t rcode;
    bool aa;            /* authoritative (false for REFUSED, recursion) */
    bool shuffle;       /* permute groups per query (Fisher-Yates) */
    bool pick_one;      /* emit a single group (CNAME fallback) */
    bool a_limit;       /* a_record_limit applies */
    bool srv;           /* SRV answers: TCP cap 1024, else 4096 */
    bool in_group;      /* between group_begin and group_end */
    bool in_ext;        /* the open group has Additional records */
};

void cn__dns_set_init(struct cn__dns_set *s);
void cn__dns_set_close(struct cn__dns_set *s);
void cn__dns_set_reset(struct cn__dns_set *s);
/* Deep copy into one allocation-friendly set (cache entries). */
int cn__dns_set_copy(struct cn__dns_set *dst, const struct cn__dns_set *src);
size_t cn__dns_set_bytes(const struct cn__dns_set *s);
/* Building: records go into the open group (answers first, then
 * Additional) or, outside any group, into the authority section (all
 * authority records are added one after another). The record is encoded
 * by ldns; its owner is then compressed against the question of q. */
struct ldns_struct_rr;
int cn__dns_set_group_begin(struct cn__dns_set *s);
void cn__dns_set_group_end(struct cn__dns_set *s);
int cn__dns_set_add(struct cn_dns_server *srv, struct cn__dns_set *s,
                    const struct cn__dns_req *req,
                    const struct ldns_struct_rr *rr, bool additional);

/* ---- the server ---- */

enum cn__dns_transport { TR_UDP = 1, TR_TCP, TR_SINK };

struct cn__dns_tcp_conn;
struct cn__dns_listener;
struct cn__dns_fwd;

enum cn__dns_lookup_kind {
    LK_NONE = 0, LK_NODE, LK_SERVICE, LK_SERVERS, LK_PREPARED, LK_REVERSE,
};

/* One query from receipt to reply. Fixed size: the request is parsed
 * into it, nothing else is kept (the raw bytes only while forwarded). */
struct cn__dns_q {
    uint64_t id;                     /* lookup id (map key) */
    struct cn__dns_q *next, *prev;   /* in-flight list (deadline order) */
    struct cn__dns_q *cnext, *cprev; /* TCP connection's list */
    enum cn__dns_transport tr;
    bool tcp_rules;                  /* TCP size rules (TR_TCP, tests) */
    enum cn__dns_lookup_kind lk;
    bool in_map;
    struct cn__dns_listener *lis;    /* TR_UDP */
    struct sockaddr_storage peer;    /* TR_UDP */
    struct cn__dns_tcp_conn *conn;   /* TR_TCP */
    uint64_t deadline_ms;
    struct cn__dns_req req;
    struct cn__dns_plan plan;
    /* Forwarding (recurse.c). */
    uint8_t *raw;
    uint16_t raw_len;
    uint8_t rec_i;                   /* recursor being tried */
    struct cn__dns_fwd *fwd;
};

/* Compiled answers cache (cache.c). */
struct cn__dns_cache_ent;
struct cn__dns_cache {
    struct cn_map map;
    struct cn_lru lru;                      /* head: most recently used */
    size_t bytes;
    size_t n;
};

void cn__dns_cache_init(struct cn__dns_cache *c);
void cn__dns_cache_close(struct cn__dns_cache *c);
/* The set cached for this question at `index`, or NULL. */
const struct cn__dns_set *cn__dns_cache_get(struct cn__dns_cache *c,
                                            const struct cn__dns_req *req,
                                            uint64_t index);
/* Stores a copy (replacing an older index). -ENOMEM leaves no entry. */
int cn__dns_cache_put(struct cn__dns_cache *c, const struct cn__dns_req *req,
                      uint64_t index, const struct cn__dns_set *set);

typedef void cn__dns_sink_fn(void *ctx, const uint8_t *wire, size_t len);

struct cn_dns_server {
    struct uv_loop_s *loop;
    struct cn__dns_conf conf;
    struct cn_dns_backend be;
    struct cn_logger log;
    struct cn_dns_stats stats;
    struct cn_prng prng;

    /* In flight: id -> q, and two deadline-ordered lists. */
    struct cn_map inflight;
    struct cn__dns_q lookups;        /* list head (sentinel) */
    struct cn__dns_q forwards;       /* sentinel */
    uint64_t next_id;
    struct cn__dns_q *free_qs;       /* recycled (next-linked) */
    size_t n_free;
    size_t n_qs;                     /* allocated and live */

    struct cn__dns_cache cache;
    struct cn__dns_set scratch;      /* reused for uncached answers */
    struct ldns_struct_buffer *rrbuf;  /* ldns encoding scratch */
    struct cn_arena arena;           /* per compile, reset each time */
    uint32_t *perm;                  /* group permutation scratch */
    uint32_t perm_cap;
    uint8_t *out;                    /* response assembly buffer */
    uint8_t *fwd_buf;                /* recursor replies (recurse.c) */

    /* Clocks (tests replace them). */
    /* Monotonic ms for deadlines: the loop's cached time (uv_now), or the
     * clock when there is no loop. Tests replace it. */
    uint64_t (*now_ms)(const struct cn_dns_server *s);
    uint64_t (*wall_s)(void);

    /* Test hook: when set, TR_SINK replies go here. */
    cn__dns_sink_fn *sink;
    void *sink_ctx;

    /* net.c */
    struct cn__dns_net *net;
    bool closing;
    void (*close_cb)(void *);
    void *close_arg;
};

/* proc.c */
void cn__dns_on_query(struct cn_dns_server *s, const uint8_t *p, size_t n,
                      struct cn__dns_q *q);
struct cn__dns_q *cn__dns_q_new(struct cn_dns_server *s);
void cn__dns_q_free(struct cn_dns_server *s, struct cn__dns_q *q);
/* Withdraws a query (TCP client gone, shutdown): cancels its lookup or
 * forward and frees it; no reply. */
void cn__dns_q_abort(struct cn_dns_server *s, struct cn__dns_q *q);
/* Expires lookups and recursor attempts whose deadline passed. */
void cn__dns_sweep(struct cn_dns_server *s, uint64_t now_ms);
/* Builds the reply for q from set, sends it and frees q. */
void cn__dns_reply(struct cn_dns_server *s, struct cn__dns_q *q,
                   const struct cn__dns_set *set);
void cn__dns_reply_rcode(struct cn_dns_server *s, struct cn__dns_q *q,
                         int rcode, bool with_soa);
/* Sends bytes as the reply to q (does not free q). */
void cn__dns_send(struct cn_dns_server *s, struct cn__dns_q *q,
                  const uint8_t *wire, size_t len);
/* Test entry: runs one query arriving over `tr` (TR_SINK replies go to
 * s->sink; TR_UDP/TR_TCP only select the size rules). */
void cn__dns_inject(struct cn_dns_server *s, const uint8_t *p, size_t n,
                    enum cn__dns_transport tr);
void cn__dns_count_rcode(struct cn_dns_server *s, int rcode);

/* wire.c: assembles the reply to q from set into out (cap bytes);
 * returns its length. Applies shuffle, limits, trimming, TC, EDNS. */
size_t cn__dns_assemble(struct cn_dns_server *s, const struct cn__dns_q *q,
                        const struct cn__dns_set *set, uint8_t *out,
                        size_t cap);
/* Header-only error reply (FORMERR/NOTIMP before a question is known). */
size_t cn__dns_error_reply(const struct cn__dns_req *req, int rcode,
                           bool with_question, uint8_t *out);

/* records.c */
int cn__dns_compile_service(struct cn_dns_server *s,
                            const struct cn__dns_q *q, const char *dc,
                            const struct cn_dns_service_result *res,
                            uint32_t ttl_s, struct cn__dns_set *set);
int cn__dns_compile_node(struct cn_dns_server *s, const struct cn__dns_q *q,
                         const struct cn_dns_node *node,
                         struct cn__dns_set *set);
int cn__dns_compile_servers(struct cn_dns_server *s, const struct cn__dns_q *q,
                            const struct cn_dns_service_result *res,
                            struct cn__dns_set *set);
int cn__dns_compile_addr(struct cn_dns_server *s, const struct cn__dns_q *q,
                         struct cn__dns_set *set);
int cn__dns_compile_ptr(struct cn_dns_server *s, const struct cn__dns_q *q,
                        const struct cn_dns_reverse_result *res,
                        struct cn__dns_set *set);
/* NXDOMAIN / NODATA: no answers, the zone's SOA as authority. */
int cn__dns_compile_negative(struct cn_dns_server *s,
                             const struct cn__dns_q *q, int rcode,
                             struct cn__dns_set *set);
/* Result codes of the compile functions besides 0 / -ENOMEM. */
#define CN__DNS_NXDOMAIN 1   /* nothing survived the health filter */
#define CN__DNS_NODATA 2     /* instances, but none of the qtype */

/* recurse.c */
/* Starts forwarding q (its request is copied unless q->raw already holds
 * it) to the first recursor. -ENOMEM or a socket error: reply SERVFAIL. */
int cn__dns_forward(struct cn_dns_server *s, struct cn__dns_q *q,
                    const uint8_t *p, size_t n);
/* The current attempt failed or timed out: next recursor, or SERVFAIL. */
void cn__dns_forward_next(struct cn_dns_server *s, struct cn__dns_q *q);
/* Stops the attempt in progress (q stays allocated). */
void cn__dns_forward_stop(struct cn_dns_server *s, struct cn__dns_q *q);

/* net.c */
uint64_t cn__dns_net_now(const struct cn_dns_server *s);
int cn__dns_net_new(struct cn_dns_server *s);
void cn__dns_net_close(struct cn_dns_server *s, void (*cb)(void *), void *arg);
void cn__dns_net_send_udp(struct cn_dns_server *s, struct cn__dns_q *q,
                          const uint8_t *wire, size_t len);
void cn__dns_net_send_tcp(struct cn_dns_server *s, struct cn__dns_q *q,
                          const uint8_t *wire, size_t len);
/* A TCP query finished (replied or aborted): resume that connection. */
void cn__dns_net_tcp_done(struct cn_dns_server *s, struct cn__dns_q *q);

/* Intrusive query lists (sentinel heads). */
static inline void cn__dns_list_init(struct cn__dns_q *head)
{
    head->next = head->prev = head;
}
static inline void cn__dns_list_append(struct cn__dns_q *head,
                                       struct cn__dns_q *q)
{
    q->prev = head->prev;
    q->next = head;
    head->prev->next = q;
    head->prev = q;
}
static inline void cn__dns_list_unlink(struct cn__dns_q *q)
{
    q->prev->next = q->next;
    q->next->prev = q->prev;
    q->next = q->prev = NULL;
}

/* Big-endian helpers. */
static inline uint16_t cn__dns_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}
static inline void cn__dns_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void cn__dns_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint8_t cn__dns_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

#endif
