/* raft/sim/sim.h - deterministic simulation of N Raft cores.
 *
 * One seed drives everything: a cn_prng picks the run's parameters (swarm
 * testing: each seed gets its own mix of drop/duplicate/delay rates,
 * partition and crash frequencies, message and window sizes) and every
 * event. Time is an integer; a Raft tick is SIM_TICK units.
 *
 *   network   every message is encoded with the real codec, queued with a
 *             random delay (reorders), maybe dropped or duplicated, and
 *             dropped at send or delivery time across a partition
 *             (symmetric splits, isolated nodes, one-way links).
 *   disk      a ready batch is persisted after a random sync latency; a
 *             crash before that loses it or tears it (a prefix of its
 *             entries, maybe its hard state or snapshot).
 *   node      crashes and restarts from its disk only; while a batch is
 *             being synced its inputs queue (the shell's group commit).
 *   clients   proposals and ReadIndex reads with cookies, membership
 *             changes, leadership transfers, snapshots.
 *
 * The oracle (sim_check.c) checks after every step: Election Safety,
 * Leader Append-Only, Log Matching, Leader Completeness, State Machine
 * Safety, no acknowledged proposal lost, linearizable reads; the run ends
 * with a liveness phase (faults heal; a leader must emerge and every
 * pending request complete within a bound).
 */
#ifndef CN_RAFT_SIM_H
#define CN_RAFT_SIM_H

#include "raft/raft_int.h"

#define SIM_NODES_MAX 9        /* 7 voters + 2 spares to add. */
#define SIM_TICK 10            /* Time units per Raft tick. */

struct sim_params {
    uint32_t nodes, spares;
    uint32_t drop_pm, dup_pm;          /* Per mille. */
    uint32_t delay_min, delay_max;
    uint32_t long_delay_pm, long_delay_max;
    uint32_t part_pm, crash_pm;        /* Per 10,000 steps. */
    uint32_t down_max;
    uint32_t sync_max;                 /* Disk latency, 0..sync_max. */
    uint32_t prop_pm, read_pm, conf_pm, transfer_pm; /* Per 10,000 steps. */
    uint32_t snap_every, snap_trailing, snap_filler_max;
    uint32_t max_msg_entries, inflight_max, chunk_bytes;
    uint32_t election_ticks;
    uint32_t nemesis_pct;              /* New leaders hit soon after. */
    uint64_t main_steps, live_steps;
};

struct sim_dentry {            /* An entry on a simulated disk. */
    uint64_t term, chain;
    uint8_t kind;
    uint32_t len;
    uint8_t *data;
};

struct sim_disk {
    uint64_t term, vote;
    uint64_t snap_index, snap_term;
    struct cn_raft_conf snap_conf;
    uint8_t *snap_data;
    size_t snap_len;
    uint64_t first;            /* Index of ents[0]. */
    uint64_t base_chain, base_term; /* Of index first - 1. */
    struct sim_dentry *ents;
    size_t n, cap;
};

struct sim_shadow {            /* The node's log as its batches told it. */
    uint64_t base, base_chain, base_term;
    uint64_t *chain;           /* chain[i] for index base + 1 + i */
    uint64_t *cmd, *term;
    size_t n, cap;
};

struct sim_inmsg {
    uint8_t *bytes;
    size_t len;
};

struct sim_node {
    uint64_t id;
    bool up;
    uint64_t restart_at;
    uint32_t incarnation;
    struct cn_raft *r;
    struct sim_disk disk;
    struct sim_shadow sh;
    /* The batch being synced. */
    bool busy;
    uint64_t sync_at;
    struct cn_raft_ready rd;
    uint32_t deferred_ticks;
    struct sim_inmsg *inbox;
    size_t inbox_n, inbox_cap;
    /* The application. */
    uint64_t applied, app_chain;
    uint64_t seen_commit;      /* Commit index at its last batch. */
    uint8_t *core_snap;        /* Snapshot bytes the core borrows. */
    uint32_t tick_phase;
};

struct sim_msg {
    uint64_t at, seq;
    uint32_t from, to;         /* Node slots. */
    uint8_t *bytes;
    size_t len;
};

enum sim_op_kind { OP_PROPOSE = 1, OP_READ, OP_CHANGE, OP_SENTINEL };
enum sim_op_state { OP_PENDING = 1, OP_ACKED, OP_FAILED, OP_LOST };

struct sim_op {
    uint8_t kind, state;
    uint32_t node;
    uint64_t cmd;              /* Command id (proposals). */
    uint64_t min_index;        /* Reads: committed when issued. */
    uint64_t index;            /* Where it landed. */
};

struct sim_kv {                /* Open-addressing u64 pair -> u64 map. */
    uint64_t *k1, *k2, *v;
    uint8_t *used;
    size_t cap, n;
};

struct sim {
    uint64_t seed;
    struct cn_prng prng;
    struct sim_params p;
    uint64_t now;
    int trace;                 /* 0 off, 1 stdout, 2 ring, 3 hash */
    bool live;
    uint64_t trace_hash;
    char violation[512];
    struct cn_logger logger;
    uint32_t log_node;         /* Node whose core is logging. */
    struct sim_node nodes[SIM_NODES_MAX];
    uint32_t n_nodes;
    /* Network. */
    struct sim_msg *heap;
    size_t heap_n, heap_cap;
    uint64_t msg_seq;
    uint64_t blocked_until[SIM_NODES_MAX][SIM_NODES_MAX];
    /* Oracle. */
    struct sim_kv leaders;     /* term -> leader id */
    struct sim_kv logmatch;    /* (index, term) -> chain */
    struct sim_kv term_commit; /* term -> highest commit its leader saw */
    uint64_t *cl_chain, *cl_cmd; /* Committed prefix, [i] for index i. */
    uint64_t cl_len, cl_cap;
    struct sim_op *ops;        /* By cookie; [0] unused. */
    uint64_t ops_n, ops_cap;
    uint64_t next_cmd;
    uint64_t sentinel;         /* Cookie of the liveness proposal. */
    uint64_t nem_at;           /* Scheduled strike on a new leader. */
    uint32_t nem_slot;
    struct cn_buf enc;
    /* Counters for the summary. */
    uint64_t n_msgs, n_dropped, n_crashes, n_parts, n_acked, n_reads_ok;
    uint64_t n_failed, n_confs, n_transfers, n_snaps, n_elections;
    uint64_t n_installs, n_malformed, n_lease_drops; /* From core stats. */
};

/* sim.c */
void sim_init(struct sim *s, uint64_t seed, uint32_t nodes_override,
              int trace);
void sim_close(struct sim *s);
/* Runs the whole seed; returns 0, or 1 with s->violation set. */
int sim_run(struct sim *s);
void sim_tracef(struct sim *s, const char *fmt, ...) CN_PRINTF(2, 3);
void sim_fail(struct sim *s, const char *fmt, ...) CN_PRINTF(2, 3);

/* sim.c: a disk's log, for the oracle. Chain/term at index, or
 * UINT64_MAX / 0 when the disk does not hold it. */
uint64_t sim_disk_chain(const struct sim_disk *d, uint64_t index);
void sim_disk_last(const struct sim_disk *d, uint64_t *index, uint64_t *term);

void sim_crash(struct sim *s, uint32_t slot);
void sim_collect_stats(struct sim *s, const struct cn_raft *r);
struct cn_raft *sim_core(struct sim *s, uint32_t slot); /* Sets log_node. */

/* sim_client.c */
int sim_target(struct sim *s, bool leader_only); /* A usable node, or -1. */
int sim_propose(struct sim *s, uint32_t slot, uint8_t kind);
uint64_t sim_op_new(struct sim *s, uint8_t kind, uint32_t slot);
bool sim_roll(struct sim *s, uint32_t per_10k);
void sim_clients(struct sim *s);
void sim_nemesis(struct sim *s);

/* sim_net.c */
void sim_net_send(struct sim *s, uint32_t from, const struct cn_raft_msg *m);
void sim_net_deliver_due(struct sim *s);
void sim_net_faults(struct sim *s);
void sim_net_heal(struct sim *s);
void sim_net_close(struct sim *s);
void sim_msg_describe(const struct cn_raft_msg *m, char *out, size_t n);
void sim_node_step_bytes(struct sim *s, uint32_t slot, const uint8_t *p,
                         size_t len);

/* sim_check.c */
uint64_t sim_chain(uint64_t prev, const struct cn_raft_entry *e);
uint64_t sim_entry_cmd(const struct cn_raft_entry *e);
void sim_kv_close(struct sim_kv *m);
void sim_check_roles(struct sim *s);
void sim_new_leader(struct sim *s, uint32_t slot);
void sim_leader_committed(struct sim *s, uint32_t slot);
void sim_check_batch(struct sim *s, uint32_t slot, const struct cn_raft_ready *rd);
void sim_check_apply(struct sim *s, uint32_t slot, const struct cn_raft_ready *rd);
int sim_check_final(struct sim *s);
void sim_shadow_reset(struct sim_shadow *sh, uint64_t base, uint64_t chain,
                      uint64_t term);
int sim_shadow_push(struct sim_shadow *sh, uint64_t chain, uint64_t cmd,
                    uint64_t term);
void sim_shadow_close(struct sim_shadow *sh);
uint64_t sim_shadow_chain(const struct sim_shadow *sh, uint64_t index);

#endif
