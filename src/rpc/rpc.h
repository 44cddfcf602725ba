/* rpc/rpc.h - the request/response seam between agents and servers.
 *
 * Every HTTP handler talks to the cluster through a cn_rpc_call: a method
 * id, MessagePack arguments and, on completion, a MessagePack reply. In
 * -dev mode (and on a server for its own requests) the call is dispatched
 * in-process to the local server; the replicated-server issue carries the
 * same calls over TCP :8300 in length-prefixed, multiplexed frames, and
 * client agents forward them to servers. Handlers never know which.
 *
 * Read calls carry query options (blocking index/wait, consistency) and
 * their replies carry query meta (index, known leader, last contact), so
 * blocking happens on the server that owns the data, as in Consul.
 */
#ifndef CN_RPC_H
#define CN_RPC_H

#include "base/base.h"

enum cn_rpc_method {
    CN_RPC_STATUS_LEADER = 1,   /* -> str "ip:port" or "" */
    CN_RPC_STATUS_PEERS,        /* -> [str...] */
    CN_RPC_KVS_APPLY,           /* state command bytes -> state reply */
    CN_RPC_KVS_GET,             /* {Key, Q} -> meta + [entry] (empty if none) */
    CN_RPC_KVS_LIST,            /* {Key(prefix), Q} -> meta + [entry...] */
    CN_RPC_KVS_KEYS,            /* {Key(prefix), Sep, Q} -> meta + [str...] */
    CN_RPC_TXN,                 /* {Cmd: state txn command, Q} -> txn reply */
    CN_RPC_TXN_READ,            /* same, read-only verbs: no Raft, honours Q */
    CN_RPC_METHOD_MAX,
};

enum cn_consistency {
    CN_CONSISTENCY_DEFAULT = 0, /* Leader answers from its state. */
    CN_CONSISTENCY_STALE,       /* Any server answers. */
    CN_CONSISTENCY_CONSISTENT,  /* Leader confirms leadership first. */
};

/* Query options every read call carries. */
struct cn_query_opts {
    uint64_t min_index;         /* 0: answer now. */
    uint64_t wait_ms;           /* Blocking wait incl. jitter; 0 = default. */
    uint64_t max_stale_ms;      /* 0: unbounded when stale. */
    enum cn_consistency consistency;
};

/* Query meta every read reply carries (headers X-Consul-*). */
struct cn_query_meta {
    uint64_t index;             /* Never 0 on the wire (consul-compat 2.2). */
    uint64_t last_contact_ms;
    bool known_leader;
    enum cn_consistency consistency;
};

struct cn_rpc_call;
/* Runs exactly once per call that was accepted, possibly before
 * cn_rpc_call_start() returns; the callee never touches the call after. */
typedef void cn_rpc_done_fn(struct cn_rpc_call *call);

struct cn_rpc_call {
    /* Request (caller). */
    enum cn_rpc_method method;
    struct cn_buf args;         /* MessagePack; cn_rpc_call_init sizes it. */
    cn_rpc_done_fn *done;
    void *ctx;
    /* Reply (callee). rc 0: reply holds the method's result. */
    int rc;
    char errmsg[CN_ERRMSG_MAX];
    struct cn_buf reply;
    struct cn_query_meta meta;
    /* Callee's private state while the call is in flight. */
    void *callee_priv;
};

/* Limits on a call's two buffers: a maximal txn or KV value plus framing
 * for args; a large recursive read for the reply. */
#define CN_RPC_ARGS_BYTES_MAX (CN_HTTP_BODY_BYTES_MAX + 4096)
#define CN_RPC_REPLY_BYTES_MAX CN_HTTP_RESP_BYTES_MAX

void cn_rpc_call_init(struct cn_rpc_call *call, enum cn_rpc_method method);
void cn_rpc_call_close(struct cn_rpc_call *call);

/* Query options as a map appended inside an args map: the caller has
 * written the key "Q"; this writes the value. */
void cn_rpc_opts_encode(struct cn_mp_writer *w, const struct cn_query_opts *o);
int cn_rpc_opts_decode(struct cn_mp_reader *r, struct cn_query_opts *o);

/* Arguments of the KVS read methods: {"Key": bin, "Sep": str, "Q": opts}. */
int cn_rpc_kvs_args_encode(struct cn_buf *out, const uint8_t *key,
                           size_t key_len, const char *sep, size_t sep_len,
                           const struct cn_query_opts *o);
struct cn_rpc_kvs_args {
    const uint8_t *key;         /* Borrowed from the args buffer. */
    uint32_t key_len;
    const uint8_t *sep;
    uint32_t sep_len;
    struct cn_query_opts q;
};
int cn_rpc_kvs_args_decode(const uint8_t *p, size_t len,
                           struct cn_rpc_kvs_args *out);

/* Arguments of CN_RPC_TXN: {"Cmd": bin (state txn command), "Q": opts}. */
int cn_rpc_txn_args_encode(struct cn_buf *out, const uint8_t *cmd,
                           size_t cmd_len, const struct cn_query_opts *o);
int cn_rpc_txn_args_decode(const uint8_t *p, size_t len, const uint8_t **cmd,
                           uint32_t *cmd_len, struct cn_query_opts *o);

#endif
