/* state/state_int.h - shared by the .c files of src/state only.
 *
 * Design in short (details at the top of each file):
 * - kv.c: KV rows live in one red-black tree (base's cn_rbtree) keyed by
 *   the key bytes; a row is one allocation (header + key + value), and a
 *   delete swaps the row for a value-less tombstone row. Rows are never
 *   edited in place: a write builds a new row and swaps it in, which is
 *   what makes rollback cheap (below).
 * - Every mutation goes through cn__state_swap(), which records (old, new)
 *   in an undo log before swapping. A command either commits (the old
 *   rows are freed, indexes move, watches fire) or rolls back (the log is
 *   replayed backwards and the new rows freed), so a failed txn, an
 *   allocation failure or a bytes_max refusal leaves no trace.
 * - watch.c: armed watches hang off hashed buckets keyed by (kind, bytes);
 *   a write to key K probes only the prefix lengths that have watchers.
 * - cmd.c encodes/decodes commands, txn.c runs them, snap.c streams the
 *   whole store.
 */
#ifndef CN_STATE_INT_H
#define CN_STATE_INT_H

#include "state.h"

/* ---- KV rows ---- */

#define CN__KV_TOMB 0x80000000u /* In key_len: the row is a tombstone. */

struct cn__session;

struct cn__kv_row {
    struct cn_rb_node node;
    uint64_t create_index;
    uint64_t modify_index;   /* For a tombstone: the delete's index. */
    uint64_t lock_index;
    uint64_t flags;
    const struct cn__session *session;  /* Lock holder, or NULL. */
    uint32_t key_bits;       /* Key length | CN__KV_TOMB. */
    uint32_t value_len;
    uint8_t data[];          /* Key bytes, then value bytes. */
};

static inline uint32_t cn__kv_key_len(const struct cn__kv_row *r)
{
    return r->key_bits & ~CN__KV_TOMB;
}
static inline bool cn__kv_is_tomb(const struct cn__kv_row *r)
{
    return (r->key_bits & CN__KV_TOMB) != 0;
}
static inline const uint8_t *cn__kv_value(const struct cn__kv_row *r)
{
    return r->data + cn__kv_key_len(r);
}

/* ---- watches ---- */

/* A list of watches in arming order. kind 0: a table list or the firing
 * list (embedded in the registry); else the list heads a hashed bucket. */
struct cn__wlist {
    struct cn_watch *head, *tail;
    uint8_t kind;
};

#define CN__TABLES_MAX 8   /* Table ids are small; see enum cn_state_table. */

struct cn__wbucket;
struct cn__plen {
    uint32_t len;   /* A prefix length that has watch buckets... */
    uint32_t n;     /* ...and how many. */
};

struct cn__watch_reg {
    struct cn__wbucket **slots;  /* Open addressing, power-of-two cap. */
    uint32_t cap, count;
    uint32_t n_key_buckets;
    struct cn__plen *plens;      /* Sorted by len. */
    uint32_t n_plens, cap_plens;
    struct cn__wlist tables[CN__TABLES_MAX];
    struct cn__wlist firing;     /* Touched, waiting to be called. */
    uint64_t seq;
    size_t armed;
};

void cn__watch_init(struct cn__watch_reg *reg);
void cn__watch_close(struct cn__watch_reg *reg);
/* Move the watches a change touches onto the firing list. */
void cn__watch_touch_kv(struct cn__watch_reg *reg, const uint8_t *key,
                        size_t key_len);
void cn__watch_touch_table(struct cn__watch_reg *reg, unsigned table);
/* A service or node name, already lower-cased. */
void cn__watch_touch_name(struct cn__watch_reg *reg, unsigned kind,
                          const uint8_t *name_lc, size_t len);
void cn__watch_touch_all(struct cn__watch_reg *reg);
/* Calls the firing list in arming order. */
void cn__watch_fire(struct cn__watch_reg *reg);

/* ---- catalog rows (cat_rows.c) ----
 *
 * Each row is one allocation: the struct, then its strings and arrays; the
 * embedded public view (v) points into it. Lookups are case-insensitive
 * (ASCII), like Consul's lower-cased memdb indexes: keys are lower-cased
 * copies joined by NUL (names hold no NUL), e.g. "node\0service-id", so a
 * tree ordered by key is ordered by node, then ID. */

struct cn__key {
    const uint8_t *p;
    uint32_t len;
};

struct cn__node_row {
    struct cn_rb_node by_name;    /* name_lc */
    struct cn_rb_node by_id;      /* id_lc, linked only if the ID is set */
    struct cn_node v;
    struct cn__key name_lc, id_lc;
};

struct cn__svc_row {
    struct cn_rb_node by_key;     /* node_lc \0 id_lc */
    struct cn_rb_node by_name;    /* name_lc \0 node_lc \0 id_lc */
    struct cn_service v;
    struct cn__key key, nkey;
    uint32_t node_lc_len;         /* key = node_lc \0 ...: its first part. */
    uint32_t name_lc_len;         /* nkey = name_lc \0 ... */
};

struct cn__check_row {
    struct cn_rb_node by_key;     /* node_lc \0 id_lc */
    struct cn_rb_node by_svc;     /* svcname_lc \0 node_lc \0 id_lc (iff a
                                   * service check) */
    struct cn_rb_node by_status;  /* status byte, node_lc \0 id_lc */
    struct cn_check v;
    struct cn__key key, skey, stkey;
    uint32_t node_lc_len;
    uint32_t svc_lc_len;          /* skey's first part (0: node check). */
};

/* Per service name: live instances and the name's blocking index. */
struct cn__svcname_row {
    struct cn_rb_node node;       /* name_lc */
    uint64_t index;               /* Moved in place at commit. */
    uint32_t count;               /* Maintained by service links. */
    struct cn__key name_lc;
};

struct cn__session {
    struct cn_rb_node by_id;      /* id (exact) */
    struct cn_rb_node by_node;    /* node_lc \0 id */
    struct cn_session v;
    struct cn__key nkey;
    uint32_t node_lc_len;
};

/* Who holds which key: (session id \0 key), to find a session's locks. */
struct cn__lock_row {
    struct cn_rb_node node;
    const struct cn__session *session;
    struct cn__key key;           /* session id \0 kv key */
    uint32_t kv_key_off;
};

/* A KV key in lock-delay until until_ms (proposer's clock). */
struct cn__delay_row {
    struct cn_rb_node node;
    uint64_t until_ms;
    struct cn__key key;
};

/* ---- undo log ---- */

enum cn__undo_table {
    CN__UNDO_KV = 1,
    CN__UNDO_NODE,
    CN__UNDO_SVC,
    CN__UNDO_CHECK,
    CN__UNDO_SVCNAME,
    CN__UNDO_SESSION,
    CN__UNDO_LOCK,
    CN__UNDO_DELAY,
};

struct cn__undo {
    uint8_t table;
    void *old_row;   /* In the store before the swap, or NULL. */
    void *new_row;   /* In the store after it, or NULL. */
};

/* ---- the store ---- */

struct cn_state {
    /* config */
    struct cn_logger log;
    uint64_t bytes_max;
    /* persistent (snapshotted) */
    uint64_t last_index;
    struct cn_rbtree kv;     /* struct cn__kv_row, tombstones included. */
    uint64_t kv_index;       /* KV table index. */
    struct cn_rbtree nodes, nodes_by_id;
    struct cn_rbtree svcs, svcs_by_name;
    struct cn_rbtree checks, checks_by_svc, checks_by_status;
    struct cn_rbtree svcnames;
    struct cn_rbtree sessions, sessions_by_node;
    struct cn_rbtree locks;
    struct cn_rbtree delays;
    uint64_t nodes_index, services_index, checks_index, sessions_index;
    uint64_t svc_extinction_index;   /* Last time a service lost its last
                                      * instance (Consul's
                                      * service_last_extinction). */
    /* derived */
    size_t kv_live;          /* Rows that are not tombstones. */
    uint64_t kv_bytes;       /* Key + value bytes of all rows. */
    /* volatile: the command being applied */
    struct cn__undo *undo;
    size_t undo_len, undo_cap;
    bool in_apply;
    struct cn_buf scratch;   /* Error texts. */
    struct cn__watch_reg watches;
};

/* Records (old -> new) in the undo log and swaps it in. On -ENOMEM
 * nothing changed and new_row (if any) has been freed. */
int cn__state_swap(struct cn_state *st, enum cn__undo_table table,
                   void *old_row, void *new_row);
int cn__state_swap_kv(struct cn_state *st, struct cn__kv_row *old_row,
                      struct cn__kv_row *new_row);
/* Tree surgery for one table, no undo (swap, rollback and restore). */
void cn__link(struct cn_state *st, enum cn__undo_table table, void *old_row,
              void *new_row);
/* Empties every catalog/session tree, freeing rows. */
void cn__cat_free_all(struct cn_state *st);
void cn__cat_init_trees(struct cn_state *st);

/* ---- kv.c ---- */

void cn__kv_key_fn(const struct cn_rb_node *n, const uint8_t **key,
                   size_t *key_len);
struct cn__kv_row *cn__kv_find(const struct cn_state *st, const uint8_t *key,
                               size_t key_len);
struct cn__kv_row *cn__kv_find_live(const struct cn_state *st,
                                    const uint8_t *key, size_t key_len);
struct cn__kv_row *cn__kv_row_new(const uint8_t *key, size_t key_len,
                                  const uint8_t *value, size_t value_len,
                                  bool tomb);
void cn__kv_row_view(const struct cn__kv_row *r, struct cn_kv_entry *out);
/* Tree surgery without undo (used by swap and by restore). */
void cn__kv_link(struct cn_state *st, struct cn__kv_row *old_row,
                 struct cn__kv_row *new_row);
void cn__kv_free_all(struct cn_state *st);

/* ---- kv_ops.c ---- */

/* Why an op failed (0 = it did not). */
enum cn__why {
    CN__WHY_STALE = 1,     /* CAS / delete-cas index mismatch. */
    CN__WHY_HELD,          /* Lock held by another session. */
    CN__WHY_NOT_HELD,      /* Unlock by a non-holder. */
    CN__WHY_NO_SESSION,    /* Lock/unlock without a session. */
    CN__WHY_BAD_SESSION,   /* Lock with an unknown session. */
    CN__WHY_MISSING,       /* get / check-* on a missing key. */
    CN__WHY_EXISTS,        /* check-not-exists on a live key. */
    CN__WHY_INDEX,         /* check-index mismatch. */
    CN__WHY_SESSION,       /* check-session mismatch. */
};

struct cn__op;
int cn__kv_exec(struct cn_state *st, uint64_t index, const struct cn__op *op,
                const struct cn__kv_row **res);
int cn__kv_delete_row(struct cn_state *st, uint64_t index,
                      struct cn__kv_row *live);
int cn__kv_delete_tree(struct cn_state *st, uint64_t index,
                       const uint8_t *prefix, size_t prefix_len);
int cn__kv_reap(struct cn_state *st, uint64_t up_to);

/* ---- decoded commands (cmd.c) ---- */

/* Views into a decoded command (cat_cmd.c). */
struct cn__s {
    const char *p;            /* Not NUL-terminated; never holds a NUL. */
    uint32_t n;
};

/* A validated MessagePack list, re-read when a row is built: strings
 * (tags, check IDs), string pairs (2n strings: maps), or service addresses
 * ([name, address, port] each). */
struct cn__list {
    struct cn_mp_reader r;    /* At the first element. */
    uint32_t n;               /* Elements (pairs for maps). */
};

struct cn__node_in {
    struct cn__s id, name, address, dc;
    struct cn__list tagged, meta;
};

struct cn__svc_in {
    struct cn__s id, name, kind, address;
    struct cn__list tags, taddrs, meta;
    uint32_t port, weight_passing, weight_warning;
    bool enable_tag_override;
    bool has_proxy, has_connect;
    struct cn__s proxy, connect;
};

struct cn__check_in {
    struct cn__s node, id, name, notes, output, service_id, type, interval,
        timeout;
    uint8_t status;           /* 0: Consul's default (critical). */
    bool has_definition;
    struct cn__s definition;
    uint32_t exposed_port;
};

struct cn__sess_in {
    struct cn__s id, name, node, ttl;
    uint64_t lock_delay_ns;
    uint8_t behavior;
    struct cn__list node_checks, service_checks;
};

int cn__node_read(struct cn_mp_reader *r, struct cn__node_in *out);
int cn__svc_read(struct cn_mp_reader *r, struct cn__svc_in *out);
int cn__check_read(struct cn_mp_reader *r, struct cn__check_in *out);
int cn__sess_read(struct cn_mp_reader *r, struct cn__sess_in *out);
/* The i-th string of a list of strings / pair of a map / address. */
void cn__list_str(struct cn_mp_reader *r, struct cn__s *out);

enum cn__op_kind {
    CN__OP_KV = 0,
    CN__OP_NODE = 64,         /* Wire tag of catalog ops in a txn. */
    CN__OP_SVC,
    CN__OP_CHECK,
};

struct cn__op {
    uint8_t kind;             /* enum cn__op_kind. */
    uint8_t cverb;            /* enum cn_cat_verb (catalog ops). */
    struct cn_mp_reader payload; /* Catalog ops: node / [node, svc] / check. */
    uint8_t verb;
    const uint8_t *key;
    uint32_t key_len;
    const uint8_t *value;
    uint32_t value_len;
    uint64_t flags;
    uint64_t index;
    const uint8_t *session;   /* Not NUL-terminated. */
    uint32_t session_len;     /* 0: none. */
};

struct cn__cmd {
    uint8_t type;
    uint64_t now_ms;
    uint32_t n_ops;
    struct cn__op ops[CN_TXN_OPS_MAX];
    uint64_t reap_index;
    /* CN_CMD_REGISTER */
    struct cn__node_in node;
    bool skip_node_update, has_service;
    struct cn__svc_in svc;
    struct cn_mp_reader checks;   /* n_checks encoded checks. */
    uint32_t n_checks;
    /* CN_CMD_DEREGISTER */
    struct cn__s d_node, d_service, d_check;
    /* CN_CMD_SESSION_CREATE / DESTROY */
    struct cn__sess_in sess;
    struct cn__s sess_id;
};

int cn__cmd_decode(const uint8_t *cmd, size_t cmd_len, struct cn__cmd *out);
int cn__cat_cmd_decode(struct cn_mp_reader *r, uint8_t type, struct cn__cmd *out);
int cn__cat_op_read(struct cn_mp_reader *r, struct cn__op *op);
bool cn__verb_txn_only(unsigned verb);
bool cn__verb_read_only(unsigned verb);

/* ---- txn.c ---- */

/* Runs the decoded command at index (0 for a read-only txn), appending
 * the reply (if any). *failed: an op failed and the command must be rolled
 * back. Returns 0, CN_ETOOBIG (reply cut back; the outcome stands) or
 * -ENOMEM (the caller rolls back; reply cut back). */
int cn__exec(struct cn_state *st, uint64_t index, const struct cn__cmd *c,
             struct cn_buf *reply, bool *failed);

/* O(n) self-check of every invariant (tree order, counters, index bounds,
 * tombstone shape); asserts. For tests and fuzzers. */
void cn__state_verify(const struct cn_state *st);

/* ---- sessions (phase 2 fills this in) ---- */

const struct cn__session *cn__session_find(const struct cn_state *st,
                                           const uint8_t *id, size_t id_len);
const char *cn__session_id(const struct cn__session *s);

#endif
