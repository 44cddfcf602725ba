/* raft/node_int.h - shared by node.c and node_disk.c only. */
#ifndef CN_RAFT_NODE_INT_H
#define CN_RAFT_NODE_INT_H

#include <pthread.h>

#include "node.h"
#include "snap.h"
#include "wal.h"

/* Inputs held while a batch syncs: bytes of messages and proposals. */
#define CN_RAFT_NODE_QUEUE_BYTES_MAX (256u << 20)

enum input_kind { IN_MSG = 1, IN_PROPOSE, IN_READ, IN_CHANGE };
enum waiter_kind { W_PROPOSAL = 1, W_READ };

struct input {
    struct input *next;
    enum input_kind kind;
    uint64_t cookie;
    size_t len;
    uint8_t data[];
};

struct change_req {
    enum cn_raft_change_op op;
    uint64_t id;
    char addr[CN_RAFT_ADDR_BYTES_MAX];
};

struct waiter {
    uint64_t cookie;          /* Map key: must stay first-class memory. */
    cn_raft_node_done_fn *done; /* NULL: forgotten, complete silently. */
    void *ctx;
    enum waiter_kind kind;
    uint64_t read_index;
    struct waiter *next;      /* Deferred reads. */
};

struct node_stats {
    struct cn_raft_node_stats pub;
    uint64_t dropped_malformed, dropped_misaddressed, dropped_unaddressed;
    uint64_t dropped_queue_full;
};

/* The writer thread's one job slot: the durable part of a batch. */
struct writer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool running, quit, has_job;
    uint64_t compact_up_to;   /* WAL compaction request (0: none). */
    int rc;
    char errmsg[CN_ERRMSG_MAX];
    uint64_t sync_us;
    uv_async_t done;
    struct cn_buf conf_bytes; /* For a snapshot file. */
};

struct cn_raft_node {
    uv_loop_t *loop;
    struct cn_raft_node_config cfg;
    uint32_t tick_ms;
    struct cn_raft *core;
    struct cn_wal *wal;       /* NULL in memory mode. */
    struct writer wr;
    uv_timer_t ticker;
    uv_check_t check;
    int handles;
    bool busy;                /* Between ready and advance. */
    bool stopping;
    bool conf_changed;
    struct cn_raft_ready rd;
    /* Queued inputs. */
    struct input *q_head, *q_tail;
    size_t queued, queued_bytes;
    uint32_t pending_ticks;
    uint64_t pending_transfer;  /* UINT64_MAX: transfer to anyone. */
    /* Completions. */
    struct cn_map waiters;    /* cookie -> struct waiter */
    struct waiter *deferred_reads;
    uint64_t next_cookie;
    /* Applied state. */
    uint64_t applied, applied_term;
    struct cn_raft_conf applied_conf;
    /* Snapshots. */
    uint64_t snap_index;
    struct cn_snap_loaded *snap_map;   /* Backs the core's snapshot (disk). */
    struct cn_buf snap_mem, snap_mem_old; /* Same, memory mode. */
    pid_t snap_pid;
    uint64_t snap_pending_index, snap_pending_term;
    uv_timer_t snap_timer;
    bool snap_timer_open;
    uint64_t last_snap_check_ms;
    /* Addresses of servers not (yet) in the configuration. */
    struct {
        uint64_t id;
        char addr[CN_RAFT_ADDR_BYTES_MAX];
    } known[CN_RAFT_MEMBERS_MAX];
    size_t n_known;
    char leader_addr[CN_RAFT_ADDR_BYTES_MAX];
    struct cn_buf encode;     /* Message encoding scratch. */
    struct cn_buf reply;      /* FSM reply scratch. */
    struct node_stats stats;
    void (*stop_cb)(void *);
    void *stop_arg;
};

/* node.c */
void cn__raft_node_pump(struct cn_raft_node *n);
void cn__raft_node_batch_synced(struct cn_raft_node *n, int rc, const char *errmsg);
void cn__raft_node_refresh_leader(struct cn_raft_node *n);
void cn__raft_node_remember(struct cn_raft_node *n, uint64_t id, const char *addr);
void cn__raft_node_on_closed(uv_handle_t *h);

/* node_disk.c */
int cn__raft_node_recover(struct cn_raft_node *n, char *errmsg);
void cn__raft_node_writer_submit(struct cn_raft_node *n);
void cn__raft_node_writer_stop(struct cn_raft_node *n);
void cn__raft_node_maybe_snapshot(struct cn_raft_node *n);
void cn__raft_node_snapshot_installed(struct cn_raft_node *n);
void cn__raft_node_snapshot_stop(struct cn_raft_node *n);
void cn__raft_node_free(struct cn_raft_node *n);

#endif
