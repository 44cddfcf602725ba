/* base/limits.h - every hard limit in cairn, each with its reason.
 *
 * SQLite's sqliteLimit.h is the model: one place to read what an untrusted
 * peer can make us hold, and _Static_asserts that keep related limits
 * consistent. None of these can be switched off at run time; a config value
 * may only lower them.
 */
#ifndef CN_LIMITS_H
#define CN_LIMITS_H

/* ---- errors and logging ---- */
#define CN_ERRMSG_MAX 256           /* Long-lived objects' error text. */
#define CN_LOG_LINE_BYTES_MAX 1024  /* One log line, truncated with "...". */
#define CN_PATH_BYTES_MAX 4096      /* PATH_MAX on Linux. */

/* ---- HTTP (src/http) ---- */
/* Go's net/http caps the header block at 1 MiB (DefaultMaxHeaderBytes); we
 * need far less: the longest real request line is a KV key (Consul caps keys
 * nowhere, but 64 KiB is more than any client sends) plus a token. */
#define CN_HTTP_HEAD_BYTES_MAX (64 << 10)
#define CN_HTTP_HEADERS_MAX 64        /* Header fields per request. */
#define CN_HTTP_QUERY_PARAMS_MAX 64   /* ?a=&b= pairs per request. */
/* Consul's limits.kv_max_value_size and limits.txn_max_req_len: 512 KiB. */
#define CN_KV_VALUE_BYTES_MAX (512 << 10)
#define CN_TXN_BODY_BYTES_MAX (512 << 10)
/* The largest body any endpoint accepts: a txn or KV value, plus slack for
 * JSON/base64 overhead on endpoints that carry one (3/4 expansion + framing). */
#define CN_HTTP_BODY_BYTES_MAX (1 << 20)
/* Consul's limits.http_max_conns_per_client default. */
#define CN_HTTP_CONNS_PER_IP_MAX 200
/* Total connections: each parked request costs ~2 KiB; 16384 parked
 * blocking queries fit the 40 MiB budget of issue 2 with room to spare. */
#define CN_HTTP_CONNS_MAX 16384
#define CN_HTTP_HEADER_TIMEOUT_MS 10000  /* Slowloris: whole head within 10 s. */
#define CN_HTTP_IDLE_TIMEOUT_MS 90000    /* Keep-alive idle, Go's default 90 s. */
#define CN_HTTP_BODY_TIMEOUT_MS 60000    /* Body must keep arriving. */
#define CN_HTTP_PIPELINE_BYTES_MAX (256 << 10) /* Unparsed pipelined input held. */
#define CN_HTTP_RESP_BYTES_MAX (256 << 20)  /* One response body (a big recurse). */
/* The agent's cache of big list answers (agent/api/rcache.c). */
#define CN_RCACHE_ENTRIES_MAX 64
#define CN_RCACHE_BYTES_MAX (32 << 20)
#define CN_RCACHE_BODY_MIN (16 << 10)           /* Smaller: rebuilt each time. */
#define CN_RCACHE_KEY_BYTES_MAX (16 << 10)

/* A `cairn snapshot` image: the whole state plus a header. The state is
 * capped far below this by memory long before. */
#define CN_SNAPSHOT_BYTES_MAX (1u << 30)
#define CN_SNAPSHOT_IMAGE_BYTES_MAX (CN_SNAPSHOT_BYTES_MAX + (2u << 20))

/* ---- JSON (src/json) ---- */
#define CN_JSON_DEPTH_MAX 32          /* Nesting of request bodies. */
#define CN_TXN_OPS_MAX 128            /* Consul's current maxTxnOps. */

/* ---- ?filter= expressions (src/filter) ---- */
/* A filter is a query parameter, so the request head bounds it already;
 * 16 KiB still fits ~700 OR'd `ServiceName == "x"` terms, far beyond what
 * clients generate. Consul itself sets no limit. */
#define CN_FILTER_EXPR_BYTES_MAX (16 << 10)
/* Nesting of parentheses and `not`: recursion depth of parser and
 * evaluator. */
#define CN_FILTER_DEPTH_MAX 64
/* AST nodes (match, and, or, not): bounds compile memory (~64 B each) and
 * evaluation time per element. */
#define CN_FILTER_NODES_MAX 2048
#define CN_FILTER_SELECTOR_SEGS_MAX 32  /* Path segments in one selector. */
/* Regexes: glibc compiles counted repetition by copying, and matching
 * costs (pattern states x subject bytes), ~5-40 ns per unit measured; a
 * state budget of 1000 keeps a 4 KiB check Output under ~0.2 s worst case
 * per element. Go accepts a{1000}, which fits. */
#define CN_FILTER_REGEXES_MAX 16
#define CN_FILTER_REGEX_BYTES_MAX 1024
#define CN_FILTER_REGEX_SIZE_MAX 1000

/* ---- KV / state ---- */
#define CN_KV_KEY_BYTES_MAX (16 << 10)  /* Keys longer than this are refused. */
#define CN_SESSION_ID_BYTES 36

/* ---- catalog, health, sessions (src/state) ----
 * Consul caps few of these; ours bound what one command can make a server
 * hold, far above what real registrations carry. */
#define CN_CATALOG_STR_BYTES_MAX 1024       /* A name, ID, address, tag, meta key/value. */
#define CN_CATALOG_TEXT_BYTES_MAX (64 << 10) /* Check notes/output, opaque blobs. */
#define CN_CATALOG_LIST_MAX 256             /* Tags, meta pairs, addresses, session checks. */
#define CN_REGISTER_CHECKS_MAX 256          /* Checks in one catalog register. */
/* Consul's session_ttl_min default and SessionTTLMax; MaxLockDelay. */
#define CN_SESSION_TTL_MIN_NS (10ll * 1000000000)
#define CN_SESSION_TTL_MAX_NS (24ll * 3600 * 1000000000)
#define CN_SESSION_LOCK_DELAY_MAX_NS (60ll * 1000000000)

/* ---- blocking queries (consul-compat.md section 3) ---- */
#define CN_QUERY_WAIT_DEFAULT_MS (5 * 60 * 1000)
#define CN_QUERY_WAIT_MAX_MS (10 * 60 * 1000)
#define CN_QUERY_JITTER_FRACTION 16  /* Up to wait/16 extra. */

/* ---- hash map / sorted map ---- */
#define CN_MAP_ENTRIES_MAX (1u << 30)

/* ---- durations (Go syntax) ---- */
#define CN_DURATION_BYTES_MAX 64

/* ---- Raft (src/raft) ---- */
/* Servers in one configuration, voters and learners together. Consul runs
 * 3 or 5 voters; 32 leaves room for non-voting read replicas, and keeps a
 * configuration (and the leader's per-peer progress table) a fixed size. */
#define CN_RAFT_MEMBERS_MAX 32
/* A member's address as the shell dials it ("ip:port"; "[v6]:port" is at
 * most 47 bytes). Opaque to the core. */
#define CN_RAFT_ADDR_BYTES_MAX 64
/* One log entry's payload: a maximal txn (CN_TXN_BODY_BYTES_MAX) after
 * msgpack re-encoding stays far below; the WAL refuses larger records. */
#define CN_RAFT_ENTRY_BYTES_MAX (4u << 20)
/* Entries in one AppendEntries; the leader sends fewer (config), a peer
 * that declares more is malformed. */
#define CN_RAFT_MSG_ENTRIES_MAX 4096
/* One encoded Raft message: room for a maximal entry plus headers; the
 * leader packs at most max_msg_bytes (default 1 MiB) of entries. */
#define CN_RAFT_MSG_BYTES_MAX (8u << 20)
/* One InstallSnapshot chunk. */
#define CN_RAFT_SNAPSHOT_CHUNK_BYTES_MAX (1u << 20)
/* A whole snapshot image a follower will assemble in memory: the state
 * store's own cap is far below. Buffers grow only as chunks arrive. */
#define CN_RAFT_SNAPSHOT_BYTES_MAX (1ull << 30)
/* AppendEntries a leader keeps in flight to one follower (pipelining). */
#define CN_RAFT_INFLIGHT_MAX 256
/* ReadIndex requests waiting on one leader; more get CN_ELIMIT. */
#define CN_RAFT_READS_MAX 65536

_Static_assert(CN_RAFT_ENTRY_BYTES_MAX + 4096 <= CN_RAFT_MSG_BYTES_MAX,
               "a maximal entry must fit one Raft message");
_Static_assert(CN_RAFT_SNAPSHOT_CHUNK_BYTES_MAX + 4096 <= CN_RAFT_MSG_BYTES_MAX,
               "a maximal snapshot chunk must fit one Raft message");


/* ---- gossip (src/gossip, gossip-notes.md) ---- */
/* memberlist's UDPBufferSize: a gossip packet we build never exceeds it. */
#define CN_GOSSIP_UDP_SEND_BYTES_MAX 1400
/* memberlist's receive buffer; a datagram can be no larger anyway. */
#define CN_GOSSIP_UDP_RECV_BYTES_MAX 65536
/* memberlist refuses an encrypted push/pull over 20 MiB (maxPushStateBytes). */
#define CN_GOSSIP_STREAM_BYTES_MAX (20 << 20)
/* A decompressed stream may not exceed twice the stream cap (LZW bombs). */
#define CN_GOSSIP_INFLATE_BYTES_MAX (40 << 20)
/* memberlist's MetaMaxSize; serf's encoded tags must fit it. */
#define CN_GOSSIP_META_BYTES_MAX 512
/* Node names: memberlist sets no cap; Consul node names are DNS labels
 * (<= 63) plus ".dc" on the WAN. 255 keeps a name in one u8 length. */
#define CN_GOSSIP_NAME_BYTES_MAX 255
/* Members held (memberlist + serf). Consul's largest known LAN pools are
 * ~10k; push/pull with more Nodes than this is refused. */
#define CN_GOSSIP_MEMBERS_MAX 65536
/* memberlist compound: count is a u8. */
#define CN_GOSSIP_COMPOUND_PARTS_MAX 255
/* Nesting of compress/compound/crc wrappers inside one packet. */
#define CN_GOSSIP_WRAP_DEPTH_MAX 4
/* serf: UserEventSizeLimit (agent, 512) and the 9 KiB hard cap. */
#define CN_GOSSIP_USER_EVENT_BYTES_MAX 512
#define CN_GOSSIP_USER_EVENT_HARD_BYTES_MAX (9 << 10)
/* serf's EventBuffer: user-event dedup ring slots. */
#define CN_GOSSIP_EVENT_BUFFER 512
/* Broadcast queue: serf's MaxQueueDepth default (oldest dropped past it). */
#define CN_GOSSIP_QUEUE_DEPTH_MAX 4096
/* memberlist: max concurrent inbound push/pulls. */
#define CN_GOSSIP_STREAMS_IN_MAX 128
/* Outstanding ack handlers (probes + relayed indirect pings). */
#define CN_GOSSIP_ACK_HANDLERS_MAX 1024
/* serf recentIntents: intents for unknown nodes kept (RecentIntentTimeout). */
#define CN_GOSSIP_RECENT_INTENTS_MAX 4096
/* serf QuerySizeLimit / QueryResponseSizeLimit defaults: the encoded
 * query / response message (serf type byte included). */
#define CN_GOSSIP_QUERY_BYTES_MAX 1024
#define CN_GOSSIP_QUERY_RESPONSE_BYTES_MAX 1024
/* Queries of ours awaiting responses (each holds its responder set). */
#define CN_GOSSIP_QUERIES_OUT_MAX 256
/* Inbound filters we evaluate per query; more and we do not answer. */
#define CN_GOSSIP_QUERY_FILTERS_MAX 16

_Static_assert(CN_GOSSIP_USER_EVENT_BYTES_MAX <= CN_GOSSIP_UDP_SEND_BYTES_MAX,
               "a user event must fit one gossip packet");
_Static_assert(CN_GOSSIP_STREAM_BYTES_MAX < CN_GOSSIP_INFLATE_BYTES_MAX,
               "inflate cap above the stream cap");

/* ---- health checks (src/agent/checks, consul-compat.md section 7) ---- */
/* Consul lets check_output_max_size grow without bound; a check's output
 * is held per check and shipped to the catalog, so an operator may raise
 * the 4 KiB default only this far. */
#define CN_CHECK_OUTPUT_BYTES_MAX (1 << 20)
/* A check definition (strings, args, headers, body) packed in one block;
 * the register endpoint's body is smaller than this anyway. */
#define CN_CHECK_DEF_BYTES_MAX (256 << 10)
#define CN_CHECK_ARGS_MAX 256          /* Script argv entries. */
#define CN_CHECK_HEADERS_MAX 64        /* Header names, and values per name. */
/* Go's http.Client stops after 10 redirects ("stopped after 10 redirects"). */
#define CN_CHECK_REDIRECTS_MAX 10

_Static_assert(CN_CHECK_DEF_BYTES_MAX <= CN_HTTP_BODY_BYTES_MAX,
               "a maximal check definition fits a request body");

/* ---- DNS (src/agent/dns, consul-compat.md 6) ---- */
/* A query is a header, one question (<= 259 bytes) and an OPT record
 * whose options are a cookie (<= 40) and a client subnet (<= 20); 4 KiB
 * is far above any real query. Larger UDP queries get FORMERR; a TCP
 * frame declaring more closes the connection (we never buffer it). */
#define CN_DNS_REQ_BYTES_MAX 4096
/* Consul's maxUDPDatagramSize (65535 - 68): an EDNS size above it is
 * lowered to it. */
#define CN_DNS_UDP_RESP_BYTES_MAX 65467
/* Consul's trimTCPResponse: 64 KiB minus 12 bytes of overhead. */
#define CN_DNS_TCP_RESP_BYTES_MAX 65523
/* Queries waiting for a backend lookup or a recursor. Each holds ~1.5 KiB
 * (plus the request bytes while forwarded), so 6 MiB at most; past it new
 * queries are dropped and counted, as a UDP server under overload must. */
#define CN_DNS_INFLIGHT_MAX 4096
#define CN_DNS_TCP_CONNS_MAX 512
/* Pipelined queries answered concurrently per TCP connection (RFC 7766
 * 6.2.1.1); reading pauses past it. */
#define CN_DNS_TCP_PIPELINE_MAX 16
/* miekg/dns's default TCP idle timeout (Consul's DNS server). */
#define CN_DNS_TCP_IDLE_TIMEOUT_MS 8000
/* Unsent response bytes per TCP connection before reading pauses. */
#define CN_DNS_TCP_WRITE_QUEUE_BYTES_MAX (256 << 10)
/* Instances considered for one answer: 4096 A records are what fits a
 * 64 KiB TCP reply (Consul's trimTCPResponse cap); a bigger service is
 * sampled uniformly at random down to it. */
#define CN_DNS_INSTANCES_MAX 4096
/* TXT records made from one node's meta (Consul allows 64 meta keys). */
#define CN_DNS_META_TXT_MAX 64
/* Compiled-answer cache: entries and total bytes. */
#define CN_DNS_CACHE_ENTRIES_MAX 1024
#define CN_DNS_CACHE_BYTES_MAX (16 << 20)
#define CN_DNS_RECURSORS_MAX 8
#define CN_DNS_LISTENERS_MAX 8
/* UDP responses queued while the socket is not writable. */
#define CN_DNS_UDP_SENDQ_MAX 1024
/* NS records for the zone apex: Consul returns up to three servers. */
#define CN_DNS_NS_MAX 3

_Static_assert(CN_KV_VALUE_BYTES_MAX < CN_HTTP_BODY_BYTES_MAX,
               "a maximal KV value must fit a request body");
_Static_assert(CN_TXN_BODY_BYTES_MAX <= CN_HTTP_BODY_BYTES_MAX,
               "a maximal txn must fit a request body");
_Static_assert(CN_KV_KEY_BYTES_MAX < CN_HTTP_HEAD_BYTES_MAX,
               "a maximal key must fit the request line");
_Static_assert(CN_HTTP_CONNS_PER_IP_MAX <= CN_HTTP_CONNS_MAX,
               "per-IP cap below the global cap");
_Static_assert(CN_FILTER_EXPR_BYTES_MAX < CN_HTTP_HEAD_BYTES_MAX,
               "a maximal filter must fit the request line");
_Static_assert(CN_FILTER_REGEX_BYTES_MAX <= CN_FILTER_EXPR_BYTES_MAX,
               "a regex is part of an expression");
_Static_assert(CN_QUERY_WAIT_DEFAULT_MS <= CN_QUERY_WAIT_MAX_MS,
               "default wait within the maximum");
_Static_assert(CN_DNS_REQ_BYTES_MAX >= 512 && CN_DNS_REQ_BYTES_MAX <= 65535,
               "a DNS query must fit a TCP frame and hold a classic query");
_Static_assert(CN_DNS_UDP_RESP_BYTES_MAX <= 65535 &&
               CN_DNS_TCP_RESP_BYTES_MAX <= 65535,
               "DNS replies fit a 16-bit length");

#endif
