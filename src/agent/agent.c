/* agent/agent.c - agent start-up, the loop, signals and shutdown. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include "agent_int.h"
#include "server/server.h"

void cn__agent_rpc(struct cn_agent *a, struct cn_rpc_call *call)
{
    if (!a->server) {
        /* Client agents forward to servers (gossip issue); until then an
         * agent without a server has nobody to ask. */
        call->rc = CN_ENOLEADER;
        snprintf(call->errmsg, sizeof call->errmsg, "No cluster leader");
        call->done(call);
        return;
    }
    cn_server_call(a->server, call);
}

void cn__agent_rpc_cancel(struct cn_agent *a, struct cn_rpc_call *call)
{
    if (a->server)
        cn_server_cancel(a->server, call);
}

static const struct cn_http_mw *const agent_mws[] = {
    &cn_http_mw_access_log, &cn_http_mw_token, &cn_http_mw_pretty, &cn__api_mw_agent,
};

static void on_stopped(void *arg)
{
    (void)arg;
}

static void stop(struct cn_agent *a)
{
    if (a->stopping)
        return;
    a->stopping = true;
    CN_INFO("agent: shutting down");
    uv_signal_stop(&a->sig_int);
    uv_signal_stop(&a->sig_term);
    uv_close((uv_handle_t *)&a->sig_int, NULL);
    uv_close((uv_handle_t *)&a->sig_term, NULL);
    if (a->http)
        cn_http_server_stop(a->http, on_stopped, NULL);
    if (a->server)
        cn_server_close(a->server, on_stopped, NULL);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)signum;
    stop(s->data);
}

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

int cn_agent_run(const struct cn_agent_config *cfg)
{
    struct cn_agent a;
    char errmsg[CN_ERRMSG_MAX];
    uv_loop_t loop;
    int rc;

    memset(&a, 0, sizeof a);
    a.cfg = *cfg;
    a.loop = &loop;
    a.start_ms = cn_time_mono_ms();
    cn_uuid_v4(a.node_id);
    cn_log_setup(cfg->log_level, cfg->log_json);
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    snprintf(a.rpc_addr, sizeof a.rpc_addr, "%s:%d", cfg->bind_addr, cfg->server_port);

    if (cfg->server) {
        struct cn_server_config sc = {
            .node_name = cfg->node_name, .datacenter = cfg->datacenter,
            .rpc_addr = a.rpc_addr, .dev = cfg->dev,
        };
        rc = cn_server_new(&a.server, &loop, &sc, errmsg);
        if (rc < 0)
            goto fail;
    }
    rc = start_http(&a, errmsg);
    if (rc < 0)
        goto fail;
    uv_signal_init(&loop, &a.sig_int);
    uv_signal_init(&loop, &a.sig_term);
    a.sig_int.data = a.sig_term.data = &a;
    uv_signal_start(&a.sig_int, on_signal, SIGINT);
    uv_signal_start(&a.sig_term, on_signal, SIGTERM);

    CN_INFO("agent: started node=%s datacenter=%s server=%s dev=%s http=%s:%d",
            cfg->node_name, cfg->datacenter, cfg->server ? "true" : "false",
            cfg->dev ? "true" : "false", cfg->client_addr,
            a.http ? cn_http_server_port(a.http) : -1);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    CN_INFO("agent: stopped");
    return 0;

fail:
    CN_ERROR("agent: %s", errmsg);
    if (a.server)
        cn_server_close(a.server, NULL, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return 1;
}
