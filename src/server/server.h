/* server/server.h - a cairn server: the state store behind Raft, and the
 * RPC endpoints (KVS, Txn, Status, ...) that agents call.
 *
 * The server owns the state store. Writes become commands applied through
 * cn_state_apply() at the next log index (-dev: at once, in memory; the
 * replicated-server issue puts Raft in front without changing callers).
 * Reads run against the local store per the call's consistency mode, and
 * block on the server until the result's index passes the caller's
 * (consul-compat.md section 3), woken by state watches.
 *
 * Runs on the agent's libuv loop thread; nothing here is thread-safe.
 */
#ifndef CN_SERVER_H
#define CN_SERVER_H

#include <uv.h>

#include "rpc/rpc.h"
#include "state/state.h"

struct cn_server;

struct cn_server_config {
    const char *node_name;
    const char *datacenter;
    const char *rpc_addr;        /* Advertised "ip:port" (Raft/RPC). */
    bool dev;                    /* In-memory single server, own leader. */
};

struct cn_server_stats {
    uint64_t applies, apply_errors, reads, parked_now, parked_total;
};

int cn_server_new(struct cn_server **out, uv_loop_t *loop,
                  const struct cn_server_config *cfg, char *errmsg);
/* Cancels parked calls (their done runs with CN_ECLOSED), closes handles,
 * frees; cb runs when done. */
void cn_server_close(struct cn_server *s, void (*cb)(void *), void *arg);

/* Starts a call; call->done runs exactly once (maybe before this returns)
 * with call->rc and, on success, call->reply and call->meta set. */
void cn_server_call(struct cn_server *s, struct cn_rpc_call *call);
/* Drops an in-flight call without running done (the caller is gone). */
void cn_server_cancel(struct cn_server *s, struct cn_rpc_call *call);

bool cn_server_is_leader(const struct cn_server *s);
/* "ip:port" of the current leader, "" if none. */
const char *cn_server_leader(const struct cn_server *s);
const struct cn_state *cn_server_state(const struct cn_server *s);
void cn_server_get_stats(const struct cn_server *s, struct cn_server_stats *out);

#endif
