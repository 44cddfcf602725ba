/* raft/raft.h - the Raft consensus core: pure, I/O-free (etcd-io/raft's shape).
 *
 * The core is a deterministic state machine. It never reads a clock, opens a
 * file or socket, or calls libuv; the shell (node.c) and the simulator
 * (sim/) drive it:
 *
 *   inputs   cn_raft_step()     a message from a peer (decoded, untrusted)
 *            cn_raft_tick()     one unit of logical time
 *            cn_raft_propose()  a client command (leader only)
 *            cn_raft_read()     a ReadIndex request (leader only)
 *            cn_raft_change(), cn_raft_transfer(), cn_raft_compact()
 *   outputs  cn_raft_ready()    one batch of work for the shell
 *            cn_raft_advance()  the shell has done all of it
 *
 * Randomness (election timeouts) comes from a cn_prng seeded from the
 * config; logging goes to an injected cn_logger.
 *
 * THE READY/ADVANCE CONTRACT. A batch from cn_raft_ready() is done in this
 * order (thesis 10.2.1; etcd's node.go Ready):
 *
 *   1. send rd.msgs_now at once: they depend on nothing in this batch (the
 *      leader's AppendEntries/heartbeats/snapshot chunks, so the leader's
 *      disk write overlaps replication; the leader counts its own log only
 *      once the batch is advanced).
 *   2. make durable, in this order: rd.snapshot (if set: it replaces the
 *      whole log and the state machine), then the log change (drop every
 *      entry with index >= rd.entries[0].index, append rd.entries), then the
 *      hard state (rd.term, rd.vote; when rd.hs_changed). One sync (fsync)
 *      for the lot: group commit.
 *   3. only when 2 is durable: send rd.msgs (votes, vote requests, append
 *      and snapshot acknowledgements: each promises something on disk).
 *   4. apply: restore rd.snapshot into the state machine (if set), then
 *      rd.committed in order (cn_state_apply(index, data)).
 *   5. answer rd.reads: each is safe to serve once 4 is done.
 *   6. fail rd.failed: proposals and reads that will not complete here.
 *   7. cn_raft_advance(r, &rd).
 *
 * Between cn_raft_ready() and cn_raft_advance() every pointer in rd stays
 * valid (messages point into the core's log: encode them before advance),
 * and the shell must not call any other mutating cn_raft_* function
 * (asserted): inputs that arrive while a batch is being synced are queued
 * by the shell and form the next batch (that is the group commit).
 * A shell that crashes anywhere in 1-7 restarts from what step 2 made
 * durable; nothing else is required for safety.
 *
 * Proposal cookies: cn_raft_propose/change take a caller cookie (0: none)
 * that comes back exactly once: in rd.committed[i].cookie when the entry is
 * committed and handed to apply, or in rd.failed (CN_ENOLEADER: leadership
 * was lost, the outcome is unknown; the entry may still commit under the
 * next leader, as with hashicorp/raft's ErrLeadershipLost). Read cookies
 * come back once in rd.reads or rd.failed.
 *
 * Membership: single-server changes (thesis 4.1-4.3), not joint consensus:
 * one voter (or learner) added, removed, promoted or demoted per change; a
 * configuration takes effect as soon as its entry is in a server's log; a
 * leader appends a change only once it has committed an entry of its own
 * term (the 2015 fix, raft-dev "bug in single-server membership changes")
 * and no earlier change is uncommitted. Why: Consul's operator API and
 * autopilot change one server at a time; joint consensus buys arbitrary
 * changes we never make, at the price of two-phase configurations in every
 * quorum computation and in the simulator's oracle.
 *
 * Snapshots are opaque application bytes. The application takes one at an
 * applied index and hands it over with cn_raft_compact(); the core trims
 * the log and streams the snapshot in chunks to followers that fall behind
 * the trimmed prefix (resumable: the follower acknowledges a byte offset).
 */
#ifndef CN_RAFT_H
#define CN_RAFT_H

#include "base/base.h"

#define CN_RAFT_NONE 0 /* No server: ids are nonzero. */

enum cn_raft_role {
    CN_RAFT_FOLLOWER = 0,
    CN_RAFT_PRE_CANDIDATE = 1, /* Pre-vote (thesis 9.6): term not bumped. */
    CN_RAFT_CANDIDATE = 2,
    CN_RAFT_LEADER = 3,
};

enum cn_raft_entry_kind {
    CN_RAFT_ENTRY_NORMAL = 1, /* Application command: type byte + body. */
    CN_RAFT_ENTRY_CONF = 2,   /* A whole configuration (cn_raft_conf_*). */
    CN_RAFT_ENTRY_NOOP = 3,   /* A new leader's first entry (thesis 6.4). */
};

struct cn_raft_entry {
    uint64_t index;
    uint64_t term;
    /* Local only, never on the wire or disk: the cookie given to
     * cn_raft_propose/change on this server, or 0. */
    uint64_t cookie;
    uint8_t kind;             /* enum cn_raft_entry_kind */
    uint32_t len;
    uint8_t *data;            /* Owned by whoever holds the entry. */
};

enum cn_raft_member_role {
    CN_RAFT_VOTER = 1,
    CN_RAFT_LEARNER = 2,      /* Receives the log, never votes or counts. */
};

struct cn_raft_member {
    uint64_t id;
    uint8_t role;             /* enum cn_raft_member_role */
    uint8_t addr_len;
    char addr[CN_RAFT_ADDR_BYTES_MAX]; /* Opaque to the core. */
};

/* A configuration: members sorted by id, ids unique and nonzero. */
struct cn_raft_conf {
    uint32_t n;
    struct cn_raft_member members[CN_RAFT_MEMBERS_MAX];
};

/* ---- messages --------------------------------------------------------- */

enum cn_raft_msg_type {
    CN_RAFT_MSG_APPEND = 1,
    CN_RAFT_MSG_APPEND_RESP,
    CN_RAFT_MSG_VOTE,
    CN_RAFT_MSG_VOTE_RESP,
    CN_RAFT_MSG_PRE_VOTE,
    CN_RAFT_MSG_PRE_VOTE_RESP,
    CN_RAFT_MSG_HEARTBEAT,
    CN_RAFT_MSG_HEARTBEAT_RESP,
    CN_RAFT_MSG_SNAPSHOT,
    CN_RAFT_MSG_SNAPSHOT_RESP,
    CN_RAFT_MSG_TIMEOUT_NOW,
    CN_RAFT_MSG_TYPE_MAX,
};

enum {
    CN_RAFT_F_REJECT = 1 << 0,   /* *_RESP: refused / not granted. */
    CN_RAFT_F_TRANSFER = 1 << 1, /* VOTE: leadership transfer, skip lease. */
    CN_RAFT_F_DONE = 1 << 2,     /* SNAPSHOT_RESP: installed. */
    CN_RAFT_F_ALL = 0x7,
};

/* Field use by type (unused fields are zero on the wire and ignored):
 *   APPEND          index=prev index, log_term=prev term, commit, entries
 *   APPEND_RESP     index=match (or the rejected prev index with REJECT),
 *                   REJECT: hint_index/hint_term (fast backtracking)
 *   VOTE, PRE_VOTE  index/log_term=candidate's last entry, TRANSFER
 *   *VOTE_RESP      REJECT
 *   HEARTBEAT       commit, ctx (ReadIndex round)
 *   HEARTBEAT_RESP  ctx
 *   SNAPSHOT        index/log_term=snapshot's, total=image bytes (conf then
 *                   data), conf_len, offset, data/len=chunk
 *   SNAPSHOT_RESP   index, offset=next byte wanted, DONE
 *   TIMEOUT_NOW     -
 * Pointers are borrowed: from the core's memory until cn_raft_advance(),
 * or from the decoded buffer. */
struct cn_raft_msg {
    uint8_t type;             /* enum cn_raft_msg_type */
    uint16_t flags;
    uint64_t term, from, to;
    uint64_t index, log_term, commit;
    uint64_t hint_index, hint_term;
    uint64_t ctx;
    uint64_t offset, total;
    uint32_t conf_len;
    uint32_t n_entries;
    const struct cn_raft_entry *entries;
    const uint8_t *data;
    uint32_t len;
};

/* ---- the ready batch -------------------------------------------------- */

struct cn_raft_snapshot {
    uint64_t index, term;
    /* The configuration as of index: cn_raft_conf_encode() gives the bytes
     * that snapshot files keep (snap.h's conf) and restore decodes. */
    struct cn_raft_conf conf;
    const uint8_t *data;
    size_t len;
};

struct cn_raft_read_state {
    uint64_t cookie;
    uint64_t index;           /* Serve the read at applied >= index. */
};

struct cn_raft_failed {
    uint64_t cookie;
    int rc;                   /* CN_ENOLEADER, ... */
    bool is_read;
};

struct cn_raft_ready {
    /* 1: may be sent at once. */
    const struct cn_raft_msg *msgs_now;
    size_t n_msgs_now;
    /* 2: make durable. */
    bool must_sync;           /* Anything below to persist. */
    bool hs_changed;
    uint64_t term, vote;
    const struct cn_raft_snapshot *snapshot; /* Install (NULL: none). */
    const struct cn_raft_entry *entries;     /* Overwrite from [0].index. */
    size_t n_entries;
    /* 3: send after 2 is durable. */
    const struct cn_raft_msg *msgs;
    size_t n_msgs;
    /* 4, 5, 6. */
    const struct cn_raft_entry *committed;
    size_t n_committed;
    const struct cn_raft_read_state *reads;
    size_t n_reads;
    const struct cn_raft_failed *failed;
    size_t n_failed;
    /* Informational: role/leader/term changed since the last batch. */
    bool soft_changed;
};

/* ---- configuration, lifetime ------------------------------------------ */

struct cn_raft_config {
    uint64_t id;                 /* This server, nonzero. */
    uint32_t election_ticks;     /* 0: 10. Randomized in [e, 2e). */
    uint32_t heartbeat_ticks;    /* 0: 1. Must be < election_ticks. */
    uint32_t max_msg_entries;    /* 0: 512. Per AppendEntries. */
    uint32_t max_msg_bytes;      /* 0: 1 MiB of entry data per message. */
    uint32_t inflight_max;       /* 0: 64. AppendEntries in flight/peer. */
    uint32_t snapshot_chunk_bytes; /* 0: 256 KiB. */
    uint64_t uncommitted_bytes_max; /* 0: 64 MiB; beyond: CN_ELIMIT. */
    bool disable_pre_vote;       /* Tests only. */
    uint64_t seed;               /* Election timeout randomness. */
    const struct cn_logger *logger; /* Borrowed for the core's life. */
};

/* Durable state to start from (what ready step 2 persisted). */
struct cn_raft_restore {
    uint64_t term, vote;
    /* Snapshot: index 0 when there is none. data is borrowed until the
     * core replaces its snapshot (see cn_raft_compact). */
    uint64_t snap_index, snap_term;
    const struct cn_raft_conf *snap_conf;
    const uint8_t *snap_data;
    size_t snap_len;
    /* Log entries, contiguous, starting at or before snap_index + 1 (the
     * WAL may keep entries the snapshot covers). Copied. */
    const struct cn_raft_entry *entries;
    size_t n_entries;
};

struct cn_raft;

/* rs NULL: a fresh server (term 0, empty log, no configuration; it joins
 * when a leader replicates a configuration naming it, or cn_raft_bootstrap
 * makes one). 0, -EINVAL (bad config), CN_ECORRUPT (inconsistent restore
 * data; message in the log), -ENOMEM. */
int cn_raft_new(struct cn_raft **out, const struct cn_raft_config *cfg,
                const struct cn_raft_restore *rs);
void cn_raft_free(struct cn_raft *r); /* NULL is a no-op. */

/* First start of a new cluster: every initial server calls this with the
 * same configuration, which becomes entry 1 of term 1, and makes the next
 * batch (that entry and term 1) durable before it serves anything. A crash
 * before that leaves an empty data directory, and bootstrapping again is
 * safe: nothing was acknowledged. 0, CN_ESTATE (not a fresh server),
 * -EINVAL (bad configuration). */
int cn_raft_bootstrap(struct cn_raft *r, const struct cn_raft_conf *conf);

/* ---- inputs ----------------------------------------------------------- */

/* Untrusted input: a malformed or impossible message is dropped and counted
 * (cn_raft_stats), never asserted on. Returns 0 or -ENOMEM; a dropped
 * message also returns 0. */
int cn_raft_step(struct cn_raft *r, const struct cn_raft_msg *m);
void cn_raft_tick(struct cn_raft *r);

/* Leader only. data is copied. 0 and *index_out,
 * CN_ENOLEADER, CN_ESTATE (leadership transfer in progress), CN_ELIMIT
 * (too much uncommitted), -EMSGSIZE, -ENOMEM. */
int cn_raft_propose(struct cn_raft *r, const void *data, size_t len,
                    uint64_t cookie, uint64_t *index_out);

/* ReadIndex (thesis 6.4), leader only: the read comes back in rd.reads
 * once the leader has confirmed its leadership with a quorum after the
 * call; reads issued in the same loop turn share one heartbeat round.
 * 0, CN_ENOLEADER, CN_ELIMIT, -ENOMEM. */
int cn_raft_read(struct cn_raft *r, uint64_t cookie);

enum cn_raft_change_op {
    CN_RAFT_ADD_VOTER = 1,    /* New voter, or promote a learner. */
    CN_RAFT_ADD_LEARNER,      /* New learner, or demote a voter. */
    CN_RAFT_REMOVE,
};
/* Leader only; one server per change. 0 and *index_out, CN_ENOLEADER,
 * CN_ESTATE (a change is uncommitted, or no entry of this term committed
 * yet: retry later), -EINVAL (no-op change, last voter, bad address),
 * CN_ELIMIT (CN_RAFT_MEMBERS_MAX), -ENOMEM. */
int cn_raft_change(struct cn_raft *r, enum cn_raft_change_op op, uint64_t id,
                   const char *addr, size_t addr_len, uint64_t cookie,
                   uint64_t *index_out);

/* Leadership transfer (thesis 3.10), leader only. to = CN_RAFT_NONE picks
 * the most up-to-date voter. Proposals fail with CN_ESTATE until it
 * completes or aborts (after an election timeout). 0, CN_ENOLEADER,
 * -EINVAL (not a voter / self / no candidate). */
int cn_raft_transfer(struct cn_raft *r, uint64_t to);

/* The application took a snapshot of its state at applied index `index`.
 * The core trims the log, keeping `trailing` entries before index so that
 * slightly slow followers need no snapshot. data is borrowed until the core
 * replaces its snapshot: the next cn_raft_compact(), the advance of a batch
 * with rd.snapshot, or cn_raft_free(). 0, -EINVAL (index beyond applied or
 * behind the current snapshot), -ENOMEM. */
int cn_raft_compact(struct cn_raft *r, uint64_t index, const uint8_t *data,
                    size_t len, uint64_t trailing);

/* ---- outputs ---------------------------------------------------------- */

bool cn_raft_has_ready(const struct cn_raft *r);
/* Fills rd (see the contract above). Returns 0 or -ENOMEM (nothing was
 * taken; retry). */
int cn_raft_ready(struct cn_raft *r, struct cn_raft_ready *rd);
void cn_raft_advance(struct cn_raft *r, const struct cn_raft_ready *rd);

/* ---- status ----------------------------------------------------------- */

struct cn_raft_status {
    uint64_t id;
    enum cn_raft_role role;
    uint64_t term, vote, leader; /* leader: CN_RAFT_NONE when unknown. */
    uint64_t commit;
    uint64_t applied;            /* Handed to the shell in rd.committed. */
    uint64_t first_index, last_index; /* Log held in memory. */
    uint64_t snap_index, snap_term;
    /* Ticks since the leader was last heard from (0 on the leader):
     * Consul's X-Consul-LastContact is this times the tick length. */
    uint64_t last_contact_ticks;
    uint64_t transfer_to;        /* Leadership transfer target, or 0. */
    bool is_voter;
};
void cn_raft_status(const struct cn_raft *r, struct cn_raft_status *st);
/* The newest configuration in the log (in effect, maybe uncommitted). */
const struct cn_raft_conf *cn_raft_conf(const struct cn_raft *r);

struct cn_raft_stats {
    uint64_t msgs_in, msgs_out;
    uint64_t dropped_malformed;  /* Impossible or invalid content. */
    uint64_t dropped_stale;      /* Old term, unexpected role or sender. */
    uint64_t dropped_lease;      /* Votes ignored: leader heard recently. */
    uint64_t elections, pre_elections, leader_changes;
    uint64_t snapshots_sent, snapshots_installed;
    uint64_t cookies_lost;       /* No memory to report a failed cookie. */
};
void cn_raft_stats(const struct cn_raft *r, struct cn_raft_stats *out);

const char *cn_raft_role_name(enum cn_raft_role role);
const char *cn_raft_msg_type_name(unsigned type);

/* ---- encodings (codec.c) ---------------------------------------------- */

/* Message wire format (little-endian, version 1), carried in one transport
 * frame (CN_FRAME_RAFT):
 *   u8 version=1 | u8 type | u16 flags | u64 term | u64 from | u64 to
 * then by type:
 *   APPEND          u64 prev_index | u64 prev_term | u64 commit | u32 n |
 *                   n x (u64 term | u8 kind | u32 len | len bytes)
 *                   (entry k has index prev_index + 1 + k)
 *   APPEND_RESP     u64 index | u64 hint_index | u64 hint_term
 *   VOTE, PRE_VOTE  u64 last_index | u64 last_term
 *   *VOTE_RESP      -
 *   HEARTBEAT       u64 commit | u64 ctx
 *   HEARTBEAT_RESP  u64 ctx
 *   SNAPSHOT        u64 index | u64 term | u64 total | u32 conf_len |
 *                   u64 offset | u32 len | len bytes
 *   SNAPSHOT_RESP   u64 index | u64 offset
 *   TIMEOUT_NOW     -
 * Nothing may follow. */
#define CN_RAFT_WIRE_VERSION 1

/* Appends m's encoding to out. 0, -EMSGSIZE, -ENOMEM, -EINVAL (m breaks a
 * limit: a bug in the caller). */
int cn_raft_msg_encode(const struct cn_raft_msg *m, struct cn_buf *out);
/* Decodes untrusted bytes: 0, or CN_EMALFORMED (structure or a limit),
 * -ENOMEM. On success m->entries is an array allocated here (free it with
 * cn_raft_msg_release) whose data, and m->data, point into p. */
int cn_raft_msg_decode(const uint8_t *p, size_t n, struct cn_raft_msg *m);
void cn_raft_msg_release(struct cn_raft_msg *m);

/* Configuration bytes (CONF entries, snapshot files):
 *   u8 version=1 | u8 n | n x (u64 id | u8 role | u8 addr_len | addr) */
int cn_raft_conf_encode(const struct cn_raft_conf *c, struct cn_buf *out);
int cn_raft_conf_decode(const uint8_t *p, size_t n, struct cn_raft_conf *c);
/* Structural validity: sorted unique nonzero ids, known roles, bounds. */
bool cn_raft_conf_valid(const struct cn_raft_conf *c);
const struct cn_raft_member *cn_raft_conf_find(const struct cn_raft_conf *c,
                                               uint64_t id);

#endif
