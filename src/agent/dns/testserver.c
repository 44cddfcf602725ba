/* agent/dns/testserver.c - the DNS server over the fake backend.
 *
 * For the integration test and the benchmark, until the agent embeds the
 * module. Prints "PORT <n>" on stdout once listening; SIGINT/SIGTERM
 * close it cleanly and print the counters on stderr.
 *
 *   dns_testserver [--addr IP] [--port N] [--instances N]
 *                  [--recursor IP:PORT] [--alt-domain D] [--truncate]
 *                  [--only-passing] [--async]
 *
 * Catalog: service "web" with N instances (default 10) on nodes
 * web-1..web-N (10.0.0.i, meta "rack=r<i>"), index-stable so answers are
 * cached; "db" with tags primary/replica, one instance warning; "api"
 * whose instances have a service address different from the node's;
 * "broken" with only critical instances; "consul" on server-1..3 (NS);
 * node "ext" with a hostname address; datacenters dc1 and dc2;
 * prepared query "pq" -> web.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "fake.h"

static struct cn_dns_server *srv;
static struct cn_dns_fake *fake;
static uv_signal_t sigs[2];
static uv_timer_t async_timer;

static void build_catalog(struct cn_dns_fake *f, int n)
{
    char name[64], addr[64], rack[16];
    for (int i = 1; i <= n; i++) {
        snprintf(name, sizeof name, "web-%d", i);
        snprintf(addr, sizeof addr, "10.0.%d.%d", i / 250, i % 250 + 1);
        snprintf(rack, sizeof rack, "r%d", i);
        cn_dns_fake_node(f, name, addr);
        cn_dns_fake_meta(f, name, "rack", rack);
        cn_dns_fake_service(f, "web", name, NULL, (uint16_t)(8000 + i % 1000),
                            "http", CN_DNS_PASSING);
    }
    cn_dns_fake_node(f, "db-1", "10.1.0.1");
    cn_dns_fake_node(f, "db-2", "10.1.0.2");
    cn_dns_fake_node(f, "db-3", "10.1.0.3");
    cn_dns_fake_meta(f, "db-1", "rfc1035-note", "plain value");
    cn_dns_fake_service(f, "db", "db-1", NULL, 5432, "primary", CN_DNS_PASSING);
    int w = cn_dns_fake_service(f, "db", "db-2", NULL, 5432, "replica",
                                CN_DNS_WARNING);
    cn_dns_fake_weights(f, w, 10, 3);
    cn_dns_fake_service(f, "db", "db-3", NULL, 5432, "replica", CN_DNS_CRITICAL);
    cn_dns_fake_service(f, "api", "db-1", "192.168.7.1", 9000, NULL, CN_DNS_PASSING);
    cn_dns_fake_service(f, "api", "db-2", "2001:db8::7", 9000, NULL, CN_DNS_PASSING);
    cn_dns_fake_service(f, "broken", "db-3", NULL, 1, NULL, CN_DNS_CRITICAL);
    for (int i = 1; i <= 3; i++) {
        snprintf(name, sizeof name, "server-%d", i);
        snprintf(addr, sizeof addr, "10.9.0.%d", i);
        cn_dns_fake_node(f, name, addr);
        cn_dns_fake_service(f, "consul", name, NULL, 8300, NULL, CN_DNS_PASSING);
    }
    cn_dns_fake_node(f, "ext", "example.com");
    cn_dns_fake_node(f, "v6", "2001:db8::1");
    cn_dns_fake_dc(f, "dc2");
    cn_dns_fake_query(f, "pq", "web");
}

static void on_closed(void *arg)
{
    (void)arg;
    uv_close((uv_handle_t *)&sigs[0], NULL);
    uv_close((uv_handle_t *)&sigs[1], NULL);
    uv_close((uv_handle_t *)&async_timer, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct cn_dns_stats st;
    (void)h;
    (void)signum;
    cn_dns_server_stats(srv, &st);
    fprintf(stderr,
            "dns_testserver: udp=%llu tcp=%llu responses=%llu noerror=%llu "
            "nxdomain=%llu servfail=%llu formerr=%llu refused=%llu "
            "dropped_short=%llu overload=%llu truncated=%llu cache_hits=%llu "
            "cache_misses=%llu send_errors=%llu\n",
            (unsigned long long)st.queries_udp, (unsigned long long)st.queries_tcp,
            (unsigned long long)st.responses, (unsigned long long)st.noerror,
            (unsigned long long)st.nxdomain, (unsigned long long)st.servfail,
            (unsigned long long)st.formerr, (unsigned long long)st.refused,
            (unsigned long long)st.dropped_short,
            (unsigned long long)st.dropped_overload,
            (unsigned long long)st.truncated, (unsigned long long)st.cache_hits,
            (unsigned long long)st.cache_misses,
            (unsigned long long)st.send_errors);
    uv_signal_stop(&sigs[0]);
    uv_signal_stop(&sigs[1]);
    uv_timer_stop(&async_timer);
    cn_dns_server_close(srv, on_closed, NULL);
}

/* --async: complete lookups from a timer, as a client agent would after
 * an RPC round trip. */
static void on_async(uv_timer_t *t)
{
    (void)t;
    cn_dns_fake_complete(fake);
}

/* A decimal in [0, max], or -1. */
static int num(const char *s, long max)
{
    char *end;
    long v = strtol(s, &end, 10);
    return (*s && !*end && v >= 0 && v <= max) ? (int)v : -1;
}

int main(int argc, char **argv)
{
    const char *addr = "127.0.0.1", *recursor = NULL, *alt = NULL;
    int port = 0, instances = 10;
    bool truncate = false, only_passing = false, async = false;
    struct cn_dns_config cfg;
    struct cn_dns_backend be;
    char err[CN_ERRMSG_MAX];
    uv_loop_t *loop = uv_default_loop();

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--addr") && v) addr = argv[++i];
        else if (!strcmp(a, "--port") && v) port = num(argv[++i], 65535);
        else if (!strcmp(a, "--instances") && v) instances = num(argv[++i], 4000);
        else if (!strcmp(a, "--recursor") && v) recursor = argv[++i];
        else if (!strcmp(a, "--alt-domain") && v) alt = argv[++i];
        else if (!strcmp(a, "--truncate")) truncate = true;
        else if (!strcmp(a, "--only-passing")) only_passing = true;
        else if (!strcmp(a, "--async")) async = true;
        else {
            fprintf(stderr, "usage: %s [--addr IP] [--port N] [--instances N] "
                    "[--recursor IP:PORT] [--alt-domain D] [--truncate] "
                    "[--only-passing] [--async]\n", argv[0]);
            return 2;
        }
    }
    if (port < 0 || instances < 1) {
        fprintf(stderr, "dns_testserver: bad --port or --instances\n");
        return 2;
    }
    fake = cn_dns_fake_new();
    if (!fake)
        return 1;
    build_catalog(fake, instances);
    fake->async = async;
    cn_dns_fake_backend(fake, &be);
    cn_dns_config_init(&cfg);
    cfg.alt_domain = alt;
    cfg.enable_truncate = truncate;
    cfg.only_passing = only_passing;
    cfg.recursors = recursor ? &recursor : NULL;
    cfg.n_recursors = recursor ? 1 : 0;
    cn_log_setup(CN_LOG_WARN, false);
    if (cn_dns_server_new(&srv, loop, &cfg, &be, cn_log_process(), err) < 0 ||
        cn_dns_server_listen(srv, addr, (uint16_t)port, err) < 0) {
        fprintf(stderr, "dns_testserver: %s\n", err);
        return 1;
    }
    printf("PORT %u\n", cn_dns_server_port(srv));
    fflush(stdout);
    uv_signal_init(loop, &sigs[0]);
    uv_signal_init(loop, &sigs[1]);
    uv_signal_start(&sigs[0], on_signal, SIGINT);
    uv_signal_start(&sigs[1], on_signal, SIGTERM);
    uv_timer_init(loop, &async_timer);
    if (async)
        uv_timer_start(&async_timer, on_async, 1, 1);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    cn_dns_fake_free(fake);
    return 0;
}
