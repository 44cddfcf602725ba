/* server/server.h - a cairn server: the state store behind Raft, and the
 * RPC endpoints (KVS, Txn, Status, Operator, ...) that agents call.
 *
 * Every mutation is a command proposed to Raft and applied on commit
 * through the state store's single cn_state_apply(). -dev runs the same
 * path with an in-memory log and no network. Reads run per consistency
 * mode (consul-compat.md section 4):
 *   default     the leader answers from its state; a follower forwards
 *   consistent  the leader first confirms leadership (ReadIndex, batched)
 *   stale       any server answers from its own state
 * and block on the server until the result's index passes the caller's
 * (section 3), woken by state watches. Without a leader, calls are held
 * (up to CN_SERVER_HOLD_MS) and retried when one appears, then fail with
 * 500 "No cluster leader", as Consul's rpc_hold_timeout does.
 *
 * Runs on the agent's libuv loop thread; nothing here is thread-safe.
 */
#ifndef CN_SERVER_H
#define CN_SERVER_H

#include <uv.h>

#include "rpc/rpc.h"
#include "state/state.h"

/* Consul's rpc_hold_timeout: how long a call waits for a leader. */
#define CN_SERVER_HOLD_MS 7000

struct cn_server;

struct cn_server_config {
    const char *node_name;
    const char *datacenter;
    const char *node_id;         /* UUID; the Raft id derives from it. */
    bool dev;                    /* In-memory single server, own leader. */
    const char *data_dir;        /* Non-dev: WAL, snapshots, node id. */
    const char *bind_addr;       /* Server port listener. */
    int port;                    /* 0: ephemeral (tests). */
    const char *advertise_addr;  /* "" = bind_addr. */
    unsigned bootstrap_expect;   /* 0: join only (or -bootstrap=1 when 1). */
    const char *const *retry_join;  /* Server addresses "ip:port". */
    size_t n_retry_join;
    uint64_t retry_interval_ms;
    uint32_t raft_tick_ms;       /* 0: 50. */
    uint64_t snapshot_threshold; /* 0: 16384 entries. */
    uint64_t snapshot_interval_ms;
    uint64_t trailing_logs;
    /* Server RPC addresses of datacenter dc (WAN pool), for ?dc=
     * forwarding: up to max "ip:port" into out, returns the count. NULL:
     * only our own datacenter is reachable. */
    size_t (*dc_servers)(void *ctx, const char *dc, char (*out)[64], size_t max);
    /* Server RPC addresses and ids of our own datacenter known from the
     * LAN pool (bootstrap and joins by gossip). Same contract. */
    size_t (*lan_servers)(void *ctx, char (*out)[64], size_t max);
    /* Datacenters known from the WAN pool, ours first. NULL: only ours. */
    size_t (*datacenters)(void *ctx, char (*out)[64], size_t max);
    void *pool_ctx;
    /* A server failed in the LAN pool this long leaves the Raft
     * configuration (never below 3 voters); 0: 5 minutes. */
    uint64_t dead_server_grace_ms;
};

/* LAN pool members, as the agent's gossip layer reports them. The leader
 * turns them into catalog nodes with a serfHealth check and keeps the Raft
 * configuration in step with the servers among them (members.c). */
enum cn_member_status {
    CN_MEMBER_ALIVE = 1,
    CN_MEMBER_LEAVING,
    CN_MEMBER_LEFT,
    CN_MEMBER_FAILED,
    CN_MEMBER_REAPED,     /* Forgotten by gossip. */
};

struct cn_server_member {
    const char *name;
    const char *addr;     /* Gossip address (IP text). */
    const char *id;       /* Tag "id": the node UUID. */
    const char *role;     /* "consul" for servers, "node" for clients. */
    const char *dc;
    int port;             /* Servers: tag "port" (server RPC), else 0. */
    enum cn_member_status status;
};

struct cn_server_stats {
    uint64_t applies, apply_errors, reads, parked_now, parked_total;
    uint64_t forwarded, held, hold_timeouts, inbound_calls;
};

int cn_server_new(struct cn_server **out, uv_loop_t *loop,
                  const struct cn_server_config *cfg, char *errmsg);
/* Cancels parked and held calls (done runs with CN_ECLOSED), stops Raft
 * and the transport; cb runs when everything is freed. */
void cn_server_close(struct cn_server *s, void (*cb)(void *), void *arg);
/* Graceful leave: transfer leadership away if we lead, then ask the
 * leader to remove us from the configuration. cb(arg, rc) when done. */
void cn_server_leave(struct cn_server *s, void (*cb)(void *, int), void *arg);
/* Leadership transfer only (SIGTERM on a leader: fast failover). */
void cn_server_step_down(struct cn_server *s, void (*cb)(void *, int), void *arg);

/* Starts a call; call->done runs exactly once (maybe before this returns)
 * with call->rc and, on success, call->reply and call->meta set. */
void cn_server_call(struct cn_server *s, struct cn_rpc_call *call);
/* Drops an in-flight call without running done (the caller is gone). */
void cn_server_cancel(struct cn_server *s, struct cn_rpc_call *call);

void cn_server_member_update(struct cn_server *s, const struct cn_server_member *m);

bool cn_server_is_leader(const struct cn_server *s);
/* "ip:port" of the current leader, "" if none. */
const char *cn_server_leader(const struct cn_server *s);
const char *cn_server_rpc_addr(const struct cn_server *s);
int cn_server_port(const struct cn_server *s);
const struct cn_state *cn_server_state(const struct cn_server *s);
void cn_server_get_stats(const struct cn_server *s, struct cn_server_stats *out);

#endif
