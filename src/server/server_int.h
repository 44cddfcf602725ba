/* server/server_int.h - shared by the .c files of src/server only. */
#ifndef CN_SERVER_INT_H
#define CN_SERVER_INT_H

#include "server.h"

/* A parked blocking query (consul-compat.md 3.1). */
struct cn_bq;
typedef void cn_bq_run_fn(struct cn_server *s, struct cn_rpc_call *call,
                          bool timed_out);

struct cn_bq {
    struct cn_server *srv;
    struct cn_rpc_call *call;     /* NULL once answered or cancelled. */
    cn_bq_run_fn *run;
    struct cn_watch watch;
    uv_timer_t timer;
    struct cn_bq *next, *prev;    /* Server's list, for close. */
};

struct cn_server {
    uv_loop_t *loop;
    struct cn_server_config cfg;
    char node_name[128];
    char datacenter[64];
    char rpc_addr[64];
    struct cn_state *state;
    struct cn_prng prng;          /* Wait jitter only. */
    struct cn_bq *parked;
    struct cn_server_stats stats;
    struct cn_buf scratch;        /* Command bytes for internal proposals. */
    bool closing;
    int open_handles;
    void (*close_cb)(void *);
    void *close_arg;
};

/* blocking.c */
/* Answers now if min_index is 0, result_index > min_index, or timed_out;
 * else parks the call with a watch armed by arm() and a timer for the
 * wait. Returns true if it parked (the caller must not finish the call). */
typedef int cn_bq_arm_fn(struct cn_server *s, struct cn_watch *w, void *arg);
bool cn__bq_park_if_needed(struct cn_server *s, struct cn_rpc_call *call,
                           const struct cn_query_opts *q, uint64_t result_index,
                           bool timed_out, cn_bq_run_fn *run,
                           cn_bq_arm_fn *arm, void *arm_arg);
void cn__bq_cancel_all(struct cn_server *s);
void cn__server_maybe_closed(struct cn_server *s);

/* Completes a call: sets rc (and errmsg) and runs done. */
void cn__server_reply(struct cn_server *s, struct cn_rpc_call *call, int rc,
                      const char *errmsg);
/* Fills meta for a read answered by this server. */
void cn__server_meta(struct cn_server *s, struct cn_rpc_call *call,
                     uint64_t index, enum cn_consistency c);

/* kvs.c */
void cn__kvs_apply(struct cn_server *s, struct cn_rpc_call *call);
void cn__kvs_read(struct cn_server *s, struct cn_rpc_call *call, bool timed_out);
void cn__txn(struct cn_server *s, struct cn_rpc_call *call);
void cn__txn_read(struct cn_server *s, struct cn_rpc_call *call);

/* Applies a command at the next index (dev: directly). 0 or error; the
 * state's reply goes to reply (may be NULL). */
int cn__server_apply(struct cn_server *s, const uint8_t *cmd, size_t len,
                     struct cn_buf *reply, uint64_t *index_out);

#endif
