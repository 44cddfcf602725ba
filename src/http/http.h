/* http/http.h - HTTP/1.1 server and client on libuv + http-parser.
 *
 * Server model (one loop thread, DESIGN.md section 2):
 * - A connection parses requests with http-parser into a cn_http_req;
 *   one request per connection is in flight at a time, so pipelined
 *   requests are answered in order (input behind it is held, bounded).
 * - The router picks a route at end of headers (405/404/413 decided before
 *   the body is read); middlewares run, then the route's handler.
 * - A handler either finishes the request (cn_http_finish and friends)
 *   before returning, or parks it and finishes it later from any loop
 *   callback (blocking queries, RPC). If the client disconnects while a
 *   request is parked, the cancel callback set with cn_http_on_cancel()
 *   runs once and the request is freed right after it returns; the handler
 *   must drop every reference to it then. Nothing runs after finish.
 * - Responses leave in one writev (head + body) on a TCP_NODELAY socket.
 *
 * Every limit is in base/limits.h. Bad input gets a status and a one-line
 * text/plain reason, then the connection closes when framing is lost.
 */
#ifndef CN_HTTP_H
#define CN_HTTP_H

#include <uv.h>

#include "base/base.h"

enum cn_http_method {
    CN_HTTP_GET = 1 << 0,
    CN_HTTP_HEAD = 1 << 1,
    CN_HTTP_PUT = 1 << 2,
    CN_HTTP_POST = 1 << 3,
    CN_HTTP_DELETE = 1 << 4,
    CN_HTTP_OPTIONS = 1 << 5,
    CN_HTTP_PATCH = 1 << 6,
};

struct cn_http_header {
    const char *name;    /* Lower-cased, NUL-terminated. */
    const char *value;   /* NUL-terminated (may contain no NUL). */
    size_t value_len;
};

struct cn_http_param {
    const char *name;    /* Percent-decoded, NUL-terminated. */
    const char *value;   /* Decoded; "" when absent. */
    size_t value_len;
    bool has_value;      /* "?a=" is true, "?a" false. */
};

struct cn_http_req;
struct cn_http_server;

typedef void cn_http_handler_fn(struct cn_http_req *req);
typedef void cn_http_cancel_fn(struct cn_http_req *req);

/* ---- router ---- */

/* A path ending in '/' matches as a prefix (the rest is req->suffix);
 * otherwise exactly. Exact beats prefix; the longest prefix wins. */
struct cn_route {
    const char *path;
    unsigned methods;            /* cn_http_method bits. */
    cn_http_handler_fn *handler;
    unsigned flags;              /* Application flags, read by middleware. */
    size_t body_bytes_max;       /* 0: no body accepted (413 if one comes). */
};

/* ---- middleware ----
 * before() runs in order before the handler; returning false means it
 * already finished the request (e.g. with an error) and the chain stops.
 * after() runs in reverse order when a request finishes, just before its
 * response is written (access log, headers every response carries). */
struct cn_http_mw {
    bool (*before)(struct cn_http_req *req);
    void (*after)(struct cn_http_req *req, int status);
};

/* Ready-made middlewares. */
extern const struct cn_http_mw cn_http_mw_access_log; /* DEBUG line per request. */
extern const struct cn_http_mw cn_http_mw_token;      /* Fills req->token. */
extern const struct cn_http_mw cn_http_mw_pretty;     /* Sets req->pretty. */

/* ---- the request ---- */

struct cn_http_req {
    /* Parsed request; all strings live in the request's memory and stay
     * valid until the request finishes or is cancelled. */
    enum cn_http_method method;
    const char *method_name;
    const char *path;            /* Percent-decoded, NUL-terminated. */
    size_t path_len;
    const char *suffix;          /* Path after a prefix route's pattern. */
    size_t suffix_len;
    const char *raw_query;       /* As sent, without '?'; "" if none. */
    struct cn_http_param *params;
    size_t n_params;
    struct cn_http_header *headers;
    size_t n_headers;
    const uint8_t *body;         /* NUL-terminated (not counted). */
    size_t body_len;
    char client_ip[48];
    const struct cn_route *route;

    /* Set by middleware. */
    const char *token;           /* "" if none. */
    bool pretty;

    /* For the application (handlers, middleware). */
    void *app;                   /* cn_http_config.app */
    void *handler_ctx;           /* Free for the handler's parked state. */
    struct cn_arena arena;       /* Freed when the request ends. */

    /* Response being built. */
    struct cn_buf resp_headers;  /* "Name: value\r\n" lines. */
    struct cn_buf resp_body;
    struct cn_http_blob *resp_blob; /* Instead of resp_body (finish_blob). */
    struct cn_buf resp_gz;       /* resp_body compressed, when sent so. */
    uint64_t start_ns;
};

/* Parameter lookup: NULL if absent. The first occurrence wins. */
const struct cn_http_param *cn_http_param(const struct cn_http_req *req,
                                          const char *name);
/* Present at all, value ignored (consul-compat.md 10.5: ?recurse=false
 * still recurses). */
bool cn_http_flag(const struct cn_http_req *req, const char *name);
/* Header value by lower-case name, or NULL. */
const char *cn_http_header(const struct cn_http_req *req, const char *name);

/* ---- building the response ---- */

/* Adds a header line. Values must not contain CR/LF (asserted). */
void cn_http_set_header(struct cn_http_req *req, const char *name,
                        const char *value);
void cn_http_set_header_u64(struct cn_http_req *req, const char *name,
                            uint64_t v);
/* The body buffer; append to it, then finish. */
static inline struct cn_buf *cn_http_body(struct cn_http_req *req)
{
    return &req->resp_body;
}
/* Sends the response with the body built so far, then ends the request
 * (req is invalid afterwards). Content-Length is added here; on HEAD the
 * body is not sent. */
void cn_http_finish(struct cn_http_req *req, int status);

/* A response body shared by many responses (a cache entry): immutable,
 * reference counted; its gzip form is made once and kept with it. */
struct cn_http_blob;
/* Takes body's memory (body is left empty); NULL: ENOMEM, body kept. */
struct cn_http_blob *cn_http_blob_take(struct cn_buf *body);
struct cn_http_blob *cn_http_blob_ref(struct cn_http_blob *b);
void cn_http_blob_unref(struct cn_http_blob *b);                  /* NULL is a no-op. */
size_t cn_http_blob_size(const struct cn_http_blob *b);           /* Memory held. */
/* cn_http_finish with b as the body (resp_body is ignored); takes its
 * own reference. */
void cn_http_finish_blob(struct cn_http_req *req, int status, struct cn_http_blob *b);
/* text/plain one-line reason (a newline is not added; Consul's errors
 * carry none except where documented). */
void cn_http_error(struct cn_http_req *req, int status, const char *fmt, ...)
    CN_PRINTF(3, 4);
/* Maps an error code through the one status table, message as body. */
void cn_http_fail(struct cn_http_req *req, int rc, const char *msg);
int cn_http_status_for(int rc);
const char *cn_http_status_text(int status);

/* Parks the request: the handler returns without finishing it. fn runs if
 * the client goes away first (then the request is freed). Calling it
 * again replaces fn. */
void cn_http_on_cancel(struct cn_http_req *req, cn_http_cancel_fn *fn);

/* ---- server ---- */

struct cn_http_config {
    const char *addr;            /* "127.0.0.1" or an IPv6 literal. */
    int port;                    /* 0: ephemeral (see cn_http_server_port). */
    const struct cn_route *routes;
    size_t n_routes;
    const struct cn_http_mw *const *mws;
    size_t n_mws;
    void *app;
    /* Optional overrides of base/limits.h values (0 = default; only lower). */
    unsigned conns_per_ip_max;
    uint64_t header_timeout_ms;
    uint64_t idle_timeout_ms;
};

struct cn_http_stats {
    uint64_t conns_accepted, conns_rejected, conns_open;
    uint64_t requests, requests_parked, bad_requests;
    uint64_t gzipped;            /* Responses sent with Content-Encoding: gzip. */
};

int cn_http_server_start(struct cn_http_server **out, uv_loop_t *loop,
                         const struct cn_http_config *cfg, char *errmsg);
int cn_http_server_port(const struct cn_http_server *s);
void cn_http_server_stats(const struct cn_http_server *s,
                          struct cn_http_stats *out);
/* Closes the listener and every connection (parked requests are
 * cancelled); cb runs when all handles are closed and memory freed. */
void cn_http_server_stop(struct cn_http_server *s, void (*cb)(void *), void *arg);

/* ---- URL helpers (also for the client) ---- */

/* Percent-decodes in place-safe fashion into out (>= len+1 bytes);
 * plus_is_space for query components. Returns decoded length or
 * CN_EMALFORMED for a bad escape. */
int cn_url_decode(const char *in, size_t len, char *out, bool plus_is_space);
/* Appends s percent-encoded (RFC 3986 unreserved kept; '/' kept when
 * keep_slash) to b. */
int cn_url_encode(struct cn_buf *b, const void *s, size_t len, bool keep_slash);

/* ---- client ----
 * One request per call on a fresh connection ("Connection: close", like
 * Consul's health checks, which disable keep-alive). Plain HTTP or HTTPS
 * (OpenSSL over libuv through memory BIOs; verification against the
 * system CA store unless a context says otherwise). Used by the CLI
 * (synchronously through cn_http_client_do_sync) and by HTTP health checks
 * (src/agent/checks). */
struct cn_http_response {
    int status;
    const char *reason;               /* Reason phrase as sent ("OK"); "" if none. */
    struct cn_http_header *headers;   /* Names lower-cased. */
    size_t n_headers;
    uint8_t *body;                    /* NUL-terminated; freed with the response. */
    size_t body_len;
    uint64_t body_total_bytes;        /* Bytes received, kept or not (BODY_TAIL). */
    bool body_complete;               /* false: cut short (BODY_TAIL only). */
    struct cn_arena arena;
};

/* A TLS client context: a configured SSL_CTX shared by many requests (a
 * context holds the CA store, which is costly to load once per request).
 * Requests in flight keep what they need, so it may be freed any time. */
struct cn_http_tls;

struct cn_http_tls_config {
    bool skip_verify;       /* No chain or name check (Consul's TLSSkipVerify). */
    const char *ca_file;    /* PEM bundle replacing the system store; NULL: system. */
};

/* 0, or -EPROTO/-ENOMEM with a reason in errmsg (CN_ERRMSG_MAX). */
int cn_http_tls_new(struct cn_http_tls **out, const struct cn_http_tls_config *cfg,
                    char *errmsg);
void cn_http_tls_free(struct cn_http_tls *t);  /* NULL is a no-op. */

enum cn_http_client_flags {
    /* Keep only the last resp_body_bytes_max bytes of the body instead of
     * failing with CN_ETOOBIG, and still deliver the response (rc 0,
     * body_complete false) when the body is cut short by the timeout, EOF
     * or a read error after the head arrived. Health checks: Consul reads
     * the body into a circular buffer of OutputMaxSize. */
    CN_HTTP_CLIENT_BODY_TAIL = 1 << 0,
};

struct cn_http_client_req {
    const char *method;               /* "GET", "PUT", ... (sent as given). */
    const char *host;                 /* IP literal (no brackets) or name. */
    int port;
    const char *target;               /* "/v1/kv/x?recurse" (already encoded). */
    /* "Name: value" lines, n_headers; no CR/LF inside (asserted). A Host or
     * User-Agent line here replaces the client's default one. */
    const char *const *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    uint64_t timeout_ms;              /* Whole exchange; 0 = 10 s. */
    size_t resp_body_bytes_max;       /* 0 = CN_HTTP_RESP_BYTES_MAX. */
    unsigned flags;                   /* cn_http_client_flags. */
    /* HTTPS. tls_ctx NULL: a context for this request only, verifying
     * against the system store unless tls_skip_verify. */
    bool tls;
    bool tls_skip_verify;
    struct cn_http_tls *tls_ctx;
    const char *tls_server_name;      /* SNI and verified name; NULL/"": host. */
    /* Optional (CN_ERRMSG_MAX bytes, borrowed until cb): a one-line reason
     * when cb gets rc < 0, worded like Go's net/http errors
     * ("dial tcp 127.0.0.1:1: connect: connection refused"). */
    char *errmsg;
};

struct cn_http_call;  /* One request in flight. */

typedef void cn_http_client_cb(void *ctx, int rc, struct cn_http_response *resp);
/* Asynchronous: cb runs exactly once (unless this returns an error), with
 * rc 0 and a response the callee owns until cb returns, or rc < 0. Any
 * status code, 3xx included, is a response: redirects are the caller's. */
int cn_http_client_do(uv_loop_t *loop, const struct cn_http_client_req *creq,
                      cn_http_client_cb *cb, void *ctx);
/* Same, and *out (valid until cb has run) allows cancelling. */
int cn_http_client_start(uv_loop_t *loop, const struct cn_http_client_req *creq,
                         cn_http_client_cb *cb, void *ctx,
                         struct cn_http_call **out);
/* Runs cb now with CN_ECANCELED (no-op if it already ran). Handles close
 * and memory is freed on later loop turns. */
void cn_http_client_cancel(struct cn_http_call *call);
/* Blocking convenience on a private loop (CLI). On success the caller
 * frees resp with cn_http_response_free. */
int cn_http_client_do_sync(const struct cn_http_client_req *creq,
                           struct cn_http_response **resp, char *errmsg);
void cn_http_response_free(struct cn_http_response *resp);
const char *cn_http_response_header(const struct cn_http_response *r,
                                    const char *name);

#endif
