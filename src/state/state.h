/* state/state.h - the replicated state machine (KV now; catalog, health,
 * sessions and ACLs join it later).
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
    CN_CMD_TXN = 2,       /* An all-or-nothing list of KV operations. */
    CN_CMD_TOMBSTONE_REAP = 3, /* Drop KV tombstones with index <= N. */
};

enum cn_kv_verb {
    CN_KV_SET = 1,        /* Keeps a lock holder; LockIndex becomes 0 and an
                           * unchanged row keeps its ModifyIndex (kvs.go). */
    CN_KV_CAS,            /* Write if ModifyIndex == index (0: must not exist). */
    CN_KV_LOCK,           /* Acquire with session (issue 5). */
    CN_KV_UNLOCK,         /* Release with session (issue 5). */
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
};

enum cn_state_table {
    CN_TABLE_KV = 1,
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
