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

#endif
