/* bench/checks_bench.c - many health checks on one runner (issue 5's bar:
 * 10,000 services with one check each on one agent, RSS <= 64 MiB, every
 * check run within 10% of its interval).
 *
 *   checks_bench [--type tcp|http|http-hang|ttl] [--checks N] [--interval-ms MS]
 *                [--seconds S] [--targets T] [--seed X]
 *
 * The targets (T listening ports, TCP accept-and-close or the project's
 * HTTP server answering /health) run in a forked child, so the RSS and
 * heap measured here are the runner's alone. Checks are spread over the
 * T ports: real services listen on distinct ports, and one port would
 * run out of ephemeral source ports to TIME_WAIT at 1000 connects/s.
 * http-hang targets accept and never answer: every check then has a
 * request in flight for its whole Timeout (the worst case for memory).
 * TTL mode updates every check twice per TTL from a timer, like clients
 * heartbeating, and counts expiries (there should be none).
 *
 * Reported: per-check memory (RSS and malloc'd bytes, from before the
 * runner existed to the peak while running), the runner's lateness
 * histogram (start of a run minus its due time; due times sit on a fixed
 * grid, so this is the scheduling jitter), runs late by more than 10% of
 * the interval, and CPU time.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/checks/checks.h"
#include "http/http.h"

#define TARGETS_MAX 256

struct opts {
    const char *type;
    unsigned long checks, interval_ms, seconds, targets, seed;
};

static unsigned long num(const char *s, const char *what)
{
    char *end;
    unsigned long v;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || *end || end == s) {
        fprintf(stderr, "bad %s: %s\n", what, s);
        exit(2);
    }
    return v;
}

static void parse_opts(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){"tcp", 10000, 10000, 30, 50, 42};
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--type"))
            o->type = argv[i + 1];
        else if (!strcmp(argv[i], "--checks"))
            o->checks = num(argv[i + 1], "checks");
        else if (!strcmp(argv[i], "--interval-ms"))
            o->interval_ms = num(argv[i + 1], "interval");
        else if (!strcmp(argv[i], "--seconds"))
            o->seconds = num(argv[i + 1], "seconds");
        else if (!strcmp(argv[i], "--targets"))
            o->targets = num(argv[i + 1], "targets");
        else if (!strcmp(argv[i], "--seed"))
            o->seed = num(argv[i + 1], "seed");
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            exit(2);
        }
    }
    if (o->targets == 0 || o->targets > TARGETS_MAX || o->checks == 0) {
        fprintf(stderr, "targets must be 1..%d, checks > 0\n", TARGETS_MAX);
        exit(2);
    }
}

/* ---- the target process ---- */

static void on_target_closed(uv_handle_t *h) { free(h); }

static bool target_hangs; /* http-hang: accept, then never answer. */

static void on_hang_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    static char buf[4096];
    (void)h;
    (void)sz;
    *b = uv_buf_init(buf, sizeof buf);
}

static void on_hang_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    if (n < 0)
        uv_close((uv_handle_t *)s, on_target_closed);
}

static void on_target_conn(uv_stream_t *l, int status)
{
    uv_tcp_t *c;
    if (status < 0)
        return;
    c = malloc(sizeof *c);
    uv_tcp_init(l->loop, c);
    if (uv_accept(l, (uv_stream_t *)c) == 0 && target_hangs)
        uv_read_start((uv_stream_t *)c, on_hang_alloc, on_hang_read);
    else
        uv_close((uv_handle_t *)c, on_target_closed); /* Accept, then hang up. */
}

static void h_health(struct cn_http_req *req)
{
    cn_buf_puts(cn_http_body(req), "ok");
    cn_http_finish(req, 200);
}

static const struct cn_route routes[] = {{"/health", CN_HTTP_GET, h_health, 0, 0}};

static int target_port(uv_loop_t *loop, bool http)
{
    struct sockaddr_in sa;
    struct sockaddr_storage ss;
    int len = sizeof ss;
    if (http) {
        struct cn_http_config cfg = {.addr = "127.0.0.1", .routes = routes, .n_routes = 1,
                                     .conns_per_ip_max = 100000};
        struct cn_http_server *s;
        char err[CN_ERRMSG_MAX];
        if (cn_http_server_start(&s, loop, &cfg, err) != 0) {
            fprintf(stderr, "target: %s\n", err);
            exit(1);
        }
        return cn_http_server_port(s);
    }
    uv_tcp_t *l = malloc(sizeof *l);
    uv_ip4_addr("127.0.0.1", 0, &sa);
    uv_tcp_init(loop, l);
    if (uv_tcp_bind(l, (struct sockaddr *)&sa, 0) < 0 ||
        uv_listen((uv_stream_t *)l, 4096, on_target_conn) < 0)
        exit(1);
    uv_tcp_getsockname(l, (struct sockaddr *)&ss, &len);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void target_main(const struct opts *o, int out_fd)
{
    uv_loop_t loop;
    int ports[TARGETS_MAX];
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    uv_loop_init(&loop);
    target_hangs = strcmp(o->type, "http-hang") == 0;
    for (unsigned long i = 0; i < o->targets; i++)
        ports[i] = target_port(&loop, strcmp(o->type, "http") == 0);
    if (write(out_fd, ports, o->targets * sizeof ports[0]) < 0)
        exit(1);
    close(out_fd);
    uv_run(&loop, UV_RUN_DEFAULT);
    exit(0);
}

/* ---- measuring ---- */

static long rss_kib(void)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            v = strtol(line + 6, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static size_t heap_bytes(void) { return mallinfo2().uordblks; }

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* ---- the runner side ---- */

struct bench {
    struct opts o;
    uv_loop_t loop;
    struct cn_check_runner *r;
    struct cn_check **checks;
    uv_timer_t sample, stop, beat;
    unsigned long beat_next;
    uint64_t updates, passing, critical;
    char last_bad[256];
    long rss_peak;
    size_t heap_peak;
    uint64_t t0_ms;
};

static void on_update(void *ctx, struct cn_check *c, enum cn_check_status s,
                      const char *out, size_t n)
{
    struct bench *b = ctx;
    (void)c;
    b->updates++;
    b->passing += s == CN_CHECK_PASSING;
    b->critical += s == CN_CHECK_CRITICAL;
    if (s != CN_CHECK_PASSING)
        snprintf(b->last_bad, sizeof b->last_bad, "%s: %.*s", cn_check_status_name(s),
                 (int)CN_MIN(n, 200), out);
}

static void on_sample(uv_timer_t *t)
{
    struct bench *b = t->data;
    struct cn_check_runner_stats st;
    long rss = rss_kib();
    size_t heap = heap_bytes();
    cn_check_runner_stats(b->r, &st);
    if (rss > b->rss_peak)
        b->rss_peak = rss;
    if (heap > b->heap_peak)
        b->heap_peak = heap;
    fprintf(stderr, "  t=%3llus runs=%llu in_flight=%llu updates=%llu late_max=%llums "
            "rss=%ld KiB\n", (unsigned long long)((uv_now(&b->loop) - b->t0_ms) / 1000),
            (unsigned long long)st.runs, (unsigned long long)st.runs_in_flight,
            (unsigned long long)b->updates, (unsigned long long)st.lateness_ms_max, rss);
}

/* TTL mode: each check heartbeats twice per TTL, spread over time. */
static void on_beat(uv_timer_t *t)
{
    struct bench *b = t->data;
    unsigned long per_tick = b->o.checks * 10 / (b->o.interval_ms / 2) + 1;
    for (unsigned long i = 0; i < per_tick; i++) {
        unsigned long k = b->beat_next++ % b->o.checks;
        cn_check_ttl_update(b->checks[k], CN_CHECK_PASSING, "beat", 4);
    }
}

static void on_stop(uv_timer_t *t)
{
    struct bench *b = t->data;
    uv_stop(&b->loop);
}

static void start_checks(struct bench *b, const int *ports)
{
    char id[48], addr[96], err[CN_ERRMSG_MAX];
    bool http = !strncmp(b->o.type, "http", 4), ttl = !strcmp(b->o.type, "ttl");
    for (unsigned long i = 0; i < b->o.checks; i++) {
        struct cn_check_def d = {.id = id, .name = id};
        int port = ports[i % b->o.targets];
        snprintf(id, sizeof id, "service:bench-%lu", i);
        if (ttl) {
            d.ttl_ns = (int64_t)b->o.interval_ms * 1000000;
        } else {
            d.interval_ns = (int64_t)b->o.interval_ms * 1000000;
            snprintf(addr, sizeof addr, http ? "http://127.0.0.1:%d/health" : "127.0.0.1:%d",
                     port);
            if (http)
                d.http = addr;
            else
                d.tcp = addr;
        }
        if (cn_check_start(b->r, &d, on_update, b, &b->checks[i], err) != 0) {
            fprintf(stderr, "start %lu: %s\n", i, err);
            exit(1);
        }
    }
}

static void report(struct bench *b, long rss0, size_t heap0, long rss_started,
                   size_t heap_started, double cpu0)
{
    struct cn_check_runner_stats st;
    unsigned long n = b->o.checks;
    double late_share;
    uint64_t late10 = 0;
    cn_check_runner_stats(b->r, &st);
    /* Buckets: <1, <10, <100, <1000 ms, more. Late by >10% of interval: */
    if (b->o.interval_ms >= 10000)
        late10 = st.lateness_hist[4];
    else if (b->o.interval_ms >= 1000)
        late10 = st.lateness_hist[3] + st.lateness_hist[4];
    else
        late10 = st.lateness_hist[2] + st.lateness_hist[3] + st.lateness_hist[4];
    late_share = st.runs ? 100.0 * (double)late10 / (double)st.runs : 0;
    printf("checks_bench type=%s checks=%lu interval=%lums seconds=%lu targets=%lu\n",
           b->o.type, n, b->o.interval_ms, b->o.seconds, b->o.targets);
    printf("  memory: rss %ld KiB before runner, %ld KiB after start, peak %ld KiB\n", rss0,
           rss_started, b->rss_peak);
    printf("  per check: %.0f B rss at start, %.0f B rss at peak, %.0f B heap at start, "
           "%.0f B heap at peak\n", (double)(rss_started - rss0) * 1024 / n,
           (double)(b->rss_peak - rss0) * 1024 / n, (double)(heap_started - heap0) / n,
           (double)(b->heap_peak - heap0) / n);
    printf("  runs %llu (expected about %.0f), updates %llu (to passing %llu, to critical "
           "%llu), ttl expiries %llu\n", (unsigned long long)st.runs,
           (double)n * (double)b->o.seconds * 1000 / (double)b->o.interval_ms,
           (unsigned long long)b->updates, (unsigned long long)b->passing,
           (unsigned long long)b->critical, (unsigned long long)st.ttl_expiries);
    if (b->last_bad[0])
        printf("  last non-passing update: %s\n", b->last_bad);
    printf("  lateness: max %llu ms, mean %.2f ms; <1ms %llu, <10ms %llu, <100ms %llu, "
           "<1s %llu, >=1s %llu\n", (unsigned long long)st.lateness_ms_max,
           st.runs ? (double)st.lateness_ms_sum / (double)st.runs : 0,
           (unsigned long long)st.lateness_hist[0], (unsigned long long)st.lateness_hist[1],
           (unsigned long long)st.lateness_hist[2], (unsigned long long)st.lateness_hist[3],
           (unsigned long long)st.lateness_hist[4]);
    printf("  late by more than 10%% of the interval: %llu runs (%.3f%%)\n",
           (unsigned long long)late10, late_share);
    printf("  cpu: %.2f s over %lu s (%.1f%% of one core)\n", cpu_seconds() - cpu0,
           b->o.seconds, 100.0 * (cpu_seconds() - cpu0) / (double)b->o.seconds);
}

static void on_closed(void *arg) { *(bool *)arg = true; }

int main(int argc, char **argv)
{
    static struct bench b;
    struct cn_check_runner_config cfg;
    int ports[TARGETS_MAX], fds[2], status;
    char err[CN_ERRMSG_MAX];
    bool closed = false;
    pid_t child = -1;
    long rss0, rss1;
    size_t heap0, heap1;
    double cpu0;

    parse_opts(argc, argv, &b.o);
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(b.o.type, "ttl") != 0) {
        if (pipe(fds) < 0)
            return 1;
        child = fork();
        if (child == 0) {
            close(fds[0]);
            target_main(&b.o, fds[1]);
        }
        close(fds[1]);
        if (read(fds[0], ports, b.o.targets * sizeof ports[0]) !=
            (ssize_t)(b.o.targets * sizeof ports[0])) {
            fprintf(stderr, "no target ports\n");
            return 1;
        }
        close(fds[0]);
    }
    b.checks = calloc(b.o.checks, sizeof *b.checks);
    uv_loop_init(&b.loop);
    rss0 = rss_kib();
    heap0 = heap_bytes();
    cpu0 = cpu_seconds();
    memset(&cfg, 0, sizeof cfg);
    cfg.loop = &b.loop;
    cfg.seed = b.o.seed;
    if (cn_check_runner_new(&b.r, &cfg, err) != 0) {
        fprintf(stderr, "runner: %s\n", err);
        return 1;
    }
    start_checks(&b, ports);
    rss1 = b.rss_peak = rss_kib();
    heap1 = b.heap_peak = heap_bytes();
    b.t0_ms = uv_now(&b.loop);
    uv_timer_init(&b.loop, &b.sample);
    uv_timer_init(&b.loop, &b.stop);
    uv_timer_init(&b.loop, &b.beat);
    b.sample.data = b.stop.data = b.beat.data = &b;
    uv_timer_start(&b.sample, on_sample, 1000, 1000);
    uv_timer_start(&b.stop, on_stop, b.o.seconds * 1000, 0);
    if (!strcmp(b.o.type, "ttl"))
        uv_timer_start(&b.beat, on_beat, 10, 10);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    on_sample(&b.sample);
    report(&b, rss0, heap0, rss1, heap1, cpu0);

    uv_close((uv_handle_t *)&b.sample, NULL);
    uv_close((uv_handle_t *)&b.stop, NULL);
    uv_close((uv_handle_t *)&b.beat, NULL);
    cn_check_runner_close(b.r, on_closed, &closed);
    uv_run(&b.loop, UV_RUN_DEFAULT);
    uv_loop_close(&b.loop);
    free(b.checks);
    if (child > 0) {
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
    }
    return closed ? 0 : 1;
}
