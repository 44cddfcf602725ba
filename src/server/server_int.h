/* server/server_int.h - shared by the .c files of src/server only. */
#ifndef CN_SERVER_INT_H
#define CN_SERVER_INT_H

#include "raft/node.h"
#include "server.h"

/* What a call in flight is waiting for: call->callee_priv points to one
 * of these (each struct starts with its kind), so cancel knows what to
 * undo. */
enum op_kind {
    OP_BQ = 1,        /* Parked blocking query (blocking.c). */
    OP_PROPOSE,       /* Waiting for its Raft entry to commit. */
    OP_READINDEX,     /* Waiting for a ReadIndex round (consistent). */
    OP_FORWARD,       /* Sent to the leader, waiting for the reply. */
    OP_HOLD,          /* No leader yet: retried when one appears. */
    OP_READ_DONE,     /* Marker: the ReadIndex barrier passed; run here. */
};

struct cn__op {
    enum op_kind kind;
    struct cn_server *srv;
    struct cn_rpc_call *call;       /* NULL once detached. */
    struct cn__op *next, *prev;     /* Server's list of its kind. */
};

typedef void cn_bq_run_fn(struct cn_server *s, struct cn_rpc_call *call,
                          bool timed_out);
typedef int cn_bq_arm_fn(struct cn_server *s, struct cn_watch *w, void *arg);

struct cn_bq {
    struct cn__op op;
    cn_bq_run_fn *run;
    struct cn_watch watch;
    uv_timer_t timer;
};

struct op_wait {                    /* OP_PROPOSE, OP_READINDEX */
    struct cn__op op;
    uint64_t cookie;
    cn_bq_run_fn *then;             /* READINDEX: the read to run. */
};

struct op_forward {                 /* OP_FORWARD */
    struct cn__op op;
    struct cn_rpc_call fwd;         /* The copy on the wire. */
    uint64_t deadline_ms;
};

struct op_hold {                    /* OP_HOLD */
    struct cn__op op;
    uint64_t deadline_ms;
};

/* An RPC that arrived from another server or agent over the transport. */
struct inbound {
    struct cn_rpc_call call;
    struct cn_server *srv;
    uint64_t conn_id, id;
    struct inbound *next, *prev;
};

/* Snapshot restore staged across Raft entries (fsm.c). */
struct restore_stage {
    struct cn_buf buf;
    uint64_t total;
    uint32_t crc;
    bool active;
};

/* catalog.c: the last big read replies, by (method, arguments without
 * query options) and result index. A herd of blocking queries woken by
 * one change, or many agents polling the same list, then costs one
 * encoding and a copy per caller. */
#define CN__MEMO_SLOTS 8
#define CN__MEMO_BYTES_MAX (32 << 20)
#define CN__MEMO_REPLY_MIN (16 << 10)
struct cn__memo {
    uint8_t *key;                   /* NULL: empty slot. */
    size_t key_len;
    uint64_t index, used;           /* used: LRU clock. */
    struct cn_buf reply;
};

struct cn_server {
    uv_loop_t *loop;
    struct cn_server_config cfg;
    char node_name[128], datacenter[64], node_id[CN_UUID_STR_BYTES];
    char data_dir[CN_PATH_BYTES_MAX];
    char rpc_addr[96];              /* Advertised "ip:port". */
    char bind_addr[64];
    uint64_t raft_id;
    struct cn_state *state;
    struct cn_raft_node *raft;
    struct cn_transport *transport; /* NULL in -dev. */
    struct cn_prng prng;
    struct cn__op *parked;          /* OP_BQ */
    struct cn__op *held;            /* OP_HOLD */
    struct inbound *inbound;
    uv_timer_t hold_timer;
    uv_timer_t cluster_timer;       /* Bootstrap, join, promotion. */
    struct cn_server_stats stats;
    struct restore_stage restore;
    char **retry_join;
    size_t n_retry_join;
    struct cluster_state *cluster;  /* cluster.c */
    struct member_table *members;   /* members.c */
    uint64_t last_reconcile_ms;
    /* The term in which a ReadIndex barrier last passed on this leader:
     * default-mode reads are served locally only from then on. */
    uint64_t reads_ready_term;
    struct cn__leader *leader;      /* leader.c: duties while leading. */
    struct cn__memo memo[CN__MEMO_SLOTS];
    uint64_t memo_clock;
    bool closing;
    int open_handles;
    void (*close_cb)(void *);
    void *close_arg;
};

/* server.c */
void cn__server_reply(struct cn_server *s, struct cn_rpc_call *call, int rc,
                      const char *errmsg);
void cn__server_meta(struct cn_server *s, struct cn_rpc_call *call,
                     uint64_t index, enum cn_consistency c);
/* The index a reply's meta carries: never 0 (consul-compat.md 2.2). */
static inline uint64_t cn__meta_index(uint64_t index) { return index ? index : 1; }
void cn__server_handle_closed(uv_handle_t *h);
void cn__server_maybe_closed(struct cn_server *s);
void cn__op_link(struct cn__op **list, struct cn__op *op);
void cn__op_unlink(struct cn__op **list, struct cn__op *op);

/* route.c: where a call runs. These return true when they took the call
 * (forwarded, held, or waiting for Raft): the caller must return. */
bool cn__route_read(struct cn_server *s, struct cn_rpc_call *call,
                    enum cn_consistency c, cn_bq_run_fn *run);
/* Proposes cmd (leader), or forwards/holds the call (followers). The
 * reply comes from the state machine; done runs at commit. */
void cn__route_write(struct cn_server *s, struct cn_rpc_call *call,
                     const uint8_t *cmd, size_t len);
void cn__route_cancel(struct cn_server *s, struct cn__op *op);
void cn__route_leader_changed(struct cn_server *s);
void cn__route_fail_all(struct cn_server *s);
/* ?dc= names another datacenter: forward to one of its servers. */
void cn__route_remote_dc(struct cn_server *s, struct cn_rpc_call *call);
extern struct cn__op cn__read_done_marker;

/* catalog.c */
void cn__memo_free(struct cn_server *s);

/* members.c: a server is being removed from the Raft configuration (leave
 * or remove-peer); reconcile does not add it back while its gossip status
 * stays what it was (up to a reconcile period). */
void cn__members_removed(struct cn_server *s, uint64_t id);

/* blocking.c */
bool cn__bq_park_if_needed(struct cn_server *s, struct cn_rpc_call *call,
                           const struct cn_query_opts *q, uint64_t result_index,
                           bool timed_out, cn_bq_run_fn *run,
                           cn_bq_arm_fn *arm, void *arm_arg);
void cn__bq_cancel(struct cn_server *s, struct cn_bq *bq);
void cn__bq_cancel_all(struct cn_server *s);

/* kvs.c */
void cn__kvs_apply(struct cn_server *s, struct cn_rpc_call *call);
void cn__kvs_read(struct cn_server *s, struct cn_rpc_call *call, bool timed_out);
void cn__txn(struct cn_server *s, struct cn_rpc_call *call);
void cn__txn_read(struct cn_server *s, struct cn_rpc_call *call, bool timed_out);

/* catalog.c: Catalog and Health endpoints. */
int cn__stamp_now(const uint8_t *cmd, size_t len, uint64_t now_ms, struct cn_buf *out);
void cn__write_cmd(struct cn_server *s, struct cn_rpc_call *call, uint8_t type, bool stamp);
void cn__catalog_read(struct cn_server *s, struct cn_rpc_call *call, bool timed_out);
void cn__reply_array_begin(struct cn_rpc_call *call, struct cn_mp_writer *w);
int cn__reply_array_end(struct cn_rpc_call *call, struct cn_mp_writer *w, uint32_t count);
bool cn__node_meta_match(const struct cn_node *n, const struct cn_rpc_cat_args *a);

/* session.c: Session endpoints. */
void cn__session_read(struct cn_server *s, struct cn_rpc_call *call, bool timed_out);
void cn__session_renew(struct cn_server *s, struct cn_rpc_call *call, bool timed_out);

/* ttl.c: the leader's session deadlines (pure; unit-tested). */
struct cn__ttl_table {
    struct cn_map by_id;
    struct cn_rbtree by_deadline;
    uint64_t gen;
};
void cn__ttl_init(struct cn__ttl_table *t);
void cn__ttl_close(struct cn__ttl_table *t);
/* Inserts or moves id's deadline (and marks it). 0, -EINVAL, -ENOMEM. */
int cn__ttl_set(struct cn__ttl_table *t, const char *id, uint64_t deadline_ms);
bool cn__ttl_remove(struct cn__ttl_table *t, const char *id);
bool cn__ttl_has(const struct cn__ttl_table *t, const char *id);
/* Earliest deadline, 0 if empty. */
uint64_t cn__ttl_next(const struct cn__ttl_table *t);
/* Removes and returns the earliest entry due at now_ms; false if none. */
bool cn__ttl_pop_expired(struct cn__ttl_table *t, uint64_t now_ms,
                         char id_out[CN_SESSION_ID_BYTES + 1]);
size_t cn__ttl_count(const struct cn__ttl_table *t);
/* Mark and sweep: begin, mark every live ID, sweep drops the others. */
void cn__ttl_begin_mark(struct cn__ttl_table *t);
void cn__ttl_mark(struct cn__ttl_table *t, const char *id);
size_t cn__ttl_sweep(struct cn__ttl_table *t);
/* A session's TTL string in ms; CN_ENOTFOUND for none/zero. */
int cn__ttl_ms(const char *ttl, uint64_t *out_ms);
/* Consul's SessionTTLMultiplier. */
#define CN_SESSION_TTL_MULTIPLIER 2

/* leader.c: leader duties (session TTLs, tombstone reaping). */
int cn__leader_init(struct cn_server *s);
void cn__leader_close(struct cn_server *s);
void cn__leader_changed(struct cn_server *s);
/* A renewed session's deadline starts over; CN_ENOTFOUND-free. */
void cn__leader_session_renewed(struct cn_server *s, const struct cn_session *sess);

/* fsm.c: the state machine Raft drives, and snapshot save/restore. */
extern const struct cn_raft_fsm cn__server_fsm_ops;
void cn__snapshot_save(struct cn_server *s, struct cn_rpc_call *call, bool timed_out);
void cn__snapshot_restore(struct cn_server *s, struct cn_rpc_call *call);

/* cluster.c: bootstrap-expect, retry-join, learner promotion, leave,
 * operator raft endpoints, server info. */
int cn__cluster_start(struct cn_server *s, char *errmsg);
void cn__cluster_stop(struct cn_server *s);
void cn__cluster_info(struct cn_server *s, struct cn_rpc_call *call);
void cn__cluster_join(struct cn_server *s, struct cn_rpc_call *call);
void cn__cluster_config(struct cn_server *s, struct cn_rpc_call *call, bool timed_out);
void cn__cluster_remove(struct cn_server *s, struct cn_rpc_call *call);
void cn__cluster_changed(struct cn_server *s);
/* members.c */
void cn__members_tick(struct cn_server *s);
void cn__members_reconcile_all(struct cn_server *s);
void cn__members_free(struct cn_server *s);

void cn__member_format(char *out, size_t n, const char *rpc_addr, const char *name);
/* "ip:port" part of a member address "ip:port/name". */
size_t cn__member_rpc_addr(const char *member_addr, char *out, size_t out_size);
const char *cn__member_name(const char *member_addr);

#endif
