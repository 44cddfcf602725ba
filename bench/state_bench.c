/* bench/state_bench.c - state store: memory per key, apply throughput,
 * read latency, and write cost with many parked watchers.
 *
 *   state_bench [keys] [value_bytes]     (defaults: 100000 256)
 *
 * Memory is measured twice: the allocator's in-use bytes (mallinfo2, which
 * counts malloc's per-chunk overhead) and the process RSS; both are deltas
 * around filling the store, divided by the number of keys. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "state/state.h"

static size_t rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return (size_t)resident * 4096;
}

static size_t heap_bytes(void)
{
    return mallinfo2().uordblks;
}

static void key_of(char *out, size_t n, unsigned i)
{
    snprintf(out, n, "service/config/%08u", i);
}

static void must(int rc, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "state_bench: %s: %s\n", what, cn_strerror(rc));
        exit(1);
    }
}

static void noop_fire(struct cn_watch *w)
{
    (void)w;
}

/* Applies n sets (fresh keys or overwrites); returns sets/s. */
static double apply_sets(struct cn_state *st, unsigned n, const uint8_t *value,
                         size_t value_len, uint64_t flags)
{
    struct cn_buf cmd, reply;
    char key[64];
    uint64_t t0 = cn_time_mono_ns(), t1;
    cn_buf_init(&cmd, 1 << 20);
    cn_buf_init(&reply, 1 << 20);
    for (unsigned i = 0; i < n; i++) {
        struct cn_kv_op op = {.verb = CN_KV_SET, .value = value,
                              .value_len = value_len, .flags = flags};
        key_of(key, sizeof key, i);
        op.key = (const uint8_t *)key;
        op.key_len = strlen(key);
        cmd.len = 0;
        reply.len = 0;
        must(cn_state_cmd_kv(&cmd, &op), "encode");
        must(cn_state_apply(st, cn_state_last_index(st) + 1, cmd.data, cmd.len,
                            &reply), "apply");
    }
    t1 = cn_time_mono_ns();
    cn_buf_close(&cmd);
    cn_buf_close(&reply);
    return n / ((double)(t1 - t0) / 1e9);
}

static void bench_reads(struct cn_state *st, unsigned n)
{
    struct cn_prng p;
    struct cn_kv_entry e;
    char key[64], (*keys)[32] = malloc((size_t)n * 32);
    unsigned *order = malloc(sizeof *order * 1000000);
    uint64_t t0, t1, sink = 0;
    const unsigned reads = 1000000;
    if (!keys || !order)
        exit(1);
    cn_prng_seed(&p, 1);
    for (unsigned i = 0; i < n; i++)
        key_of(keys[i], sizeof keys[i], i);
    for (unsigned i = 0; i < reads; i++)
        order[i] = (unsigned)cn_prng_below(&p, n);
    t0 = cn_time_mono_ns();
    for (unsigned i = 0; i < reads; i++) {
        const char *k = keys[order[i]];
        must(cn_state_kv_get(st, (const uint8_t *)k, 23, &e), "get");
        sink += e.modify_index;
    }
    t1 = cn_time_mono_ns();
    printf("get (random key of %u): %.0f ns/op\n", n, (double)(t1 - t0) / reads);
    t0 = cn_time_mono_ns();
    for (unsigned i = 0; i < reads; i++) {
        const char *k = keys[i % n];
        must(cn_state_kv_get(st, (const uint8_t *)k, 23, &e), "get");
        sink += e.modify_index;
    }
    t1 = cn_time_mono_ns();
    printf("get (keys in order): %.0f ns/op\n", (double)(t1 - t0) / reads);
    free(keys);
    free(order);
    t0 = cn_time_mono_ns();
    for (unsigned i = 0; i < 10000; i++) {
        key_of(key, sizeof key, (unsigned)cn_prng_below(&p, n));
        key[strlen(key) - 2] = '\0'; /* A prefix holding ~100 keys. */
        sink += cn_state_kv_prefix_index(st, (const uint8_t *)key, strlen(key));
    }
    t1 = cn_time_mono_ns();
    printf("prefix index over ~100 keys: %.0f ns/op (sink %llu)\n",
           (double)(t1 - t0) / 10000, (unsigned long long)(sink & 1));
}

static void bench_watchers(struct cn_state *st, const uint8_t *value,
                           size_t value_len)
{
    enum { W = 10000 };
    struct cn_watch *ws = calloc(W, sizeof *ws);
    char key[64];
    double rate;
    if (!ws)
        exit(1);
    for (unsigned i = 0; i < W; i++) {
        snprintf(key, sizeof key, "watched/%05u/", i);
        ws[i].fn = noop_fire;
        must(cn_state_watch_kv(st, &ws[i], i % 2 ? CN_WATCH_KV_PREFIX
                                                 : CN_WATCH_KV_KEY,
                               (const uint8_t *)key, strlen(key)), "watch");
    }
    rate = apply_sets(st, 100000, value, value_len, 7);
    printf("set with %u parked watchers elsewhere: %.0f sets/s\n", W, rate);
    for (unsigned i = 0; i < W; i++)
        cn_state_watch_cancel(st, &ws[i]);
    free(ws);
}

static int count_entry(void *ctx, const struct cn_node *node,
                       const struct cn_service *svc,
                       const struct cn_check *const *checks, size_t n_checks)
{
    (void)node;
    (void)svc;
    *(size_t *)ctx += n_checks;
    return 0;
}

/* A catalog of n nodes, each with one "web" instance, a service check and
 * serfHealth: register throughput, heap per node, health query cost. */
static void bench_catalog(unsigned n)
{
    struct cn_state_config cfg = {0};
    struct cn_state *st;
    struct cn_buf cmd;
    char name[32], addr[32];
    const char *tags[2] = {"v1", "primary"};
    uint64_t t0, t1;
    size_t heap0 = heap_bytes(), heap1, checks = 0;
    must(cn_state_new(&st, &cfg), "new");
    cn_buf_init(&cmd, 1 << 20);
    t0 = cn_time_mono_ns();
    for (unsigned i = 0; i < n; i++) {
        struct cn_service svc = {.name = "web", .tags = tags, .n_tags = 2,
                                 .port = 8080};
        struct cn_check chk[2] = {
            {.id = "serfHealth", .name = "Serf Health Status",
             .status = CN_HEALTH_PASSING, .output = "Agent alive and reachable"},
            {.id = "service:web", .name = "Service 'web' check",
             .service_id = "web", .status = CN_HEALTH_PASSING, .type = "http",
             .interval = "10s", .output = "HTTP GET http://127.0.0.1:8080/: 200 OK"}};
        struct cn_register r = {.service = &svc, .checks = chk, .n_checks = 2};
        snprintf(name, sizeof name, "node-%05u", i);
        snprintf(addr, sizeof addr, "10.0.%u.%u", i / 250, i % 250);
        r.node.name = name;
        r.node.address = addr;
        cmd.len = 0;
        must(cn_state_cmd_register(&cmd, &r, 1), "encode register");
        must(cn_state_apply(st, cn_state_last_index(st) + 1, cmd.data, cmd.len,
                            NULL), "register");
    }
    t1 = cn_time_mono_ns();
    heap1 = heap_bytes();
    printf("catalog: %u registers (node + service + 2 checks): %.0f /s, "
           "heap %.0f B per node\n", n, n / ((double)(t1 - t0) / 1e9),
           (double)(heap1 - heap0) / n);
    t0 = cn_time_mono_ns();
    for (int i = 0; i < 20; i++)
        must(cn_state_health_service(st, "web", NULL, 0, true, count_entry,
                                     &checks), "health");
    t1 = cn_time_mono_ns();
    printf("health/service/web over %u instances: %.2f ms/query (%zu checks)\n",
           n, (double)(t1 - t0) / 20 / 1e6, checks / 20);
    cn_buf_close(&cmd);
    cn_state_free(st);
}

int main(int argc, char **argv)
{
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 100000;
    size_t value_len = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
    struct cn_state_config cfg = {0};
    struct cn_state *st;
    uint8_t *value = malloc(value_len + 1);
    size_t heap0, rss0, heap1, rss1;
    double rate;

    if (!value || value_len > CN_KV_VALUE_BYTES_MAX || n == 0)
        return 2;
    memset(value, 'v', value_len);
    heap0 = heap_bytes();
    rss0 = rss_bytes();
    must(cn_state_new(&st, &cfg), "new");
    rate = apply_sets(st, n, value, value_len, 0);
    heap1 = heap_bytes();
    rss1 = rss_bytes();
    printf("keys: %u, key bytes: %zu, value bytes: %zu\n", n,
           strlen("service/config/00000000"), value_len);
    printf("set (new keys, encode + apply + reply): %.0f sets/s\n", rate);
    printf("heap per key (malloc in-use, incl. chunk overhead): %.1f B\n",
           (double)(heap1 - heap0) / n);
    printf("RSS per key: %.1f B (RSS total %.1f MiB)\n",
           (double)(rss1 - rss0) / n, rss1 / 1048576.0);
    rate = apply_sets(st, n, value, value_len, 1);
    printf("set (overwrite existing keys): %.0f sets/s\n", rate);
    bench_reads(st, n);
    bench_watchers(st, value, value_len);
    cn_state_free(st);
    bench_catalog(5000);
    free(value);
    return 0;
}
