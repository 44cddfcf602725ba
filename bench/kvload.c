/* bench/kvload.c - closed-loop HTTP/1.1 KV load generator for cairn (Consul
 * KV API) and etcd (v3 JSON gateway).
 *
 * N keep-alive connections spread over T epoll threads; each connection
 * keeps `depth` requests in flight (1 = no pipelining) and sends the next
 * as soon as a response completes. Every response is checked (status 200
 * plus a body check: `true` for a Consul PUT, etcd's "header" for a put,
 * the exact base64 of the expected value for a get); failures are counted
 * by kind, never retried. Runs for a duration (-d) or a request count (-n);
 * both are bounded, and -d caps -n runs (default 600 s).
 *
 * Latency is measured from just before the request is written to the
 * completion of its response, on CLOCK_MONOTONIC, into a log-linear
 * histogram (1.6 % resolution; exact min/max/mean). In -d mode only
 * responses completing inside the measured window (after -W warmup) count;
 * requests still in flight at the end are dropped, not counted as errors.
 *
 * The last line is machine-readable: `RESULT key=value ...`.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>
#include <zlib.h>

#include "bench_util.h"

#define DEPTH_MAX 64
#define CONNS_MAX 20000
#define THREADS_MAX 16
#define RECONNECT_DELAY_NS (10 * 1000000ull)

enum workload { W_PUT, W_GET, W_PATH };
enum err_kind { E_CONNECT, E_IO, E_STATUS, E_BODY, E_TIMEOUT, E_PROTO, E_KINDS };
static const char *err_names[E_KINDS] = {"connect", "io", "status", "body", "timeout", "proto"};

struct opts {
    const char *addr;
    const char *path, *needle;  /* -w path: GET path; body must contain needle. */
    bool gzip;                  /* -z: ask for gzip, check the inflated head. */
    struct sockaddr_in sa;
    struct b_reqcfg req;
    enum workload wl;
    int conns, depth, threads;
    double duration_s, warmup_s, timeout_s;
    uint64_t count, keys, key_start, max_errors, seed;
    pid_t pid;
    char host[80];
};

struct inflight {
    uint64_t sent_ns, key;
};

struct thread;

struct conn {
    struct thread *t;
    int fd;
    enum { C_IDLE, C_CONNECTING, C_OPEN } st;
    bool want_out, close_after;
    struct b_resp resp;
    char *out;
    size_t out_len, out_off, out_cap;
    struct inflight q[DEPTH_MAX];
    int qh, qn;
    uint64_t retry_at_ns, connect_ns;
};

struct thread {
    pthread_t tid;
    int ep, nconns;
    struct conn *conns;
    struct b_hist hist;
    uint64_t ok, errs[E_KINDS], rng, last_done_ns;
    char first_err[256];
    char readbuf[65536];
};

static struct opts o;
static atomic_uint_fast64_t next_put, issued, errors_total;
static atomic_bool stopping;
static uint64_t t_start, t_measure, t_end;  /* t_end: issue no more after. */

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

static void note_error(struct conn *c, enum err_kind k, const char *detail)
{
    struct thread *t = c->t;

    t->errs[k]++;
    if (!t->first_err[0])
        snprintf(t->first_err, sizeof t->first_err, "%s: %.200s", err_names[k], detail);
    if (atomic_fetch_add(&errors_total, 1) + 1 >= o.max_errors)
        atomic_store(&stopping, true);
}

/* Could a request still be issued? (Consumes nothing.) */
static bool may_issue_peek(uint64_t now)
{
    return !atomic_load(&stopping) && now < t_end &&
           (!o.count || atomic_load(&issued) < o.count);
}

static bool may_issue(uint64_t now)
{
    if (atomic_load(&stopping) || now >= t_end)
        return false;
    if (o.count && atomic_fetch_add(&issued, 1) >= o.count)
        return false;
    return true;
}

static uint64_t pick_key(struct thread *t)
{
    if (o.wl == W_PUT) {
        uint64_t n = atomic_fetch_add(&next_put, 1);
        return o.key_start + (o.keys ? n % o.keys : n);
    }
    if (o.wl == W_PATH)
        return 0;
    return o.key_start + xorshift(&t->rng) % o.keys;
}

static void set_out_interest(struct conn *c, bool want)
{
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};

    if (c->want_out == want)
        return;
    c->want_out = want;
    epoll_ctl(c->t->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void conn_close(struct conn *c, enum err_kind k, const char *why)
{
    for (int i = 0; i < c->qn; i++)
        note_error(c, k, why);
    c->qn = 0;
    c->qh = 0;
    if (c->fd >= 0)
        close(c->fd);  /* Also removes it from the epoll set. */
    c->fd = -1;
    c->st = C_IDLE;
    c->out_len = c->out_off = 0;
    c->retry_at_ns = b_now_ns() + (c->close_after ? 0 : RECONNECT_DELAY_NS);
    c->close_after = false;
}

static void conn_start(struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    int fd = b_connect(&o.sa, NULL);

    if (fd < 0) {
        note_error(c, E_CONNECT, strerror(-fd));
        c->retry_at_ns = b_now_ns() + RECONNECT_DELAY_NS;
        return;
    }
    c->fd = fd;
    c->st = C_CONNECTING;
    c->connect_ns = b_now_ns();
    c->want_out = true;
    b_resp_reset(&c->resp);
    epoll_ctl(c->t->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void conn_flush(struct conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            set_out_interest(c, true);
            return;
        }
        if (n < 0 && errno == EINTR)
            continue;
        conn_close(c, E_IO, n < 0 ? strerror(errno) : "send returned 0");
        return;
    }
    c->out_len = c->out_off = 0;
    set_out_interest(c, false);
}

/* Queue requests until the pipeline is full, then write them. */
/* -w path: the same GET every time. */
static size_t fmt_path(char *out, size_t cap)
{
    int n = snprintf(out, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", o.path, o.req.host,
                     o.gzip ? "Accept-Encoding: gzip\r\n" : "");
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void conn_fill(struct conn *c)
{
    char expect[B_VALUE_BYTES_MAX / 3 * 4 + 8];

    while (c->st == C_OPEN && c->qn < o.depth) {
        uint64_t now = b_now_ns();
        if (!may_issue(now))
            break;
        uint64_t key = pick_key(c->t);
        size_t room = c->out_cap - c->out_len, n;
        if (o.wl == W_PUT)
            n = b_fmt_put(&o.req, key, c->out + c->out_len, room);
        else if (o.wl == W_PATH)
            n = fmt_path(c->out + c->out_len, room);
        else
            n = b_fmt_get(&o.req, key, c->out + c->out_len, room, expect, sizeof expect);
        if (n == 0) {
            note_error(c, E_PROTO, "request does not fit the buffer");
            atomic_store(&stopping, true);
            break;
        }
        c->out_len += n;
        struct inflight *f = &c->q[(c->qh + c->qn) % DEPTH_MAX];
        f->sent_ns = now;
        f->key = key;
        c->qn++;
    }
    if (c->out_len > c->out_off)
        conn_flush(c);
}

/* -z: the body must be gzip, and its first 8 KiB once inflated must
 * contain needle (all of it is not inflated: that would measure us). */
static bool gz_head_has(const char *body, size_t len, const char *needle)
{
    char out[8192];
    z_stream z;
    int rc;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return false;
    z.next_in = (Bytef *)body;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = sizeof out - 1;
    rc = inflate(&z, Z_SYNC_FLUSH);
    inflateEnd(&z);
    if (rc != Z_OK && rc != Z_STREAM_END)
        return false;
    out[z.total_out] = '\0';
    return !needle || strstr(out, needle);
}

static bool body_ok(struct b_resp *r, uint64_t key)
{
    char expect[B_VALUE_BYTES_MAX / 3 * 4 + 8];
    char value[B_VALUE_BYTES_MAX];

    if (o.wl == W_PUT)
        return b_body_has(r, o.req.proto == B_CONSUL ? "true" : "\"header\"");
    if (o.wl == W_PATH && o.gzip)
        return gz_head_has(r->body, r->body_len, o.needle);
    if (o.wl == W_PATH) /* The kept head of the body (bodies may be longer). */
        return !o.needle || memmem(r->body, r->body_len, o.needle, strlen(o.needle));
    b_value(key, value, o.req.value_bytes);
    b_base64(value, o.req.value_bytes, expect);
    return b_body_has(r, expect);
}

static void on_response(void *ctx, struct b_resp *r)
{
    struct conn *c = ctx;
    struct thread *t = c->t;
    uint64_t now = b_now_ns();
    char why[300];

    if (c->qn == 0) {
        note_error(c, E_PROTO, "response without a request");
        c->close_after = true;
        return;
    }
    struct inflight f = c->q[c->qh];
    c->qh = (c->qh + 1) % DEPTH_MAX;
    c->qn--;
    if (!r->keep_alive)
        c->close_after = true;
    if (r->status != 200) {
        snprintf(why, sizeof why, "HTTP %d key %llu body '%.200s'", r->status,
                 (unsigned long long)f.key, r->body);
        note_error(c, E_STATUS, why);
        return;
    }
    if (!body_ok(r, f.key)) {
        snprintf(why, sizeof why, "key %llu body '%.200s'", (unsigned long long)f.key, r->body);
        note_error(c, E_BODY, why);
        return;
    }
    if (now < t_measure || (!o.count && now > t_end))
        return;
    t->ok++;
    t->last_done_ns = now;
    b_hist_record(&t->hist, now - f.sent_ns);
}

static void conn_readable(struct conn *c)
{
    struct thread *t = c->t;

    for (int reads = 0; reads < 16; reads++) {  /* Bounded; level-triggered. */
        ssize_t n = recv(c->fd, t->readbuf, sizeof t->readbuf, 0);
        if (n > 0) {
            if (b_resp_feed(&c->resp, t->readbuf, (size_t)n) != 0) {
                conn_close(c, E_PROTO, http_errno_description(HTTP_PARSER_ERRNO(&c->resp.p)));
                return;
            }
            if (c->close_after) {
                conn_close(c, E_IO, "server closed the connection");
                return;
            }
            if ((size_t)n < sizeof t->readbuf)
                break;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0 && errno == EINTR)
            continue;
        conn_close(c, E_IO, n == 0 ? "connection closed by server" : strerror(errno));
        return;
    }
    conn_fill(c);
}

static void conn_event(struct conn *c, uint32_t ev)
{
    if (c->st == C_IDLE)  /* Closed earlier in this batch of events. */
        return;
    if (c->st == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err || (ev & (EPOLLERR | EPOLLHUP))) {
            note_error(c, E_CONNECT, strerror(err ? err : ECONNRESET));
            conn_close(c, E_CONNECT, "connect");  /* Nothing in flight yet. */
            return;
        }
        c->st = C_OPEN;
        set_out_interest(c, false);
        conn_fill(c);
        return;
    }
    if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_readable(c);
    if (c->st == C_OPEN && (ev & EPOLLOUT))
        conn_flush(c);
}

/* Timeouts, reconnects, and connections that went idle. */
static void thread_scan(struct thread *t, uint64_t now)
{
    uint64_t timeout_ns = (uint64_t)(o.timeout_s * 1e9);

    for (int i = 0; i < t->nconns; i++) {
        struct conn *c = &t->conns[i];
        if (c->st == C_IDLE && now >= c->retry_at_ns && may_issue_peek(now))
            conn_start(c);
        else if (c->qn > 0 && now - c->q[c->qh].sent_ns > timeout_ns)
            conn_close(c, E_TIMEOUT, "no response within -T");
        else if (c->st == C_CONNECTING && now - c->connect_ns > timeout_ns)
            conn_close(c, E_CONNECT, "connect timed out");
    }
}

static bool thread_done(struct thread *t, uint64_t now, uint64_t t_hard)
{
    if (now >= t_hard || atomic_load(&stopping))
        return true;
    if (!o.count)
        return now >= t_end;
    if (may_issue_peek(now))
        return false;
    for (int i = 0; i < t->nconns; i++)
        if (t->conns[i].qn > 0)
            return false;
    return true;
}

static void *thread_main(void *arg)
{
    struct thread *t = arg;
    struct epoll_event evs[256];
    uint64_t t_hard = t_end + (o.count ? (uint64_t)(o.timeout_s * 1e9) : 0);
    uint64_t next_scan = 0;

    for (int i = 0; i < t->nconns; i++)
        conn_start(&t->conns[i]);
    for (;;) {
        uint64_t now = b_now_ns();
        if (thread_done(t, now, t_hard))
            break;
        if (now >= next_scan) {
            thread_scan(t, now);
            next_scan = now + 5000000;  /* 5 ms */
        }
        int n = epoll_wait(t->ep, evs, 256, 5);
        for (int i = 0; i < n; i++)
            conn_event(evs[i].data.ptr, evs[i].events);
    }
    for (int i = 0; i < t->nconns; i++)
        if (t->conns[i].fd >= 0)
            close(t->conns[i].fd);
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kvload -a HOST:PORT [options]\n"
        "  -P consul|etcd      protocol (consul: /v1/kv; etcd: v3 JSON gateway)  [consul]\n"
        "  -w put|get|path     workload: put = distinct keys; get = random keys of -k;\n"
        "                      path = GET -u PATH every time (Consul proto)  [put]\n"
        "  -u PATH             with -w path: request target, e.g. /v1/health/service/web?passing\n"
        "  -b TEXT             with -w path: the body's first 256 KiB must contain TEXT\n"
        "  -z                  with -w path: send Accept-Encoding: gzip; replies must be gzip\n"
        "                      and TEXT is looked for in their first 8 KiB inflated\n"
        "  -m default|consistent|stale  read mode; etcd: stale = serializable,\n"
        "                      default/consistent = linearizable  [default]\n"
        "  -c N                connections [64]     -t N  epoll threads [1]\n"
        "  -p N                requests in flight per connection (pipelining) [1]\n"
        "  -d SEC              duration [10; with -n: bound, default 600]\n"
        "  -W SEC              warmup not measured (-d mode) [0]\n"
        "  -n N                total requests instead of a duration\n"
        "  -k N                key space: get reads keys K..K+N-1; put wraps modulo N\n"
        "  -K N                first key index K [0]\n"
        "  -s BYTES            value size [256]      -x PREFIX  key prefix [bench/]\n"
        "  -T SEC              per-request timeout [10]\n"
        "  -e N                stop after N errors [1000]\n"
        "  -S PID              server pid: report its CPU time over the run\n"
        "  -r SEED             random seed for get keys [1]\n");
}

static int check_opts(void)
{
    if (!o.addr || b_parse_addr(o.addr, &o.sa) != 0) {
        fprintf(stderr, "kvload: -a HOST:PORT (IPv4) is required\n");
        return -1;
    }
    if (o.conns < 1 || o.conns > CONNS_MAX || o.depth < 1 || o.depth > DEPTH_MAX ||
        o.threads < 1 || o.threads > THREADS_MAX || o.threads > o.conns ||
        o.req.value_bytes < 1 || o.req.value_bytes > B_VALUE_BYTES_MAX ||
        strlen(o.req.prefix) >= B_KEY_PREFIX_MAX || o.timeout_s <= 0 ||
        o.duration_s < 0 || o.warmup_s < 0 || o.max_errors < 1) {
        fprintf(stderr, "kvload: option out of range\n");
        return -1;
    }
    if (o.wl == W_PATH && (!o.path || o.path[0] != '/' || strpbrk(o.path, " \r\n") ||
                           o.req.proto != B_CONSUL)) {
        fprintf(stderr, "kvload: -w path needs -u /PATH (no spaces) and -P consul\n");
        return -1;
    }
    if (o.wl == W_GET && o.keys == 0) {
        fprintf(stderr, "kvload: -w get needs -k (keys written before)\n");
        return -1;
    }
    return 0;
}

static int parse_opts(int argc, char **argv)
{
    int ch, bad = 0, pid = 0;
    uint64_t u = 0;

    o.conns = 64;
    o.depth = 1;
    o.threads = 1;
    o.timeout_s = 10;
    o.max_errors = 1000;
    o.seed = 1;
    o.req.prefix = "bench/";
    o.req.value_bytes = 256;
    while ((ch = getopt(argc, argv, "a:P:w:m:c:t:p:d:W:n:k:K:s:x:T:e:S:r:u:b:zh")) != -1) {
        switch (ch) {
        case 'a': o.addr = optarg; break;
        case 'u': o.path = optarg; break;
        case 'b': o.needle = optarg; break;
        case 'z': o.gzip = true; break;
        case 'P':
            if (strcmp(optarg, "consul") == 0) o.req.proto = B_CONSUL;
            else if (strcmp(optarg, "etcd") == 0) o.req.proto = B_ETCD;
            else return -1;
            break;
        case 'w':
            if (strcmp(optarg, "put") == 0) o.wl = W_PUT;
            else if (strcmp(optarg, "get") == 0) o.wl = W_GET;
            else if (strcmp(optarg, "path") == 0) o.wl = W_PATH;
            else return -1;
            break;
        case 'm':
            if (strcmp(optarg, "default") == 0) o.req.read = B_READ_DEFAULT;
            else if (strcmp(optarg, "consistent") == 0) o.req.read = B_READ_CONSISTENT;
            else if (strcmp(optarg, "stale") == 0) o.req.read = B_READ_STALE;
            else return -1;
            break;
        case 'c': bad |= b_parse_int(optarg, 1, CONNS_MAX, &o.conns); break;
        case 't': bad |= b_parse_int(optarg, 1, THREADS_MAX, &o.threads); break;
        case 'p': bad |= b_parse_int(optarg, 1, DEPTH_MAX, &o.depth); break;
        case 'd': bad |= b_parse_f64(optarg, 0.001, 86400, &o.duration_s); break;
        case 'W': bad |= b_parse_f64(optarg, 0, 3600, &o.warmup_s); break;
        case 'n': bad |= b_parse_u64(optarg, 1, UINT64_MAX / 2, &o.count); break;
        case 'k': bad |= b_parse_u64(optarg, 1, UINT64_MAX / 2, &o.keys); break;
        case 'K': bad |= b_parse_u64(optarg, 0, UINT64_MAX / 2, &o.key_start); break;
        case 's': bad |= b_parse_u64(optarg, 1, B_VALUE_BYTES_MAX, &u); o.req.value_bytes = u; break;
        case 'x': o.req.prefix = optarg; break;
        case 'T': bad |= b_parse_f64(optarg, 0.001, 3600, &o.timeout_s); break;
        case 'e': bad |= b_parse_u64(optarg, 1, UINT64_MAX / 2, &o.max_errors); break;
        case 'S': bad |= b_parse_int(optarg, 1, INT32_MAX, &pid); o.pid = pid; break;
        case 'r': bad |= b_parse_u64(optarg, 0, UINT64_MAX, &o.seed); break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    if (bad) {
        fprintf(stderr, "kvload: bad option value\n");
        return -1;
    }
    if (check_opts() != 0)
        return -1;
    if (o.duration_s == 0)
        o.duration_s = o.count ? 600 : 10;
    snprintf(o.host, sizeof o.host, "%s", o.addr);
    o.req.host = o.host;
    return 0;
}

static int threads_init(struct thread *ts)
{
    size_t out_cap = (size_t)o.depth * ((o.req.value_bytes + 2) / 3 * 4 + 1024);

    for (int i = 0; i < o.threads; i++) {
        struct thread *t = &ts[i];
        t->nconns = o.conns / o.threads + (i < o.conns % o.threads);
        t->conns = calloc((size_t)t->nconns, sizeof *t->conns);
        t->ep = epoll_create1(EPOLL_CLOEXEC);
        t->rng = o.seed * 0x9E3779B97F4A7C15ull + (uint64_t)i + 1;
        b_hist_init(&t->hist);
        if (!t->conns || t->ep < 0)
            return -1;
        for (int j = 0; j < t->nconns; j++) {
            struct conn *c = &t->conns[j];
            c->t = t;
            c->fd = -1;
            c->out_cap = out_cap;
            c->out = malloc(out_cap);
            if (!c->out || b_resp_init(&c->resp, B_BODY_BYTES_MAX, on_response, c) != 0)
                return -1;
        }
    }
    return 0;
}

static void report(struct thread *ts, double cli_cpu, double srv_cpu, uint64_t t_after)
{
    struct b_hist h;
    uint64_t ok = 0, errs[E_KINDS] = {0}, last = 0, nerr = 0;
    const char *first = "";

    b_hist_init(&h);
    for (int i = 0; i < o.threads; i++) {
        b_hist_merge(&h, &ts[i].hist);
        ok += ts[i].ok;
        for (int k = 0; k < E_KINDS; k++)
            errs[k] += ts[i].errs[k];
        if (ts[i].last_done_ns > last)
            last = ts[i].last_done_ns;
        if (!first[0])
            first = ts[i].first_err;
    }
    for (int k = 0; k < E_KINDS; k++)
        nerr += errs[k];
    double secs = o.count ? (last > t_start ? (double)(last - t_start) / 1e9 : 0)
                          : t_after <= t_measure ? 0
                          : (double)((t_after < t_end ? t_after : t_end) - t_measure) / 1e9;
    double rate = secs > 0 ? (double)ok / secs : 0;
    double q[5] = {0.5, 0.9, 0.99, 0.999, 1.0};
    double us[5];
    for (int i = 0; i < 5; i++)
        us[i] = (double)b_hist_quantile(&h, q[i]) / 1e3;
    double mean = h.n ? h.sum / (double)h.n / 1e3 : 0;
    const char *wl = o.wl == W_PUT ? "put" : o.wl == W_PATH ? "path" : "get";
    const char *mode = o.req.read == B_READ_CONSISTENT ? "consistent"
                     : o.req.read == B_READ_STALE ? "stale" : "default";

    char keys[96];
    if (o.wl == W_PATH)
        snprintf(keys, sizeof keys, "%s", o.path);
    else if (o.wl == W_PUT && !o.keys)
        snprintf(keys, sizeof keys, "%s%llu.. distinct", o.req.prefix,
                 (unsigned long long)o.key_start);
    else
        snprintf(keys, sizeof keys, "%s%llu..%llu%s", o.req.prefix,
                 (unsigned long long)o.key_start,
                 (unsigned long long)(o.key_start + o.keys - 1),
                 o.wl == W_PUT ? " overwritten" : "");
    printf("kvload %s %s %s(%s) conns=%d depth=%d threads=%d value=%zuB keys=%s window=%.2fs\n",
           o.addr, o.req.proto == B_CONSUL ? "consul" : "etcd", wl, mode, o.conns,
           o.depth, o.threads, o.req.value_bytes, keys, secs);
    printf("  ok=%llu  %.0f ops/s  errors=%llu [", (unsigned long long)ok, rate,
           (unsigned long long)nerr);
    for (int k = 0; k < E_KINDS; k++)
        printf("%s%s=%llu", k ? " " : "", err_names[k], (unsigned long long)errs[k]);
    printf("]\n  latency us: p50=%.1f p90=%.1f p99=%.1f p99.9=%.1f max=%.1f mean=%.1f\n",
           us[0], us[1], us[2], us[3], us[4], mean);
    printf("  cpu: client %.2fs", cli_cpu);
    if (o.pid)
        printf(", server %.2fs (%.1f us/op)", srv_cpu, ok ? srv_cpu * 1e6 / (double)ok : 0);
    printf("\n");
    /* A saturated client caps the measured rate: say so. */
    int client_bound = secs > 0 && cli_cpu >= 0.9 * secs * o.threads;
    if (client_bound)
        printf("  WARNING: the load generator used %.0f%% of its %d thread(s): the rate is "
               "a lower bound for the server\n", 100 * cli_cpu / (secs * o.threads), o.threads);
    if (nerr)
        printf("  first error: %s\n", first);
    printf("RESULT ok=%llu ops_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
           "max_us=%.1f mean_us=%.1f errors=%llu client_cpu_s=%.2f server_cpu_s=%.2f "
           "client_bound=%d\n",
           (unsigned long long)ok, rate, us[0], us[1], us[2], us[3], us[4], mean,
           (unsigned long long)nerr, cli_cpu, o.pid ? srv_cpu : -1.0, client_bound);
}

/* Sleep until `t` (monotonic ns) or until the run stops early. */
static void wait_until(uint64_t t)
{
    uint64_t now;

    while (!atomic_load(&stopping) && (now = b_now_ns()) < t)
        b_sleep_us((t - now) / 1000 < 10000 ? (t - now) / 1000 + 1 : 10000);
}

int main(int argc, char **argv)
{
    static struct thread ts[THREADS_MAX];

    if (parse_opts(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (b_raise_nofile(o.conns + 64) < o.conns + 16) {
        fprintf(stderr, "kvload: cannot raise the open-file limit to %d\n", o.conns + 64);
        return 2;
    }
    if (threads_init(ts) != 0) {
        fprintf(stderr, "kvload: out of memory\n");
        return 2;
    }
    t_start = b_now_ns();
    t_measure = o.count ? t_start : t_start + (uint64_t)(o.warmup_s * 1e9);
    t_end = t_measure + (uint64_t)(o.duration_s * 1e9);
    for (int i = 0; i < o.threads; i++)
        pthread_create(&ts[i].tid, NULL, thread_main, &ts[i]);
    /* CPU is sampled over the measured window only (-d mode), so warmup
     * work is not charged to the measured requests. */
    wait_until(t_measure);
    double srv0 = o.pid ? b_proc_cpu_s(o.pid) : 0, cli0 = b_self_cpu_s();
    if (!o.count)
        wait_until(t_end);
    double srv1 = o.pid ? b_proc_cpu_s(o.pid) : 0, cli1 = b_self_cpu_s();
    uint64_t t_after = b_now_ns();
    for (int i = 0; i < o.threads; i++)
        pthread_join(ts[i].tid, NULL);
    if (o.count) {
        t_after = b_now_ns();
        srv1 = o.pid ? b_proc_cpu_s(o.pid) : 0;
        cli1 = b_self_cpu_s();
    }
    double srv = srv1 - srv0, cli = cli1 - cli0;
    report(ts, cli, srv, t_after);
    uint64_t nerr = atomic_load(&errors_total);
    return nerr ? 1 : 0;
}
