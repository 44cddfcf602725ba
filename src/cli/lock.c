/* cli/lock.c - `cairn lock` (Consul's command/lock with api/lock.go and
 * api/semaphore.go behaviour and KV layout, so cairn and consul lock
 * holders interoperate):
 *  -n 1: a session acquires PREFIX/.lock (flags = Consul's lock flag);
 *  -n N: contender key PREFIX/<session> acquired by the session, and
 *        PREFIX/.lock holds {"Limit":N,"Holders":{"<session>":true}}
 *        updated with check-and-set (flags = Consul's semaphore flag).
 * The child runs while the lock is held; a monitor thread renews the
 * session (TTL 15s) and watches the key with blocking queries. When the
 * lock is lost or we are interrupted, the child gets SIGTERM, then SIGKILL
 * after 5 s. The lock is released and the session destroyed on exit. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli_int.h"

/* Consul's api.LockFlagValue / api.SemaphoreFlagValue. */
#define LOCK_FLAG "3304740253564472344"
#define SEM_FLAG "16210313421097356768"
#define SESSION_TTL "15s"
#define RENEW_MS 7500
/* Blocking waits while acquiring. Consul's api waits 15s; shorter here so
 * an interrupt (checked between requests) ends a waiting `cairn lock`
 * within seconds. */
#define LOCK_WAIT "3s"
#define LOCK_RETRY_MS 5000     /* api.DefaultLockRetryTime */
#define KILL_GRACE_MS 5000
#define MONITOR_WAIT "5s"

static struct {
    uint64_t n, monitor_retry;
    char name[512], timeout[64];
    bool verbose, child_exit_code, shell, pass_stdin;
} o;

struct lk {
    struct cli_http h;
    char sid[64];
    char prefix[1024], key[1100], contender[1200];
    bool sem;
    int64_t deadline_ms;           /* 0: wait forever. */
    atomic_bool lost, done;
};

static volatile sig_atomic_t g_shutdown;
static volatile sig_atomic_t g_child;
static volatile sig_atomic_t g_group; /* g_child leads its own process group. */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 1, 2))) static void info(const char *fmt, ...)
{
    va_list ap;
    if (!o.verbose)
        return;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void on_signal(int sig)
{
    g_shutdown = 1;
    if (g_child > 0)
        kill(g_group ? -(pid_t)g_child : (pid_t)g_child, sig); /* Consul forwards them. */
}

/* ---- HTTP helpers ---- */

/* method /v1/kv/<key>?query with body. Returns the response or NULL after
 * printing; *err gets a one-line reason. */
static struct cn_http_response *kv_call(struct lk *l, const char *method, const char *key,
                                        const char *query, const char *body)
{
    struct cn_http_response *resp = NULL;
    struct cn_buf path;
    cn_buf_init(&path, CN_HTTP_HEAD_BYTES_MAX);
    if (cn_buf_puts(&path, "/v1/kv/") == 0 && cn_url_encode(&path, key, strlen(key), true) == 0 &&
        cn_buf_putc(&path, 0) == 0)
        cli_request(&l->h, method, (const char *)path.data, query, body, body ? strlen(body) : 0,
                    &resp);
    cn_buf_close(&path);
    return resp;
}

/* PUT returning "true"/"false": 1, 0, or -1. */
static int kv_put_bool(struct lk *l, const char *key, const char *query, const char *body)
{
    struct cn_http_response *r = kv_call(l, "PUT", key, query, body ? body : "");
    int rc = -1;
    if (r && r->status == 200)
        rc = r->body_len >= 4 && memcmp(r->body, "true", 4) == 0;
    else if (r)
        fprintf(stderr, "Unexpected response code: %d (%.*s)\n", r->status,
                (int)CN_MIN(r->body_len, 512), (const char *)r->body);
    cn_http_response_free(r);
    return rc;
}

/* GET, decoded: the entries array (200), json null (404), or NULL (error).
 * *index gets X-Consul-Index. */
static json_t *kv_get(struct lk *l, const char *key, bool recurse, uint64_t wait_index,
                      const char *wait, uint64_t *index)
{
    char q[128];
    struct cn_http_response *r;
    json_t *v = NULL;
    snprintf(q, sizeof q, "%s", recurse ? "recurse" : "");
    if (wait_index)
        snprintf(q + strlen(q), sizeof q - strlen(q), "%sindex=%" PRIu64 "&wait=%s",
                 recurse ? "&" : "", wait_index, wait);
    if (!(r = kv_call(l, "GET", key, q, NULL)))
        return NULL;
    if (index) {
        const char *s = cn_http_response_header(r, "x-consul-index");
        *index = 0;
        if (s)
            cn_parse_u64(s, strlen(s), index);
    }
    if (r->status == 404)
        v = json_null();
    else if (r->status == 200) {
        cli_fix_big_flags((char *)r->body, r->body_len);
        v = json_loadb((const char *)r->body, r->body_len, 0, NULL);
    } else
        fprintf(stderr, "Unexpected response code: %d (%.*s)\n", r->status,
                (int)CN_MIN(r->body_len, 512), (const char *)r->body);
    cn_http_response_free(r);
    return v;
}

static const char *estr(const json_t *e, const char *k)
{
    const char *s = json_string_value(json_object_get(e, k));
    return s ? s : "";
}

static bool flags_are(const json_t *e, const char *flag)
{
    char buf[32];
    json_t *f = json_object_get(e, "Flags");
    /* Jansson holds integers signed: compare the unsigned text. */
    snprintf(buf, sizeof buf, "%" PRIu64, (uint64_t)json_integer_value(f));
    return strcmp(buf, flag) == 0;
}

/* The entry of `key` in a recurse listing. */
static json_t *find_entry(json_t *list, const char *key)
{
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
        if (strcmp(estr(e, "Key"), key) == 0)
            return e;
    return NULL;
}

static int session_create(struct lk *l)
{
    struct cn_http_response *r;
    json_t *body = json_pack("{s:s, s:s}", "Name", o.name, "TTL", SESSION_TTL), *v;
    char *text;
    if (l->sem)
        json_object_set_new(body, "Behavior", json_string("delete"));
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text || cli_request(&l->h, "PUT", "/v1/session/create", "", text, strlen(text), &r) < 0) {
        free(text);
        return -1;
    }
    free(text);
    v = r->status == 200 ? json_loadb((const char *)r->body, r->body_len, 0, NULL) : NULL;
    if (v && json_string_value(json_object_get(v, "ID")))
        snprintf(l->sid, sizeof l->sid, "%s", estr(v, "ID"));
    else
        fprintf(stderr, "Lock acquisition failed: failed to create session: %d (%.*s)\n",
                r->status, (int)CN_MIN(r->body_len, 512), (const char *)r->body);
    json_decref(v);
    cn_http_response_free(r);
    return l->sid[0] ? 0 : -1;
}

/* PUT /v1/session/<op>/<sid>: the status, or -1. */
static int session_op(struct lk *l, const char *op)
{
    char path[160];
    struct cn_http_response *r;
    int st;
    snprintf(path, sizeof path, "/v1/session/%s/%s", op, l->sid);
    if (cli_request(&l->h, "PUT", path, "", NULL, 0, &r) < 0)
        return -1;
    st = r->status;
    cn_http_response_free(r);
    return st;
}

/* Sleeps up to ms in small steps; false if interrupted. */
static bool nap(int64_t ms)
{
    for (int64_t t = 0; t < ms && !g_shutdown; t += 50)
        usleep(50 * 1000);
    return !g_shutdown;
}

/* How long a blocking wait may last: the deadline's rest, or `dflt`. */
static void wait_text(const struct lk *l, char *out, size_t n, const char *dflt)
{
    int64_t left = l->deadline_ms ? l->deadline_ms - now_ms() : 0;
    if (l->deadline_ms && left < 3000)
        snprintf(out, n, "%" PRId64 "ms", CN_MAX(left, 1));
    else
        snprintf(out, n, "%s", dflt);
}

static bool timed_out(const struct lk *l)
{
    return g_shutdown || (l->deadline_ms && now_ms() >= l->deadline_ms);
}

/* ---- single holder (api/lock.go) ---- */

/* 1 acquired, 0 timed out / interrupted, -1 error (printed). */
static int lock_acquire(struct lk *l)
{
    char q[160], wait[32];
    uint64_t idx = 0, got;
    snprintf(q, sizeof q, "acquire=%s&flags=" LOCK_FLAG, l->sid);
    for (;;) {
        json_t *v, *e;
        int rc;
        if (g_shutdown)
            return 0;
        wait_text(l, wait, sizeof wait, LOCK_WAIT);
        if (!(v = kv_get(l, l->key, false, idx, wait, &got))) {
            fprintf(stderr, "Lock acquisition failed: failed to read lock\n");
            return -1;
        }
        e = json_array_get(v, 0);
        if (e && !flags_are(e, LOCK_FLAG)) {
            json_decref(v);
            fprintf(stderr, "Lock acquisition failed: Existing key does not match lock use\n");
            return -1;
        }
        if (e && *estr(e, "Session") && strcmp(estr(e, "Session"), l->sid) != 0) {
            json_decref(v);
            if (timed_out(l))
                return 0;
            idx = got;
            continue;
        }
        json_decref(v);
        if ((rc = kv_put_bool(l, l->key, q, "")) < 0) {
            fprintf(stderr, "Lock acquisition failed: failed to acquire lock\n");
            return -1;
        }
        if (rc == 1)
            return 1;
        /* Refused with no holder: a lock-delay is in effect. */
        if (timed_out(l))
            return 0;
        idx = 0;
        if (!nap(l->deadline_ms ? CN_MIN(LOCK_RETRY_MS, CN_MAX(l->deadline_ms - now_ms(), 0))
                                : LOCK_RETRY_MS))
            return 0;
    }
}

/* ---- semaphore (api/semaphore.go) ---- */

/* Holders whose contender key is still held by them. */
static void prune_holders(struct lk *l, json_t *holders, json_t *list)
{
    const char *sid;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(holders, tmp, sid, v) {
        char key[1200];
        json_t *c;
        (void)v;
        snprintf(key, sizeof key, "%s/%s", l->prefix, sid);
        c = find_entry(list, key);
        if (!c || strcmp(estr(c, "Session"), sid) != 0)
            json_object_del(holders, sid);
    }
}

/* The semaphore document of lock entry e (a new one if e is NULL). */
static json_t *sem_doc(const json_t *e, char *err, size_t n)
{
    json_t *d;
    uint8_t *raw;
    size_t len = 0;
    const char *b64 = estr(e, "Value");
    if (!e)
        return json_pack("{s:I, s:{}}", "Limit", (json_int_t)o.n, "Holders");
    if (!flags_are(e, SEM_FLAG)) {
        snprintf(err, n, "Existing key does not match semaphore use");
        return NULL;
    }
    raw = malloc(strlen(b64) / 4 * 3 + 4);
    if (!raw || cn_base64_decode(b64, strlen(b64), raw, &len) < 0)
        len = 0;
    d = raw ? json_loadb((const char *)raw, len, 0, NULL) : NULL;
    free(raw);
    if (!json_is_object(d) || !json_is_object(json_object_get(d, "Holders"))) {
        json_decref(d);
        snprintf(err, n, "failed to decode semaphore document");
        return NULL;
    }
    if ((uint64_t)json_integer_value(json_object_get(d, "Limit")) != o.n) {
        snprintf(err, n, "semaphore limit conflict (lock: %" JSON_INTEGER_FORMAT ", local: %" PRIu64 ")",
                 json_integer_value(json_object_get(d, "Limit")), o.n);
        json_decref(d);
        return NULL;
    }
    return d;
}

/* One look at the semaphore: 1 acquired, 0 full (idx set), -1 error. */
static int sem_try(struct lk *l, uint64_t *idx, char *err, size_t n)
{
    char prefix[1100], wait[32], q[64];
    uint64_t got;
    json_t *list, *d, *holders;
    char *text;
    int rc;
    snprintf(prefix, sizeof prefix, "%s/", l->prefix);
    wait_text(l, wait, sizeof wait, LOCK_WAIT);
    if (!(list = kv_get(l, prefix, true, *idx, wait, &got))) {
        snprintf(err, n, "failed to read prefix");
        return -1;
    }
    const json_t *e = find_entry(list, l->key);
    if (!(d = sem_doc(e, err, n))) {
        json_decref(list);
        return -1;
    }
    holders = json_object_get(d, "Holders");
    prune_holders(l, holders, list);
    if (json_object_size(holders) >= o.n) {
        *idx = got;
        json_decref(d);
        json_decref(list);
        return 0;
    }
    json_object_set_new(holders, l->sid, json_true());
    snprintf(q, sizeof q, "cas=%" JSON_INTEGER_FORMAT "&flags=" SEM_FLAG,
             e ? json_integer_value(json_object_get(e, "ModifyIndex")) : 0);
    text = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    json_decref(list);
    rc = text ? kv_put_bool(l, l->key, q, text) : -1;
    free(text);
    if (rc < 0)
        snprintf(err, n, "failed to update semaphore");
    if (rc == 0)
        *idx = 0; /* Lost a CAS race: look again at once. */
    return rc;
}

static int sem_acquire(struct lk *l)
{
    char q[160], err[256];
    uint64_t idx = 0;
    snprintf(q, sizeof q, "acquire=%s&flags=" SEM_FLAG, l->sid);
    if (kv_put_bool(l, l->contender, q, "") != 1) {
        fprintf(stderr, "Lock acquisition failed: failed to make contender entry\n");
        return -1;
    }
    for (;;) {
        int rc;
        if (g_shutdown)
            return 0;
        rc = sem_try(l, &idx, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "Lock acquisition failed: %s\n", err);
            return -1;
        }
        if (rc == 1)
            return 1;
        if (idx && timed_out(l))
            return 0;
    }
}

/* Still holding? 1 yes, 0 no, -1 could not tell. *idx advances. */
static int still_held(struct lk *l, uint64_t *idx)
{
    uint64_t got = 0;
    json_t *v = kv_get(l, l->key, false, *idx, MONITOR_WAIT, &got), *e, *d;
    char err[128];
    int held;
    if (!v)
        return -1;
    e = json_array_get(v, 0);
    if (!e)
        held = 0;
    else if (!l->sem)
        held = strcmp(estr(e, "Session"), l->sid) == 0;
    else {
        d = sem_doc(e, err, sizeof err);
        held = d && json_object_get(json_object_get(d, "Holders"), l->sid) != NULL;
        json_decref(d);
    }
    json_decref(v);
    *idx = got < *idx ? 0 : got;
    return held;
}

/* ---- monitor thread: renew the session, watch the key ---- */

static void *monitor(void *arg)
{
    struct lk *l = arg;
    uint64_t idx = 0, fails = 0;
    int64_t renewed = now_ms();
    while (!atomic_load(&l->done)) {
        int held = still_held(l, &idx);
        if (atomic_load(&l->done))
            break;
        if (held < 0) {
            if (++fails > o.monitor_retry) {
                atomic_store(&l->lost, true);
                break;
            }
            sleep(1);
            continue;
        }
        fails = 0;
        if (held == 0) {
            atomic_store(&l->lost, true);
            break;
        }
        if (now_ms() - renewed >= RENEW_MS) {
            int st = session_op(l, "renew");
            if (st == 404) {
                atomic_store(&l->lost, true);
                break;
            }
            if (st == 200)
                renewed = now_ms();
        }
    }
    return NULL;
}

/* ---- release and cleanup ---- */

static int release(struct lk *l)
{
    char q[160];
    int rc = 0;
    if (!l->sem) {
        snprintf(q, sizeof q, "release=%s&flags=" LOCK_FLAG, l->sid);
        return kv_put_bool(l, l->key, q, "") < 0 ? -1 : 0;
    }
    for (int tries = 0; tries < 16; tries++) {
        json_t *v = kv_get(l, l->key, false, 0, "", NULL), *e, *d;
        char err[128], *text;
        if (!v)
            return -1;
        e = json_array_get(v, 0);
        d = e ? sem_doc(e, err, sizeof err) : NULL;
        if (!d || !json_object_get(json_object_get(d, "Holders"), l->sid)) {
            json_decref(d);
            json_decref(v);
            break;
        }
        json_object_del(json_object_get(d, "Holders"), l->sid);
        snprintf(q, sizeof q, "cas=%" JSON_INTEGER_FORMAT "&flags=" SEM_FLAG,
                 json_integer_value(json_object_get(e, "ModifyIndex")));
        text = json_dumps(d, JSON_COMPACT);
        json_decref(d);
        json_decref(v);
        rc = text ? kv_put_bool(l, l->key, q, text) : -1;
        free(text);
        if (rc != 0)
            break;
    }
    cn_http_response_free(kv_call(l, "DELETE", l->contender, "", NULL));
    return rc < 0 ? -1 : 0;
}

/* Deletes the lock key when nobody holds it: 0, 1 in use, -1 error. */
static int cleanup(struct lk *l)
{
    char prefix[1100], q[64];
    json_t *list, *e, *d = NULL;
    int rc = 0;
    snprintf(prefix, sizeof prefix, "%s/", l->prefix);
    if (!(list = kv_get(l, l->sem ? prefix : l->key, l->sem, 0, "", NULL)))
        return -1;
    e = l->sem ? find_entry(list, l->key) : json_array_get(list, 0);
    if (e && !l->sem) {
        if (!flags_are(e, LOCK_FLAG))
            rc = -1;
        else if (*estr(e, "Session"))
            rc = 1;
    } else if (e) {
        char err[128];
        if (!(d = sem_doc(e, err, sizeof err)))
            rc = -1;
        else {
            prune_holders(l, json_object_get(d, "Holders"), list);
            rc = json_object_size(json_object_get(d, "Holders")) ? 1 : 0;
        }
    }
    if (e && rc == 0) {
        struct cn_http_response *r;
        snprintf(q, sizeof q, "cas=%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(e, "ModifyIndex")));
        r = kv_call(l, "DELETE", l->key, q, NULL);
        rc = r && r->status == 200 ? 0 : -1;
        cn_http_response_free(r);
    }
    json_decref(d);
    json_decref(list);
    return rc;
}

/* ---- the command ---- */

static const struct cli_flag lock_flags[] = {
    {"n", CLI_U64, &o.n, 0, "number of concurrent holders (> 1: a semaphore); default 1"},
    {"name", CLI_STR, o.name, sizeof o.name, "name of the lock session (default from the command)"},
    {"timeout", CLI_STR, o.timeout, sizeof o.timeout, "give up acquiring after this duration (\"1s\"); default: wait forever"},
    {"try", CLI_STR, o.timeout, sizeof o.timeout, "deprecated: -timeout"},
    {"monitor-retry", CLI_U64, &o.monitor_retry, 0, "errors tolerated while monitoring the lock (1 s apart); default 3"},
    {"verbose", CLI_BOOL, &o.verbose, 0, "print what the lock is doing"},
    {"child-exit-code", CLI_BOOL, &o.child_exit_code, 0, "exit 2 if the child exits with an error"},
    {"shell", CLI_BOOL, &o.shell, 0, "run the command with $SHELL -c (default true)"},
    {"pass-stdin", CLI_BOOL, &o.pass_stdin, 0, "give the child our stdin"},
};
static const struct cli_cmd lock_cmd = {"lock", "PREFIX CHILD...",
    "Acquires a lock (or with -n > 1 a semaphore) at PREFIX in the KV store and\n"
    "  runs CHILD while it is held. If the lock is lost the child gets SIGTERM,\n"
    "  then SIGKILL after 5 s.", lock_flags, CN_ARRAY_LEN(lock_flags), true};

/* Runs the child until it exits; returns its wait status. *killed tells
 * whether we terminated it (lock lost or interrupted). */
static int run_child(struct lk *l, char **args, int n, bool *killed)
{
    int64_t term_at = 0;
    bool hard = false;
    int status = 0, pid;
    info("Starting handler");
    /* Not with a terminal on stdin: a background group reading it would stop. */
    g_group = !(o.pass_stdin && isatty(0));
    pid = cli_spawn(args, n, o.shell, o.pass_stdin ? 0 : -1, "CONSUL_LOCK_HELD=true", g_group);
    *killed = false;
    if (pid < 0)
        return -1;
    g_child = pid;
    for (;;) {
        int r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            break;
        if (!*killed && (atomic_load(&l->lost) || g_shutdown)) {
            info("%s", atomic_load(&l->lost) ? "Lock lost, killing child"
                                             : "Shutdown triggered, killing child");
            info("Terminating child pid %d", pid);
            kill(g_group ? -pid : pid, SIGTERM);
            *killed = true;
            term_at = now_ms();
        }
        if (*killed && !hard && now_ms() - term_at > KILL_GRACE_MS) {
            info("Child did not exit after grace period of 5s");
            kill(g_group ? -pid : pid, SIGKILL);
            hard = true;
        }
        usleep(20 * 1000);
    }
    g_child = 0;
    return status;
}

static int parse_args(int argc, char **argv, struct lk *l, int *argi)
{
    int64_t ns = 0;
    int rc;
    memset(&o, 0, sizeof o);
    o.n = 1;
    o.monitor_retry = 3;
    o.shell = true;
    if ((rc = cli_parse(&lock_cmd, argc, argv, &l->h, argi)) != 0)
        return rc > 0 ? 0 : 1;
    if (o.n == 0) {
        fprintf(stderr, "Lock holder limit must be positive\n");
        return 1;
    }
    if (argc - *argi < 2) {
        fprintf(stderr, "Key prefix and child command must be specified\n");
        return 1;
    }
    if (o.timeout[0] && cn_duration_parse(o.timeout, strlen(o.timeout), &ns) < 0) {
        fprintf(stderr, "invalid value \"%s\" for flag -timeout: invalid duration\n", o.timeout);
        return 1;
    }
    if (ns < 0) {
        fprintf(stderr, "Timeout must be positive\n");
        return 1;
    }
    if (ns > 0)
        l->deadline_ms = now_ms() + CN_MAX(ns / 1000000, 1);
    if (!cli_key_join(argv[*argi], "", l->prefix, sizeof l->prefix) ||
        !cli_key_join(l->prefix, ".lock", l->key, sizeof l->key)) {
        fprintf(stderr, "Lock setup failed: prefix too long\n");
        return 1;
    }
    l->sem = o.n > 1;
    return -1; /* Go on. */
}

static void default_name(char **args, int n, const char *prefix)
{
    size_t len;
    if (o.name[0])
        return;
    len = (size_t)snprintf(o.name, sizeof o.name, "Consul lock for '");
    for (int i = 0; i < n && len < sizeof o.name; i++)
        len += (size_t)snprintf(o.name + len, sizeof o.name - len, "%s%s", i ? " " : "", args[i]);
    if (len < sizeof o.name)
        snprintf(o.name + len, sizeof o.name - len, "' at '%.400s'", prefix);
}

static int check_agent(struct lk *l)
{
    struct cn_http_response *r;
    if (cli_request(&l->h, "GET", "/v1/agent/self", "", NULL, 0, &r) < 0)
        return -1;
    if (r->status != 200)
        fprintf(stderr, "Error querying Consul agent: Unexpected response code: %d (%.*s)\n",
                r->status, (int)CN_MIN(r->body_len, 512), (const char *)r->body);
    int ok = r->status == 200;
    cn_http_response_free(r);
    return ok ? 0 : -1;
}

/* After the child: release, destroy the session, clean up. */
static int finish(struct lk *l, pthread_t *mon)
{
    int ret = 0, rc;
    atomic_store(&l->done, true);
    if (release(l) < 0) {
        fprintf(stderr, "Lock release failed: could not update the lock\n");
        ret = 1;
    }
    if (mon)
        pthread_join(*mon, NULL);
    session_op(l, "destroy");
    if (ret == 0) {
        rc = cleanup(l);
        if (rc < 0) {
            fprintf(stderr, "Lock cleanup failed: could not delete the lock\n");
            ret = 1;
        } else {
            info("%s", rc ? "Cleanup aborted, lock in use" : "Cleanup succeeded");
        }
    }
    return ret;
}

int cn__cli_lock(int argc, char **argv)
{
    static struct lk l; /* Large; one per process. */
    struct sigaction sa;
    pthread_t mon;
    bool killed = false;
    int argi, rc, status, child_code = 0;

    memset(&l, 0, sizeof l);
    if ((rc = parse_args(argc, argv, &l, &argi)) >= 0)
        return rc;
    default_name(argv + argi + 1, argc - argi - 1, l.prefix);
    if (check_agent(&l) < 0)
        return 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (l.sem) {
        info("Setting up semaphore (limit %" PRIu64 ") at prefix: %s", o.n, l.prefix);
    } else {
        info("Setting up lock at path: %s", l.key);
    }
    if (session_create(&l) < 0)
        return 1;
    snprintf(l.contender, sizeof l.contender, "%s/%s", l.prefix, l.sid);
    info("Attempting lock acquisition");
    rc = l.sem ? sem_acquire(&l) : lock_acquire(&l);
    if (rc <= 0) {
        if (rc == 0)
            fprintf(stderr, "Shutdown triggered or timeout during lock acquisition\n");
        if (l.sem)
            cn_http_response_free(kv_call(&l, "DELETE", l.contender, "", NULL));
        session_op(&l, "destroy");
        return 1;
    }
    if (g_shutdown) {
        fprintf(stderr, "Shutdown triggered during lock acquisition\n");
        return finish(&l, NULL);
    }
    if (pthread_create(&mon, NULL, monitor, &l) != 0) {
        fprintf(stderr, "Lock setup failed: cannot start the monitor\n");
        finish(&l, NULL);
        return 1;
    }
    status = run_child(&l, argv + argi + 1, argc - argi - 1, &killed);
    if (status != 0) {
        char why[128] = "";
        if (status > 0)
            cli_wait_status_text(status, why, sizeof why);
        if (why[0] || status < 0)
            fprintf(stderr, "Error running handler: %s\n", why[0] ? why : "could not start");
        if (!killed)
            child_code = 2;
    }
    if (!killed)
        info("Child terminated, releasing lock");
    if (finish(&l, &mon) != 0)
        return 1;
    return o.child_exit_code ? child_code : 0;
}
