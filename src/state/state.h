/* state/state.h - the replicated state machine: KV, catalog (nodes,
 * services, checks), sessions and their locks (ACLs join it later).
 *
 * Pure: no clock, no I/O, no libuv. Every mutation arrives as an encoded
 * command through cn_state_apply(), in log order, with the Raft index that
 * committed it; the same command sequence gives byte-identical state on
 * every server (output never depends on hash order or pointer values).
 * Reads are direct calls on the loop thread.
 *
 * Commands and replies are MessagePack (base.h cn_mp_*): one type byte,
 * then a body. The encoders below are the only producers; cn_state_apply
 * validates everything it reads (a command may come from a peer's log) and
 * answers a malformed one with CN_EMALFORMED without changing anything.
 *
 * Indexes: every row carries CreateIndex/ModifyIndex = the index of the
 * command that wrote it; the store keeps the last applied index, a max
 * index per table, and KV delete tombstones so that a prefix's index never
 * goes backwards when keys under it are deleted (consul-compat.md 3.1).
 */
#ifndef CN_STATE_H
#define CN_STATE_H

#include "base/base.h"

struct cn_state;

/* ---- commands ---- */

enum cn_state_cmd_type {
    CN_CMD_KV = 1,        /* One KV operation (struct cn_kv_op). */
    CN_CMD_TXN = 2,       /* An all-or-nothing list of KV (and catalog) ops. */
    CN_CMD_TOMBSTONE_REAP = 3, /* Drop KV tombstones with index <= N. */
    CN_CMD_REGISTER = 4,  /* Catalog register (struct cn_register). */
    CN_CMD_DEREGISTER = 5, /* Catalog deregister (struct cn_deregister). */
    CN_CMD_SESSION_CREATE = 6,
    CN_CMD_SESSION_DESTROY = 7,
};

enum cn_kv_verb {
    CN_KV_SET = 1,        /* Keeps a lock holder; LockIndex becomes 0 and an
                           * unchanged row keeps its ModifyIndex (kvs.go). */
    CN_KV_CAS,            /* Write if ModifyIndex == index (0: must not exist). */
    CN_KV_LOCK,           /* Acquire with session (consul-compat 5.1). The
                           * leader checks cn_state_kv_lock_delay first. */
    CN_KV_UNLOCK,         /* Release with session (no lock delay). */
    CN_KV_GET,            /* Txn only: fails the txn if missing. */
    CN_KV_GET_OR_EMPTY,   /* Txn only: if missing, the result is the op's
                           * own entry (Key, Flags, ModifyIndex = index),
                           * Value nil: Consul's txn.go does that. */
    CN_KV_GET_TREE,       /* Txn only. */
    CN_KV_CHECK_INDEX,    /* Txn only. */
    CN_KV_CHECK_SESSION,  /* Txn only. */
    CN_KV_CHECK_NOT_EXISTS, /* Txn only. */
    CN_KV_DELETE,
    CN_KV_DELETE_TREE,
    CN_KV_DELETE_CAS,     /* Delete if ModifyIndex == index (0 never deletes;
                           * a missing key is true, as in Consul). */
};

/* Borrowed views; nothing here is retained by the encoders. */
struct cn_kv_op {
    enum cn_kv_verb verb;
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;   /* NULL with value_len 0 = empty value. */
    size_t value_len;
    uint64_t flags;
    uint64_t index;         /* CAS/check index. */
    const char *session;    /* NUL-terminated, or NULL. */
};

/* Encode a command into out (appended; on error out is left as it was).
 * 0, -EMSGSIZE, -ENOMEM or CN_EMALFORMED if an op is impossible (unknown
 * verb, txn-only verb outside a txn, more than CN_TXN_OPS_MAX ops, key over
 * CN_KV_KEY_BYTES_MAX, value over CN_KV_VALUE_BYTES_MAX, session longer
 * than CN_SESSION_ID_BYTES, an empty key for set/cas/lock/unlock). */
int cn_state_cmd_kv(struct cn_buf *out, const struct cn_kv_op *op);
int cn_state_cmd_txn(struct cn_buf *out, const struct cn_kv_op *ops,
                     size_t n_ops);
int cn_state_cmd_tombstone_reap(struct cn_buf *out, uint64_t up_to_index);
/* True if a txn command only reads (no Raft needed; see consul-compat 5.2). */
bool cn_state_txn_is_read_only(const struct cn_kv_op *ops, size_t n_ops);

/* ---- life cycle ---- */

struct cn_state_config {
    struct cn_logger log;
    uint64_t bytes_max;     /* Cap on stored key+value bytes; 0 = none. */
};

int cn_state_new(struct cn_state **out, const struct cn_state_config *cfg);
void cn_state_free(struct cn_state *st);  /* NULL is a no-op; watches are
                                           * dropped without firing. */

/* Applies one committed command at `index` (> last applied, asserted).
 * The reply (may be NULL when nobody waits, e.g. on followers) receives a
 * MessagePack result for the proposer, appended:
 *   CN_CMD_KV:  bool (true = applied; false = CAS/lock refused), or a str:
 *               an error Consul returns from its FSM as an RPC error (HTTP
 *               500), e.g. `invalid session "x"` or `missing session`.
 *   CN_CMD_TXN: map {"Results": [entry...] | nil,
 *                    "Errors":  [{"OpIndex": uint, "What": str}...] | nil}
 *               entry = map {"KV": kv-entry | nil}; kv-entry as
 *               cn_state_kv_entry_encode below. Success: Results is an
 *               array (maybe empty), Errors nil. Rolled back: Results nil,
 *               Errors lists every failing op (Consul runs them all).
 *   CN_CMD_TOMBSTONE_REAP: nil
 * Returns
 *   0             applied (also a refused CAS or a rolled-back txn: those
 *                 are results);
 *   CN_EMALFORMED undecodable command: state untouched, index consumed;
 *   CN_ELIMIT     the write would take stored key+value bytes over
 *                 bytes_max: state untouched, index consumed, no reply;
 *   CN_ETOOBIG    applied, but the reply did not fit reply->max (or memory):
 *                 the reply is cut back to its original length (followers
 *                 pass no reply and must end in the same state);
 *   -ENOMEM       state untouched and the index NOT consumed: the caller
 *                 may retry the same index.
 * Watches fire after the change is complete, before this returns. A watch
 * callback must not call cn_state_apply/restore (asserted). */
int cn_state_apply(struct cn_state *st, uint64_t index, const uint8_t *cmd,
                   size_t cmd_len, struct cn_buf *reply);

/* A txn with only read verbs, evaluated without applying (no index used).
 * Same reply format as CN_CMD_TXN. */
int cn_state_txn_read(struct cn_state *st, const uint8_t *cmd, size_t cmd_len,
                      struct cn_buf *reply);

uint64_t cn_state_last_index(const struct cn_state *st);

/* ---- KV reads ---- */

struct cn_kv_entry {
    const uint8_t *key;     /* Borrowed until the next apply/restore. */
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    uint64_t flags;
    uint64_t create_index;
    uint64_t modify_index;
    uint64_t lock_index;
    const char *session;    /* NULL when unlocked. */
    /* Private: cn_state_kv_entry_decode copies Session here, since the
     * input's bytes are not NUL-terminated. */
    char session_buf[CN_SESSION_ID_BYTES + 1];
};

/* 0 or CN_ENOTFOUND (tombstones are not found). */
int cn_state_kv_get(const struct cn_state *st, const uint8_t *key,
                    size_t key_len, struct cn_kv_entry *out);

/* Calls fn for each live entry whose key starts with prefix, in byte
 * order. fn returns 0 to go on, anything else stops the walk and is
 * returned. fn must not mutate the store. */
typedef int cn_kv_visit_fn(void *ctx, const struct cn_kv_entry *e);
int cn_state_kv_list(const struct cn_state *st, const uint8_t *prefix,
                     size_t prefix_len, cn_kv_visit_fn *fn, void *ctx);

/* Blocking-query index of a key: its ModifyIndex, or the KV table index
 * if it does not exist (consul-compat.md 3.1). */
uint64_t cn_state_kv_key_index(const struct cn_state *st, const uint8_t *key,
                               size_t key_len);
/* Of a prefix: max ModifyIndex under it, tombstones included; the KV
 * table index if nothing is there. */
uint64_t cn_state_kv_prefix_index(const struct cn_state *st,
                                  const uint8_t *prefix, size_t prefix_len);
uint64_t cn_state_kv_table_index(const struct cn_state *st);
size_t cn_state_kv_count(const struct cn_state *st);

/* Encodes an entry as the map the txn reply uses: {"LockIndex","Key",
 * "Flags","Value" (bin, or nil when empty / with_value false),
 * "Session" (only when locked),"CreateIndex","ModifyIndex"}. */
void cn_state_kv_entry_encode(struct cn_mp_writer *w,
                              const struct cn_kv_entry *e, bool with_value);
/* Decodes one such map; views borrow from the reader's input (except
 * session, which points into out->session_buf). Unknown fields are
 * skipped. 0 or CN_EMALFORMED. */
int cn_state_kv_entry_decode(struct cn_mp_reader *r, struct cn_kv_entry *out);

/* Tables with a max index (blocking queries) and table watches. */
enum cn_state_table {
    CN_TABLE_KV = 1,
    CN_TABLE_NODES,
    CN_TABLE_SERVICES,
    CN_TABLE_CHECKS,
    CN_TABLE_SESSIONS,
};

/* ---- catalog, health, sessions (consul-compat.md 5.3-5.5, 7, 8) ----
 *
 * The same structs carry a command's input (to the cmd encoders) and a
 * read's output (views into the store, borrowed until the next
 * apply/restore; *_index fields are ignored on input). Strings are
 * NUL-terminated and never NULL in views ("" when empty); on input NULL
 * means "". Names (node, service name, service ID, check ID) compare
 * case-insensitively (ASCII), as Consul's indexes do; reads come back in
 * that order. */

struct cn_pair {                  /* A string map entry (Meta, ...). */
    const char *key;
    const char *value;
};

struct cn_svc_addr {              /* Service TaggedAddresses entry. */
    const char *name;             /* "lan", "wan", ... */
    const char *address;
    uint32_t port;
};

struct cn_node {
    const char *id;               /* UUID or "". */
    const char *name;
    const char *address;
    const char *datacenter;
    const struct cn_pair *tagged_addresses;
    uint32_t n_tagged_addresses;
    const struct cn_pair *meta;
    uint32_t n_meta;
    uint64_t create_index, modify_index;
};

struct cn_service {
    const char *node;             /* Views: the node's name as the register
                                   * spelled it (Consul keeps req.Node).
                                   * Input: ignored. */
    const char *id;               /* Input: "" = the name. */
    const char *name;
    const char *kind;             /* "" = a typical service. */
    const char *address;
    const char *const *tags;
    uint32_t n_tags;
    const struct cn_svc_addr *tagged_addresses;
    uint32_t n_tagged_addresses;
    const struct cn_pair *meta;
    uint32_t n_meta;
    uint32_t port;
    uint32_t weight_passing;      /* Input: 0 and 0 = Consul's {1, 1}. */
    uint32_t weight_warning;
    bool enable_tag_override;
    /* Opaque MessagePack maps kept for Proxy/Connect (NULL: none). */
    const uint8_t *proxy;
    size_t proxy_len;
    const uint8_t *connect;
    size_t connect_len;
    uint64_t create_index, modify_index;
};

enum cn_health {
    CN_HEALTH_PASSING = 1,
    CN_HEALTH_WARNING,
    CN_HEALTH_CRITICAL,
    CN_HEALTH_MAINTENANCE,        /* Derived only (aggregates); never stored. */
};

struct cn_check {
    const char *node;             /* Input: "" = the register's node. */
    const char *id;               /* Input: "" = the name. */
    const char *name;
    enum cn_health status;        /* Input: 0 = critical (Consul's default). */
    const char *notes;
    const char *output;
    const char *service_id;       /* "" = a node-level check. */
    const char *service_name;     /* Views: copied from the service when the
                                   * check was written. Input: ignored. */
    const char *const *service_tags;
    uint32_t n_service_tags;      /* Likewise. */
    const char *type;             /* "http", "ttl", ... or "". */
    const char *interval;         /* Go duration strings, or "". */
    const char *timeout;
    const uint8_t *definition;    /* Opaque MessagePack map, or NULL. */
    size_t definition_len;
    uint32_t exposed_port;
    uint64_t create_index, modify_index;
};

/* PUT /v1/catalog/register. service and checks may be absent. */
struct cn_register {
    struct cn_node node;
    bool skip_node_update;
    const struct cn_service *service;
    const struct cn_check *checks;
    uint32_t n_checks;
};

/* PUT /v1/catalog/deregister: service_id, else check_id, else the node. */
struct cn_deregister {
    const char *node;
    const char *service_id;
    const char *check_id;
};

enum cn_session_behavior {
    CN_SESSION_RELEASE = 1,
    CN_SESSION_DELETE,
};

struct cn_session {
    const char *id;               /* A UUID chosen by the proposer. */
    const char *name;
    const char *node;
    uint64_t lock_delay_ns;       /* Effect capped at 60 s on invalidation. */
    enum cn_session_behavior behavior;
    const char *ttl;              /* Go duration ("30s") or "" for none. */
    const char *const *node_checks;     /* Check IDs on the session's node. */
    uint32_t n_node_checks;
    const char *const *service_checks;  /* Likewise (ServiceChecks[].ID). */
    uint32_t n_service_checks;
    uint64_t create_index, modify_index;
};

/* Encoders. now_ms is the proposer's wall clock: the store records lock
 * delays as now_ms + LockDelay when a command invalidates sessions, and
 * prunes expired ones; it never reads a clock. Each encoder refuses with
 * CN_EMALFORMED what no apply could accept (limits of base/limits.h, NUL
 * bytes in strings, a non-UUID session ID, an unknown status/behavior);
 * semantic failures (unknown node, ...) are apply results. */
int cn_state_cmd_register(struct cn_buf *out, const struct cn_register *r,
                          uint64_t now_ms);
int cn_state_cmd_deregister(struct cn_buf *out, const struct cn_deregister *d,
                            uint64_t now_ms);
int cn_state_cmd_session_create(struct cn_buf *out, const struct cn_session *s);
int cn_state_cmd_session_destroy(struct cn_buf *out, const char *id,
                                 uint64_t now_ms);

/* Replies of CN_CMD_REGISTER/DEREGISTER/SESSION_CREATE/SESSION_DESTROY:
 * true, or a str with the error Consul returns (HTTP 500), e.g. "Missing
 * node registration", "Missing check 'x' registration". Deregistering or
 * destroying what does not exist is true. */

/* Txn ops for Node/Service/Check (consul-compat 5.2). */
enum cn_cat_verb {
    CN_CAT_SET = 1,
    CN_CAT_CAS,           /* Write if ModifyIndex == index (0: must not exist). */
    CN_CAT_GET,           /* Fails the txn if missing. */
    CN_CAT_DELETE,
    CN_CAT_DELETE_CAS,    /* Delete if ModifyIndex == index. */
};

enum cn_txn_op_kind {
    CN_TXN_KV = 0,
    CN_TXN_NODE,          /* node: get by id if set, else by name. */
    CN_TXN_SERVICE,       /* service on node.name (service.id). */
    CN_TXN_CHECK,         /* check (check.node, check.id). */
};

struct cn_txn_op {
    enum cn_txn_op_kind kind;
    struct cn_kv_op kv;           /* CN_TXN_KV. */
    enum cn_cat_verb verb;        /* The others. */
    uint64_t index;               /* CAS / delete-cas. */
    struct cn_node node;          /* CN_TXN_NODE; .name also for SERVICE. */
    struct cn_service service;    /* CN_TXN_SERVICE. */
    struct cn_check check;        /* CN_TXN_CHECK. */
};

/* A txn mixing KV and catalog ops. Reply as CN_CMD_TXN, result entries
 * being {"KV": ...} | {"Node": node} | {"Service": node-service} |
 * {"Check": check} (maps as the encoders below). cn_state_cmd_txn is this
 * with only KV ops and now_ms 0. */
int cn_state_cmd_txn_ops(struct cn_buf *out, const struct cn_txn_op *ops,
                         size_t n_ops, uint64_t now_ms);
bool cn_state_txn_ops_read_only(const struct cn_txn_op *ops, size_t n_ops);

/* ---- catalog reads ---- */

typedef int cn_node_visit_fn(void *ctx, const struct cn_node *node);
/* node is NULL only if the service's node row is gone (never, by
 * construction). */
typedef int cn_service_visit_fn(void *ctx, const struct cn_node *node,
                                const struct cn_service *svc);
typedef int cn_check_visit_fn(void *ctx, const struct cn_check *check);
/* One /v1/health/service entry: node, instance, and its checks (node-level
 * ones first, then the service's, each by check ID). */
typedef int cn_health_visit_fn(void *ctx, const struct cn_node *node,
                               const struct cn_service *svc,
                               const struct cn_check *const *checks,
                               size_t n_checks);
typedef int cn_session_visit_fn(void *ctx, const struct cn_session *s);

/* Visitors return 0 to go on; anything else stops the walk and is
 * returned. They must not mutate the store. */

/* 0 or CN_ENOTFOUND; by name, or by exact node ID if no name matches. */
int cn_state_node_get(const struct cn_state *st, const char *name,
                      struct cn_node *out);
int cn_state_nodes_list(const struct cn_state *st, cn_node_visit_fn *fn,
                        void *ctx);
/* Services of one node, by ID. CN_ENOTFOUND if the node is unknown. */
int cn_state_node_services(const struct cn_state *st, const char *node,
                           cn_service_visit_fn *fn, void *ctx);
/* Every instance of every service, by (name, node, ID). */
int cn_state_services_list(const struct cn_state *st, cn_service_visit_fn *fn,
                           void *ctx);
/* Instances of one service carrying all `tags` (case-insensitive AND),
 * by (node, ID). */
int cn_state_service_nodes(const struct cn_state *st, const char *name,
                           const char *const *tags, size_t n_tags,
                           cn_service_visit_fn *fn, void *ctx);
/* /v1/catalog/services: map {name: [tags...]} (union, first-seen order,
 * names sorted bytewise like Go's JSON). 0, or the writer's error. */
int cn_state_catalog_services_encode(const struct cn_state *st,
                                     struct cn_mp_writer *w);

/* ---- health reads ---- */

/* Checks of a node, by ID (/v1/health/node/:node). */
int cn_state_node_checks(const struct cn_state *st, const char *node,
                         cn_check_visit_fn *fn, void *ctx);
/* Checks bound to a service name on any node (/v1/health/checks/:svc). */
int cn_state_service_checks(const struct cn_state *st, const char *name,
                            cn_check_visit_fn *fn, void *ctx);
/* Checks in one state, 0 = any (/v1/health/state/:state), by (node, ID). */
int cn_state_checks_in_state(const struct cn_state *st, enum cn_health status,
                             cn_check_visit_fn *fn, void *ctx);
/* /v1/health/service/:name with ?tag (AND) and ?passing (drops an entry
 * with any non-passing check, node-level ones included). -ENOMEM possible
 * (the check list of one entry is gathered in a temporary array). */
int cn_state_health_service(const struct cn_state *st, const char *name,
                            const char *const *tags, size_t n_tags,
                            bool passing_only, cn_health_visit_fn *fn,
                            void *ctx);
/* api/health.go AggregatedStatus: maintenance (a _node_maintenance or
 * _service_maintenance:* check) > critical > warning > passing; none =
 * passing. */
enum cn_health cn_state_checks_aggregate(const struct cn_check *const *checks,
                                         size_t n_checks);
const char *cn_state_health_name(enum cn_health h);  /* "passing", ... */
/* "passing"/"warning"/"critical" -> 0 and *out; "any" -> 0 and 0; else
 * CN_ENOTFOUND. */
int cn_state_health_parse(const char *s, enum cn_health *out);

/* ---- sessions ---- */

int cn_state_session_get(const struct cn_state *st, const char *id,
                         struct cn_session *out);  /* 0 or CN_ENOTFOUND */
int cn_state_sessions_list(const struct cn_state *st, cn_session_visit_fn *fn,
                           void *ctx);              /* By ID. */
int cn_state_node_sessions(const struct cn_state *st, const char *node,
                           cn_session_visit_fn *fn, void *ctx);
/* When the lock delay on key ends (proposer's clock, ms), 0 if none: the
 * leader refuses an acquire while now_ms < this (consul-compat 5.3). */
uint64_t cn_state_kv_lock_delay(const struct cn_state *st, const uint8_t *key,
                                size_t key_len);

/* ---- blocking indexes for these reads (consul-compat 3.1) ---- */

/* Max index of one table (KV included, = cn_state_kv_table_index). */
uint64_t cn_state_table_index(const struct cn_state *st,
                              enum cn_state_table table);
/* Consul's maxIndexForService: the service's own index (instances and
 * their checks) while it has instances; else the last index at which any
 * service lost its last instance; else the max of the nodes, services and
 * checks tables. For /v1/catalog/service/:s and /v1/health/service/:s. */
uint64_t cn_state_service_index(const struct cn_state *st, const char *name);

/* ---- MessagePack encoders with Consul's field names and order ---- */

/* Node: {"ID","Node","Address","Datacenter","TaggedAddresses","Meta",
 * "CreateIndex","ModifyIndex"}. */
void cn_state_node_encode(struct cn_mp_writer *w, const struct cn_node *n);
/* ServiceNode (/v1/catalog/service): node fields, then "ServiceKind",
 * "ServiceID", "ServiceName", "ServiceTags", "ServiceAddress",
 * "ServiceTaggedAddresses" (only when set), "ServiceWeights",
 * "ServiceMeta", "ServicePort", "ServiceEnableTagOverride",
 * "ServiceProxy", "ServiceConnect", "CreateIndex", "ModifyIndex". */
void cn_state_service_node_encode(struct cn_mp_writer *w,
                                  const struct cn_node *n,
                                  const struct cn_service *s);
/* NodeService: {"Kind" (only when set),"ID","Service","Tags","Address",
 * "TaggedAddresses" (only when set),"Meta","Port","Weights",
 * "EnableTagOverride","Proxy","Connect","CreateIndex","ModifyIndex"}. */
void cn_state_node_service_encode(struct cn_mp_writer *w,
                                  const struct cn_service *s);
/* HealthCheck: {"Node","CheckID","Name","Status","Notes","Output",
 * "ServiceID","ServiceName","ServiceTags","Type","Interval","Timeout",
 * "ExposedPort","Definition","CreateIndex","ModifyIndex"}. */
void cn_state_check_encode(struct cn_mp_writer *w, const struct cn_check *c);
/* Session: {"ID","Name","Node","LockDelay" (ns),"Behavior","TTL",
 * "NodeChecks","ServiceChecks" ([{"ID","Namespace":""}] or nil),
 * "CreateIndex","ModifyIndex"}. */
void cn_state_session_encode(struct cn_mp_writer *w, const struct cn_session *s);

/* ---- watches (blocking queries) ----
 *
 * A watch is caller-owned memory (embed it in the parked request), armed
 * on a key, a key prefix or a whole table. It fires at most once: after an
 * apply that touches what it watches, the store disarms it and calls fn.
 * fn may re-arm the same watch or arm others, and may cancel other
 * watches. Cancelling an unarmed watch is a no-op. Firing order is the
 * order in which watches were armed. A write to key K fires key watches on
 * K and prefix watches on every prefix of K (the empty prefix included).
 */
struct cn_watch;
typedef void cn_watch_fn(struct cn_watch *w);

enum cn_watch_kind {
    CN_WATCH_KV_KEY = 1,
    CN_WATCH_KV_PREFIX,
    CN_WATCH_TABLE,         /* Any change to table `table`. */
    CN_WATCH_SERVICE,       /* A service name (case-insensitive): any change
                             * to an instance, its checks, or the node-level
                             * checks/row of a node hosting one. */
    CN_WATCH_NODE,          /* A node name (case-insensitive): its row, its
                             * services, checks and sessions. */
};

struct cn_watch {
    /* Set by the caller before arming. */
    cn_watch_fn *fn;
    void *ctx;
    /* Owned by the store while armed; zero-initialise before first use. */
    struct cn_watch *next, *prev;   /* Chain in a bucket or the fire list. */
    void *bucket;                   /* The list it is on. */
    uint64_t seq;                   /* Arming order. */
    bool armed;                     /* Readable: armed or waiting to fire. */
};

/* Arms w (an armed w is moved: cancelled first). key/prefix bytes are
 * copied. 0, -EINVAL (wrong kind, key over CN_KV_KEY_BYTES_MAX) or -ENOMEM
 * (w left unarmed). */
int cn_state_watch_kv(struct cn_state *st, struct cn_watch *w,
                      enum cn_watch_kind kind, const uint8_t *key,
                      size_t key_len);
int cn_state_watch_table(struct cn_state *st, struct cn_watch *w,
                         enum cn_state_table table);
/* CN_WATCH_SERVICE / CN_WATCH_NODE. 0, -EINVAL (other kind, name over
 * CN_CATALOG_STR_BYTES_MAX) or -ENOMEM. */
int cn_state_watch_name(struct cn_state *st, struct cn_watch *w,
                        enum cn_watch_kind kind, const char *name,
                        size_t name_len);
void cn_state_watch_cancel(struct cn_state *st, struct cn_watch *w);
size_t cn_state_watch_count(const struct cn_state *st);

/* ---- snapshot / restore ----
 *
 * The whole store as a byte stream (a versioned MessagePack sequence with
 * a CRC32C trailer). Restore replaces the store atomically: on any error
 * the old state is kept. After a restore every armed watch fires (indexes
 * may have gone backwards; clients reset, consul-compat.md 3.2). */
typedef int cn_state_write_fn(void *ctx, const void *data, size_t len);
/* Streams the store to fn in chunks. 0, -ENOMEM, or fn's nonzero return
 * (the stream is then incomplete). */
int cn_state_snapshot(const struct cn_state *st, cn_state_write_fn *fn,
                      void *ctx);
/* 0; CN_ECORRUPT (bad CRC, truncated, inconsistent content);
 * CN_EUNSUPPORTED (unknown version); -ENOMEM. */
int cn_state_restore(struct cn_state *st, const uint8_t *data, size_t len);

#endif
