/* agent/dns/fake.h - an in-memory backend for tests, fuzzing and the
 * standalone test server (not linked into cairn itself).
 *
 * A tiny catalog: nodes (address, meta) and service instances (node,
 * service address, port, tags, weights, health, connect flag), known
 * datacenters, prepared query names mapped to services. Lookups complete
 * synchronously, or are queued (async = true) until the test completes
 * them, to exercise the "answer later" path, timeouts and cancellation.
 */
#ifndef CN_DNS_FAKE_H
#define CN_DNS_FAKE_H

#include "dns.h"

#define FAKE_NODES_MAX 64
#define FAKE_INSTANCES_MAX 5000
#define FAKE_META_MAX 8
#define FAKE_PENDING_MAX 64

struct fake_node {
    char name[64];
    char addr[64];
    char dc[32];
    struct cn_dns_meta meta[FAKE_META_MAX];
    char meta_text[FAKE_META_MAX][2][600];
    size_t n_meta;
};

struct fake_inst {
    int node;               /* index into nodes */
    char service[64];
    char svc_addr[64];
    char tags[128];         /* comma-separated */
    uint16_t port, wp, ww;
    enum cn_dns_health health;
    bool connect;
};

struct fake_pending {
    int kind;               /* 1 node, 2 service, 3 reverse, 4 prepared */
    uint64_t id;
    struct cn_dns_server *srv;
    char a[256], b[256], c[256];
    int i;                  /* service kind, or address family */
    uint8_t addr[16];
};

struct cn_dns_fake {
    struct fake_node nodes[FAKE_NODES_MAX];
    size_t n_nodes;
    struct fake_inst *inst;         /* FAKE_INSTANCES_MAX */
    size_t n_inst;
    char dcs[4][32];
    size_t n_dcs;
    char queries[4][2][64];         /* prepared query name -> service */
    size_t n_queries;

    /* Behaviour knobs. */
    bool async;                     /* queue lookups until completed */
    int status;                     /* non-zero: every lookup fails so */
    uint64_t index;                 /* reported service index */
    bool ignore;                    /* never complete (timeouts) */

    /* Observations. */
    unsigned calls, cancels;
    uint64_t last_cancelled;
    struct fake_pending pending[FAKE_PENDING_MAX];
    size_t n_pending;

    /* Scratch for results. */
    struct cn_dns_instance *out;
};

struct cn_dns_fake *cn_dns_fake_new(void);
void cn_dns_fake_free(struct cn_dns_fake *f);
void cn_dns_fake_backend(struct cn_dns_fake *f, struct cn_dns_backend *be);
int cn_dns_fake_node(struct cn_dns_fake *f, const char *name, const char *addr);
void cn_dns_fake_node_dc(struct cn_dns_fake *f, const char *node, const char *dc);
void cn_dns_fake_meta(struct cn_dns_fake *f, const char *node, const char *key,
                      const char *value);
/* tags: comma-separated or NULL. Returns the instance index. */
int cn_dns_fake_service(struct cn_dns_fake *f, const char *service,
                        const char *node, const char *svc_addr, uint16_t port,
                        const char *tags, enum cn_dns_health health);
void cn_dns_fake_weights(struct cn_dns_fake *f, int inst, uint16_t passing,
                         uint16_t warning);
void cn_dns_fake_dc(struct cn_dns_fake *f, const char *dc);
void cn_dns_fake_query(struct cn_dns_fake *f, const char *name,
                       const char *service);
/* Completes queued lookups (in order); returns how many. */
size_t cn_dns_fake_complete(struct cn_dns_fake *f);

#endif
