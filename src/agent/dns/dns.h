/* agent/dns/dns.h - Consul-compatible DNS interface (consul-compat.md 6).
 *
 * A reusable server the agent embeds: UDP and TCP listeners on a libuv
 * loop (default port 8600), queries parsed with ldns, answers for
 *
 *   <node>.node[.<dc>].<domain>                 A/AAAA (+TXT node meta)
 *   [<tag>.]<service>.service[.<dc>].<domain>   A/AAAA/SRV of healthy instances
 *   _<service>._<tag|tcp>[.service][.<dc>].<domain>   RFC 2782 SRV
 *   <name>.query[.<dc>].<domain>                prepared queries (optional)
 *   <hex-ip>.addr[.<dc>].<domain>               A/AAAA from the name itself
 *   <service>.connect|ingress[.<dc>].<domain>   mesh lookups (backend decides)
 *   <ip>.in-addr.arpa / <ip6>.ip6.arpa          PTR
 *   any name in the domain, qtype SOA or NS     SOA / up to 3 server NS + glue
 *
 * and forwarding of other names to configured recursors (REFUSED when none).
 *
 * The module never reads the catalog. It asks a backend (struct
 * cn_dns_backend) through small asynchronous lookups; a server answers
 * them from local state before the call returns, a client agent later over
 * RPC. Each lookup is identified by a 64-bit id; the backend completes it
 * with exactly one cn_dns_*_done() call carrying that id. A lookup whose
 * query timed out or whose TCP client left is withdrawn: the backend's
 * cancel hook (if any) runs, and a late *_done() call for that id is
 * ignored and returns CN_ENOTFOUND, so no id can ever reach freed memory.
 *
 * Health filtering lives on the DNS side: the backend returns every
 * instance of the service (critical ones included, or pre-dropped: both
 * are fine) with the worst status of its node and service checks; this
 * module drops critical instances and, with only_passing, warning ones,
 * and picks the SRV weight (Weights.Passing or Weights.Warning).
 *
 * Threading: everything runs on the loop thread that owns the server,
 * including backend calls and *_done() calls.
 *
 * Every input is untrusted and bounded (base/limits.h, CN_DNS_*): a packet
 * whose header can be read but that is malformed gets FORMERR; shorter
 * packets, responses (QR set) and overload are dropped and counted.
 */
#ifndef CN_DNS_H
#define CN_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

struct uv_loop_s;
struct cn_dns_server;

/* ------------------------------------------------------------------ */
/* Configuration (Consul's domain, alt_domain, dns_config, recursors).  */

/* dns_config.service_ttl entry: pattern is an exact service name, a
 * prefix ending in '*', or "*" (any). Exact beats prefix, the longest
 * prefix wins (Consul's GetTTLForService). Patterns are lower-cased. */
struct cn_dns_ttl_rule {
    const char *pattern;
    uint32_t ttl_s;
};

/* dns_config.soa */
struct cn_dns_soa {
    uint32_t refresh_s;  /* 3600 */
    uint32_t retry_s;    /* 600 */
    uint32_t expire_s;   /* 86400 */
    uint32_t minttl_s;   /* 0; also the SOA record's own TTL */
};

struct cn_dns_config {
    const char *domain;          /* "consul."; a trailing dot is optional */
    const char *alt_domain;      /* NULL or "": none */
    const char *datacenter;      /* "dc1": the default for names without one */
    uint32_t node_ttl_s;         /* dns_config.node_ttl, 0 */
    const struct cn_dns_ttl_rule *service_ttl;  /* dns_config.service_ttl */
    size_t n_service_ttl;
    /* dns_config.udp_answer_limit (3): answers in a UDP reply without
     * EDNS, further capped at 8 (Consul's maxUDPAnswerLimit). */
    unsigned udp_answer_limit;
    unsigned a_record_limit;     /* dns_config.a_record_limit, 0 = none */
    bool enable_truncate;        /* Set TC when answers were trimmed. */
    bool only_passing;           /* Drop warning instances too. */
    bool node_meta_txt;          /* enable_additional_node_meta_txt (true) */
    /* recursors: "ip", "ip:port", "[ipv6]:port" (port 53 by default). */
    const char *const *recursors;
    size_t n_recursors;
    uint32_t recursor_timeout_ms;  /* dns_config.recursor_timeout, 2000 */
    struct cn_dns_soa soa;
    /* How long a query may wait for its backend lookup before SERVFAIL
     * (and the lookup is cancelled). Default 5000 ms: dig's and glibc's
     * per-try timeout, after which nobody listens for the answer. */
    uint32_t lookup_timeout_ms;
};

/* Fills every field with Consul's default (strings are static). */
void cn_dns_config_init(struct cn_dns_config *cfg);

/* ------------------------------------------------------------------ */
/* Backend: what the DNS server asks, and what it gets back.            */
/* Every string is NUL-terminated. Request structs are borrowed for the */
/* duration of the backend call; result structs for the *_done() call.  */

/* Names in requests are lower-cased (DNS is case-insensitive): the
 * backend matches node and service names and tags case-insensitively,
 * as Consul's catalog does. */
struct cn_dns_node_req {
    const char *datacenter;
    const char *node;
};

enum cn_dns_service_kind {
    CN_DNS_SVC_PLAIN = 0,   /* .service. */
    CN_DNS_SVC_CONNECT,     /* .connect.: mesh-capable endpoints */
    CN_DNS_SVC_INGRESS,     /* .ingress.: ingress gateways for the service */
};

struct cn_dns_service_req {
    const char *datacenter;
    const char *service;
    const char *tag;        /* NULL: no tag filter */
    enum cn_dns_service_kind kind;
};

/* Prepared query execution ("<name-or-id>.query."). */
struct cn_dns_prepared_req {
    const char *datacenter;
    const char *name;       /* name or ID, as given (lower-cased) */
};

/* Reverse lookup: which node (first) or service instance has this IP. */
struct cn_dns_reverse_req {
    const char *datacenter; /* the agent's */
    int family;             /* AF_INET or AF_INET6 */
    uint8_t addr[16];       /* 4 or 16 bytes */
    const char *addr_text;  /* canonical text form (inet_ntop) */
};

/* Node meta key/value (Consul: keys <= 128, values <= 512 bytes). */
struct cn_dns_meta {
    const char *key;
    const char *value;
};

struct cn_dns_node {
    const char *name;       /* as registered (case kept) */
    const char *address;    /* IP literal, or a hostname (-> CNAME) */
    const struct cn_dns_meta *meta;
    size_t n_meta;
};

enum cn_dns_health {
    CN_DNS_PASSING = 0,
    CN_DNS_WARNING = 1,
    CN_DNS_CRITICAL = 2,    /* also maintenance and serfHealth failing */
};

struct cn_dns_instance {
    struct cn_dns_node node;
    const char *service_address;  /* NULL or "": use the node's */
    uint16_t port;
    uint16_t weight_passing;      /* Weights.Passing (Consul default 1) */
    uint16_t weight_warning;      /* Weights.Warning (Consul default 1) */
    enum cn_dns_health health;    /* worst of node-level and service checks */
};

struct cn_dns_service_result {
    const struct cn_dns_instance *instances;
    size_t n_instances;
    /* A number that changes whenever any instance field of this result
     * could differ for the same request (the catalog's Raft index of the
     * service's health, X-Consul-Index). Answers compiled from a result
     * are cached per (name, qtype) and reused, re-shuffled, while the
     * index is unchanged; 0 disables caching for this result. */
    uint64_t index;
};

struct cn_dns_prepared_result {
    struct cn_dns_service_result nodes;
    const char *datacenter;  /* where the query ran (SRV targets) */
    const char *service;     /* for the service_ttl lookup */
    int64_t ttl_s;           /* the query's DNS.TTL, or -1: use service_ttl */
};

enum cn_dns_reverse_kind {
    CN_DNS_REV_NONE = 0,
    CN_DNS_REV_NODE,        /* -> <name>.node.<dc>.<domain> */
    CN_DNS_REV_SERVICE,     /* -> <name>.service.<dc>.<domain> */
};

struct cn_dns_reverse_result {
    enum cn_dns_reverse_kind kind;
    const char *name;
    const char *datacenter;  /* NULL: the agent's */
};

/* The lookups. Each must lead to exactly one matching *_done() call for
 * `id` (from inside the call or later on the loop thread), unless the
 * lookup is cancelled first. The server pointer is the one to pass back. */
struct cn_dns_backend {
    void *ctx;
    void (*node)(void *ctx, struct cn_dns_server *srv, uint64_t id,
                 const struct cn_dns_node_req *req);
    void (*service)(void *ctx, struct cn_dns_server *srv, uint64_t id,
                    const struct cn_dns_service_req *req);
    void (*reverse)(void *ctx, struct cn_dns_server *srv, uint64_t id,
                    const struct cn_dns_reverse_req *req);
    /* Optional (NULL: every .query. name is NXDOMAIN). */
    void (*prepared)(void *ctx, struct cn_dns_server *srv, uint64_t id,
                     const struct cn_dns_prepared_req *req);
    /* Optional: the lookup `id` is withdrawn (timeout, TCP client gone,
     * server closing). Never called for a completed lookup, never from
     * inside a *_done() call. */
    void (*cancel)(void *ctx, uint64_t id);
};

/* Completions. status: 0, or CN_ENOTFOUND / CN_ENODC (-> NXDOMAIN), or
 * any other negative code (-> SERVFAIL). A NULL result with status 0 means
 * "not found". Results are copied as needed before these return.
 * Return 0, or CN_ENOTFOUND if `id` is not in flight (late, cancelled,
 * completed twice or of another kind): the call is then a no-op. */
int cn_dns_node_done(struct cn_dns_server *srv, uint64_t id, int status,
                     const struct cn_dns_node *node);
int cn_dns_service_done(struct cn_dns_server *srv, uint64_t id, int status,
                        const struct cn_dns_service_result *res);
int cn_dns_prepared_done(struct cn_dns_server *srv, uint64_t id, int status,
                         const struct cn_dns_prepared_result *res);
int cn_dns_reverse_done(struct cn_dns_server *srv, uint64_t id, int status,
                        const struct cn_dns_reverse_result *res);

/* ------------------------------------------------------------------ */
/* Server.                                                              */

struct cn_dns_stats {
    uint64_t queries_udp, queries_tcp;   /* packets/frames accepted */
    uint64_t responses;                  /* answers sent (any rcode) */
    uint64_t noerror, nxdomain, servfail, formerr, notimp, refused;
    uint64_t dropped_short;      /* < 12 bytes: no header to answer */
    uint64_t dropped_response;   /* QR set: never answer a response */
    uint64_t dropped_overload;   /* in-flight or send queue full */
    uint64_t truncated;          /* answers trimmed to fit */
    uint64_t lookups, lookup_timeouts, lookups_cancelled, late_completions;
    uint64_t cache_hits, cache_misses;
    uint64_t recursed, recurse_failed;
    uint64_t tcp_accepted, tcp_rejected, tcp_closed_bad; /* framing/idle */
    uint64_t send_errors;
    uint64_t inflight;           /* gauge: queries waiting */
    uint64_t tcp_open;           /* gauge */
};

/* Creates a server (no sockets yet). The config and backend are copied.
 * Returns 0, -ENOMEM, or -EINVAL with a reason in errmsg (CN_ERRMSG_MAX
 * bytes; may be NULL) for a bad domain, datacenter, recursor or limit. */
int cn_dns_server_new(struct cn_dns_server **out, struct uv_loop_s *loop,
                      const struct cn_dns_config *cfg,
                      const struct cn_dns_backend *backend,
                      const struct cn_logger *log, char *errmsg);
/* Listens on UDP and TCP at ip:port (IPv4 or IPv6 literal). Port 0 picks
 * one free for both (see cn_dns_server_port). May be called up to
 * CN_DNS_LISTENERS_MAX times (Consul's client_addr list). 0 or -errno. */
int cn_dns_server_listen(struct cn_dns_server *srv, const char *ip,
                         uint16_t port, char *errmsg);
/* Port of the first listener (0 if none). */
uint16_t cn_dns_server_port(const struct cn_dns_server *srv);
void cn_dns_server_stats(const struct cn_dns_server *srv,
                         struct cn_dns_stats *out);
/* Drops the compiled-answer cache (e.g. after a config reload). */
void cn_dns_server_flush_cache(struct cn_dns_server *srv);
/* Cancels every lookup in flight (backend cancel hook), closes sockets,
 * and frees the server; cb(arg) runs once everything is closed (from the
 * loop). srv is invalid as soon as this returns. */
void cn_dns_server_close(struct cn_dns_server *srv, void (*cb)(void *arg),
                         void *arg);

#endif
