/* agent/api/status.c - status endpoints and /v1/agent/self (consul-compat 5.6, 5.7). */
#include <errno.h>
#include <stdio.h>

#include "agent/agent_int.h"
#include "api_int.h"
#include "gossip/gossip.h"

static void leader_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_mp_reader r;
    struct cn_json_enc e;
    const uint8_t *s;
    uint32_t n;
    if (cn__api_call_failed(req, call))
        return;
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    cn__api_json_init(req, &e);
    if (call->method == CN_RPC_STATUS_LEADER) {
        if (cn_mp_read_str(&r, &s, &n) < 0)
            goto bad;
        cn_json_str(&e, s, n);
    } else {
        uint32_t count;
        if (cn_mp_read_array(&r, &count) < 0)
            goto bad;
        cn_json_arr_begin(&e);
        for (uint32_t i = 0; i < count; i++) {
            if (cn_mp_read_str(&r, &s, &n) < 0)
                goto bad;
            cn_json_str(&e, s, n);
        }
        cn_json_arr_end(&e);
    }
    cn__api_json_send(req, &e, 200);
    return;
bad:
    cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
}

void cn__api_status_call(struct cn_http_req *req, enum cn_rpc_method m)
{
    struct cn_rpc_call *call = cn__api_call_new(req, m, leader_done);
    if (!call) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    cn__api_call_start(req, call);
}

void cn__api_status_leader(struct cn_http_req *req)
{
    cn__api_status_call(req, CN_RPC_STATUS_LEADER);
}

void cn__api_status_peers(struct cn_http_req *req)
{
    cn__api_status_call(req, CN_RPC_STATUS_PEERS);
}

/* Consul's serf member tags for this agent (role, dc, port, ...). */
static void member_json(struct cn_json_enc *e, const struct cn_agent *a)
{
    cn_json_obj_begin(e);
    cn_json_kv_str(e, "Name", a->cfg.node_name);
    cn_json_kv_str(e, "Addr", a->cfg.bind_addr);
    cn_json_kv_u64(e, "Port", (uint64_t)(a->cfg.serf_lan_port > 0 ? a->cfg.serf_lan_port : 8301));
    cn_json_key(e, "Tags");
    cn_json_obj_begin(e);
    cn_json_kv_str(e, "build", CN_VERSION);
    cn_json_kv_str(e, "dc", a->cfg.datacenter);
    cn_json_kv_str(e, "id", a->node_id);
    if (a->cfg.server) {
        char port[16];
        snprintf(port, sizeof port, "%d", a->cfg.server_port);
        cn_json_kv_str(e, "port", port);
        cn_json_kv_str(e, "role", "consul");
        cn_json_kv_str(e, "expect", a->cfg.dev ? "1" : "0");
        cn_json_kv_str(e, "vsn", "2");
    } else {
        cn_json_kv_str(e, "role", "node");
    }
    cn_json_obj_end(e);
    cn_json_kv_u64(e, "Status", 1); /* alive */
    cn_json_kv_u64(e, "ProtocolMin", 1);
    cn_json_kv_u64(e, "ProtocolMax", 5);
    cn_json_kv_u64(e, "ProtocolCur", 2);
    cn_json_kv_u64(e, "DelegateMin", 2);
    cn_json_kv_u64(e, "DelegateMax", 5);
    cn_json_kv_u64(e, "DelegateCur", 4);
    cn_json_obj_end(e);
}

/* Our own LAN member as gossip sees it (tags, protocol versions); the
 * static description when gossip is off (-serf-lan-port -1). */
static void self_member_json(struct cn_json_enc *e, struct cn_agent *a)
{
    struct cn_gossip *g = cn__agent_pool(a, false);
    struct cn_gossip_member *ms;
    size_t n;
    if (g && cn_gossip_members(g, &ms, &n) == 0) {
        const char *self = cn_gossip_name(g);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(ms[i].name, self) == 0) {
                cn__api_member_json(e, &ms[i]);
                cn_gossip_members_free(ms, n);
                return;
            }
        }
        cn_gossip_members_free(ms, n);
    }
    member_json(e, a);
}

void cn__api_agent_self(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    struct cn_json_enc e;
    cn__api_json_init(req, &e);
    cn_json_obj_begin(&e);
    cn_json_key(&e, "Config");
    cn_json_obj_begin(&e);
    cn_json_kv_str(&e, "Datacenter", a->cfg.datacenter);
    cn_json_kv_str(&e, "PrimaryDatacenter", a->cfg.datacenter);
    cn_json_kv_str(&e, "NodeName", a->cfg.node_name);
    cn_json_kv_str(&e, "NodeID", a->node_id);
    cn_json_kv_str(&e, "Revision", "cairn");
    cn_json_kv_bool(&e, "Server", a->cfg.server);
    cn_json_kv_str(&e, "Version", CN_VERSION);
    cn_json_kv_str(&e, "BuildDate", "");
    cn_json_obj_end(&e);
    cn_json_key(&e, "DebugConfig");
    cn_json_obj_begin(&e);
    cn_json_kv_bool(&e, "DevMode", a->cfg.dev);
    cn_json_kv_str(&e, "ClientAddrs", a->cfg.client_addr);
    cn_json_kv_u64(&e, "HTTPPort", (uint64_t)(a->cfg.http_port > 0 ? a->cfg.http_port : 0));
    cn_json_obj_end(&e);
    cn_json_key(&e, "Coord");
    cn_json_null(&e);
    cn_json_key(&e, "Member");
    self_member_json(&e, a);
    cn_json_key(&e, "Stats");
    cn_json_obj_begin(&e);
    cn_json_key(&e, "agent");
    cn_json_obj_begin(&e);
    cn_json_kv_str(&e, "check_monitors", "0");
    cn_json_obj_end(&e);
    cn_json_obj_end(&e);
    cn_json_key(&e, "Meta");
    cn_json_obj_begin(&e);
    cn_json_kv_str(&e, "consul-network-segment", "");
    cn_json_obj_end(&e);
    cn_json_obj_end(&e);
    cn__api_json_send(req, &e, 200);
}
