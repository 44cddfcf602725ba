/* agent/checks/checks.h - health-check definitions and runners.
 *
 * What Consul's agent/checks/check.go does with a goroutine per check, a
 * runner does on the agent's one libuv loop (DESIGN.md section 2): each
 * check is a timer, and a run is an asynchronous HTTP request, TCP
 * connect or child process. Semantics follow consul-compat.md section 7
 * and Consul's code:
 *
 * - Status starts as the definition's Status, else critical (TTL too);
 *   output starts empty.
 * - Interval checks (HTTP, TCP, script) first run after a random delay in
 *   [0, Interval) (lib.RandomStagger), then every Interval, measured from
 *   the scheduled start of the previous run (so a slow check does not
 *   drift) but never overlapping: a run that outlasts its interval delays
 *   the next one. Interval below 1 s (MinInterval) is raised to 1 s.
 * - Results pass through Consul's StatusHandler: passing and warning
 *   results count as successes, critical as failures; a result is shown
 *   only once SuccessBeforePassing successes (resp. FailuresBeforeWarning
 *   / FailuresBeforeCritical failures) happened in a row; an unset
 *   FailuresBeforeWarning equals FailuresBeforeCritical. Counters start
 *   at their thresholds, so the very first result always shows.
 * - HTTP: Method (GET), Header, Body, Timeout (10 s), TLSSkipVerify,
 *   TLSServerName, DisableRedirects (else up to 10 redirects, as Go);
 *   sends "User-Agent: Consul Health Check" and Consul's Accept header
 *   (text/plain first) unless given, no keep-alive. 2xx passing, 429 warning,
 *   anything else or a transport error critical. Output
 *   "HTTP GET <url>: 200 OK Output: <last OutputMaxSize bytes of body>";
 *   the body is never held beyond that.
 * - TCP: connect within Timeout (10 s): passing "TCP connect <addr>:
 *   Success", else critical with the dial error.
 * - TTL: changed only through cn_check_ttl_update, each call re-arming
 *   the TTL; expiry sets critical "TTL expired" (plus the last output).
 * - Script (Args): only if the runner allows script checks for the
 *   definition's source. Run with uv_spawn in a new process group,
 *   stdout+stderr into one pipe of which the last OutputMaxSize bytes are
 *   kept; exit 0 passing, 1 warning, else critical. Timeout (30 s) kills
 *   the whole group: critical "Timed out (30s) running check". Children
 *   are always reaped: a stopped check keeps its process until it exits.
 *
 * Callback rules: cb runs on the loop thread whenever the status or the
 * output changes, never after cn_check_stop, and never from inside
 * cn_check_start. It may call cn_check_stop on any check (its own too) or
 * cn_check_runner_close; it must not call cn_check_ttl_update on its own
 * check (asserted).
 */
#ifndef CN_CHECKS_H
#define CN_CHECKS_H

#include <jansson.h>
#include <uv.h>

#include "base/base.h"

/* Consul's checks.DefaultBufSize: output kept per check by default. */
#define CN_CHECK_OUTPUT_BYTES_DEFAULT 4096
#define CN_CHECK_MIN_INTERVAL_MS 1000          /* checks.MinInterval */
#define CN_CHECK_TIMEOUT_MS_DEFAULT 10000      /* HTTP, TCP, UDP, gRPC */
#define CN_CHECK_SCRIPT_TIMEOUT_MS_DEFAULT 30000
/* check_deregister_interval_min: DeregisterCriticalServiceAfter floor. */
#define CN_CHECK_DEREG_MIN_MS 60000

/* ---- statuses and types ---- */

enum cn_check_status {
    CN_CHECK_STATUS_NONE = 0,   /* "not given" in a definition */
    CN_CHECK_PASSING = 1,
    CN_CHECK_WARNING = 2,
    CN_CHECK_CRITICAL = 3,
};

/* "passing", "warning", "critical"; "" for NONE. */
const char *cn_check_status_name(enum cn_check_status s);
/* Exact and case-sensitive, as structs.ValidStatus. 0 or CN_EMALFORMED. */
int cn_check_status_parse(const char *s, size_t n, enum cn_check_status *out);

enum cn_check_type {
    CN_CHECK_TYPE_NONE = 0,
    CN_CHECK_TTL,
    CN_CHECK_HTTP,
    CN_CHECK_TCP,
    CN_CHECK_SCRIPT,
    CN_CHECK_UDP,
    CN_CHECK_GRPC,
    CN_CHECK_H2PING,
    CN_CHECK_DOCKER,
    CN_CHECK_ALIAS,
    CN_CHECK_OS_SERVICE,
};

/* HealthCheck.Type: "http", "ttl", "script", ...; "" for NONE. */
const char *cn_check_type_name(enum cn_check_type t);

/* ---- definitions ---- */

struct cn_check_header {
    const char *name;
    const char *const *values;
    size_t n_values;
};

/* Where a definition came from: Consul allows script checks from the API
 * only with enable_script_checks, from config files also with
 * enable_local_script_checks. */
enum cn_check_source {
    CN_CHECK_SOURCE_REMOTE = 0,
    CN_CHECK_SOURCE_LOCAL = 1,
};

/* Every field of a Consul check definition (consul-compat.md 5.6). A
 * definition built by hand borrows its strings; one from
 * cn_check_def_parse or cn_check_def_clone owns them in one block. */
struct cn_check_def {
    /* The HealthCheck row. */
    const char *id;                  /* "ID" or "CheckID"; NULL if absent. */
    const char *name;
    const char *notes;
    const char *service_id;
    const char *token;
    enum cn_check_status status;     /* Initial; NONE means critical. */
    enum cn_check_source source;     /* Not in JSON; set by the agent. */

    /* Kind-specific. */
    const char *const *args;         /* Args / ScriptArgs / script_args */
    size_t n_args;
    const char *script;              /* Legacy "Script": Shell -c script. */
    const char *http;
    const char *method;
    const struct cn_check_header *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
    bool disable_redirects;
    const char *tcp;
    const char *udp;
    const char *grpc;
    bool grpc_use_tls;
    const char *h2ping;
    bool h2ping_use_tls;             /* Defaults to true when H2PING is set. */
    const char *docker_container_id;
    const char *shell;
    const char *alias_node;
    const char *alias_service;
    const char *os_service;
    const char *tls_server_name;
    bool tls_skip_verify;

    /* Durations in ns (Go time.Duration); 0 = unset. */
    int64_t interval_ns;
    int64_t timeout_ns;
    int64_t ttl_ns;
    int64_t deregister_critical_service_after_ns;

    int64_t output_max_size;         /* 0 = the runner's maximum. */
    int64_t success_before_passing;
    int64_t failures_before_warning; /* 0 = failures_before_critical. */
    int64_t failures_before_critical;
};

/* Decodes one check definition from a JSON object: the body of
 * /agent/check/register or one entry of a service's Check/Checks. Names
 * are matched case-insensitively and ignoring '_' ("TLSSkipVerify",
 * "tls_skip_verify"), plus Consul's aliases ("Args" for ScriptArgs,
 * "CheckID" for ID). Durations are Go strings ("10s") or ns numbers.
 * Returns 0 and *out (free with cn_check_def_free); CN_EMALFORMED with
 * "Request decode failed: ..." in err (CN_ERRMSG_MAX); CN_EBADREQ with
 * "Bad check status"; CN_ETOOBIG past the CN_CHECK_* limits; -ENOMEM.
 * Does not apply cn_check_def_validate (the caller decides when). */
int cn_check_def_parse(const json_t *obj, struct cn_check_def **out, char *err);
/* Deep copy into one block. 0, CN_ETOOBIG or -ENOMEM. */
int cn_check_def_clone(const struct cn_check_def *def, struct cn_check_def **out);
void cn_check_def_free(struct cn_check_def *def);  /* NULL is a no-op. */

/* Consul's CheckType.Validate (agent/structs/check_type.go): 0, or
 * CN_EBADREQ with "Invalid check: <reason>" in err (CN_ERRMSG_MAX), e.g.
 * "Invalid check: Interval and TTL cannot both be specified". */
int cn_check_def_validate(const struct cn_check_def *def, char *err);
/* The kind Consul would run (CheckType.Type order), NONE if none. */
enum cn_check_type cn_check_def_type(const struct cn_check_def *def);
/* DeregisterCriticalServiceAfter in ms with the 1 m floor applied; 0 if
 * unset or not positive. */
uint64_t cn_check_def_dereg_after_ms(const struct cn_check_def *def);

/* ---- runners ---- */

struct cn_check_runner;
struct cn_check;

/* Delay before the first run, in [0, interval_ms). */
typedef uint64_t cn_check_stagger_fn(void *ctx, uint64_t interval_ms);

/* output is NUL-terminated (output_len excludes the NUL; the text may
 * hold other NULs from a body) and borrowed until cb returns. */
typedef void cn_check_update_fn(void *ctx, struct cn_check *check,
                                enum cn_check_status status,
                                const char *output, size_t output_len);

struct cn_check_runner_config {
    uv_loop_t *loop;
    bool enable_script_checks;        /* Scripts from the API and config. */
    bool enable_local_script_checks;  /* Scripts from config files only. */
    size_t output_max_bytes;          /* check_output_max_size; 0 = 4096. */
    const char *tls_ca_file;          /* HTTPS checks' CA bundle; NULL: system. */
    uint64_t seed;                    /* Stagger PRNG; 0: from getrandom. */
    cn_check_stagger_fn *stagger;     /* Overrides the PRNG (tests). */
    void *stagger_ctx;
    const struct cn_logger *log;      /* NULL: the process log. */
    uint64_t min_interval_ms;         /* 0 = CN_CHECK_MIN_INTERVAL_MS; tests only. */
};

struct cn_check_runner_stats {
    uint64_t checks;          /* Running checks. */
    uint64_t runs;            /* Runs started. */
    uint64_t runs_in_flight;  /* Including those of stopped checks. */
    uint64_t updates;         /* Callbacks made. */
    uint64_t ttl_expiries;
    uint64_t scripts_killed;  /* Process groups killed (timeout or stop). */
    /* Scheduling: how late a run started against its due time. */
    uint64_t lateness_ms_max;
    uint64_t lateness_ms_sum;
    /* Runs late by < 1, < 10, < 100, < 1000 ms, and more. */
    uint64_t lateness_hist[5];
};

/* 0, -EINVAL (bad config) or -ENOMEM; errmsg (CN_ERRMSG_MAX) says why. */
int cn_check_runner_new(struct cn_check_runner **out,
                        const struct cn_check_runner_config *cfg, char *errmsg);
/* Stops every check, kills running scripts and waits for them; cb (may be
 * NULL) runs on a later loop turn once nothing is left, and the runner is
 * freed right after it. */
void cn_check_runner_close(struct cn_check_runner *r, void (*cb)(void *), void *arg);
void cn_check_runner_stats(const struct cn_check_runner *r,
                           struct cn_check_runner_stats *out);

/* Validates def (cn_check_def_validate), refuses kinds not run here and
 * scripts the runner does not allow, copies def, and starts the check.
 * Returns 0 and *out (valid until cn_check_stop); CN_EBADREQ (invalid),
 * CN_EDENIED (scripts disabled) or CN_EUNSUPPORTED (gRPC, UDP, H2PING,
 * Docker, alias, OS service) with Consul's wording in errmsg; -ENOMEM. */
int cn_check_start(struct cn_check_runner *r, const struct cn_check_def *def,
                   cn_check_update_fn *cb, void *ctx, struct cn_check **out,
                   char *errmsg);
/* Stops the check: no callback after this returns, a run in flight is
 * abandoned (a script's process group is killed and reaped). The handle
 * is invalid afterwards. Safe from inside any callback. */
void cn_check_stop(struct cn_check *c);

/* A TTL check's pass/warn/fail/update: sets status and output (output
 * longer than OutputMaxSize is cut and marked, as Consul does) and
 * re-arms the TTL. 0, CN_ESTATE if c is not a TTL check, -EINVAL for
 * status NONE. */
int cn_check_ttl_update(struct cn_check *c, enum cn_check_status status,
                        const char *output, size_t output_len);

/* Current status. The output is only delivered through the callback: the
 * agent stores it with the check's row, the runner keeps a digest. */
enum cn_check_status cn_check_status(const struct cn_check *c);
/* For DeregisterCriticalServiceAfter: when the check last became critical
 * (uv_now() clock, ms), or 0 if it is not critical. */
uint64_t cn_check_critical_since_ms(const struct cn_check *c);
enum cn_check_type cn_check_type(const struct cn_check *c);
/* The check's own copy of its definition. */
const struct cn_check_def *cn_check_def(const struct cn_check *c);

#endif
