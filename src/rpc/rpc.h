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

#include <uv.h>

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
    CN_RPC_SERVER_INFO,         /* -> server info map (join, bootstrap, health) */
    CN_RPC_RAFT_JOIN,           /* {ID, Addr, Name}: add me (as a learner) */
    CN_RPC_RAFT_CONFIG,         /* -> {Servers: [...], Index} */
    CN_RPC_RAFT_REMOVE,         /* {ID | Addr}: remove a server */
    CN_RPC_SNAPSHOT_SAVE,       /* -> snapshot image bytes */
    CN_RPC_SNAPSHOT_RESTORE,    /* image bytes -> restored */
    /* Catalog, health, sessions (server/catalog.c, server/session.c).
     * Writes take a state command (the leader stamps now_ms) and answer
     * the state's reply (true, or an error string). Reads take
     * cn_rpc_cat_args and answer meta + MessagePack in Consul's shapes. */
    CN_RPC_CATALOG_REGISTER,    /* CN_CMD_REGISTER -> true | str */
    CN_RPC_CATALOG_DEREGISTER,  /* CN_CMD_DEREGISTER -> true | str */
    CN_RPC_CATALOG_NODES,       /* {NodeMeta} -> [node...] */
    CN_RPC_CATALOG_SERVICES,    /* {NodeMeta} -> {name: [tags]} */
    CN_RPC_CATALOG_SERVICE,     /* {Name, Tags, NodeMeta} -> [service-node...] */
    CN_RPC_CATALOG_NODE,        /* {Name} -> {Node, Services: [svc...]} | nil */
    CN_RPC_HEALTH_NODE,         /* {Name} -> [check...] */
    CN_RPC_HEALTH_CHECKS,       /* {Name} -> [check...] */
    CN_RPC_HEALTH_SERVICE,      /* {Name, Tags, Passing, NodeMeta} ->
                                 * [{Node, Service, Checks}...] */
    CN_RPC_HEALTH_STATE,        /* {Name: state} -> [check...] */
    CN_RPC_SESSION_CREATE,      /* CN_CMD_SESSION_CREATE -> true | str */
    CN_RPC_SESSION_DESTROY,     /* CN_CMD_SESSION_DESTROY -> true | str */
    CN_RPC_SESSION_RENEW,       /* {Name: id} -> [session] (leader only);
                                 * CN_ENOTFOUND if unknown */
    CN_RPC_SESSION_INFO,        /* {Name: id} -> [session] or [] */
    CN_RPC_SESSION_LIST,        /* {} -> [session...] */
    CN_RPC_SESSION_NODE,        /* {Name: node} -> [session...] */
    CN_RPC_CATALOG_DATACENTERS, /* {} -> [str...]: ours first, then by name */
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
    /* Non-zero: the caller holds the answer of this index already (a
     * response cache); a read whose result index equals it may reply
     * CN_ENOTMODIFIED, with meta but no body, instead of encoding it. */
    uint64_t if_index;
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
    /* Set on a call a server forwarded to the server it took for the
     * leader: that one answers or fails, never forwards again (no loops
     * between servers that disagree on the leader). Travels on the wire. */
    bool forwarded;
    /* Target datacenter ("" = the caller's own): ?dc= travels with the
     * call, and the first server outside it forwards over the WAN. */
    char dc[64];
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

/* Arguments of the catalog/health/session reads (rpc/cat_args.c):
 * [Name str, [Tags str...], [NodeMeta k, v, ...], Passing bool, Q opts].
 * Decoding copies every string NUL-terminated into one block (free with
 * cn_rpc_cat_args_free); lengths are bounded by CN_CATALOG_STR_BYTES_MAX,
 * counts by CN_RPC_CAT_TAGS_MAX / CN_RPC_CAT_META_MAX. */
#define CN_RPC_CAT_TAGS_MAX 64
#define CN_RPC_CAT_META_MAX 64
struct cn_rpc_cat_args {
    const char *name;                   /* "" if not given. */
    const char *tags[CN_RPC_CAT_TAGS_MAX];
    uint32_t n_tags;
    const char *meta[2 * CN_RPC_CAT_META_MAX]; /* key, value, key, ... */
    uint32_t n_meta;                    /* Pairs. */
    bool passing;
    struct cn_query_opts q;
    char *block;                        /* Owns the strings. */
};
int cn_rpc_cat_args_encode(struct cn_buf *out, const char *name,
                           const char *const *tags, size_t n_tags,
                           const char *const *meta_kv, size_t n_meta,
                           bool passing, const struct cn_query_opts *o);
/* 0, CN_EMALFORMED, CN_ETOOBIG or -ENOMEM; on error nothing to free. */
int cn_rpc_cat_args_decode(const uint8_t *p, size_t len,
                           struct cn_rpc_cat_args *out);
void cn_rpc_cat_args_free(struct cn_rpc_cat_args *a);


/* ------------------------------------------------------------------ */
/* Transport: frames over TCP on the server port (:8300).               */
/*                                                                      */
/* Frame = [u32 length, big-endian][u8 tag][payload], length counting   */
/* tag + payload, at most CN_FRAME_BYTES_MAX; a longer declared length  */
/* closes the connection before anything is allocated, and buffers grow */
/* only as bytes arrive. One outbound connection per peer address,      */
/* opened lazily, reconnected with backoff; frames queue per connection */
/* (bounded) and leave in order, so AppendEntries pipeline naturally.   */
/*                                                                      */
/* Tags: RAFT = an opaque Raft message; RPC_REQ = [u64 id][u8 method]   */
/* [u8 flags: 1 = forwarded][u8 dc_len][dc][args]; RPC_RESP = [u64 id][i32 rc][meta: u64 index, u64 last        */
/* contact ms, u8 known leader, u8 consistency][u16 errmsg len][errmsg] */
/* [reply]. Responses may come in any order (multiplexed).              */

enum cn_frame_tag {
    CN_FRAME_RAFT = 1,
    CN_FRAME_RPC_REQ = 2,
    CN_FRAME_RPC_RESP = 3,
};

/* A maximal RPC reply (a huge recursive read) plus framing. */
#define CN_FRAME_BYTES_MAX (CN_RPC_REPLY_BYTES_MAX + 4096)
/* Bytes queued on one outbound connection before sends are refused. */
#define CN_TRANSPORT_QUEUE_BYTES_MAX (64u << 20)

struct cn_transport;

struct cn_transport_handlers {
    /* An inbound Raft message (payload borrowed for the call). */
    void (*on_raft)(void *ctx, const uint8_t *msg, size_t len);
    /* An inbound RPC request; answer with cn_transport_reply(conn_id, id,
     * ...) now or later. args borrowed for the call. */
    void (*on_rpc)(void *ctx, uint64_t conn_id, uint64_t id,
                   enum cn_rpc_method method, bool forwarded, const char *dc,
                   const uint8_t *args, size_t len);
    /* An inbound connection closed: requests from it can be cancelled. */
    void (*on_conn_closed)(void *ctx, uint64_t conn_id);
    void *ctx;
};

struct cn_transport_stats {
    uint64_t frames_in, frames_out, bytes_in, bytes_out;
    uint64_t bad_frames, dropped_sends, connects, connect_failures;
};

int cn_transport_start(struct cn_transport **out, uv_loop_t *loop,
                       const char *bind_addr, int port,
                       const struct cn_transport_handlers *h, char *errmsg);
int cn_transport_port(const struct cn_transport *t);
void cn_transport_stats(const struct cn_transport *t, struct cn_transport_stats *out);
/* Fails pending calls with CN_ECLOSED, closes everything; cb when freed. */
void cn_transport_stop(struct cn_transport *t, void (*cb)(void *), void *arg);

/* Queues a Raft message to "ip:port". 0, or -ENOBUFS when the peer's
 * queue is full (the message is dropped and counted; Raft retries). */
int cn_transport_send_raft(struct cn_transport *t, const char *peer,
                           const uint8_t *msg, size_t len);

/* Sends call to "ip:port"; call->done runs once with the reply, or with
 * rc < 0 on connection loss or after timeout_ms (0 = none). */
void cn_transport_call(struct cn_transport *t, const char *peer,
                       struct cn_rpc_call *call, uint64_t timeout_ms);
/* Forgets an in-flight call; its done never runs. */
void cn_transport_call_cancel(struct cn_transport *t, struct cn_rpc_call *call);

/* Answers an inbound request; dropped if the connection is gone. */
void cn_transport_reply(struct cn_transport *t, uint64_t conn_id, uint64_t id,
                        const struct cn_rpc_call *result);

#endif
