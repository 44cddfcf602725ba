/* agent/agent.c - agent start-up, the loop, signals, leave and shutdown. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent_int.h"
#include "api/wait.h"
#include "local.h"
#include "server/server.h"

static const struct cn_http_mw *const agent_mws[] = {
    &cn_http_mw_access_log, &cn_http_mw_token, &cn_http_mw_pretty, &cn__api_mw_agent,
};

/* ---- shutdown ---- */

static void on_part_stopped(void *arg)
{
    (void)arg;
}

static void stop_now(struct cn_agent *a)
{
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    uv_close((uv_handle_t *)&a->sig_hup, NULL);
    cn__wait_close_all(a);
    cn__local_close(a, NULL, NULL);
    cn__agent_dns_stop(a); /* Before the server: its lookups are calls there. */
    if (a->http)
        cn_http_server_stop(a->http, on_part_stopped, NULL);
    cn__agent_pools_stop(a);
    cn__agent_rpc_client_stop(a);
    if (a->server)
        cn_server_close(a->server, on_part_stopped, NULL);
    a->http = NULL;
    a->server = NULL;
}

static void after_gossip_leave(struct cn_agent *a)
{
    stop_now(a);
}

static void on_stepped_down(void *arg, int rc)
{
    struct cn_agent *a = arg;
    if (rc < 0)
        CN_WARN("agent: leadership transfer did not finish: %s", cn_strerror(rc));
    stop_now(a);
}

/* SIGINT/SIGTERM: a leader hands leadership over first, so writes resume
 * in one round trip instead of an election timeout; the server stays in
 * the configuration (Consul's skip_leave_on_interrupt for servers). */
void cn__agent_shutdown(struct cn_agent *a)
{
    if (a->stopping)
        return;
    a->stopping = true;
    CN_INFO("agent: shutting down");
    uv_signal_stop(&a->sig_int);
    uv_signal_stop(&a->sig_term);
    uv_signal_stop(&a->sig_hup);
    if (a->server)
        cn_server_step_down(a->server, on_stepped_down, a);
    else /* Clients leave the pool on SIGTERM (Consul's leave_on_terminate). */
        cn__agent_pools_leave(a, after_gossip_leave);
}

static void on_left(void *arg, int rc)
{
    struct cn_agent *a = arg;
    if (rc < 0)
        CN_WARN("agent: leaving the Raft configuration: %s", cn_strerror(rc));
    else if (a->server)
        CN_INFO("agent: left the Raft configuration");
    cn__agent_pools_leave(a, after_gossip_leave);
}

/* `cairn leave`: hand leadership over, leave the Raft configuration, exit. */
void cn__agent_leave(struct cn_agent *a)
{
    if (a->stopping)
        return;
    a->stopping = true;
    CN_INFO("agent: leaving");
    uv_signal_stop(&a->sig_int);
    uv_signal_stop(&a->sig_term);
    uv_signal_stop(&a->sig_hup);
    if (a->server)
        cn_server_leave(a->server, on_left, a);
    else
        on_left(a, 0);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    cn__agent_shutdown(s->data);
}

int cn__agent_reload(struct cn_agent *a, char *errmsg)
{
    if (!a->local)
        return cn_errf_rc(errmsg, CN_ESTATE, "agent is shutting down");
    int rc = cn__local_load_config(a, true, errmsg);
    cn__ae_full_sync(a); /* The catalog's view may differ now: compare at once. */
    return rc;
}

/* SIGHUP reloads the config files (Consul's reload). */
static void on_hup(uv_signal_t *s, int signum)
{
    char err[CN_ERRMSG_MAX];
    (void)signum;
    CN_INFO("agent: caught SIGHUP, reloading configuration");
    if (cn__agent_reload(s->data, err) < 0)
        CN_ERROR("agent: reload failed: %s", err);
}

/* ---- start ---- */

static int start_http(struct cn_agent *a, char *errmsg)
{
    struct cn_http_config hc = {
        .addr = a->cfg.client_addr, .port = a->cfg.http_port,
        .routes = cn__api_routes, .n_routes = cn__api_n_routes,
        .mws = agent_mws, .n_mws = CN_ARRAY_LEN(agent_mws), .app = a,
        .conns_per_ip_max = a->cfg.http_max_conns_per_client,
    };
    if (a->cfg.http_port < 0)
        return 0;
    return cn_http_server_start(&a->http, a->loop, &hc, errmsg);
}

/* The node id survives restarts in <data-dir>/node-id (as Consul's). */
static int load_node_id(struct cn_agent *a, char *errmsg)
{
    char path[CN_PATH_BYTES_MAX + 16], buf[64];
    ssize_t n;
    int fd;
    if (a->cfg.dev || !a->cfg.data_dir[0]) {
        cn_uuid_v4(a->node_id);
        return 0;
    }
    if (mkdir(a->cfg.data_dir, 0700) != 0 && errno != EEXIST)
        return cn_errf_rc(errmsg, -errno, "create data dir %s", a->cfg.data_dir);
    snprintf(path, sizeof path, "%s/node-id", a->cfg.data_dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n >= 36 && cn_uuid_valid(buf, 36)) {
            memcpy(a->node_id, buf, 36);
            a->node_id[36] = '\0';
            return 0;
        }
        return cn_errf_rc(errmsg, CN_ECORRUPT, "%s: not a UUID", path);
    }
    cn_uuid_v4(a->node_id);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, a->node_id, 36) != 36 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cn_errf_rc(errmsg, -e, "write %s", path);
    }
    close(fd);
    return 0;
}

/* The address other servers reach us at: -advertise, else -bind unless it
 * is a wildcard, else the first private IPv4 (Consul's rule), else
 * loopback. */
static void pick_advertise(const struct cn_agent_config *cfg, char *out, size_t n)
{
    uv_interface_address_t *ifs;
    int count;
    if (cfg->advertise_addr[0]) {
        snprintf(out, n, "%s", cfg->advertise_addr);
        return;
    }
    if (strcmp(cfg->bind_addr, "0.0.0.0") != 0 && strcmp(cfg->bind_addr, "::") != 0) {
        snprintf(out, n, "%s", cfg->bind_addr);
        return;
    }
    snprintf(out, n, "127.0.0.1");
    if (uv_interface_addresses(&ifs, &count) != 0)
        return;
    for (int i = 0; i < count; i++) {
        if (ifs[i].is_internal || ifs[i].address.address4.sin_family != AF_INET)
            continue;
        uv_ip4_name(&ifs[i].address.address4, out, n);
        break;
    }
    uv_free_interface_addresses(ifs, count);
}

static int start_server(struct cn_agent *a, char *errmsg)
{
    const char *joins[CN_CONFIG_LIST_MAX];
    char join_buf[CN_CONFIG_LIST_MAX][80];
    size_t nj = 0;
    for (size_t i = 0; i < a->cfg.retry_join.n; i++) {
        const char *j = a->cfg.retry_join.v[i];
        /* Bare hosts join on the default server port. */
        snprintf(join_buf[nj], sizeof join_buf[nj], strchr(j, ':') ? "%s" : "%s:8300", j);
        joins[nj] = join_buf[nj];
        nj++;
    }
    struct cn_server_config sc = {
        .node_name = a->cfg.node_name, .datacenter = a->cfg.datacenter,
        .node_id = a->node_id, .dev = a->cfg.dev, .data_dir = a->cfg.data_dir,
        .bind_addr = a->cfg.dev ? "127.0.0.1" : a->cfg.bind_addr, .port = a->cfg.server_port,
        .advertise_addr = a->advertise, .bootstrap_expect = a->cfg.bootstrap_expect,
        .retry_join = joins, .n_retry_join = nj, .retry_interval_ms = a->cfg.retry_interval_ms,
        .raft_tick_ms = a->cfg.raft_tick_ms, .snapshot_threshold = a->cfg.raft_snapshot_threshold,
        .snapshot_interval_ms = a->cfg.raft_snapshot_interval_ms,
        .trailing_logs = a->cfg.raft_trailing_logs,
        .dc_servers = cn__agent_dc_servers, .lan_servers = cn__agent_lan_servers,
        .datacenters = cn__agent_datacenters,
        .pool_ctx = a, .dead_server_grace_ms = a->cfg.dead_server_grace_ms,
    };
    int rc = cn_server_new(&a->server, a->loop, &sc, errmsg);
    if (rc == 0)
        snprintf(a->rpc_addr, sizeof a->rpc_addr, "%s", cn_server_rpc_addr(a->server));
    return rc;
}

int cn_agent_run(struct cn_agent_config *cfg)
{
    /* On the heap: the agent is ~200 KiB, mostly tables sized for the
     * worst case; calloc gives untouched zero pages, a stack frame
     * memset to zero would be resident from the start. */
    struct cn_agent *a = cn_calloc(1, sizeof *a);
    char errmsg[CN_ERRMSG_MAX];
    uv_loop_t loop;
    int rc;

    if (!a)
        return 1;
    a->cfg = *cfg;
    a->loop = &loop;
    a->start_ms = cn_time_mono_ms();
    cn_log_setup(cfg->log_level, cfg->log_json);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    if ((rc = load_node_id(a, errmsg)) < 0)
        goto fail;
    pick_advertise(&a->cfg, a->advertise, sizeof a->advertise);
    if (cfg->server && (rc = start_server(a, errmsg)) < 0)
        goto fail;
    if ((rc = cn__agent_rpc_client_start(a, errmsg)) < 0 ||
        (rc = cn__agent_pools_start(a, errmsg)) < 0)
        goto fail;
    if ((rc = cn__local_start(a, errmsg)) < 0)
        goto fail;
    a->local->notify = cn__wait_notify;
    if ((rc = start_http(a, errmsg)) < 0 || (rc = cn__agent_dns_start(a, errmsg)) < 0)
        goto fail;
    uv_signal_init(&loop, &a->sig_int);
    uv_signal_init(&loop, &a->sig_term);
    uv_signal_init(&loop, &a->sig_hup);
    a->sig_int.data = a->sig_term.data = a->sig_hup.data = a;
    uv_signal_start(&a->sig_int, on_signal, SIGINT);
    uv_signal_start(&a->sig_term, on_signal, SIGTERM);
    uv_signal_start(&a->sig_hup, on_hup, SIGHUP);

    CN_INFO("agent: started node=%s id=%s datacenter=%s server=%s dev=%s http=%s:%d dns=%s:%d "
            "rpc=%s",
            cfg->node_name, a->node_id, cfg->datacenter, cfg->server ? "true" : "false",
            cfg->dev ? "true" : "false", cfg->client_addr,
            a->http ? cn_http_server_port(a->http) : -1, cfg->client_addr,
            cn__agent_dns_port(a), a->server ? a->rpc_addr : "-");
    uv_run(&loop, UV_RUN_DEFAULT);
    cn__events_free(a);
    cn__rcache_free(a);
    uv_loop_close(&loop);
    cfg->services = a->cfg.services;
    cfg->checks = a->cfg.checks;
    cn_free(a);
    CN_INFO("agent: stopped");
    return 0;

fail:
    CN_ERROR("agent: %s", errmsg);
    cn__agent_pools_stop(a);
    cn__agent_rpc_client_stop(a);
    cn__local_close(a, NULL, NULL);
    cn__agent_dns_stop(a);
    if (a->http)
        cn_http_server_stop(a->http, NULL, NULL);
    if (a->server)
        cn_server_close(a->server, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cn__events_free(a);
    cn__rcache_free(a);
    uv_loop_close(&loop);
    cfg->services = a->cfg.services;
    cfg->checks = a->cfg.checks;
    cn_free(a);
    return 1;
}
