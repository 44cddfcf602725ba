/* raft/node.h - the Raft shell: the pure core (raft.h) on a libuv loop,
 * with the WAL, snapshot files and the server transport.
 *
 * raft.h is the core's header; this is the shell's, the one src/server
 * uses (the module keeps two headers because the core must stay usable
 * without libuv, by the simulator).
 *
 * What the shell does (DESIGN.md section 2 and raft.h's contract):
 * - ticks the core from a uv_timer, steps it with decoded transport
 *   frames, and drains one ready batch per loop turn from a uv_check;
 * - hands the batch's durable part to a writer thread (WAL append +
 *   truncate, snapshot file, term/vote) that does one fsync per batch,
 *   sends messages only after that, then applies committed entries;
 * - while a batch is being synced, queues every input (messages, ticks,
 *   proposals, reads): they form the next batch, so many proposals share
 *   one fsync (group commit) and the loop never blocks on the disk;
 * - takes snapshots in a forked child (copy-on-write, like Redis BGSAVE:
 *   the state store needs no locks or versions, and the loop keeps
 *   serving), then compacts the log behind them;
 * - in-memory mode (data_dir NULL, for -dev): same path, no disk.
 *
 * Completion callbacks run on the loop thread, exactly once, never from
 * inside the call that registered them.
 */
#ifndef CN_RAFT_NODE_H
#define CN_RAFT_NODE_H

#include <uv.h>

#include "raft/raft.h"

struct cn_raft_node;
struct cn_transport;

/* The state machine the node drives (the server's state store). */
struct cn_raft_fsm {
    /* Applies a NORMAL entry; reply (NULL when nobody here waits) gets the
     * result for the proposer. Returns what cn_state_apply returns. */
    int (*apply)(void *ctx, uint64_t index, const uint8_t *data, size_t len,
                 struct cn_buf *reply);
    /* Serialises the whole state (called in a forked child, or inline in
     * memory mode). */
    int (*snapshot)(void *ctx, int (*write)(void *wctx, const void *p, size_t n),
                    void *wctx);
    /* Replaces the whole state with a snapshot's bytes. */
    int (*restore)(void *ctx, const uint8_t *data, size_t len);
    /* Role, leader or configuration changed (optional). */
    void (*changed)(void *ctx);
    void *ctx;
};

struct cn_raft_node_config {
    uint64_t id;                   /* This server, nonzero. */
    const char *data_dir;          /* NULL: in memory (-dev). */
    struct cn_transport *transport;/* Borrowed; frames go out through it. */
    uint32_t tick_ms;              /* 0: 50 ms. */
    uint32_t election_ticks;       /* 0: 10 (500-1000 ms with 50 ms ticks). */
    uint32_t heartbeat_ticks;      /* 0: 1. */
    uint64_t snapshot_threshold;   /* Applied entries between snapshots; 0: 16384. */
    uint64_t snapshot_interval_ms; /* How often to check; 0: 30 s. */
    uint64_t trailing_logs;        /* Kept behind a snapshot; 0: 10240. */
    /* -dev: one in-memory server that never has followers. Compaction
     * keeps no snapshot image (the state itself is the only copy; an
     * image would be a second one, ~30 MiB per 100k keys), and adding a
     * member is refused (CN_EUNSUPPORTED): it could not be sent one. */
    bool single_in_memory;
    struct cn_raft_fsm fsm;
    uint64_t seed;                 /* Election randomness. */
};

/* Recovers from data_dir (snapshot, then WAL) and starts. 0, or an error
 * with errmsg (corrupt WAL, unreadable snapshot, ...). */
int cn_raft_node_start(struct cn_raft_node **out, uv_loop_t *loop,
                       const struct cn_raft_node_config *cfg, char *errmsg);
/* Fails everything pending with CN_ECLOSED, stops the writer, closes;
 * cb runs when all handles are closed. */
void cn_raft_node_stop(struct cn_raft_node *n, void (*cb)(void *), void *arg);

/* A Raft frame from the transport (borrowed for the call). */
void cn_raft_node_receive(struct cn_raft_node *n, const uint8_t *msg, size_t len);

/* Completion of a proposal, read or change. rc 0: index is where it
 * committed (proposals, changes) or the read index; reply is the state
 * machine's answer for a proposal (borrowed for the call). */
typedef void cn_raft_node_done_fn(void *ctx, int rc, uint64_t index,
                                  const struct cn_buf *reply);

/* Leader only; data copied. 0 and *cookie (for cn_raft_node_forget), or
 * CN_ENOLEADER / CN_ELIMIT / -EMSGSIZE / -ENOMEM (done never runs). */
int cn_raft_node_propose(struct cn_raft_node *n, const void *data, size_t len,
                         cn_raft_node_done_fn *done, void *ctx, uint64_t *cookie);
/* ReadIndex: done runs when this server has applied everything committed
 * before the call and has confirmed its leadership. Leader only. */
int cn_raft_node_read(struct cn_raft_node *n, cn_raft_node_done_fn *done,
                      void *ctx, uint64_t *cookie);
/* The waiter is gone: done will not run (the entry may still commit). */
void cn_raft_node_forget(struct cn_raft_node *n, uint64_t cookie);

/* First start of a cluster (see cn_raft_bootstrap). */
int cn_raft_node_bootstrap(struct cn_raft_node *n, const struct cn_raft_conf *conf);
int cn_raft_node_change(struct cn_raft_node *n, enum cn_raft_change_op op,
                        uint64_t id, const char *addr, cn_raft_node_done_fn *done,
                        void *ctx);
int cn_raft_node_transfer(struct cn_raft_node *n, uint64_t to);
/* Single-voter configurations only (-dev, -bootstrap-expect 1): runs
 * logical time forward until this server leads, instead of waiting an
 * election timeout of wall time. No effect on larger configurations. */
void cn_raft_node_elect_now(struct cn_raft_node *n);

/* Tells the shell where server `id` listens, for messages to servers not
 * (yet) in our configuration: a fresh server must answer the leader that
 * is about to replicate the configuration to it. */
void cn_raft_node_learn(struct cn_raft_node *n, uint64_t id, const char *addr);

void cn_raft_node_status(const struct cn_raft_node *n, struct cn_raft_status *st);
const struct cn_raft_conf *cn_raft_node_conf(const struct cn_raft_node *n);
/* Member addresses are "ip:port" optionally followed by "/label" (the
 * server puts the node name there); frames go to the ip:port part.
 * Address of the current leader as in the configuration ("" if unknown)
 * and ms since contact. */
const char *cn_raft_node_leader_addr(const struct cn_raft_node *n);
uint64_t cn_raft_node_last_contact_ms(const struct cn_raft_node *n);
bool cn_raft_node_is_leader(const struct cn_raft_node *n);
/* True when the log holds nothing: a fresh server (may bootstrap). */
bool cn_raft_node_is_fresh(const struct cn_raft_node *n);

struct cn_raft_node_stats {
    uint64_t batches, synced_batches, entries_persisted, fsyncs;
    uint64_t snapshots_taken, snapshots_installed, queued_inputs_max;
    uint64_t sync_us_last, sync_us_max;
};
void cn_raft_node_get_stats(const struct cn_raft_node *n, struct cn_raft_node_stats *out);

#endif
