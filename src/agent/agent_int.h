/* agent/agent_int.h - shared by src/agent and src/agent/api only. */
#ifndef CN_AGENT_INT_H
#define CN_AGENT_INT_H

#include <uv.h>

#include "agent.h"
#include "http/http.h"
#include "json/json.h"
#include "rpc/rpc.h"

struct cn_server;
struct cn_gossip;
struct cn_gossip_event;
struct cn_transport;

/* A gossip pool as the agent keeps it (pool.c). */
#define CN__POOL_SERVERS_MAX 128
struct cn__pool_server {
    char name[192], dc[64], id[40];
    char addr[64];                 /* Server RPC "ip:port". */
    bool alive;
};

struct cn__pool {
    struct cn_gossip *g;
    bool wan, joined, joining, timer_open;
    uv_timer_t join_timer;
    char join[CN_CONFIG_LIST_MAX][128];
    size_t n_join;
    uint64_t retry_ms;
    unsigned tries;
    struct cn__pool_server servers[CN__POOL_SERVERS_MAX];
    size_t n_servers;
};
struct cn__dnsbe;

struct cn_agent {
    uv_loop_t *loop;
    struct cn_agent_config cfg;
    struct cn_server *server;      /* NULL on client agents. */
    struct cn_http_server *http;
    char node_id[CN_UUID_STR_BYTES];
    char rpc_addr[80];
    uint64_t start_ms;
    uv_signal_t sig_int, sig_term;
    bool stopping;
    struct cn__pool lan, wan;      /* Gossip (pool.c). */
    struct cn_transport *transport;/* Client agents: RPC to servers. */
    size_t rpc_server;             /* Client agents: current server. */
    /* Service registry (local.h): local services/checks, anti-entropy,
     * user events, and parked requests waiting on them. */
    char advertise[64];            /* Node address in the catalog. */
    struct cn__local *local;
    struct cn__events *events;
    struct cn__waiter *waiters;
    uv_signal_t sig_hup;
    struct cn__dnsbe *dns;         /* DNS server + backend; NULL if off. */
    struct cn__rcache *rcache;     /* api/rcache.c; NULL until first use. */
};

/* rpc_client.c */
int cn__agent_rpc_client_start(struct cn_agent *a, char *errmsg);
void cn__agent_rpc_client_stop(struct cn_agent *a);

/* pool.c */
int cn__agent_pools_start(struct cn_agent *a, char *errmsg);
void cn__agent_pools_stop(struct cn_agent *a);
void cn__agent_pools_leave(struct cn_agent *a, void (*cb)(struct cn_agent *));
size_t cn__agent_lan_servers(void *ctx, char (*out)[64], size_t max);
size_t cn__agent_dc_servers(void *ctx, const char *dc, char (*out)[64], size_t max);
size_t cn__agent_datacenters(void *ctx, char (*out)[64], size_t max);
/* A user event from gossip (api/event.c delivers it locally). */
/* The pool's gossip handle (NULL: no such pool, e.g. WAN on a client). */
struct cn_gossip *cn__agent_pool(struct cn_agent *a, bool wan);
/* Joins one "host[:port]"; cb(ctx, 0) once a push/pull worked, else an
 * error (CN_ETIMEOUT: nobody answered). cb may run before this returns. */
typedef void cn__agent_join_fn(void *ctx, int rc);
int cn__agent_join(struct cn_agent *a, bool wan, const char *addr, cn__agent_join_fn *cb,
                   void *ctx);
void cn__agent_user_event(struct cn_agent *a, const struct cn_gossip_event *ev);
/* Fires a validated event to the whole LAN pool (us included). 0,
 * -EMSGSIZE (over serf's limit once encoded), -ENOMEM. */
struct cn_user_event;
int cn__agent_fire_event(struct cn_agent *a, const struct cn_user_event *ev);
/* dns_backend.c: the DNS interface on client_addr:dns_port (-1: off). */
int cn__agent_dns_start(struct cn_agent *a, char *errmsg);
/* Cancels lookups in flight and closes the sockets (freed from the loop). */
void cn__agent_dns_stop(struct cn_agent *a);
int cn__agent_dns_port(const struct cn_agent *a);  /* -1 if off. */
/* Fuzz target hook: runs every RPC-reply decoder over p (never crashes). */
int cn__agent_dns_decode_fuzz(const uint8_t *p, size_t len);

/* api/rcache.c: big list answers by (request, result index). Freeing
 * leaves requests in flight their own references to what they send. */
struct cn__rcache;
void cn__rcache_free(struct cn_agent *a);
/* For a GET: the cache key of this read (arena memory) and, if an entry
 * exists, a reference to its body in *hit and its index in *index. false
 * when the request is not cacheable. */
bool cn__rcache_lookup(struct cn_http_req *req, enum cn_rpc_method m, const char **key,
                       size_t *key_len, struct cn_http_blob **hit, uint64_t *index);
/* A reference to key's answer and its index, or NULL. */
struct cn_http_blob *cn__rcache_find(struct cn_agent *a, const char *key, size_t key_len,
                                     uint64_t *index);
/* Keeps blob (a new reference) as the answer of key at index. */
void cn__rcache_put(struct cn_agent *a, const char *key, size_t key_len, uint64_t index,
                    struct cn_http_blob *blob);
/* After a hit was sent: most recently used; its gzip form counted. */
void cn__rcache_touch(struct cn_agent *a, const char *key, size_t key_len);


/* api/routes.c */
extern const struct cn_route cn__api_routes[];
extern const size_t cn__api_n_routes;
extern const struct cn_http_mw cn__api_mw_agent;  /* Headers every reply has. */

/* Sends an RPC for the request (in-process to the local server now; to a
 * remote server on client agents later). */
void cn__agent_rpc(struct cn_agent *a, struct cn_rpc_call *call);
void cn__agent_rpc_cancel(struct cn_agent *a, struct cn_rpc_call *call);

/* ---- api/common.c: what every handler shares ---- */

/* Parses ?index ?wait ?stale ?consistent ?leader ?max_stale. On bad input
 * answers 400 and returns CN_EBADREQ (the request is finished). */
int cn__api_query_opts(struct cn_http_req *req, struct cn_query_opts *q);

typedef void cn__api_done_fn(struct cn_http_req *req, struct cn_rpc_call *call);
/* A call whose memory lives with the request; done runs with the
 * completed call unless the client left first. */
struct cn_rpc_call *cn__api_call_new(struct cn_http_req *req,
                                     enum cn_rpc_method method,
                                     cn__api_done_fn *done);
/* Dispatches; the request may be finished before this returns. */
void cn__api_call_start(struct cn_http_req *req, struct cn_rpc_call *call);
/* For done functions: answers the RPC error (status from the one table)
 * and returns true if call->rc < 0. */
bool cn__api_call_failed(struct cn_http_req *req, struct cn_rpc_call *call);

/* X-Consul-Index/KnownLeader/LastContact/Effective-Consistency. */
void cn__api_meta_headers(struct cn_http_req *req, const struct cn_query_meta *m);

/* JSON body with Content-Type: application/json. */
void cn__api_json_init(struct cn_http_req *req, struct cn_json_enc *e);
void cn__api_json_send(struct cn_http_req *req, struct cn_json_enc *e, int status);
/* Response cache (api/rcache.c) for a read call: a GET's key is kept
 * and, when an answer is cached, its index is offered in q->if_index (the
 * done function then never sees CN_ENOTMODIFIED: the cached body is
 * sent). cn__api_json_send_list is cn__api_json_send(200) that also
 * caches a big body under that key. */
void cn__api_cache_offer(struct cn_http_req *req, struct cn_rpc_call *call,
                         struct cn_query_opts *q);
void cn__api_json_send_list(struct cn_http_req *req, struct cn_json_enc *e,
                            const struct cn_rpc_call *call);
/* A full reply arrived, but the cache already holds this key at the
 * reply's index (another request of a woken herd built it first): sends
 * that and returns true. */
bool cn__api_cache_fresh(struct cn_http_req *req, const struct cn_rpc_call *call);
/* Bare `true`/`false` replies (KV, catalog, session destroy). */
void cn__api_send_bool(struct cn_http_req *req, bool v);

/* agent.c */
/* Re-reads config files; services/checks from them are reconciled. */
int cn__agent_reload(struct cn_agent *a, char *errmsg);
void cn__agent_shutdown(struct cn_agent *a);
void cn__agent_leave(struct cn_agent *a);

/* api/operator.c */
void cn__api_raft_configuration(struct cn_http_req *req);
void cn__api_raft_peer(struct cn_http_req *req);
void cn__api_snapshot(struct cn_http_req *req);
void cn__api_agent_leave(struct cn_http_req *req);

/* api/kv.c, api/txn.c, api/status.c */
void cn__api_kv(struct cn_http_req *req);
void cn__api_txn(struct cn_http_req *req);
/* Decodes a /v1/txn body into a state txn command appended to cmd.
 * 0, or an HTTP status (400/413/500) with a one-line reason in err
 * (CN_JSON_ERR_BYTES). Exposed for the fuzz target. */
int cn__api_txn_decode(const uint8_t *body, size_t len, struct cn_arena *arena,
                       struct cn_buf *cmd, bool *read_only, char *err);
void cn__api_status_leader(struct cn_http_req *req);
void cn__api_status_peers(struct cn_http_req *req);
void cn__api_agent_self(struct cn_http_req *req);
void cn__api_agent_members(struct cn_http_req *req);
void cn__api_agent_join(struct cn_http_req *req);
void cn__api_agent_force_leave(struct cn_http_req *req);
struct cn_gossip_member;
void cn__api_member_json(struct cn_json_enc *e, const struct cn_gossip_member *m);

#endif
