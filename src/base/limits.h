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

/* ---- JSON (src/json) ---- */
#define CN_JSON_DEPTH_MAX 32          /* Nesting of request bodies. */
#define CN_TXN_OPS_MAX 128            /* Consul's current maxTxnOps. */

/* ---- KV / state ---- */
#define CN_KV_KEY_BYTES_MAX (16 << 10)  /* Keys longer than this are refused. */
#define CN_SESSION_ID_BYTES 36

/* ---- blocking queries (consul-compat.md section 3) ---- */
#define CN_QUERY_WAIT_DEFAULT_MS (5 * 60 * 1000)
#define CN_QUERY_WAIT_MAX_MS (10 * 60 * 1000)
#define CN_QUERY_JITTER_FRACTION 16  /* Up to wait/16 extra. */

/* ---- hash map / sorted map ---- */
#define CN_MAP_ENTRIES_MAX (1u << 30)

/* ---- durations (Go syntax) ---- */
#define CN_DURATION_BYTES_MAX 64

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
_Static_assert(CN_QUERY_WAIT_DEFAULT_MS <= CN_QUERY_WAIT_MAX_MS,
               "default wait within the maximum");
_Static_assert(CN_DNS_REQ_BYTES_MAX >= 512 && CN_DNS_REQ_BYTES_MAX <= 65535,
               "a DNS query must fit a TCP frame and hold a classic query");
_Static_assert(CN_DNS_UDP_RESP_BYTES_MAX <= 65535 &&
               CN_DNS_TCP_RESP_BYTES_MAX <= 65535,
               "DNS replies fit a 16-bit length");

#endif
