/* gossip/gossip.h - SWIM membership compatible with HashiCorp memberlist +
 * serf (what Consul runs on :8301/:8302). The only header other modules use.
 *
 * Layers (see gossip_int.h for the internals):
 *   core*.c    pure memberlist + serf state machine (SWIM, Lifeguard,
 *              push/pull, tags, intents, Lamport clocks, user events)
 *   codec*.c   wire format: msgpack with old strings, compound, CRC, LZW
 *   keyring.c  AES-GCM keyring (OpenSSL libcrypto), -encrypt keys
 *   shell.c    libuv: one UDP socket + one TCP listener, timers, streams
 *
 * Contracts for everything below:
 *  - One loop thread. Nothing here is thread-safe.
 *  - Functions return 0 or a negative error (-errno or CN_E*). A function
 *    that returns an error never calls its callback; a callback runs at
 *    most once, always from the loop (never from inside the call itself).
 *  - Pointer arguments are borrowed for the call unless stated otherwise.
 *  - Event callbacks get data borrowed for the duration of the callback.
 *    They must not call cn_gossip_close(); other calls are allowed.
 *  - After cn_gossip_close() no callback of any kind runs again (pending
 *    join/leave callbacks are dropped, not called with an error).
 */
#ifndef CN_GOSSIP_H
#define CN_GOSSIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* Timing profiles: memberlist's DefaultLANConfig/WANConfig/LocalConfig. */
enum cn_gossip_profile {
    CN_GOSSIP_LAN = 0,
    CN_GOSSIP_WAN = 1,
    CN_GOSSIP_LOCAL = 2,
};

/* Serf member status (serf.MemberStatus; names as `serf members` prints). */
enum cn_gossip_status {
    CN_GOSSIP_NONE = 0,
    CN_GOSSIP_ALIVE = 1,
    CN_GOSSIP_LEAVING = 2,
    CN_GOSSIP_LEFT = 3,
    CN_GOSSIP_FAILED = 4,
};
const char *cn_gossip_status_name(enum cn_gossip_status s);

struct cn_gossip_tag {
    const char *key;
    const char *value;
};

/* A member as the serf layer sees it. All pointers borrowed (see the
 * function that hands it out). */
struct cn_gossip_member {
    const char *name;
    char addr[48];                     /* Text IP ("127.0.0.1", "::1"). */
    uint16_t port;
    const struct cn_gossip_tag *tags;  /* Sorted by key. */
    size_t n_tags;
    enum cn_gossip_status status;
    uint8_t vsn[6];  /* PMin PMax PCur DMin DMax DCur. */
};

enum cn_gossip_event_type {
    CN_GOSSIP_EV_JOIN = 1,    /* member is alive (new, or back) */
    CN_GOSSIP_EV_UPDATE = 2,  /* tags or address changed */
    CN_GOSSIP_EV_LEAVE = 3,   /* left gracefully */
    CN_GOSSIP_EV_FAILED = 4,  /* failure detector declared it dead */
    CN_GOSSIP_EV_REAP = 5,    /* forgotten (reconnect/tombstone timeout) */
    CN_GOSSIP_EV_USER = 6,    /* user event (serf event / consul event) */
};
const char *cn_gossip_event_name(enum cn_gossip_event_type t);

struct cn_gossip_event {
    enum cn_gossip_event_type type;
    struct cn_gossip_member member;    /* JOIN..REAP. */
    /* USER only: */
    const char *user_name;
    const uint8_t *payload;
    size_t payload_len;
    uint64_t ltime;
    bool coalesce;
};

/* Byte and packet counters for the traffic benchmark; payload bytes as
 * given to/received from the kernel (UDP and TCP, after encryption). */
struct cn_gossip_stats {
    uint64_t udp_bytes_in, udp_bytes_out, udp_pkts_in, udp_pkts_out;
    uint64_t tcp_bytes_in, tcp_bytes_out, tcp_conns_in, tcp_conns_out;
    uint64_t bad_pkts;       /* Dropped: malformed, bad CRC, undecryptable. */
    uint64_t members_alive, members_total;
    uint32_t health_score;   /* Lifeguard awareness, 0 = healthy. */
};

/* ---- serf queries ----------------------------------------------------- */

/* Where and until when an inbound query may be answered. Opaque: copy it
 * by value (it stays usable after the callback) and hand it to
 * cn_gossip_query_respond(). */
struct cn_gossip_query_token {
    uint64_t ltime;
    uint64_t deadline_ms;      /* loop time (uv_now): receipt + the asker's
                                  timeout (serf); answers after it fail */
    uint32_t id;
    uint16_t port;
    uint8_t addr_len;          /* 4 or 16 */
    uint8_t addr[16];
    uint8_t relay_factor;      /* extra copies relayed via other members */
};

/* A query that passed its filters on this node (serf delivers these as
 * "query" events), after the ack (if asked) left. Internal "_serf_*"
 * queries never reach the agent. Borrowed for the callback; the callback
 * may answer at once or keep the token and answer later. */
struct cn_gossip_query_in {
    const char *name;
    const uint8_t *payload;
    size_t payload_len;
    const char *source_node;   /* "" when the asker is serf < 0.9 */
    uint64_t ltime;
    struct cn_gossip_query_token token;
};
typedef void cn_gossip_query_in_fn(void *ctx, const struct cn_gossip_query_in *q);

/* One reply to a query we sent. ACK and RESPONSE carry the responder's
 * name (each at most once per node: duplicates are dropped); DONE comes
 * exactly once, last, when the timeout fires. */
enum cn_gossip_query_reply_type {
    CN_GOSSIP_QR_ACK = 1,
    CN_GOSSIP_QR_RESPONSE = 2,
    CN_GOSSIP_QR_DONE = 3,
};
struct cn_gossip_query_reply {
    enum cn_gossip_query_reply_type type;
    const char *from;          /* NULL for DONE */
    const uint8_t *payload;    /* RESPONSE only (may be NULL/0) */
    size_t payload_len;
};
typedef void cn_gossip_query_fn(void *ctx, const struct cn_gossip_query_reply *r);

/* serf QueryParam. All pointers borrowed for the call. */
struct cn_gossip_query_params {
    const char *const *filter_nodes;   /* only these node names answer */
    size_t n_filter_nodes;
    /* Tag filters: key = tag name, value = regular expression (RE2 syntax
     * as serf's Go regexp; unanchored) that the node's tag value must
     * match; a missing tag is "". cairn evaluates inbound ones with
     * src/filter's RE2 -> POSIX translation (no \p{..} classes). */
    const struct cn_gossip_tag *filter_tags;
    size_t n_filter_tags;
    uint64_t timeout_ms;   /* 0: serf's default, GossipInterval * 16 *
                              ceil(log10(alive members + 1)) */
    bool request_ack;
    uint8_t relay_factor;  /* serf RelayFactor: responders also send each
                              ack/response via this many other members */
};

/* Cluster keyring (serf KeyManager / `serf keys`, Consul keyring). */
enum cn_gossip_key_op {
    CN_GOSSIP_KEY_LIST = 0,
    CN_GOSSIP_KEY_INSTALL = 1,
    CN_GOSSIP_KEY_USE = 2,
    CN_GOSSIP_KEY_REMOVE = 3,
};
/* node -> serf's message: the error of a failed node, or a note from a
 * successful one (e.g. "truncated key list response, ..."). */
struct cn_gossip_node_message {
    const char *node;
    const char *message;
};
struct cn_gossip_key_count {
    const char *key;           /* base64 */
    uint32_t count;            /* nodes that hold it (LIST) */
};
/* What every member answered (serf KeyResponse). Everything is borrowed
 * for the callback only. */
struct cn_gossip_keyring_result {
    int rc;                    /* 0: num_err == 0 and num_resp >= num_nodes
                                  (serf's success); -EIO: num_err > 0
                                  ("%d/%d nodes reported failure");
                                  CN_ETIMEOUT: no errors but fewer answers
                                  than nodes by the timeout; CN_ECLOSED:
                                  the pool closed first */
    uint32_t num_nodes;        /* members alive when the query was sent */
    uint32_t num_resp;
    uint32_t num_err;          /* responses with Result false or undecodable */
    const struct cn_gossip_node_message *messages;  /* errors and notes */
    size_t n_messages;
    const struct cn_gossip_key_count *keys;         /* LIST: key -> count */
    size_t n_keys;
    const struct cn_gossip_key_count *primary_keys; /* LIST: primary -> count
                                                       (nodes that report it:
                                                       cairn, newer serf) */
    size_t n_primary_keys;
};
typedef void cn_gossip_keyring_fn(void *ctx, const struct cn_gossip_keyring_result *r);

/* ---- the libuv agent-facing handle ---------------------------------- */

struct cn_gossip;
typedef void cn_gossip_event_fn(void *ctx, const struct cn_gossip_event *ev);
/* n_ok: how many of the addresses completed a push/pull (0 = failed). */
typedef void cn_gossip_join_fn(void *ctx, int n_ok);
/* rc 0 when the leave was gossiped, CN_ETIMEOUT if the bound ran out
 * (the node has left locally either way). */
typedef void cn_gossip_done_fn(void *ctx, int rc);

struct cn_gossip_config {
    const char *name;              /* Required; unique in the pool. */
    const char *bind_addr;         /* "0.0.0.0", "127.0.0.1", "::"... */
    uint16_t port;                 /* 0 = ephemeral (tests). */
    const char *advertise_addr;    /* NULL: bind_addr (must not be any). */
    uint16_t advertise_port;       /* 0: the bound port. */
    enum cn_gossip_profile profile;
    const struct cn_gossip_tag *tags;
    size_t n_tags;
    /* Base64 keys (16/24/32 bytes decoded), first = primary. None = plain. */
    const char *const *keys;
    size_t n_keys;
    /* 0 = defaults: Consul's 72 h reconnect, serf's 24 h tombstone, 30 s
     * dead-node reclaim (Consul), 20 ms timer granularity. */
    uint64_t reconnect_timeout_ms;
    uint64_t tombstone_timeout_ms;
    uint64_t dead_node_reclaim_ms;
    bool no_compress;              /* Testing: send without LZW. */
    uint64_t seed;                 /* 0 = from getrandom. */
    cn_gossip_event_fn *event_cb;  /* May be NULL. */
    void *event_ctx;
    /* Non-internal queries that pass their filters on this node; NULL:
     * they are acked (if asked) but never answered. */
    cn_gossip_query_in_fn *query_cb;
    void *query_ctx;
};

struct uv_loop_s;
/* Binds UDP and TCP on bind_addr:port. 0, -EINVAL (bad config/keys,
 * message in errmsg), or a libuv error (-EADDRINUSE...). */
int cn_gossip_new(struct uv_loop_s *loop, const struct cn_gossip_config *cfg,
                  struct cn_gossip **out, char errmsg[CN_ERRMSG_MAX]);
/* Stops everything and frees g once libuv has closed the handles; cb
 * (may be NULL) runs then. No other callback runs after this call. */
void cn_gossip_close(struct cn_gossip *g, void (*cb)(void *ctx), void *ctx);

uint16_t cn_gossip_port(const struct cn_gossip *g);  /* Bound port. */
const char *cn_gossip_name(const struct cn_gossip *g);

/* Push/pull with each "host:port" ("[v6]:port"; port defaults to the
 * profile's 8301/8302); cb reports how many worked. -EINVAL if an address
 * does not parse, -EBUSY if a join is running. */
int cn_gossip_join(struct cn_gossip *g, const char *const *addrs, size_t n,
                   cn_gossip_join_fn *cb, void *ctx);
/* Graceful leave: serf leave intent, then memberlist dead(self), each
 * waited for until sent or until timeout_ms. Afterwards the node answers
 * no more probes; close it. -EALREADY if leaving. */
int cn_gossip_leave(struct cn_gossip *g, uint64_t timeout_ms,
                    cn_gossip_done_fn *cb, void *ctx);
/* serf force-leave: a failed member becomes left everywhere. -ENOENT. */
int cn_gossip_force_leave(struct cn_gossip *g, const char *name);
/* Fires a user event. -EMSGSIZE over 512 bytes of name+payload. */
int cn_gossip_user_event(struct cn_gossip *g, const char *name,
                         const uint8_t *payload, size_t len, bool coalesce);
/* Replaces our tags (alive with incarnation+1). -EMSGSIZE over 512. */
int cn_gossip_set_tags(struct cn_gossip *g, const struct cn_gossip_tag *tags,
                       size_t n);

/* Snapshot of the serf member list (self included), sorted by name. The
 * array and everything it points to stay valid until
 * cn_gossip_members_free(). */
int cn_gossip_members(struct cn_gossip *g, struct cn_gossip_member **out,
                      size_t *n_out);
void cn_gossip_members_free(struct cn_gossip_member *m, size_t n);
void cn_gossip_get_stats(const struct cn_gossip *g, struct cn_gossip_stats *out);

/* Keyring (serf keys install/use/remove/list), local to this node.
 * install: -EINVAL on a bad key; use: -ENOENT; remove: -ENOENT, -EBUSY for
 * the primary. list: writes up to max base64 strings (each 45 bytes) into
 * out, primary first; returns the count. */
int cn_gossip_key_install(struct cn_gossip *g, const char *b64);
int cn_gossip_key_use(struct cn_gossip *g, const char *b64);
int cn_gossip_key_remove(struct cn_gossip *g, const char *b64);
int cn_gossip_key_list(struct cn_gossip *g, char (*out)[48], size_t max);


/* Sends a serf query to the pool (ourselves included, as serf does: we
 * answer our own query through the same path). cb gets every ack and
 * response as it arrives, then DONE once at the timeout (the one callback
 * here that runs more than once); cb may not be NULL. There is no cancel:
 * cn_gossip_close() drops outstanding queries without calling back. -EINVAL (empty name, NUL in name, bad filter), -EMSGSIZE (the
 * encoded query exceeds serf's QuerySizeLimit, 1024 bytes), -ENOSPC (256
 * queries outstanding), -ENOMEM. */
int cn_gossip_query(struct cn_gossip *g, const char *name, const uint8_t *payload,
                    size_t len, const struct cn_gossip_query_params *p,
                    cn_gossip_query_fn *cb, void *ctx);
/* Answers an inbound query (from query_cb, or later with a copied token).
 * -ETIMEDOUT past the asker's deadline, -EMSGSIZE if the encoded response
 * exceeds serf's QueryResponseSizeLimit (1024 bytes; about 980 payload
 * bytes). Answer once: the asker ignores a second response. */
int cn_gossip_query_respond(struct cn_gossip *g, const struct cn_gossip_query_token *tok,
                            const uint8_t *payload, size_t len);
/* serf's default query timeout for the current pool size, in ms. */
uint64_t cn_gossip_query_default_timeout(struct cn_gossip *g);

/* Cluster-wide keyring operation, what `serf keys` / `consul keyring` do:
 * the internal query _serf_list-keys / _serf_install-key / _serf_use-key /
 * _serf_remove-key goes to every member (ourselves included) with the
 * default timeout; cb runs exactly once with the collected result, as
 * soon as every alive member answered, when the timeout fires, or (rc
 * CN_ECLOSED) when the pool is closed first. b64key is
 * ignored for LIST and required otherwise (-EINVAL if it is not base64 of
 * 16, 24 or 32 bytes). Each node applies the change to its own keyring:
 * remove of the primary key fails there ("Removing the primary key is not
 * allowed"), use of an unknown key fails ("Requested key is not in the
 * keyring"), a node without encryption answers an error. */
int cn_gossip_keyring_op(struct cn_gossip *g, enum cn_gossip_key_op op, const char *b64key,
                         cn_gossip_keyring_fn *cb, void *ctx);

#endif
