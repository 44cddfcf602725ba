/* gossip/sim/gossip_sim.c - deterministic simulation of N pure gossip
 * cores over a simulated lossy network (DESIGN.md 3).
 *
 * Time is virtual: every node ticks each 10 ms (the shell's granularity);
 * datagrams travel 1..5 ms and are dropped with probability --loss;
 * streams (TCP) are reliable, refused by dead nodes. Everything is seeded:
 * the same --seed replays the same run.
 *
 * Measures, against bounds derived from memberlist's parameters:
 *  - failure detection: kill one node, time until every live node's serf
 *    layer reports it failed (and the per-node median);
 *  - dissemination: time for a user event to reach 99.9% / 100% of nodes;
 *  - false positives: failed events and suspicions among healthy nodes
 *    with --loss packet loss.
 *
 *   gossip_sim --suite                 the `meson test --suite sim` share
 *   gossip_sim --nodes 1000 --seeds 5  a campaign (prints a table)
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../gossip_int.h"

#define TICK_MS 10

struct msg {
    uint64_t t;
    uint64_t seq;        /* FIFO among equal times: determinism */
    int to;
    bool stream_done;
    uint32_t stream_id;
    int rc;
    struct cn__gaddr from;
    uint8_t *data;
    size_t len;
};

struct sim {
    struct cn__gcore **cores;
    bool *alive;
    int n;
    struct cn_prng net;
    double loss;
    bool tcp_loss;           /* streams fail with probability loss, too */
    uint64_t now;
    struct msg *heap;
    size_t heap_n, heap_cap;
    uint64_t seq;
    /* metrics */
    const char *victim;
    uint64_t *failed_at;     /* per node: first FAILED about victim */
    const char *event_name;
    uint64_t *event_at;      /* per node: first USER with event_name */
    uint64_t false_failed;   /* FAILED events while nobody was killed */
    bool count_false;
    uint64_t udp_pkts, udp_bytes;
    uint8_t meta[CN_GOSSIP_META_BYTES_MAX];
    size_t meta_len;
};

static const struct cn_gossip_tag sim_tags[] = { { "dc", "dc1" }, { "role", "node" } };

/* ---- heap -------------------------------------------------------------- */

static bool msg_less(const struct msg *a, const struct msg *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct msg m)
{
    size_t i;
    if (s->heap_n == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 4096;
        s->heap = realloc(s->heap, s->heap_cap * sizeof *s->heap);
        CN_ASSERT(s->heap);
    }
    m.seq = s->seq++;
    i = s->heap_n++;
    while (i > 0 && msg_less(&m, &s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = m;
}

static struct msg heap_pop(struct sim *s)
{
    struct msg top = s->heap[0], last = s->heap[--s->heap_n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const struct msg *best = &last;
        if (l < s->heap_n && msg_less(&s->heap[l], best))
            m = l, best = &s->heap[l];
        if (r < s->heap_n && msg_less(&s->heap[r], best))
            m = r;
        if (m == i)
            break;
        s->heap[i] = s->heap[m];
        i = m;
    }
    if (s->heap_n)
        s->heap[i] = last;
    return top;
}

/* ---- nodes -------------------------------------------------------------- */

static void node_addr(int i, struct cn__gaddr *a)
{
    memset(a, 0, sizeof *a);
    a->ip[0] = 10;
    a->ip[2] = (uint8_t)(i >> 8);
    a->ip[3] = (uint8_t)i;
    a->len = 4;
    a->port = 7946;
}

static int addr_node(const struct sim *s, const struct cn__gaddr *a)
{
    int i = a->ip[2] << 8 | a->ip[3];
    return a->len == 4 && a->ip[0] == 10 && i < s->n ? i : -1;
}

static uint64_t latency(struct sim *s) { return 1 + cn_prng_below(&s->net, 5); }

static void on_events(struct sim *s, int i)
{
    struct cn_gossip_event *ev;
    void **blobs;
    size_t n;
    cn__gcore_take_events(s->cores[i], &ev, &blobs, &n);
    for (size_t k = 0; k < n; k++) {
        if (ev[k].type == CN_GOSSIP_EV_FAILED) {
            if (s->victim && strcmp(ev[k].member.name, s->victim) == 0) {
                if (!s->failed_at[i])
                    s->failed_at[i] = s->now;
            } else if (s->count_false) {
                s->false_failed++;
            }
        } else if (ev[k].type == CN_GOSSIP_EV_USER && s->event_name &&
                   strcmp(ev[k].user_name, s->event_name) == 0 && !s->event_at[i]) {
            s->event_at[i] = s->now;
        }
    }
    cn__gcore_events_free(ev, blobs, n);
}

static void drain(struct sim *s, int i);

static void do_stream(struct sim *s, int i, const struct cn__gstream *st)
{
    int j = addr_node(s, &st->to);
    struct msg m = { .to = i, .stream_done = true, .stream_id = st->id };
    node_addr(i, &m.from);
    if (s->tcp_loss && s->loss > 0 && cn_prng_below(&s->net, 1000000) < s->loss * 1e6) {
        m.t = st->deadline_ms;  /* lost connection: the stream times out */
        m.rc = CN_ETIMEOUT;
    } else if (j < 0 || !s->alive[j]) {
        m.t = s->now + latency(s);
        m.rc = -ECONNREFUSED;
    } else {
        struct cn_buf reply;
        cn_buf_init(&reply, CN_GOSSIP_INFLATE_BYTES_MAX);
        cn__gcore_stream_in(s->cores[j], s->now, &m.from, st->data, st->len, &reply);
        drain(s, j);
        m.data = cn_buf_steal(&reply, &m.len);
        cn_buf_close(&reply);
        m.t = s->now + 2 * latency(s);
    }
    heap_push(s, m);
}

static void drain(struct sim *s, int i)
{
    struct cn__gready rd;
    on_events(s, i);
    if (!cn__gcore_has_ready(s->cores[i]))
        return;
    cn__gcore_ready(s->cores[i], &rd);
    for (size_t k = 0; k < rd.n_pkts; k++) {
        struct msg m = { .to = addr_node(s, &rd.pkts[k].to) };
        s->udp_pkts++;
        s->udp_bytes += rd.pkts[k].len;
        if (m.to < 0 || (s->loss > 0 && cn_prng_below(&s->net, 1000000) < s->loss * 1e6))
            continue;
        node_addr(i, &m.from);
        m.t = s->now + latency(s);
        m.data = cn_memdup(rd.pkts[k].data, rd.pkts[k].len);
        m.len = rd.pkts[k].len;
        heap_push(s, m);
    }
    for (size_t k = 0; k < rd.n_streams; k++)
        do_stream(s, i, &rd.streams[k]);
    cn__gcore_advance(s->cores[i], &rd);
    on_events(s, i);
}

static void deliver(struct sim *s, struct msg *m)
{
    if (s->alive[m->to]) {
        if (m->stream_done)
            cn__gcore_stream_done(s->cores[m->to], s->now, m->stream_id, m->rc, m->data, m->len);
        else
            cn__gcore_recv(s->cores[m->to], s->now, &m->from, m->data, m->len);
        drain(s, m->to);
    }
    cn_free(m->data);
}

static void run_until(struct sim *s, uint64_t end)
{
    while (s->now < end) {
        uint64_t next = s->now + TICK_MS;
        while (s->heap_n && s->heap[0].t < next) {
            struct msg m = heap_pop(s);
            s->now = CN_MAX(s->now, m.t);
            deliver(s, &m);
        }
        s->now = next;
        for (int i = 0; i < s->n; i++) {
            if (!s->alive[i])
                continue;
            cn__gcore_tick(s->cores[i], s->now);
            drain(s, i);
        }
    }
}

/* Every node learns every other as alive through a real join push/pull
 * against node 0 (which first hears everyone's alive message); the join
 * burst of broadcasts is then dropped: we measure steady state. */
static void bootstrap(struct sim *s)
{
    struct cn__gaddr seed;
    node_addr(0, &seed);
    for (int i = 1; i < s->n; i++) {
        uint8_t buf[600];
        struct cn_buf b = { .data = buf, .cap = sizeof buf, .max = sizeof buf };
        struct cn_mp_writer w;
        struct cn__gaddr a;
        char name[32];
        uint8_t vsn[6] = CN__GOSSIP_VSN_INIT;
        struct cn__gm_alive al = { .inc = 1, .vsn = { vsn, 6 },
                                   .meta = { s->meta, (uint32_t)s->meta_len } };
        node_addr(i, &a);
        snprintf(name, sizeof name, "node-%04d", i);
        al.node = (struct cn__gstr){ (const uint8_t *)name, (uint32_t)strlen(name) };
        al.addr = (struct cn__gstr){ a.ip, 4 };
        al.port = a.port;
        cn__gm_writer(&w, &b);
        cn__gm_put_alive(&w, &al);
        CN_ASSERT(w.err == 0);
        cn__gcore_recv(s->cores[0], s->now, &a, b.data, b.len);
        drain(s, 0);
    }
    for (int i = 1; i < s->n; i++) {
        uint32_t id;
        CN_ASSERT(cn__gcore_join(s->cores[i], s->now, &seed, &id) == 0);
        drain(s, i);
    }
    run_until(s, s->now + 100);
    for (int i = 0; i < s->n; i++) {
        CN_ASSERT(cn__gcore_alive_count(s->cores[i]) == (size_t)s->n);
        cn__gcore_drop_broadcasts(s->cores[i]);
    }
}

static struct sim *sim_new(int n, uint64_t seed, double loss, enum cn_gossip_profile prof)
{
    struct sim *s = calloc(1, sizeof *s);
    struct cn_buf mb;
    CN_ASSERT(s);
    cn_buf_init(&mb, CN_GOSSIP_META_BYTES_MAX);
    CN_ASSERT(cn__gossip_tags_encode(sim_tags, 2, &mb) == 0);
    memcpy(s->meta, mb.data, mb.len);
    s->meta_len = mb.len;
    cn_buf_close(&mb);
    s->n = n;
    s->loss = loss;
    s->now = 1000;
    cn_prng_seed(&s->net, seed ^ 0x5eed);
    s->cores = calloc((size_t)n, sizeof *s->cores);
    s->alive = calloc((size_t)n, sizeof *s->alive);
    s->failed_at = calloc((size_t)n, sizeof *s->failed_at);
    s->event_at = calloc((size_t)n, sizeof *s->event_at);
    for (int i = 0; i < n; i++) {
        char name[32];
        struct cn__gcore_config cfg = {
            .name = name, .tags = sim_tags, .n_tags = 2,
            .reconnect_timeout_ms = 72ull * 3600 * 1000, .tombstone_timeout_ms = 86400000,
            .dead_node_reclaim_ms = 30000, .seed = seed * 100003 + (uint64_t)i,
        };
        snprintf(name, sizeof name, "node-%04d", i);
        node_addr(i, &cfg.addr);
        cn__gossip_timing_init(&cfg.t, prof);
        CN_ASSERT(cn__gcore_new(&s->cores[i], &cfg, s->now) == 0);
        s->alive[i] = true;
    }
    bootstrap(s);
    return s;
}

static void sim_free(struct sim *s)
{
    for (int i = 0; i < s->n; i++)
        cn__gcore_free(s->cores[i]);
    while (s->heap_n) {
        struct msg m = heap_pop(s);
        cn_free(m.data);
    }
    free(s->heap);
    free(s->cores);
    free(s->alive);
    free(s->failed_at);
    free(s->event_at);
    free(s);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}


/* ---- scenarios ---------------------------------------------------------- */

struct result {
    double detect_all_s, detect_median_s;  /* -1: not everywhere in time */
    double ev999_s, ev100_s;
    uint64_t false_failed, suspects, refutes;
    double pkts_node_s, bytes_node_s;
};

static uint64_t sum_ctr(struct sim *s, size_t off)
{
    uint64_t t = 0;
    for (int i = 0; i < s->n; i++) {
        struct cn__gcore_counters c;
        cn__gcore_counters(s->cores[i], &c);
        t += *(uint64_t *)(void *)((char *)&c + off);
    }
    return t;
}

static void scenario_fp(struct sim *s, double loss, bool tcp_loss, uint64_t secs,
                        struct result *r)
{
    uint64_t sus0 = sum_ctr(s, offsetof(struct cn__gcore_counters, suspects_raised));
    uint64_t ref0 = sum_ctr(s, offsetof(struct cn__gcore_counters, refutes));
    uint64_t p0 = s->udp_pkts, b0 = s->udp_bytes;
    s->loss = loss;
    s->tcp_loss = tcp_loss;
    s->count_false = true;
    s->false_failed = 0;
    run_until(s, s->now + secs * 1000);
    s->count_false = false;
    s->loss = 0;
    r->false_failed = s->false_failed;
    r->suspects = sum_ctr(s, offsetof(struct cn__gcore_counters, suspects_raised)) - sus0;
    r->refutes = sum_ctr(s, offsetof(struct cn__gcore_counters, refutes)) - ref0;
    r->pkts_node_s = (double)(s->udp_pkts - p0) / s->n / (double)secs;
    r->bytes_node_s = (double)(s->udp_bytes - b0) / s->n / (double)secs;
}

static void scenario_detect(struct sim *s, int victim, struct result *r)
{
    char name[32];
    uint64_t t0 = s->now, *d = calloc((size_t)s->n, sizeof *d), worst = 0;
    size_t k = 0;
    bool all = false;
    snprintf(name, sizeof name, "node-%04d", victim);
    s->victim = name;
    memset(s->failed_at, 0, (size_t)s->n * sizeof *s->failed_at);
    s->alive[victim] = false;
    while (!all && s->now < t0 + 180000) {
        run_until(s, s->now + 500);
        all = true;
        for (int i = 0; i < s->n; i++)
            all &= !s->alive[i] || s->failed_at[i] != 0;
    }
    for (int i = 0; i < s->n; i++) {
        if (!s->alive[i])
            continue;
        d[k] = s->failed_at[i] ? s->failed_at[i] - t0 : UINT64_MAX;
        worst = CN_MAX(worst, d[k]);
        k++;
    }
    qsort(d, k, sizeof *d, cmp_u64);
    r->detect_all_s = worst == UINT64_MAX ? -1 : (double)worst / 1000.0;
    r->detect_median_s = d[k / 2] == UINT64_MAX ? -1 : (double)d[k / 2] / 1000.0;
    s->victim = NULL;
    free(d);
}

static void scenario_event(struct sim *s, int src, struct result *r)
{
    char name[32];
    uint64_t t0, *d = calloc((size_t)s->n, sizeof *d);
    size_t k = 0, i999;
    snprintf(name, sizeof name, "ev-%d", src);
    s->event_name = name;
    memset(s->event_at, 0, (size_t)s->n * sizeof *s->event_at);
    t0 = s->now;
    CN_ASSERT(cn__gcore_user_event(s->cores[src], s->now, name, (const uint8_t *)"x", 1,
                                   false) == 0);
    drain(s, src);
    run_until(s, s->now + 10000);
    for (int i = 0; i < s->n; i++)
        if (s->alive[i])
            d[k++] = s->event_at[i] ? s->event_at[i] - t0 : UINT64_MAX;
    qsort(d, k, sizeof *d, cmp_u64);
    i999 = (size_t)ceil(0.999 * (double)k) - 1;
    r->ev999_s = d[i999] == UINT64_MAX ? -1 : (double)d[i999] / 1000.0;
    r->ev100_s = d[k - 1] == UINT64_MAX ? -1 : (double)d[k - 1] / 1000.0;
    s->event_name = NULL;
    free(d);
}

/* memberlist's suspicion minimum for n nodes (Lifeguard, notes 1.3). */
static double min_suspicion_s(int n, const struct cn__gossip_timing *t)
{
    double scale = CN_MAX(1.0, log10((double)n));
    return t->suspicion_mult * scale * t->probe_interval_ms / 1000.0;
}

struct run_opts {
    bool tcp_loss;
    int nodes;
    uint64_t seed;
    double loss;
    uint64_t fp_secs;
    enum cn_gossip_profile prof;
};

static void run_one(const struct run_opts *o, struct result *r)
{
    struct sim *s = sim_new(o->nodes, o->seed, 0, o->prof);
    struct cn_prng pick;
    memset(r, 0, sizeof *r);
    cn_prng_seed(&pick, o->seed);
    run_until(s, s->now + 5000);  /* settle */
    scenario_fp(s, o->loss, o->tcp_loss, o->fp_secs, r);
    run_until(s, s->now + 2000);
    scenario_event(s, (int)cn_prng_below(&pick, (uint64_t)o->nodes), r);
    scenario_detect(s, (int)cn_prng_below(&pick, (uint64_t)o->nodes), r);
    sim_free(s);
}

static void print_result(const struct run_opts *o, const struct result *r)
{
    printf("nodes=%d seed=%llu loss=%.2f%s fp_secs=%llu: detect_all=%.1fs detect_median=%.1fs "
           "event99.9=%.2fs event100=%.2fs false_failed=%llu suspects=%llu refutes=%llu "
           "pkts/node/s=%.2f bytes/node/s=%.0f\n",
           o->nodes, (unsigned long long)o->seed, o->loss, o->tcp_loss ? "+tcp" : "",
           (unsigned long long)o->fp_secs, r->detect_all_s, r->detect_median_s, r->ev999_s, r->ev100_s,
           (unsigned long long)r->false_failed, (unsigned long long)r->suspects,
           (unsigned long long)r->refutes, r->pkts_node_s, r->bytes_node_s);
    fflush(stdout);
}

/* Bounds from memberlist's LAN parameters (see README of this file):
 * a dead node is first probed within ~1 probe interval somewhere, the
 * probe fails after 1 interval, the suspicion lasts at least the Lifeguard
 * minimum and (with k confirmations) about that, then the dead message
 * needs a few gossip rounds: all <= min + 3 intervals + 5 s. */
static int check(const struct run_opts *o, const struct result *r, double fp_max)
{
    struct cn__gossip_timing t;
    double lo, hi;
    int fail = 0;
    cn__gossip_timing_init(&t, o->prof);
    lo = min_suspicion_s(o->nodes, &t);
    hi = lo + 3 * t.probe_interval_ms / 1000.0 + 5.0;
    if (r->detect_all_s < 0 || r->detect_all_s > hi || r->detect_all_s < lo) {
        printf("  FAIL: detection everywhere %.1fs outside [%.1f, %.1f]\n", r->detect_all_s, lo,
               hi);
        fail = 1;
    }
    if (r->ev999_s < 0 || r->ev999_s > 2.0) {
        printf("  FAIL: event reached 99.9%% in %.2fs (> 2 s)\n", r->ev999_s);
        fail = 1;
    }
    if (r->ev100_s < 0 || r->ev100_s > 5.0) {
        printf("  FAIL: event reached 100%% in %.2fs (> 5 s)\n", r->ev100_s);
        fail = 1;
    }
    if ((double)r->false_failed > fp_max) {
        printf("  FAIL: %llu false failures at %.0f%% loss (max %.0f)\n",
               (unsigned long long)r->false_failed, o->loss * 100, fp_max);
        fail = 1;
    }
    if (fail)
        printf("  replay: gossip_sim --nodes %d --seed %llu --loss %.2f%s --fp-seconds %llu\n",
               o->nodes, (unsigned long long)o->seed, o->loss, o->tcp_loss ? " --tcp-loss" : "",
               (unsigned long long)o->fp_secs);
    return fail;
}

static int suite(void)
{
    static const struct {
        int nodes;
        double loss;
        bool tcp_loss;
        uint64_t secs;
        double fp_max;
    } cases[] = {
        { 100, 0.05, false, 120, 0 },
        { 100, 0.10, false, 120, 0 },
        { 100, 0.05, true, 120, 0 },
        { 100, 0.10, true, 120, 0 },
        { 1000, 0.05, false, 40, 0 },
        /* campaign only (slow): --nodes 1000 --loss 0.10 --tcp-loss */
    };
    int fail = 0;
    for (size_t i = 0; i < CN_ARRAY_LEN(cases); i++) {
        struct run_opts o = { cases[i].tcp_loss, cases[i].nodes, 1 + i, cases[i].loss,
                              cases[i].secs, CN_GOSSIP_LAN };
        struct result r;
        run_one(&o, &r);
        print_result(&o, &r);
        fail |= check(&o, &r, cases[i].fp_max);
    }
    printf("%s\n", fail ? "gossip_sim: FAILED" : "gossip_sim: ok");
    return fail;
}

int main(int argc, char **argv)
{
    struct run_opts o = { false, 100, 1, 0.05, 60, CN_GOSSIP_LAN };
    int seeds = 1, fail = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--suite") == 0)
            return suite();
        if (strcmp(a, "--tcp-loss") == 0) {
            o.tcp_loss = true;
            continue;
        }
        i++;
        if (strcmp(a, "--nodes") == 0)
            o.nodes = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--seed") == 0)
            o.seed = strtoull(v, NULL, 10);
        else if (strcmp(a, "--seeds") == 0)
            seeds = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--loss") == 0)
            o.loss = strtod(v, NULL);
        else if (strcmp(a, "--fp-seconds") == 0)
            o.fp_secs = strtoull(v, NULL, 10);
        else if (strcmp(a, "--profile") == 0)
            o.prof = strcmp(v, "wan") == 0 ? CN_GOSSIP_WAN
                     : strcmp(v, "local") == 0 ? CN_GOSSIP_LOCAL : CN_GOSSIP_LAN;
        else {
            fprintf(stderr, "usage: gossip_sim [--suite] [--nodes N] [--seed S] [--seeds K] "
                            "[--loss P] [--tcp-loss] [--fp-seconds T] "
                            "[--profile lan|wan|local]\n");
            return 2;
        }
    }
    if (o.nodes < 4 || o.nodes > 60000)
        return 2;
    for (int k = 0; k < seeds; k++, o.seed++) {
        struct result r;
        run_one(&o, &r);
        print_result(&o, &r);
        fail |= check(&o, &r, 0);
    }
    return fail;
}
