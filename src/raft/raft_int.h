/* raft/raft_int.h - the core's internals, shared by src/raft/core*.c only
 * (and the simulator and unit tests, which peek). */
#ifndef CN_RAFT_INT_H
#define CN_RAFT_INT_H

#include "raft.h"

/* Planted bugs, compiled in only for the mutant simulator build
 * (-DCN_RAFT_MUTANTS): each must make the simulator fail. */
enum {
    CN_MUT_COMMIT_OLD_TERM = 1 << 0, /* Count old-term replicas (Fig. 8). */
    CN_MUT_DOUBLE_VOTE = 1 << 1,     /* Grant a second vote in a term. */
    CN_MUT_SEND_UNSYNCED = 1 << 2,   /* Send acks before they are durable. */
    CN_MUT_READ_NO_QUORUM = 1 << 3,  /* ReadIndex without a heartbeat round. */
    CN_MUT_VOTE_ANY_LOG = 1 << 4,    /* Skip the up-to-date check on votes. */
    CN_MUT_NO_PREV_CHECK = 1 << 5,   /* Append without the prev-entry check. */
    CN_MUT_CONF_EARLY = 1 << 6,      /* Conf change before own-term commit. */
};
#ifdef CN_RAFT_MUTANTS
extern unsigned cn__raft_mutants;
extern unsigned long cn__raft_mutant_hits; /* Times a planted bug acted. */
#define CN_MUTANT(m) ((cn__raft_mutants & (m)) && ++cn__raft_mutant_hits)
#else
#define CN_MUTANT(m) 0
#endif

/* ---- the log (core_log.c) ---------------------------------------------
 * Entries prev_index+1 .. prev_index+n live in ents[head .. head+n). The
 * entry at prev_index is known only by its term (compacted, or the start
 * of a snapshot). Entries are owned: data freed on truncate/compact. */
struct cn__raft_log {
    struct cn_raft_entry *ents;
    size_t head, n, cap;
    uint64_t prev_index, prev_term;
    struct cn_fifo payloads;          /* Entry data: freed oldest first. */
};

static inline uint64_t cn__log_last(const struct cn__raft_log *l)
{
    return l->prev_index + l->n;
}
static inline struct cn_raft_entry *cn__log_at(const struct cn__raft_log *l,
                                               uint64_t index)
{
    CN_ASSERT(index > l->prev_index);
    CN_ASSERT(index <= l->prev_index + l->n);
    return &l->ents[l->head + (index - l->prev_index - 1)];
}
/* Term of index, or 0 when unknown (compacted away, or beyond the log). */
uint64_t cn__log_term(const struct cn__raft_log *l, uint64_t index);
uint64_t cn__log_last_term(const struct cn__raft_log *l);
/* Appends a copy of e (e->index must be last + 1). 0 or -ENOMEM. */
int cn__log_append(struct cn__raft_log *l, const struct cn_raft_entry *e);
/* A copy of p in the log's payload pool (NULL: out of memory). */
uint8_t *cn__log_dup(struct cn__raft_log *l, const void *p, size_t n);
/* Takes ownership of data from cn__log_dup (freed on failure too). */
int cn__log_append_owned(struct cn__raft_log *l, uint64_t term, uint8_t kind,
                         uint8_t *data, uint32_t len, uint64_t cookie);
void cn__log_truncate_after(struct cn__raft_log *l, uint64_t index);
/* Drops entries <= index (index within the log). */
void cn__log_compact(struct cn__raft_log *l, uint64_t index);
/* Empties the log so that the next entry is index + 1. */
void cn__log_reset(struct cn__raft_log *l, uint64_t index, uint64_t term);
void cn__log_close(struct cn__raft_log *l);

/* ---- per-peer progress (leader), thesis 10.2 / etcd's tracker ---------- */
enum cn__pr_state { CN_PR_PROBE = 0, CN_PR_REPLICATE, CN_PR_SNAPSHOT };

struct cn__raft_peer {
    uint64_t id;
    uint8_t role;              /* CN_RAFT_VOTER / CN_RAFT_LEARNER */
    /* Election (candidate). */
    uint8_t vote;              /* 0 none, 1 granted, 2 rejected */
    /* Replication (leader). */
    uint8_t state;             /* enum cn__pr_state */
    bool probe_sent;           /* PROBE: one append per heartbeat round. */
    bool recent_active;        /* Heard from since the last quorum check. */
    uint64_t match, next;
    uint64_t read_ack;         /* Highest ReadIndex round acknowledged. */
    /* In-flight appends: last index of each, oldest first. */
    uint32_t infl_head, infl_count;
    uint64_t *infl;            /* inflight_max slots */
    /* SNAPSHOT state. */
    uint64_t snap_index, snap_offset;
    uint32_t snap_wait;        /* Ticks since the last chunk went out. */
};

/* ---- queued outputs ---------------------------------------------------- */

/* A message before cn_raft_ready() resolves its pointers: entries are named
 * by range (the log array may move), snapshot chunks by offset. */
struct cn__raft_out {
    struct cn_raft_msg m;
    uint64_t first;            /* APPEND: first entry index (m.n_entries). */
    bool now;                  /* Goes to msgs_now. */
};

struct cn__raft_read {
    uint64_t cookie;
    uint64_t index;
    uint64_t round;            /* Heartbeat round that must confirm it. */
};

struct cn__vec {               /* A growable array of fixed-size items. */
    void *p;
    size_t n, cap, size;
};

struct cn__raft_rx {           /* An InstallSnapshot being received. */
    uint64_t index, term, total;
    uint64_t from, msg_term;       /* Whose image it is. */
    uint32_t conf_len;
    struct cn_buf buf;
};

struct cn_raft {
    /* ---- config ---- */
    struct cn_raft_config cfg;
    uint64_t id;
    /* ---- persistent (hard state; the log and snapshot) ---- */
    uint64_t term, vote;
    struct cn__raft_log log;
    struct cn_raft_snapshot snap;  /* index 0: none. */
    bool snap_owned;               /* snap_buf is ours (installed). */
    uint8_t *snap_buf;             /* Owned image: conf bytes, then data. */
    struct cn_buf snap_conf_bytes; /* snap.conf encoded (chunk source). */
    /* ---- volatile ---- */
    enum cn_raft_role role;
    uint64_t leader;
    uint64_t commit, applied;      /* applied: handed out in a batch. */
    uint64_t stable;               /* Log entries <= stable are durable. */
    struct cn_raft_conf conf;      /* Newest in the log (in effect). */
    uint64_t conf_index;           /* Its entry, or the snapshot index. */
    struct cn__raft_peer peers[CN_RAFT_MEMBERS_MAX];
    uint32_t n_peers;              /* Mirrors conf, self included. */
    uint32_t election_elapsed, heartbeat_elapsed;
    uint32_t election_timeout;     /* Randomized, [e, 2e). */
    uint64_t contact_ticks;        /* Since the leader was heard. */
    struct cn_prng prng;
    /* Leader. */
    uint64_t term_start;           /* Index of this term's no-op. */
    uint64_t transfer_to;
    uint32_t transfer_elapsed;
    uint64_t uncommitted_bytes;
    bool need_bcast;               /* New entries to ship at ready(). */
    uint64_t read_round_sent;      /* Last round broadcast. */
    struct cn__vec reads_wait;     /* cn__raft_read, unconfirmed */
    struct cn__vec reads_ok;       /* cn__raft_read, confirmed */
    /* Follower. */
    struct cn__raft_rx rx;
    bool snap_pending;             /* Installed snapshot not yet readied. */
    /* Outputs. */
    struct cn__vec out;            /* cn__raft_out */
    struct cn__vec failed;         /* cn_raft_failed */
    struct cn_buf out_bytes;       /* Snapshot chunks of queued messages. */
    bool soft_dirty;               /* Role or leader changed. */
    uint64_t ready_term, ready_vote; /* Last hard state handed out. */
    /* The batch between ready() and advance(). */
    bool in_ready;
    struct cn__vec rd_msgs, rd_now, rd_reads, rd_failed;
    uint64_t rd_stable, rd_applied;
    bool rd_snap;
    /* Counters. */
    struct cn_raft_stats stats;
    uint8_t *scratch;              /* inflight rings, one allocation */
};

/* core.c */
void cn__raft_become_follower(struct cn_raft *r, uint64_t term,
                              uint64_t leader);
void cn__raft_become_leader(struct cn_raft *r);
void cn__raft_reset_timeout(struct cn_raft *r);
struct cn__raft_peer *cn__raft_peer(struct cn_raft *r, uint64_t id);
int cn__raft_send(struct cn_raft *r, const struct cn_raft_msg *m,
                  uint64_t first);
bool cn__raft_is_voter(const struct cn_raft *r);
uint32_t cn__raft_quorum(const struct cn_raft *r);
int cn__vec_push(struct cn__vec *v, const void *item);
/* Counts (and logs at DEBUG) a message that no correct peer could send. */
void cn__raft_malformed(struct cn_raft *r, const struct cn_raft_msg *m,
                        const char *why);
void cn__raft_fail_leader_work(struct cn_raft *r);
void cn__raft_logf(const struct cn_raft *r, enum cn_log_level lvl,
                   const char *fmt, ...) CN_PRINTF(3, 4);

/* core_elect.c */
void cn__raft_campaign(struct cn_raft *r, bool pre, bool transfer);
int cn__raft_on_vote(struct cn_raft *r, const struct cn_raft_msg *m);
int cn__raft_on_vote_resp(struct cn_raft *r, const struct cn_raft_msg *m);
void cn__raft_tick_election(struct cn_raft *r);
int cn__raft_on_timeout_now(struct cn_raft *r, const struct cn_raft_msg *m);

/* core_repl.c (leader) */
void cn__raft_tick_leader(struct cn_raft *r);
void cn__raft_bcast(struct cn_raft *r);
int cn__raft_send_append(struct cn_raft *r, struct cn__raft_peer *p,
                         bool empty_ok);
int cn__raft_on_append_resp(struct cn_raft *r, const struct cn_raft_msg *m);
int cn__raft_on_heartbeat_resp(struct cn_raft *r, const struct cn_raft_msg *m);
int cn__raft_on_snapshot_resp(struct cn_raft *r, const struct cn_raft_msg *m);
void cn__raft_maybe_commit(struct cn_raft *r);
void cn__raft_peer_reset(struct cn_raft *r, struct cn__raft_peer *p);
void cn__raft_read_flush(struct cn_raft *r);

/* core_follow.c (follower) */
int cn__raft_on_append(struct cn_raft *r, const struct cn_raft_msg *m);
int cn__raft_on_heartbeat(struct cn_raft *r, const struct cn_raft_msg *m);
int cn__raft_on_snapshot(struct cn_raft *r, const struct cn_raft_msg *m);
bool cn__raft_append_valid(const struct cn_raft *r,
                           const struct cn_raft_msg *m);

/* core_conf.c */
void cn__raft_conf_apply(struct cn_raft *r, const struct cn_raft_conf *c,
                         uint64_t index);
/* After the log lost entries: the newest config still in log or snapshot. */
void cn__raft_conf_recompute(struct cn_raft *r);
int cn__raft_conf_at(const struct cn_raft *r, uint64_t index,
                     struct cn_raft_conf *out);

#endif
