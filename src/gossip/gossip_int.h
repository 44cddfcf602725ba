/* gossip/gossip_int.h - shared by the src/gossip C files only: codec, LZW,
 * and the pure core's step/tick/ready/advance interface. */
#ifndef CN_GOSSIP_INT_H
#define CN_GOSSIP_INT_H

#include "gossip.h"

/* ------------------------------------------------------------------ */
/* Wire constants (gossip-notes.md section 2.2).                        */

enum {
    CN__GM_PING = 0, CN__GM_IPING = 1, CN__GM_ACK = 2, CN__GM_SUSPECT = 3,
    CN__GM_ALIVE = 4, CN__GM_DEAD = 5, CN__GM_PUSHPULL = 6,
    CN__GM_COMPOUND = 7, CN__GM_USER = 8, CN__GM_COMPRESS = 9,
    CN__GM_ENCRYPT = 10, CN__GM_NACK = 11, CN__GM_CRC = 12, CN__GM_ERR = 13,
    CN__GM_LABEL = 244,
};

/* memberlist node states on the wire. */
enum { CN__ML_ALIVE = 0, CN__ML_SUSPECT = 1, CN__ML_DEAD = 2, CN__ML_LEFT = 3 };

/* serf message types inside userMsg (notes 3.2). */
enum {
    CN__SM_LEAVE = 0, CN__SM_JOIN = 1, CN__SM_PUSHPULL = 2, CN__SM_EVENT = 3,
    CN__SM_QUERY = 4, CN__SM_QRESP = 5, CN__SM_RELAY = 9,
};

/* memberlist protocol 1..5, spoken 2; serf delegate 2..5, spoken 4
 * (what Consul speaks; notes 2.12). */
#define CN__GOSSIP_VSN_INIT {1, 5, 2, 2, 5, 4}

/* memberlist: compoundHeaderOverhead 2 + 2 per part; encryption adds
 * version 1 + nonce 12 + tag 16. */
#define CN__GM_COMPOUND_OVERHEAD 2
#define CN__GM_PART_OVERHEAD 2
#define CN__GM_ENCRYPT_OVERHEAD 29

/* A borrowed byte string inside a packet. */
struct cn__gstr {
    const uint8_t *p;
    uint32_t len;
};

struct cn__gm_ping {
    uint32_t seq;
    struct cn__gstr node, src_addr, src_node;
    uint16_t src_port;
};
struct cn__gm_iping {
    uint32_t seq;
    struct cn__gstr target, node, src_addr, src_node;
    uint16_t port, src_port;
    bool nack;
};
struct cn__gm_ack {
    uint32_t seq;
    struct cn__gstr payload;
};
/* suspect and dead share a shape. */
struct cn__gm_accuse {
    uint32_t inc;
    struct cn__gstr node, from;
};
struct cn__gm_alive {
    uint32_t inc;
    struct cn__gstr node, addr, meta, vsn;
    uint16_t port;
};
struct cn__gm_pp_header {
    uint32_t nodes;
    uint32_t user_len;
    bool join;
};
struct cn__gm_pp_node {
    struct cn__gstr name, addr, meta, vsn;
    uint32_t inc;
    uint16_t port;
    uint8_t state;
};

/* Readers take the map after the type byte; CN_EMALFORMED on anything
 * wrong (types, ranges, truncation). Unknown keys are skipped. */
int cn__gm_read_ping(struct cn_mp_reader *r, struct cn__gm_ping *m);
int cn__gm_read_iping(struct cn_mp_reader *r, struct cn__gm_iping *m);
int cn__gm_read_ack(struct cn_mp_reader *r, struct cn__gm_ack *m);
int cn__gm_read_nack(struct cn_mp_reader *r, uint32_t *seq);
int cn__gm_read_accuse(struct cn_mp_reader *r, struct cn__gm_accuse *m);
int cn__gm_read_alive(struct cn_mp_reader *r, struct cn__gm_alive *m);
int cn__gm_read_pp_header(struct cn_mp_reader *r, struct cn__gm_pp_header *m);
int cn__gm_read_pp_node(struct cn_mp_reader *r, struct cn__gm_pp_node *m);
int cn__gm_read_err(struct cn_mp_reader *r, struct cn__gstr *msg);
int cn__gm_read_user_len(struct cn_mp_reader *r, uint32_t *len);

/* Writers emit the type byte and the map (sorted Go field names, old
 * string format). Errors latch in w->err. */
void cn__gm_put_ping(struct cn_mp_writer *w, const struct cn__gm_ping *m);
void cn__gm_put_iping(struct cn_mp_writer *w, const struct cn__gm_iping *m);
void cn__gm_put_ack(struct cn_mp_writer *w, const struct cn__gm_ack *m);
void cn__gm_put_nack(struct cn_mp_writer *w, uint32_t seq);
void cn__gm_put_accuse(struct cn_mp_writer *w, uint8_t type,
                       const struct cn__gm_accuse *m);
void cn__gm_put_alive(struct cn_mp_writer *w, const struct cn__gm_alive *m);
void cn__gm_put_pp_header(struct cn_mp_writer *w, const struct cn__gm_pp_header *m);
void cn__gm_put_pp_node(struct cn_mp_writer *w, const struct cn__gm_pp_node *m);
void cn__gm_put_err(struct cn_mp_writer *w, const char *msg);
void cn__gm_writer(struct cn_mp_writer *w, struct cn_buf *b);  /* old_str on */

/* Compound: splits p (after the type byte) into parts. Truncated input
 * keeps the parts that fit (memberlist does the same) and sets *truncated. */
int cn__gm_compound_split(const uint8_t *p, size_t len, struct cn__gstr *parts,
                          size_t max, size_t *n, bool *truncated);
/* Appends [7][n][lens][parts] to out. 1 <= n <= 255, each part < 64 KiB. */
int cn__gm_compound_build(struct cn_buf *out, const struct cn__gstr *parts,
                          size_t n);

/* CRC wrapper [12][crc32 BE][msg]. */
int cn__gm_crc_wrap(struct cn_buf *out, const uint8_t *msg, size_t len);
/* On [12]: checks and strips; CN_ECORRUPT on mismatch. */
int cn__gm_crc_unwrap(const uint8_t *p, size_t len, struct cn__gstr *inner);

/* LZW, Go compress/lzw LSB order, literal width 8 (notes 2.6). */
struct cn__lzw_ws {
    uint64_t *table;   /* 16384 entries tagged with gen (no clearing). */
    uint32_t gen;
};
int cn__lzw_ws_init(struct cn__lzw_ws *ws);
void cn__lzw_ws_close(struct cn__lzw_ws *ws);
int cn__lzw_encode(struct cn__lzw_ws *ws, const uint8_t *in, size_t n,
                   struct cn_buf *out);
/* Decodes to out (bounded by out->max: -EMSGSIZE); CN_EMALFORMED on an
 * invalid code or a missing end code. */
int cn__lzw_decode(const uint8_t *in, size_t n, struct cn_buf *out);
/* [9]{Algo 0, Buf lzw(msg)} appended to out. */
int cn__gm_compress(struct cn__lzw_ws *ws, const uint8_t *msg, size_t len,
                    struct cn_buf *out);
/* p points after the [9] byte; decompressed bytes go to out. */
int cn__gm_decompress(const uint8_t *p, size_t len, struct cn_buf *out);

/* Streams: is a whole message in p[0..len)? 1 and *msg_len if so, 0 if
 * more bytes are needed, CN_EMALFORMED if it can never become valid.
 * Plain messages are parsed through (msgpack has no outer length). */
int cn__gm_stream_complete(const uint8_t *p, size_t len, size_t *msg_len);

/* ---- serf messages (codec_serf.c) ---- */
struct cn__sm_intent {  /* leave (with prune) and join */
    uint64_t ltime;
    struct cn__gstr node;
    bool prune;
};
struct cn__sm_event {
    uint64_t ltime;
    struct cn__gstr name, payload;
    bool cc;
};
int cn__sm_read_intent(struct cn_mp_reader *r, struct cn__sm_intent *m);
int cn__sm_read_event(struct cn_mp_reader *r, struct cn__sm_event *m);
/* Writers emit [8][serf type][map] (the whole memberlist user message). */
void cn__sm_put_intent(struct cn_mp_writer *w, uint8_t type,
                       const struct cn__sm_intent *m);
void cn__sm_put_event(struct cn_mp_writer *w, const struct cn__sm_event *m);
/* serf query (messageQuery): every field serf 0.8-0.10 sends. Filters
 * are [type byte][msgpack] blobs (see cn__sm_filter_*). */
enum { CN__SM_CONFLICT = 6, CN__SM_KEYREQ = 7, CN__SM_KEYRESP = 8 };
enum { CN__SQ_ACK = 1, CN__SQ_NOBCAST = 2 };  /* query flags */
enum { CN__SF_NODE = 0, CN__SF_TAG = 1 };      /* filter types */
struct cn__sm_query {
    uint64_t ltime;
    uint32_t id, flags;
    struct cn__gstr addr, src_node, name, payload;
    uint16_t port;
    uint8_t relay;
    int64_t timeout_ns;
    struct cn__gstr filters[CN_GOSSIP_QUERY_FILTERS_MAX];
    uint32_t n_filters;
    bool filters_over;  /* more filters than we keep: never answered */
};
int cn__sm_read_query(struct cn_mp_reader *r, struct cn__sm_query *m);
/* [8][4]{...}: the whole memberlist user message. */
void cn__sm_put_query(struct cn_mp_writer *w, const struct cn__sm_query *m);
/* messageQueryResponse; flags & CN__SQ_ACK marks an ack. */
struct cn__sm_qresp {
    uint64_t ltime;
    uint32_t id, flags;
    struct cn__gstr from, payload;
};
int cn__sm_read_qresp(struct cn_mp_reader *r, struct cn__sm_qresp *m);
void cn__sm_put_qresp(struct cn_mp_writer *w, const struct cn__sm_qresp *m);
/* Filter blobs appended to out (plain bytes, to be put as one string). */
int cn__sm_filter_nodes_encode(struct cn_buf *out, const char *const *names, size_t n);
int cn__sm_filter_tag_encode(struct cn_buf *out, const char *tag, const char *expr);
/* Node filter: *match = name is listed. Tag filter: tag and expr strings.
 * CN_EMALFORMED on a bad blob; -ENOTSUP on an unknown filter type. */
int cn__sm_filter_nodes_match(const struct cn__gstr *f, const char *name, size_t len,
                              bool *match);
int cn__sm_filter_tag_read(const struct cn__gstr *f, struct cn__gstr *tag,
                           struct cn__gstr *expr);
/* Key request [7]{Key}: p/len include the type byte. */
int cn__sm_keyreq_encode(struct cn_buf *out, const uint8_t *key, size_t len);
int cn__sm_keyreq_decode(const uint8_t *p, size_t len, struct cn__gstr *key);
/* nodeKeyResponse [8]{Keys, Message, PrimaryKey, Result}. */
#define CN__SM_KEYRESP_KEYS_MAX 64
struct cn__sm_keyresp {
    bool result;
    struct cn__gstr message, primary;
    struct cn__gstr keys[CN__SM_KEYRESP_KEYS_MAX];
    uint32_t n_keys;
};
int cn__sm_keyresp_encode(struct cn_buf *out, const struct cn__sm_keyresp *m);
int cn__sm_keyresp_decode(const uint8_t *p, size_t len, struct cn__sm_keyresp *m);
struct cn__gaddr;
/* Relay (serf relayResponse): p/len follow the [9] byte; dest and the
 * inner message (serf type byte + msgpack) to forward as a user message. */
int cn__sm_relay_read(const uint8_t *p, size_t len, struct cn__gaddr *dest,
                      struct cn__gstr *inner);
/* [8][9]{DestAddr, DestName} + msg (serf type byte + msgpack). */
int cn__sm_relay_encode(struct cn_buf *out, const struct cn__gaddr *dest, const char *dest_name,
                        const uint8_t *msg, size_t len);
/* Conflict response [6] + serf Member map of m, or nil when m is NULL. */
int cn__sm_conflict_encode(struct cn_buf *out, const struct cn_gossip_member *m,
                           const uint8_t *ip, size_t ip_len);

/* Tags in Meta: 0xff + msgpack map (sorted keys from us). */
int cn__gossip_tags_encode(const struct cn_gossip_tag *tags, size_t n,
                           struct cn_buf *out);
/* Parses meta into one cn_alloc'd blob: *tags_out points to the sorted
 * array inside it (free the blob with cn_free(*tags_out)). Legacy meta
 * (no 0xff) becomes {role: meta}. CN_EMALFORMED, -ENOMEM. */
int cn__gossip_tags_decode(const uint8_t *meta, size_t len,
                           struct cn_gossip_tag **tags_out, size_t *n_out);

/* ------------------------------------------------------------------ */
/* Timing profiles (memberlist 0.2.2 defaults, notes 1.8).              */

struct cn__gossip_timing {
    uint32_t tcp_timeout_ms;
    uint32_t indirect_checks;
    uint32_t retransmit_mult;
    uint32_t suspicion_mult;
    uint32_t suspicion_max_mult;
    uint32_t push_pull_ms;
    uint32_t probe_interval_ms;
    uint32_t probe_timeout_ms;
    uint32_t gossip_nodes;
    uint32_t gossip_interval_ms;
    uint32_t gossip_dead_ms;
    uint32_t awareness_max;
    uint16_t default_port;
};
void cn__gossip_timing_init(struct cn__gossip_timing *t, enum cn_gossip_profile p);

/* ------------------------------------------------------------------ */
/* Pure core.                                                           */

struct cn__gaddr {
    uint8_t ip[16];
    uint8_t len;       /* 4 or 16 */
    uint16_t port;
};
/* "a.b.c.d" or IPv6 text of a into out (>= 48 bytes). */
void cn__gaddr_format(const uint8_t *ip, size_t len, char *out, size_t out_size);

struct cn__gcore_config {
    const char *name;
    struct cn__gaddr addr;          /* Advertised. */
    struct cn__gossip_timing t;
    const struct cn_gossip_tag *tags;
    size_t n_tags;
    uint64_t reconnect_timeout_ms;
    uint64_t tombstone_timeout_ms;
    uint64_t dead_node_reclaim_ms;
    bool compress;                  /* LZW on UDP (if smaller) and streams. */
    bool encrypted;                 /* Budget 29 bytes for the shell's seal. */
    uint64_t seed;
    const struct cn_logger *log;    /* Borrowed for the core's life. */
};

enum cn__gstream_kind {
    CN__GSTREAM_PUSHPULL = 1,   /* reply: our push/pull; merge theirs */
    CN__GSTREAM_PING = 2,       /* TCP fallback ping; reply: ack */
};

struct cn__gpkt {
    struct cn__gaddr to;
    uint8_t *data;
    size_t len;
};
struct cn__gstream {
    uint32_t id;
    enum cn__gstream_kind kind;
    struct cn__gaddr to;
    uint8_t *data;
    size_t len;
    uint64_t deadline_ms;
};

/* Output of the core since the last advance; all borrowed until then. */
struct cn__gready {
    struct cn__gpkt *pkts;
    size_t n_pkts;
    struct cn__gstream *streams;
    size_t n_streams;
    struct cn_gossip_event *events;
    size_t n_events;
    bool leave_done;            /* The graceful leave finished... */
    int leave_rc;               /* ...with 0 or CN_ETIMEOUT. */
};

struct cn__gcore;
int cn__gcore_new(struct cn__gcore **out, const struct cn__gcore_config *cfg,
                  uint64_t now_ms);
void cn__gcore_free(struct cn__gcore *c);
/* One datagram (plaintext: the shell decrypted it). Malformed input is
 * counted and returns CN_EMALFORMED/CN_ECORRUPT; the core is unchanged. */
int cn__gcore_recv(struct cn__gcore *c, uint64_t now_ms,
                   const struct cn__gaddr *from, const uint8_t *p, size_t len);
/* A whole inbound stream message (plaintext); the reply (maybe empty) is
 * appended to reply, to be sealed and sent by the shell. */
int cn__gcore_stream_in(struct cn__gcore *c, uint64_t now_ms,
                        const struct cn__gaddr *from, const uint8_t *p,
                        size_t len, struct cn_buf *reply);
/* Outcome of an outbound stream: rc 0 with the reply bytes, or an error
 * (connect/timeout). Returns 0 if the reply was merged/accepted. */
int cn__gcore_stream_done(struct cn__gcore *c, uint64_t now_ms, uint32_t id,
                          int rc, const uint8_t *p, size_t len);
void cn__gcore_tick(struct cn__gcore *c, uint64_t now_ms);
/* Starts a join push/pull to addr; *id identifies its stream. */
int cn__gcore_join(struct cn__gcore *c, uint64_t now_ms,
                   const struct cn__gaddr *addr, uint32_t *id);
/* Called by the shell after >= 1 join succeeded: serf join intent. */
void cn__gcore_joined(struct cn__gcore *c, uint64_t now_ms);
int cn__gcore_leave(struct cn__gcore *c, uint64_t now_ms, uint64_t timeout_ms);
int cn__gcore_force_leave(struct cn__gcore *c, uint64_t now_ms,
                          const char *name);
int cn__gcore_user_event(struct cn__gcore *c, uint64_t now_ms, const char *name,
                         const uint8_t *payload, size_t len, bool cc);
int cn__gcore_set_tags(struct cn__gcore *c, uint64_t now_ms,
                       const struct cn_gossip_tag *tags, size_t n);
bool cn__gcore_has_ready(const struct cn__gcore *c);
void cn__gcore_ready(struct cn__gcore *c, struct cn__gready *rd);
void cn__gcore_advance(struct cn__gcore *c, struct cn__gready *rd);
/* Moves the pending events out of the core (so that callbacks may call
 * back into it); free them with cn__gcore_events_free. */
void cn__gcore_take_events(struct cn__gcore *c, struct cn_gossip_event **ev,
                           void ***blobs, size_t *n);
void cn__gcore_events_free(struct cn_gossip_event *ev, void **blobs, size_t n);

/* ---- serf queries (core_query.c) ---- */
struct cn__gquery_params {
    const char *name;
    const uint8_t *payload;
    size_t len;
    const struct cn_gossip_query_params *p;  /* may be NULL: defaults */
};
/* Sends a query; *handle names it in the ACK/RESP/DONE items. */
int cn__gcore_query(struct cn__gcore *c, uint64_t now_ms, const struct cn__gquery_params *qp,
                    uint32_t *handle);
/* Forgets an outstanding query: no more items for it (no DONE either). */
void cn__gcore_query_cancel(struct cn__gcore *c, uint32_t handle);
int cn__gcore_query_respond(struct cn__gcore *c, uint64_t now_ms,
                            const struct cn_gossip_query_token *tok,
                            const uint8_t *payload, size_t len);
uint64_t cn__gcore_query_default_timeout(const struct cn__gcore *c);

/* Query output, taken by the shell like events. IN: a query for the shell
 * to answer (keyring "_serf_*-key(s)" queries, and user queries); name is
 * the query name. ACK/RESP: a reply to our query `handle`, name = from.
 * DONE: our query timed out. */
enum { CN__GQ_IN = 1, CN__GQ_ACK = 2, CN__GQ_RESP = 3, CN__GQ_DONE = 4 };
struct cn__gqitem {
    uint8_t kind;
    uint32_t handle;
    char *name;
    char *src_node;
    uint8_t *payload;
    uint32_t len;
    uint64_t ltime;
    struct cn_gossip_query_token tok;
};
void cn__gcore_take_queries(struct cn__gcore *c, struct cn__gqitem **items, size_t *n);
void cn__gcore_queries_free(struct cn__gqitem *items, size_t n);

/* Serf member view: fills m (borrowed until the next core call). */
size_t cn__gcore_member_count(const struct cn__gcore *c);
bool cn__gcore_member_at(const struct cn__gcore *c, size_t i,
                         struct cn_gossip_member *m);
/* memberlist view of one node (tests, sim): -1 if unknown, else state. */
int cn__gcore_ml_state(const struct cn__gcore *c, const char *name,
                       uint32_t *inc);
enum cn_gossip_status cn__gcore_serf_status(const struct cn__gcore *c,
                                            const char *name);
uint32_t cn__gcore_health(const struct cn__gcore *c);
size_t cn__gcore_alive_count(const struct cn__gcore *c);
void cn__gcore_set_encrypted(struct cn__gcore *c, bool on);

struct cn__gcore_counters {
    uint64_t bad_pkts, probes, probe_fail, indirect, tcp_fallback, nacks_in,
        suspects_raised, refutes, deads_declared, pushpulls, bcast_dropped,
        events_dup, queries_in, queries_answered, query_resp_in, query_resp_dup,
        query_bad, query_relayed;
};
void cn__gcore_counters(const struct cn__gcore *c, struct cn__gcore_counters *out);
/* Simulation/test hook: forget queued broadcasts (a bootstrapped steady
 * state without the join burst). */
void cn__gcore_drop_broadcasts(struct cn__gcore *c);

/* ------------------------------------------------------------------ */
/* Keyring and AES-GCM sealing (keyring.c, OpenSSL; impure).            */

#define CN__KEYRING_MAX 16
struct cn__keyring {
    uint8_t keys[CN__KEYRING_MAX][32];
    uint8_t lens[CN__KEYRING_MAX];
    size_t n;                      /* keys[0] is the primary */
};
/* Decodes base64 and checks the length (16/24/32). */
int cn__key_decode(const char *b64, uint8_t key[32], size_t *len);
int cn__keyring_install(struct cn__keyring *kr, const char *b64);
int cn__keyring_use(struct cn__keyring *kr, const char *b64);
int cn__keyring_remove(struct cn__keyring *kr, const char *b64);
/* [1][nonce 12][ciphertext][tag 16] with the primary key. */
int cn__keyring_seal(const struct cn__keyring *kr, const uint8_t *aad, size_t aad_len,
                     const uint8_t *pt, size_t n, struct cn_buf *out);
/* Tries every key; version 0 blobs are PKCS7-unpadded. CN_EDENIED if no
 * key opens it, CN_EMALFORMED if too short or of an unknown version. */
int cn__keyring_open(const struct cn__keyring *kr, const uint8_t *aad, size_t aad_len,
                     const uint8_t *blob, size_t n, struct cn_buf *out);

#endif
