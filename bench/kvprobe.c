/* bench/kvprobe.c - single-purpose measurements that a throughput load
 * generator cannot make (bench/run.sh drives them):
 *
 *   ready     fork+exec a server N times; time from just before fork to the
 *             first successful readiness request (Consul: GET
 *             /v1/status/leader answering a non-empty leader; etcd: GET
 *             /health answering true). Median, p90, min, max.
 *   watch     blocking-query wake latency: park GET /v1/kv/K?index=<cur>,
 *             write K on a second connection, time the blocked response
 *             against the write's send and its ack. N trials.
 *   park      (kvprobe_fanout.c) RSS cost of N parked blocking queries,
 *             then the fan-out wake time of all of them.
 *   failover  (kvprobe_fanout.c) SIGKILL a member, time to the first
 *             successful write through the survivors.
 *
 * Every loop is bounded by a count and by -T seconds. The last line of each
 * mode is `RESULT key=value ...`.
 */
#include "kvprobe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

struct probe_opts po;

/* ------------------------------------------------------------------ */
/* shared helpers                                                      */

size_t probe_fmt_consul_put(char *out, size_t cap, const char *key, const char *value)
{
    int n = snprintf(out, cap, "PUT /v1/kv/%s HTTP/1.1\r\nHost: bench\r\n"
                     "Content-Length: %zu\r\n\r\n%s", key, strlen(value), value);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t probe_fmt_consul_block(char *out, size_t cap, const char *key,
                              unsigned long long index, const char *wait)
{
    int n = snprintf(out, cap, "GET /v1/kv/%s?index=%llu&wait=%s HTTP/1.1\r\n"
                     "Host: bench\r\n\r\n", key, index, wait);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

int probe_consul_index(int fd, const char *key, unsigned long long *index)
{
    char req[512];
    struct b_resp r;
    int n = snprintf(req, sizeof req, "GET /v1/kv/%s HTTP/1.1\r\nHost: bench\r\n\r\n", key);
    int rc;

    if (b_resp_init(&r, 65536, NULL, NULL) != 0)
        return -1;
    rc = b_roundtrip(fd, req, (size_t)n, &r, (int)(po.timeout_s * 1000));
    if (rc == 0 && (r.status == 200 || r.status == 404) && r.consul_index > 0)
        *index = r.consul_index;
    else
        rc = -1;
    if (rc != 0)
        fprintf(stderr, "kvprobe: GET %s: %s (HTTP %d, X-Consul-Index %llu)\n", key,
                rc == -1 ? "bad answer" : strerror(-rc), r.status,
                (unsigned long long)r.consul_index);
    b_resp_free(&r);
    return rc == 0 ? 0 : -1;
}

void probe_print_dist(const char *name, int64_t *v, size_t n, const char *key)
{
    b_sort_i64(v, n);
    double med = (double)b_pct_i64(v, n, 0.5) / 1e3, p90 = (double)b_pct_i64(v, n, 0.9) / 1e3;
    double p99 = (double)b_pct_i64(v, n, 0.99) / 1e3;
    double mn = n ? (double)v[0] / 1e3 : 0, mx = n ? (double)v[n - 1] / 1e3 : 0;

    printf("  %-28s n=%zu median=%.1f p90=%.1f p99=%.1f min=%.1f max=%.1f us\n",
           name, n, med, p90, p99, mn, mx);
    printf("RESULT %s_median_us=%.1f %s_p90_us=%.1f %s_p99_us=%.1f %s_max_us=%.1f %s_n=%zu\n",
           key, med, key, p90, key, p99, key, mx, key, n);
}

/* ------------------------------------------------------------------ */
/* ready                                                               */

static int port_in_use(void)
{
    int fd = b_connect_wait(&po.sa, 200);

    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

/* One readiness request on a fresh connection: 1 ready, 0 not yet. */
static int ready_check(struct b_resp *r)
{
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: bench\r\n\r\n",
                     po.proto == B_CONSUL ? "/v1/status/leader" : "/health");
    int fd = b_connect_wait(&po.sa, 100);
    int ok = 0;

    if (fd < 0)
        return 0;
    if (b_roundtrip(fd, req, (size_t)n, r, 1000) == 0 && r->status == 200) {
        if (po.proto == B_CONSUL)
            ok = r->body_len > 2 && strstr(r->body, "\"\"") == NULL;
        else
            ok = b_body_has(r, "true");
    }
    close(fd);
    return ok;
}

static pid_t spawn(int run)
{
    char *argv[64], bufs[64][256];
    int i;

    for (i = 0; po.cmd[i] && i < 63; i++) {
        const char *s = po.cmd[i], *at = strstr(s, "{RUN}");
        if (!at) {
            argv[i] = po.cmd[i];
            continue;
        }
        snprintf(bufs[i], sizeof bufs[i], "%.*s%d%s", (int)(at - s), s, run, at + 5);
        argv[i] = bufs[i];
    }
    argv[i] = NULL;
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = open(po.log_path ? po.log_path : "/dev/null",
                  O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    execvp(argv[0], argv);
    _exit(127);
}

static void reap(pid_t pid)
{
    int st;

    kill(pid, SIGTERM);
    for (int i = 0; i < 500; i++) {  /* 5 s */
        if (waitpid(pid, &st, WNOHANG) == pid)
            return;
        b_sleep_us(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
}

/* One run: ns from fork to ready, or -1. */
static int64_t ready_once(int run, struct b_resp *r)
{
    uint64_t deadline, t0;
    int st;

    if (port_in_use()) {
        fprintf(stderr, "kvprobe ready: %s is already in use before start\n", po.addr);
        return -1;
    }
    t0 = b_now_ns();
    deadline = t0 + (uint64_t)(po.timeout_s * 1e9);
    pid_t pid = spawn(run);
    if (pid < 0)
        return -1;
    while (b_now_ns() < deadline) {
        if (ready_check(r)) {
            int64_t dt = (int64_t)(b_now_ns() - t0);
            reap(pid);
            return dt;
        }
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "kvprobe ready: run %d: server exited (status %d)\n", run, st);
            return -1;
        }
        b_sleep_us(200);
    }
    fprintf(stderr, "kvprobe ready: run %d: not ready within %.0f s\n", run, po.timeout_s);
    reap(pid);
    return -1;
}

int probe_ready(void)
{
    int64_t v[1000];
    size_t n = 0;
    struct b_resp r;

    if (!po.cmd || !po.cmd[0] || po.runs > 1000) {
        fprintf(stderr, "kvprobe ready: needs -- COMMAND ARGS and -n <= 1000\n");
        return 2;
    }
    if (b_resp_init(&r, 4096, NULL, NULL) != 0)
        return 2;
    for (int i = 0; i < po.runs; i++) {
        int64_t dt = ready_once(i, &r);
        if (dt < 0)
            break;
        v[n++] = dt;
        /* Let the port and the process table settle between runs. */
        b_sleep_us(50000);
    }
    b_resp_free(&r);
    printf("kvprobe ready %s (%s): %zu of %d runs\n", po.addr,
           po.proto == B_CONSUL ? "GET /v1/status/leader" : "GET /health", n, po.runs);
    probe_print_dist("exec -> first ready answer", v, n, "ready");
    return n == (size_t)po.runs ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* watch                                                               */

static int send_all(int fd, const char *p, size_t n)
{
    struct pollfd pfd = {.fd = fd, .events = POLLOUT};
    uint64_t deadline = b_now_ns() + (uint64_t)(po.timeout_s * 1e9);

    while (n > 0) {
        if (b_now_ns() > deadline)
            return -1;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            poll(&pfd, 1, 100);
        } else {
            return -1;
        }
    }
    return 0;
}

struct watch_sample {
    int64_t wake_after_send, wake_minus_ack, ack_after_send;
};

/* Wait for both responses; times are taken as each completes. */
static int watch_collect(int fa, int fb, struct b_resp *ra, struct b_resp *rb,
                         uint64_t *t_wake, uint64_t *t_ack)
{
    uint64_t deadline = b_now_ns() + (uint64_t)(po.timeout_s * 1e9);

    while (!*t_wake || !*t_ack) {
        struct pollfd p[2] = {{.fd = fa, .events = POLLIN}, {.fd = fb, .events = POLLIN}};
        if (b_now_ns() > deadline)
            return -ETIMEDOUT;
        if (poll(p, 2, 100) < 0 && errno != EINTR)
            return -errno;
        if (!*t_wake && (p[0].revents & (POLLIN | POLLERR | POLLHUP))) {
            int rc = b_resp_read(fa, ra);
            if (rc < 0)
                return rc;
            if (rc == 1)
                *t_wake = b_now_ns();
        }
        if (!*t_ack && (p[1].revents & (POLLIN | POLLERR | POLLHUP))) {
            int rc = b_resp_read(fb, rb);
            if (rc < 0)
                return rc;
            if (rc == 1)
                *t_ack = b_now_ns();
        }
    }
    return 0;
}

/* 0 measured, 1 the query answered before the write (retry), -1 failed. */
static int watch_trial(int fa, int fb, int trial, unsigned long long *idx,
                       struct b_resp *ra, struct b_resp *rb, struct watch_sample *s)
{
    char req[1024], put[1024], value[64], b64[128];
    uint64_t t_wake = 0, t_ack = 0;
    size_t n;

    snprintf(value, sizeof value, "watch-trial-%d", trial);
    b_base64(value, strlen(value), b64);
    n = probe_fmt_consul_block(req, sizeof req, po.key, *idx, po.wait);
    ra->complete = rb->complete = false;
    if (send_all(fa, req, n) != 0)
        return -1;
    b_sleep_us(po.park_us);
    int rc = b_resp_read(fa, ra);
    if (rc != 0) {
        if (rc == 1 && ra->consul_index > 0)
            *idx = ra->consul_index;
        fprintf(stderr, "kvprobe watch: trial %d: query answered before the write "
                "(HTTP %d, index %llu)\n", trial, ra->status, (unsigned long long)ra->consul_index);
        return rc == 1 ? 1 : -1;
    }
    n = probe_fmt_consul_put(put, sizeof put, po.key, value);
    uint64_t t_send = b_now_ns();
    if (send_all(fb, put, n) != 0)
        return -1;
    rc = watch_collect(fa, fb, ra, rb, &t_wake, &t_ack);
    if (rc != 0 || ra->status != 200 || rb->status != 200 || !b_body_has(rb, "true") ||
        !b_body_has(ra, b64) || ra->consul_index <= *idx) {
        fprintf(stderr, "kvprobe watch: trial %d failed: %s; query HTTP %d index %llu "
                "(was %llu) body '%.120s'; write HTTP %d '%.40s'\n", trial,
                rc ? strerror(-rc) : "bad answer", ra->status,
                (unsigned long long)ra->consul_index, *idx, ra->body, rb->status, rb->body);
        return -1;
    }
    *idx = ra->consul_index;
    s->wake_after_send = (int64_t)(t_wake - t_send);
    s->wake_minus_ack = (int64_t)t_wake - (int64_t)t_ack;
    s->ack_after_send = (int64_t)(t_ack - t_send);
    return 0;
}

int probe_watch(void)
{
    static int64_t ws[10000], wa[10000], as[10000];
    struct b_resp ra, rb;
    unsigned long long idx = 0;
    size_t n = 0;
    int retries = 0, before_ack = 0;

    if (po.runs > 10000 || b_resp_init(&ra, 65536, NULL, NULL) != 0 ||
        b_resp_init(&rb, 65536, NULL, NULL) != 0)
        return 2;
    int fa = b_connect_wait(&po.sa, 1000), fb = b_connect_wait(&po.sa, 1000);
    if (fa < 0 || fb < 0 || probe_consul_index(fb, po.key, &idx) != 0) {
        fprintf(stderr, "kvprobe watch: cannot reach %s\n", po.addr);
        return 2;
    }
    for (int i = 0; i < po.runs && retries < 10; i++) {
        struct watch_sample s;
        int rc = watch_trial(fa, fb, i, &idx, &ra, &rb, &s);
        if (rc < 0)
            break;
        if (rc == 1) {
            retries++;
            i--;
            continue;
        }
        ws[n] = s.wake_after_send;
        wa[n] = s.wake_minus_ack;
        as[n] = s.ack_after_send;
        before_ack += s.wake_minus_ack < 0;
        n++;
    }
    close(fa);
    close(fb);
    printf("kvprobe watch %s key %s: %zu of %d trials (park delay %u us; "
           "%d woke before the write's ack arrived)\n", po.addr, po.key, n, po.runs,
           po.park_us, before_ack);
    probe_print_dist("write sent -> wake", ws, n, "wake_after_send");
    probe_print_dist("write ack -> wake (signed)", wa, n, "wake_after_ack");
    probe_print_dist("write sent -> ack", as, n, "put_ack");
    b_resp_free(&ra);
    b_resp_free(&rb);
    return n == (size_t)po.runs ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* main                                                                */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kvprobe MODE -a HOST:PORT [options] [-- COMMAND ARGS]\n"
        "  ready     -n RUNS [-P consul|etcd] [-L LOG] -- COMMAND ({RUN} = run number)\n"
        "  watch     -n TRIALS [-x KEY] [-D PARK_US]       (consul only)\n"
        "  park      -c N -S SERVER_PID [-x KEY] [-N PER_IP] [-w WAIT]  (consul only)\n"
        "  failover  -S PID_TO_KILL -E HOST:PORT,... [-P consul|etcd] [-n ATTEMPTS_MAX]\n"
        "  common:   -T SEC bound for each wait [30]\n");
}

int main(int argc, char **argv)
{
    int ch, bad = 0, pid = 0, park = 0;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *mode = argv[1];
    po.runs = 20;
    po.conns = 10000;
    po.per_ip = 150;
    po.timeout_s = 30;
    po.park_us = 2000;
    po.wait = "10m";
    optind = 2;
    while ((ch = getopt(argc, argv, "a:P:n:c:N:S:x:w:T:D:E:L:h")) != -1) {
        switch (ch) {
        case 'a': po.addr = optarg; break;
        case 'P': po.proto = strcmp(optarg, "etcd") == 0 ? B_ETCD : B_CONSUL; break;
        case 'n': bad |= b_parse_int(optarg, 1, 10000, &po.runs); break;
        case 'c': bad |= b_parse_int(optarg, 1, 60000, &po.conns); break;
        case 'N': bad |= b_parse_int(optarg, 1, 100000, &po.per_ip); break;
        case 'S': bad |= b_parse_int(optarg, 1, INT32_MAX, &pid); po.pid = pid; break;
        case 'x': po.key = optarg; break;
        case 'w': po.wait = optarg; break;
        case 'T': bad |= b_parse_f64(optarg, 0.001, 3600, &po.timeout_s); break;
        case 'D': bad |= b_parse_int(optarg, 0, 10000000, &park); po.park_us = (unsigned)park; break;
        case 'E': po.endpoints = optarg; break;
        case 'L': po.log_path = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    po.cmd = argv + optind;
    signal(SIGPIPE, SIG_IGN);
    if (bad) {
        fprintf(stderr, "kvprobe: bad option value\n");
        return 2;
    }
    if (strcmp(mode, "failover") != 0 && (!po.addr || b_parse_addr(po.addr, &po.sa) != 0)) {
        fprintf(stderr, "kvprobe: -a HOST:PORT (IPv4) is required\n");
        return 2;
    }
    if (strcmp(mode, "ready") == 0)
        return probe_ready();
    if (!po.key)
        po.key = strcmp(mode, "park") == 0 ? "bench-park/k" : "bench-watch/k";
    if (strcmp(mode, "watch") == 0)
        return probe_watch();
    if (strcmp(mode, "park") == 0)
        return probe_park();
    if (strcmp(mode, "failover") == 0)
        return probe_failover();
    usage(stderr);
    return 2;
}
