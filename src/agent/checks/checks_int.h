/* agent/checks/checks_int.h - shared by the .c files of src/agent/checks. */
#ifndef CN_CHECKS_INT_H
#define CN_CHECKS_INT_H

#include "checks.h"
#include "http/http.h"

struct cn_check_op;

/* A run in flight. Each kind embeds this first in its own op struct. When
 * its check is stopped, the op is detached (check = NULL) and aborted; it
 * then finishes on its own and reports nothing. */
struct cn_check_op {
    struct cn_check *check;           /* NULL once detached. */
    struct cn_check_runner *r;
    void (*abort)(struct cn_check_op *op);
};

/* What a check kind implements. */
struct cn__check_kind {
    /* At start: validates and precomputes (c->prep). 0, or an error code
     * with errmsg set; a definition that is merely unusable at run time
     * (a bad URL) is not an error here: Consul reports it on each run. */
    int (*prepare)(struct cn_check *c, char *errmsg);
    /* Starts one run; the result comes through cn__check_result, possibly
     * before run returns. */
    void (*run)(struct cn_check *c);
    void (*free_prep)(void *prep);
};

extern const struct cn__check_kind cn__check_http;
extern const struct cn__check_kind cn__check_tcp;
extern const struct cn__check_kind cn__check_script;

struct cn_check_runner {
    struct cn_check_runner_config cfg;
    uv_loop_t *loop;
    const struct cn_logger *log;
    struct cn_prng prng;
    size_t output_max;
    uint64_t min_interval_ms;
    struct cn_http_tls *tls_verify;   /* Shared contexts, made on first use. */
    struct cn_http_tls *tls_skip;
    struct cn_check *checks;          /* Running checks (doubly linked). */
    size_t n_closing;                 /* Checks whose timer is closing. */
    size_t n_ops;                     /* Runs in flight, detached included. */
    uv_timer_t anchor;                /* Makes close complete asynchronously. */
    bool closing;
    bool anchor_closed;
    void (*close_cb)(void *);
    void *close_arg;
    struct cn_check_runner_stats stats;
};

struct cn_check {
    /* Config (fixed at start). */
    struct cn_check_runner *r;
    struct cn_check_def *def;         /* Own packed copy. */
    enum cn_check_type type;
    const struct cn__check_kind *kind;
    cn_check_update_fn *cb;
    void *ctx;
    uint64_t interval_ms, timeout_ms, ttl_ms;
    size_t output_max;
    int64_t sbp, fbw, fbc;            /* StatusHandler thresholds. */
    void *prep;                       /* Kind's precomputed state. */

    /* Volatile. */
    struct cn_check *next, *prev;
    uv_timer_t timer;                 /* Next run, or TTL expiry. */
    struct cn_check_op *op;           /* Run in flight, or NULL. */
    uint64_t due_ms;                  /* When the current/next run is due. */
    /* The reported output is the agent's to keep (it stores check rows
     * anyway); the runner keeps a digest to notice changes, and the text
     * itself only for TTL checks, whose expiry quotes it. 10,000 HTTP
     * checks with 4 KiB bodies would otherwise hold 40 MB twice. */
    uint64_t output_hash;
    size_t output_len;
    char *ttl_output;                 /* TTL checks: last output (NUL-terminated). */
    enum cn_check_status status;      /* Reported status. */
    uint64_t critical_since_ms;
    int64_t successes, failures;      /* StatusHandler counters. */
    bool stopped;
    bool in_cb;
};

/* Result flags. */
enum {
    /* Consul's script check reports start failures and timeouts straight
     * to the agent, not through the StatusHandler. */
    CN__CHECK_BYPASS = 1 << 0,
};

/* A name for log lines. */
static inline const char *cn__check_id(const struct cn_check *c)
{
    return c->def->id ? c->def->id : c->def->name ? c->def->name : "?";
}

/* Formats errmsg (CN_ERRMSG_MAX) exactly as given (cn_errf_rc would
 * append the code's text; these messages are Consul's) and returns rc. */
int cn__check_err(char *errmsg, int rc, const char *fmt, ...) CN_PRINTF(3, 4);

/* Called by ops. */
void cn__check_op_begin(struct cn_check *c, struct cn_check_op *op,
                        void (*abort)(struct cn_check_op *));
/* Reports a run's result (ignored if the op was detached) and schedules
 * the next run. The op stays counted until cn__check_op_end. */
void cn__check_result(struct cn_check_op *op, enum cn_check_status s,
                      const char *out, size_t out_len, unsigned flags);
/* The op's memory is about to be freed: stops counting it. */
void cn__check_op_end(struct cn_check_op *op);
/* The runner's TLS context for a check (made on first use). */
int cn__check_tls(struct cn_check_runner *r, bool skip_verify,
                  struct cn_http_tls **out, char *errmsg);

/* url.c - the subset of Go's net/url an HTTP check needs. */
struct cn__url {
    char *buf;           /* One allocation holding every string below. */
    const char *scheme;  /* "http" or "https" (lower-cased). */
    const char *host;    /* Without brackets. */
    const char *authority; /* host[:port] as written, no userinfo (Host header). */
    const char *userinfo;  /* Raw, NULL if none. */
    const char *target;  /* Path and query, percent-encoded, "/" if empty. */
    int port;
    bool https;
};

/* Parses an absolute http(s) URL. 0 or CN_EMALFORMED with a Go-like reason
 * in err (CN_ERRMSG_MAX): `parse "x": missing protocol scheme`,
 * `Get "ftp://x": unsupported protocol scheme "ftp"`. */
int cn__url_parse(const char *s, struct cn__url *u, const char *method, char *err);
/* Resolves a Location reference against base (RFC 3986 section 5.2)
 * into an absolute URL string (cn_free). 0, CN_EMALFORMED or -ENOMEM. */
int cn__url_resolve(const struct cn__url *base, const char *ref, char **out);
void cn__url_free(struct cn__url *u);
/* The reference has a scheme (Go's URL.IsAbs). */
bool cn__url_is_abs(const char *ref);
/* Go's url.Error op: "Get", "Post", ... into out (>= 16 bytes). */
void cn__url_op(const char *method, char *out, size_t n);

/* Host:port splitting as net.SplitHostPort; brackets removed. 0 or
 * CN_EMALFORMED with Go's reason in err. */
int cn__split_host_port(const char *s, char *host, size_t host_size, int *port,
                        char *err);

#endif
