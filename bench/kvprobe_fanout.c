/* bench/kvprobe_fanout.c - kvprobe modes with many connections:
 *
 * park: open N connections, each with one blocking GET /v1/kv/K?index=<cur>
 * &wait=W, and compare the server's VmRSS before and after. cairn (like
 * Consul's http_max_conns_per_client) caps connections per client address
 * at 200, so the connections come from N/per_ip loopback source addresses
 * (127.1.0.1, 127.1.0.2, ...), as they would from many hosts. Then one
 * write wakes them all: the time until each is answered is the fan-out
 * wake latency.
 *
 * failover: SIGKILL a cluster member and time the first write acknowledged
 * by any survivor. A new attempt (fresh connection, rotating over the
 * endpoints) starts every 5 ms while at most 1024 are pending, each bounded
 * only by -T: a member that has not noticed the leader is gone, or has no
 * leader yet, holds a proposal until its own request timeout (etcd: 5 s
 * and more), so retrying only after a failure or a short client timeout
 * would measure that timeout instead of the election. Resolution: 5 ms.
 */
#include "kvprobe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PARK_CONNS_MAX 60000
#define PARK_CONNECTING_MAX 256
#define PARK_BODY_BYTES 1024

enum { P_IDLE, P_CONNECTING, P_PARKED, P_ANSWERED, P_FAILED };

struct pconn {
    int fd, st;
    uint64_t t_done;
    struct b_resp r;
};

struct park {
    struct pconn *c;
    int n, ep, opened, connecting, parked, early, failed;
    int status_early[6];  /* Early answers by status class: 0 other, 1xx..5xx. */
    unsigned long long idx;
    char req[512];
    size_t req_len;
};

static void park_fail(struct park *pk, struct pconn *c)
{
    if (c->st == P_CONNECTING)
        pk->connecting--;
    if (c->st == P_PARKED)
        pk->parked--;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->st = P_FAILED;
    pk->failed++;
}

static void park_open(struct park *pk, int i)
{
    struct pconn *c = &pk->c[i];
    struct sockaddr_in src = {.sin_family = AF_INET};
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};

    src.sin_addr.s_addr = htonl(0x7F010000u + 1u + (uint32_t)(i / po.per_ip));
    c->fd = b_connect(&po.sa, &src);
    pk->opened++;
    if (c->fd < 0) {
        if (pk->failed == 0)
            fprintf(stderr, "kvprobe park: connect %d: %s\n", i, strerror(-c->fd));
        c->st = P_IDLE;
        park_fail(pk, c);
        return;
    }
    c->st = P_CONNECTING;
    pk->connecting++;
    epoll_ctl(pk->ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* An event on connection i while parking (before the release write). */
static void park_event(struct park *pk, int i, uint32_t events, uint64_t t_release)
{
    struct pconn *c = &pk->c[i];
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

    if (c->st == P_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        /* The request is tiny: one send fits an empty socket buffer. */
        if (err || send(c->fd, pk->req, pk->req_len, MSG_NOSIGNAL) != (ssize_t)pk->req_len) {
            park_fail(pk, c);
            return;
        }
        pk->connecting--;
        pk->parked++;
        c->st = P_PARKED;
        epoll_ctl(pk->ep, EPOLL_CTL_MOD, c->fd, &ev);
        return;
    }
    if (c->st != P_PARKED)
        return;
    int rc = b_resp_read(c->fd, &c->r);
    if (rc == 0)
        return;
    if (rc < 0) {
        park_fail(pk, c);
        return;
    }
    pk->parked--;
    c->st = P_ANSWERED;
    c->t_done = b_now_ns();
    if (!t_release) {
        pk->early++;
        pk->status_early[c->r.status / 100 <= 5 ? c->r.status / 100 : 0]++;
    }
}

static void park_poll(struct park *pk, int ms, uint64_t t_release)
{
    struct epoll_event evs[512];
    int n = epoll_wait(pk->ep, evs, 512, ms);

    for (int i = 0; i < n; i++)
        park_event(pk, (int)evs[i].data.u32, evs[i].events, t_release);
}

/* Poll for `ms`, then return the server's RSS. */
static long settle_rss(struct park *pk, int ms)
{
    uint64_t until = b_now_ns() + (uint64_t)ms * 1000000u;

    while (b_now_ns() < until)
        park_poll(pk, 10, 0);
    return b_proc_rss_kb(po.pid);
}

static int park_setup(struct park *pk)
{
    if (po.conns > PARK_CONNS_MAX || !po.pid || b_proc_rss_kb(po.pid) < 0) {
        fprintf(stderr, "kvprobe park: needs -S <live server pid> and -c <= %d\n",
                PARK_CONNS_MAX);
        return -1;
    }
    long lim = b_raise_nofile(po.conns + 64);
    if (lim < po.conns + 16) {
        fprintf(stderr, "kvprobe park: open-file limit %ld < %d (raise ulimit -Hn)\n",
                lim, po.conns + 16);
        return -1;
    }
    pk->n = po.conns;
    pk->c = calloc((size_t)pk->n, sizeof *pk->c);
    pk->ep = epoll_create1(EPOLL_CLOEXEC);
    if (!pk->c || pk->ep < 0)
        return -1;
    for (int i = 0; i < pk->n; i++) {
        pk->c[i].fd = -1;
        if (b_resp_init(&pk->c[i].r, PARK_BODY_BYTES, NULL, NULL) != 0)
            return -1;
    }
    return 0;
}

/* Connect and park every query, paced; bounded by -T. */
static void park_all(struct park *pk)
{
    uint64_t deadline = b_now_ns() + (uint64_t)(po.timeout_s * 1e9);

    while (pk->opened < pk->n || pk->connecting > 0) {
        if (b_now_ns() > deadline) {
            fprintf(stderr, "kvprobe park: %d connections still pending after %.0f s\n",
                    pk->connecting + pk->n - pk->opened, po.timeout_s);
            break;
        }
        while (pk->opened < pk->n && pk->connecting < PARK_CONNECTING_MAX)
            park_open(pk, pk->opened);
        park_poll(pk, 5, 0);
    }
}

/* Write the key and wait until every parked query answered (or -T). */
static int park_release(struct park *pk, int64_t *wake, size_t *nwake, int *bad)
{
    char put[512], b64[64];
    struct b_resp r;
    const char *value = "park-release";
    size_t n = probe_fmt_consul_put(put, sizeof put, po.key, value);
    int fb = b_connect_wait(&po.sa, 1000);

    b_base64(value, strlen(value), b64);
    if (fb < 0 || b_resp_init(&r, 4096, NULL, NULL) != 0)
        return -1;
    int waiting = pk->parked;
    uint64_t t0 = b_now_ns(), deadline = t0 + (uint64_t)(po.timeout_s * 1e9);
    if (send(fb, put, n, MSG_NOSIGNAL) != (ssize_t)n)
        return -1;
    while (pk->parked > 0 && b_now_ns() < deadline)
        park_poll(pk, 10, t0);
    int rc = b_roundtrip(fb, "", 0, &r, 1000);  /* The ack, long since sent. */
    if (rc != 0 || r.status != 200)
        fprintf(stderr, "kvprobe park: release write failed (HTTP %d)\n", r.status);
    *nwake = 0;
    *bad = 0;
    for (int i = 0; i < pk->n; i++) {
        struct pconn *c = &pk->c[i];
        if (c->st != P_ANSWERED || c->t_done < t0)
            continue;
        if (c->r.status == 200 && b_body_has(&c->r, b64))
            wake[(*nwake)++] = (int64_t)(c->t_done - t0);
        else
            (*bad)++;
    }
    if ((int)*nwake + *bad < waiting)
        fprintf(stderr, "kvprobe park: %d of %d parked queries not answered within %.0f s\n",
                waiting - (int)*nwake - *bad, waiting, po.timeout_s);
    close(fb);
    b_resp_free(&r);
    return rc;
}

int probe_park(void)
{
    struct park pk = {0};
    size_t nwake;
    int bad;

    if (park_setup(&pk) != 0)
        return 2;
    int fb = b_connect_wait(&po.sa, 1000);
    if (fb < 0 || probe_consul_index(fb, po.key, &pk.idx) != 0)
        return 2;
    close(fb);
    pk.req_len = probe_fmt_consul_block(pk.req, sizeof pk.req, po.key, pk.idx, po.wait);
    long rss0 = settle_rss(&pk, 500);
    uint64_t t0 = b_now_ns();
    park_all(&pk);
    double open_s = (double)(b_now_ns() - t0) / 1e9;
    settle_rss(&pk, 1000);
    long rss1 = settle_rss(&pk, 500);
    int parked = pk.parked;
    int64_t *wake = calloc((size_t)pk.n, sizeof *wake);
    if (!wake || park_release(&pk, wake, &nwake, &bad) != 0)
        return 2;
    long rss2 = b_proc_rss_kb(po.pid);
    for (int i = 0; i < pk.n; i++)
        if (pk.c[i].fd >= 0)
            close(pk.c[i].fd);
    b_sleep_us(1000000);
    long rss3 = b_proc_rss_kb(po.pid);
    double per_q = parked ? (double)(rss1 - rss0) * 1024.0 / parked : 0;

    printf("kvprobe park %s key %s: %d of %d queries parked in %.2f s from %d loopback "
           "addresses (%d failed to connect/send, %d answered early: 4xx=%d 5xx=%d)\n",
           po.addr, po.key, parked, pk.n, open_s, (pk.n + po.per_ip - 1) / po.per_ip,
           pk.failed, pk.early, pk.status_early[4], pk.status_early[5]);
    printf("  server VmRSS: before %.1f MiB, parked %.1f MiB (+%.1f MiB, %.0f B/query), "
           "after wake %.1f MiB, after close %.1f MiB\n", rss0 / 1024.0, rss1 / 1024.0,
           (rss1 - rss0) / 1024.0, per_q, rss2 / 1024.0, rss3 / 1024.0);
    printf("  fan-out wake: %zu answered with the new value, %d wrong answers\n", nwake, bad);
    printf("RESULT park_n=%d park_parked=%d park_failed=%d park_early=%d rss_before_kb=%ld "
           "rss_parked_kb=%ld rss_per_query_b=%.0f rss_after_wake_kb=%ld rss_after_close_kb=%ld\n",
           pk.n, parked, pk.failed, pk.early, rss0, rss1, per_q, rss2, rss3);
    probe_print_dist("write sent -> each wake", wake, nwake, "fanout_wake");
    for (int i = 0; i < pk.n; i++)
        b_resp_free(&pk.c[i].r);
    free(pk.c);
    free(wake);
    close(pk.ep);
    return parked == pk.n && (int)nwake == parked && bad == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ */
/* failover                                                            */

#define FO_ENDPOINTS_MAX 8
#define FO_PENDING_MAX 1024
#define FO_INTERVAL_NS (5 * 1000000ull)

struct attempt {
    int fd, ep_idx;
    bool sent;
    uint64_t t_start;
    struct b_resp r;
};

struct failover {
    struct sockaddr_in eps[FO_ENDPOINTS_MAX];
    int neps, ep, started, pending, failed_io, failed_status;
    struct attempt a[FO_PENDING_MAX];
    struct b_reqcfg cfg;
    char req[2048];
};

static int fo_parse_endpoints(struct failover *f)
{
    char buf[1024], *save = NULL;

    if (!po.endpoints || snprintf(buf, sizeof buf, "%s", po.endpoints) >= (int)sizeof buf)
        return -1;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (f->neps == FO_ENDPOINTS_MAX || b_parse_addr(t, &f->eps[f->neps]) != 0)
            return -1;
        f->neps++;
    }
    return f->neps > 0 ? 0 : -1;
}

static void fo_close(struct failover *f, struct attempt *a)
{
    if (a->fd >= 0) {
        close(a->fd);
        f->pending--;
    }
    a->fd = -1;
}

static void fo_start(struct failover *f, uint64_t now)
{
    for (int i = 0; i < FO_PENDING_MAX; i++) {
        struct attempt *a = &f->a[i];
        if (a->fd >= 0)
            continue;
        a->ep_idx = f->started % f->neps;
        a->fd = b_connect(&f->eps[a->ep_idx], NULL);
        if (a->fd < 0) {
            f->failed_io++;
            a->fd = -1;
            return;
        }
        struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.u32 = (uint32_t)i};
        epoll_ctl(f->ep, EPOLL_CTL_ADD, a->fd, &ev);
        a->sent = false;
        a->t_start = now;
        b_resp_reset(&a->r);
        f->started++;
        f->pending++;
        return;
    }
}

/* 1 when attempt i succeeded. */
static int fo_event(struct failover *f, int i, uint32_t events)
{
    struct attempt *a = &f->a[i];
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};

    if (a->fd < 0)
        return 0;
    if (!a->sent) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(a->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        size_t n = b_fmt_put(&f->cfg, (uint64_t)f->started, f->req, sizeof f->req);
        if (err || !(events & EPOLLOUT) ||
            send(a->fd, f->req, n, MSG_NOSIGNAL) != (ssize_t)n) {
            f->failed_io++;
            fo_close(f, a);
            return 0;
        }
        a->sent = true;
        epoll_ctl(f->ep, EPOLL_CTL_MOD, a->fd, &ev);
        return 0;
    }
    int rc = b_resp_read(a->fd, &a->r);
    if (rc == 0)
        return 0;
    if (rc == 1 && a->r.status == 200 &&
        b_body_has(&a->r, f->cfg.proto == B_CONSUL ? "true" : "\"header\""))
        return 1;
    if (rc < 0)
        f->failed_io++;
    else
        f->failed_status++;
    fo_close(f, a);
    return 0;
}

int probe_failover(void)
{
    static struct failover f;
    static struct epoll_event evs[FO_PENDING_MAX];
    int winner = -1;

    f.cfg = (struct b_reqcfg){.proto = po.proto, .host = "bench",
                              .prefix = "bench-failover/", .value_bytes = 64};
    if (fo_parse_endpoints(&f) != 0 || po.pid <= 0) {
        fprintf(stderr, "kvprobe failover: needs -S PID and -E HOST:PORT[,HOST:PORT...]\n");
        return 2;
    }
    f.ep = epoll_create1(EPOLL_CLOEXEC);
    if (b_raise_nofile(FO_PENDING_MAX + 64) < FO_PENDING_MAX + 16) {
        fprintf(stderr, "kvprobe failover: cannot raise the open-file limit\n");
        return 2;
    }
    for (int i = 0; i < FO_PENDING_MAX; i++) {
        f.a[i].fd = -1;
        if (b_resp_init(&f.a[i].r, 4096, NULL, NULL) != 0)
            return 2;
    }
    uint64_t t0 = b_now_ns(), t1 = 0, next = t0;
    uint64_t deadline = t0 + (uint64_t)(po.timeout_s * 1e9);
    if (kill(po.pid, SIGKILL) != 0) {
        fprintf(stderr, "kvprobe failover: kill %d: %s\n", (int)po.pid, strerror(errno));
        return 2;
    }
    while (!t1) {
        uint64_t now = b_now_ns();
        if (now > deadline)
            break;
        if (now >= next && f.pending < FO_PENDING_MAX) {
            fo_start(&f, now);
            next = now + FO_INTERVAL_NS;
        }
        int n = epoll_wait(f.ep, evs, FO_PENDING_MAX, 1);
        for (int i = 0; i < n && !t1; i++) {
            if (fo_event(&f, (int)evs[i].data.u32, evs[i].events)) {
                t1 = b_now_ns();
                winner = f.a[evs[i].data.u32].ep_idx;
            }
        }
    }
    for (int i = 0; i < FO_PENDING_MAX; i++)
        fo_close(&f, &f.a[i]);
    char who[32] = "none";
    if (winner >= 0)
        inet_ntop(AF_INET, &f.eps[winner].sin_addr, who, sizeof who);
    printf("kvprobe failover: SIGKILL pid %d -> first acknowledged write %s%.1f ms "
           "(via %s:%d; %d attempts, %d io/timeouts, %d error answers)\n", (int)po.pid,
           t1 ? "" : "NONE within ", t1 ? (double)(t1 - t0) / 1e6 : po.timeout_s * 1e3, who,
           winner >= 0 ? ntohs(f.eps[winner].sin_port) : 0, f.started, f.failed_io,
           f.failed_status);
    printf("RESULT failover_ms=%.1f failover_attempts=%d\n",
           t1 ? (double)(t1 - t0) / 1e6 : -1.0, f.started);
    return t1 ? 0 : 1;
}
