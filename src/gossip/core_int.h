/* gossip/core_int.h - the pure core's internals, shared by core*.c.
 *
 * Two layers in one state machine, as memberlist + serf are in Go:
 *  - memberlist: struct ml_node table (nodes[] in probe order + by-name
 *    map), probe/ack machinery, suspicion timers, broadcast queue, push/pull.
 *  - serf: struct sf_member table (kept longer: failed/left until
 *    reconnect/tombstone timeouts), Lamport clocks, intents, user events.
 * memberlist notifies serf through sf_notify_join/leave/update, exactly
 * where memberlist calls its EventDelegate.
 */
#ifndef CN_GOSSIP_CORE_INT_H
#define CN_GOSSIP_CORE_INT_H

#include "gossip_int.h"

struct suspicion {
    uint64_t start_ms, min_ms, max_ms, deadline_ms;
    uint32_t k, n;           /* expected / received confirmations */
    uint64_t from[8];        /* hashes of accusers seen (k <= 7) */
    uint32_t n_from;
};

struct ml_node {
    char *name;              /* NUL-terminated, owned */
    uint8_t name_len;
    uint8_t addr[16];
    uint8_t addr_len;
    uint16_t port;
    uint8_t *meta;           /* owned, may be NULL */
    uint16_t meta_len;
    uint32_t inc;
    uint8_t state;           /* CN__ML_* */
    uint8_t vsn[6];
    uint64_t state_change_ms;
    struct suspicion *susp;  /* owned; non-NULL while a timer runs */
};

struct sf_member {
    char *name;
    uint8_t addr[16];
    uint8_t addr_len;
    uint16_t port;
    struct cn_gossip_tag *tags;  /* one cn_alloc'd blob */
    size_t n_tags;
    uint8_t vsn[6];
    uint8_t status;              /* enum cn_gossip_status */
    uint64_t status_ltime;
    uint64_t leave_ms;           /* when it became failed/left */
};

/* Transmit-limited broadcast queue (memberlist TransmitLimitedQueue). */
enum bcast_notify { BN_NONE = 0, BN_LEAVE_INTENT = 1, BN_LEAVE_DEAD = 2 };
struct bcast {
    uint8_t *msg;
    uint32_t len;
    uint32_t transmits;
    uint64_t id;             /* insertion order */
    char *key;               /* invalidation key (node name) or NULL */
    uint8_t notify;
};
struct tlq {
    struct bcast **items;
    size_t n, cap;
    uint64_t next_id;
    bool dirty;              /* needs re-sorting */
};

enum ackh_kind { AK_PROBE = 1, AK_RELAY = 2 };
struct ackh {
    uint32_t seq;
    uint8_t kind;
    bool nack_wanted;
    uint64_t expire_ms;      /* relay: ProbeTimeout, then nack */
    uint32_t orig_seq;
    struct cn__gaddr reply_to;
};

struct probe_state {
    bool active;
    bool indirect_sent;
    uint32_t seq;
    char target[CN_GOSSIP_NAME_BYTES_MAX + 1];
    uint64_t start_ms, timeout_at_ms, deadline_ms;
    uint32_t expected_nacks, nacks;
    uint32_t tcp_id;         /* 0 = no TCP fallback */
};

struct out_stream {
    uint32_t id;
    uint8_t kind;            /* enum cn__gstream_kind */
    bool join;
    uint64_t deadline_ms;
};

struct ev_item {
    char *name;
    uint8_t *payload;
    uint32_t len;
};
struct ev_slot {
    uint64_t ltime;
    uint32_t n;
    struct ev_item *items;
};

struct intent {
    uint64_t join_ltime, leave_ltime;
    uint64_t at_ms;
    char name[];
};

struct query_seen {
    uint64_t ltime;
    uint32_t ids[8];
    uint32_t n;
};

/* One of our queries awaiting replies (serf QueryResponse). */
struct gq_out {
    uint32_t handle;
    uint32_t id;
    uint64_t ltime;
    uint64_t deadline_ms;
    struct cn_map seen;      /* responder name -> struct responder */
    struct cn_arena names;   /* the responders (map keys and values) */
};

struct cn__gcore {
    /* config */
    struct cn__gcore_config cfg;
    char *name;
    uint8_t name_len;
    uint8_t vsn[6];
    const struct cn_logger *log;
    struct cn_prng prng;
    cn_gossip_event_fn *unused;

    /* memberlist state */
    struct ml_node **nodes;  /* probe order */
    size_t n_nodes, cap_nodes;
    size_t probe_index;
    struct cn_map ml_map;    /* name -> ml_node */
    struct ml_node *self;
    uint32_t seq;
    uint32_t awareness;
    struct ml_node **susp;   /* nodes with a running suspicion timer */
    size_t n_susp, cap_susp;
    struct ackh *acks;
    size_t n_acks;
    struct probe_state probe;
    uint64_t next_probe_ms, next_gossip_ms, next_pushpull_ms;
    struct tlq ml_q, sf_q;
    bool leaving;            /* memberlist Leave() called */
    struct out_stream *ostreams;
    size_t n_ostreams, cap_ostreams;
    uint32_t next_stream_id;
    struct cn__lzw_ws lzw;
    uint8_t *my_meta;
    uint16_t my_meta_len;

    /* serf state */
    struct cn_map sf_map;    /* name -> sf_member */
    struct sf_member **sf_sorted;  /* cache for member_at(), by name */
    size_t n_sf_sorted;
    bool sf_dirty;
    uint64_t clock, event_clock, query_clock;
    uint64_t event_min_time;
    struct ev_slot events[CN_GOSSIP_EVENT_BUFFER];
    struct query_seen queries[CN_GOSSIP_EVENT_BUFFER];
    struct cn_map intents;   /* name -> struct intent */
    uint64_t next_reap_ms, next_reconnect_ms;
    int leave_phase;         /* 0 none, 1 intent sent, 2 dead sent, 3 done */
    uint64_t leave_deadline_ms, leave_phase_deadline_ms;
    bool serf_left;
    struct gq_out **qouts;
    size_t n_qouts;
    uint32_t next_qhandle;
    struct cn__gqitem *qitems;
    size_t n_qitems, cap_qitems;

    /* output (ready batch) */
    struct cn__gpkt *pkts;
    size_t n_pkts, cap_pkts;
    struct cn__gstream *streams;
    size_t n_streams, cap_streams;
    struct cn_gossip_event *events_out;
    void **events_blob;
    size_t n_events, cap_events, cap_blob;
    bool leave_done;
    int leave_rc;

    uint64_t now_ms;         /* time of the current input */
    struct cn__gcore_counters ctr;
};

/* core.c */
void cg_send(struct cn__gcore *c, const struct cn__gaddr *to,
             const struct ml_node *node, const uint8_t *msg, size_t len,
             bool piggyback);
void cg_send_stream(struct cn__gcore *c, const struct cn__gaddr *to,
                    enum cn__gstream_kind kind, bool join, struct cn_buf *msg,
                    uint64_t deadline_ms, uint32_t *id_out);
void cg_emit_event(struct cn__gcore *c, enum cn_gossip_event_type t,
                   const struct sf_member *m, const struct cn__sm_event *ue);
int cg_handle_msg(struct cn__gcore *c, const struct cn__gaddr *from,
                  const uint8_t *p, size_t len, int depth);
void cg_node_addr(const struct ml_node *n, struct cn__gaddr *a);
uint32_t cg_hash_name(const char *s, size_t n);

/* core_state.c */
struct ml_node *cg_node(const struct cn__gcore *c, const uint8_t *name,
                        size_t len);
size_t cg_est_nodes(const struct cn__gcore *c);
int cg_alive(struct cn__gcore *c, const struct cn__gm_alive *a, bool bootstrap);
void cg_suspect(struct cn__gcore *c, const struct cn__gm_accuse *s);
void cg_dead(struct cn__gcore *c, const struct cn__gm_accuse *d);
void cg_refute(struct cn__gcore *c, uint32_t accused_inc);
void cg_suspicion_tick(struct cn__gcore *c);
void cg_reset_nodes(struct cn__gcore *c);
void cg_awareness(struct cn__gcore *c, int delta);
void cg_broadcast_alive_self(struct cn__gcore *c);
void cg_nodes_free(struct cn__gcore *c);

/* core_probe.c: probes, acks, gossip, broadcast queue */
void cg_probe_tick(struct cn__gcore *c);
void cg_gossip_tick(struct cn__gcore *c);
void cg_acks_tick(struct cn__gcore *c);
void cg_on_ping(struct cn__gcore *c, const struct cn__gaddr *from,
                const struct cn__gm_ping *m);
void cg_on_iping(struct cn__gcore *c, const struct cn__gaddr *from,
                 const struct cn__gm_iping *m);
void cg_on_ack(struct cn__gcore *c, uint32_t seq);
void cg_on_nack(struct cn__gcore *c, uint32_t seq);
void cg_probe_tcp_result(struct cn__gcore *c, uint32_t id, bool ok);
void cg_encode_ack(struct cn_buf *b, uint32_t seq);
size_t cg_random_nodes(struct cn__gcore *c, size_t k, struct ml_node **out,
                       bool (*skip)(const struct cn__gcore *, const struct ml_node *,
                                    const void *),
                       const void *arg);
void tlq_init(struct tlq *q);
void tlq_close(struct tlq *q);
/* Takes ownership of msg (cn_alloc'd). key may be NULL. */
void tlq_push(struct cn__gcore *c, struct tlq *q, const char *key, uint8_t *msg,
              uint32_t len, uint8_t notify);
uint32_t tlq_limit(const struct cn__gcore *c);
size_t tlq_take(struct cn__gcore *c, struct tlq *q, size_t overhead,
                size_t budget, struct cn__gstr *parts, size_t max_parts,
                size_t *used, uint8_t **owned, size_t *n_owned);
bool tlq_has_notify(const struct tlq *q, uint8_t notify);

/* core_pushpull.c */
int cg_local_state(struct cn__gcore *c, bool join, struct cn_buf *out);
/* ignore_old: our own join without replay (serf eventJoinIgnore). */
int cg_merge_stream(struct cn__gcore *c, const uint8_t *p, size_t len,
                    bool ignore_old, bool *join_out);
int sf_merge_state(struct cn__gcore *c, const uint8_t *p, size_t len, bool ignore_old);
void cg_pushpull_tick(struct cn__gcore *c);
int cg_start_pushpull(struct cn__gcore *c, const struct cn__gaddr *to, bool join,
                      uint32_t *id);

/* core_serf.c */
int sf_init(struct cn__gcore *c);
void sf_free(struct cn__gcore *c);
void sf_notify_join(struct cn__gcore *c, const struct ml_node *n);
void sf_notify_leave(struct cn__gcore *c, const struct ml_node *n);
void sf_notify_update(struct cn__gcore *c, const struct ml_node *n);
int sf_handle_user(struct cn__gcore *c, const uint8_t *p, size_t len);
int sf_local_state(struct cn__gcore *c, struct cn_buf *out);
void sf_tick(struct cn__gcore *c);
void sf_bcast_finished(struct cn__gcore *c, uint8_t notify);
void sf_join_intent(struct cn__gcore *c);
struct sf_member *sf_member(const struct cn__gcore *c, const char *name, size_t len);
/* Queues [8] + body (serf type byte + msgpack) as a serf broadcast. */
void sf_queue_raw(struct cn__gcore *c, const uint8_t *body, size_t len, uint8_t notify);

/* core_query.c */
bool sfq_handle_query(struct cn__gcore *c, const struct cn__sm_query *q);
void sfq_handle_resp(struct cn__gcore *c, const struct cn__sm_qresp *r);
int sfq_handle_relay(struct cn__gcore *c, const uint8_t *p, size_t len);
void sfq_tick(struct cn__gcore *c);
void sfq_free(struct cn__gcore *c);
void sf_member_view(const struct sf_member *m, struct cn_gossip_member *out);

#define CG_LOG(c, lvl, ...) cn_logf((c)->log, (lvl), __VA_ARGS__)

#endif
