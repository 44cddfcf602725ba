/* agent/api/members.c - gossip pool endpoints: /v1/agent/members[?wan],
 * /v1/agent/join/:addr[?wan], /v1/agent/force-leave/:node[?wan][&prune]
 * (consul-compat.md 5.7). */
#include <errno.h>
#include <stdio.h>

#include "agent/agent_int.h"
#include "gossip/gossip.h"

/* One serf member as Consul's api.AgentMember. */
void cn__api_member_json(struct cn_json_enc *e, const struct cn_gossip_member *m)
{
    cn_json_obj_begin(e);
    cn_json_kv_str(e, "Name", m->name);
    cn_json_kv_str(e, "Addr", m->addr);
    cn_json_kv_u64(e, "Port", m->port);
    cn_json_key(e, "Tags");
    cn_json_obj_begin(e);
    for (size_t i = 0; i < m->n_tags; i++)
        cn_json_kv_str(e, m->tags[i].key, m->tags[i].value);
    cn_json_obj_end(e);
    cn_json_kv_u64(e, "Status", (uint64_t)m->status);
    cn_json_kv_u64(e, "ProtocolMin", m->vsn[0]);
    cn_json_kv_u64(e, "ProtocolMax", m->vsn[1]);
    cn_json_kv_u64(e, "ProtocolCur", m->vsn[2]);
    cn_json_kv_u64(e, "DelegateMin", m->vsn[3]);
    cn_json_kv_u64(e, "DelegateMax", m->vsn[4]);
    cn_json_kv_u64(e, "DelegateCur", m->vsn[5]);
    cn_json_obj_end(e);
}

void cn__api_agent_members(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    bool wan = cn_http_flag(req, "wan");
    struct cn_gossip *g = cn__agent_pool(a, wan);
    struct cn_gossip_member *ms = NULL;
    size_t n = 0;
    struct cn_json_enc e;
    int rc;
    if (g && (rc = cn_gossip_members(g, &ms, &n)) < 0) {
        cn_http_fail(req, rc, NULL);
        return;
    }
    cn__api_json_init(req, &e);
    cn_json_arr_begin(&e);
    for (size_t i = 0; i < n; i++)
        cn__api_member_json(&e, &ms[i]);
    cn_json_arr_end(&e);
    if (ms)
        cn_gossip_members_free(ms, n);
    cn__api_json_send(req, &e, 200);
}

/* ---- join ---- */

struct join_wait {
    struct cn_http_req *req;  /* NULL once the client went away. */
    char addr[128];
    bool wan;
};

static void join_cancel(struct cn_http_req *req)
{
    struct join_wait *w = req->handler_ctx;
    w->req = NULL;
}

static void join_done(void *ctx, int rc)
{
    struct join_wait *w = ctx;
    struct cn_http_req *req = w->req;
    if (req) {
        if (rc == 0)
            cn_http_finish(req, 200);
        else
            cn_http_error(req, 500, "1 error occurred:\n\t* Failed to join %s: %s\n\n",
                          w->addr, cn_strerror(rc));
    }
    cn_free(w);
}

void cn__api_agent_join(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    struct join_wait *w;
    int rc;
    if (req->suffix_len == 0 || req->suffix_len >= sizeof w->addr) {
        cn_http_error(req, 400, "Missing or invalid address to join");
        return;
    }
    w = cn_calloc(1, sizeof *w);
    if (!w) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    w->req = req;
    w->wan = cn_http_flag(req, "wan");
    memcpy(w->addr, req->suffix, req->suffix_len);
    if (w->wan && !a->cfg.server) {
        cn_free(w);
        cn_http_error(req, 500, "Must be a server to join WAN cluster");
        return;
    }
    req->handler_ctx = w;
    cn_http_on_cancel(req, join_cancel);
    rc = cn__agent_join(a, w->wan, w->addr, join_done, w);
    if (rc < 0)
        join_done(w, rc);
}

/* ---- force-leave ---- */

void cn__api_agent_force_leave(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    struct cn_gossip *g = cn__agent_pool(a, cn_http_flag(req, "wan"));
    char node[256];
    int rc;
    if (req->suffix_len == 0 || req->suffix_len >= sizeof node) {
        cn_http_error(req, 400, "Missing or invalid node name");
        return;
    }
    memcpy(node, req->suffix, req->suffix_len);
    node[req->suffix_len] = '\0';
    if (!g) {
        cn_http_error(req, 500, "Must be a server to force-leave a WAN member");
        return;
    }
    rc = cn_gossip_force_leave(g, node);
    if (rc == -ENOENT) {
        cn_http_error(req, 500, "agent: No node found with name '%s'", node);
        return;
    }
    if (rc < 0) {
        cn_http_fail(req, rc, NULL);
        return;
    }
    CN_INFO("agent: force-leave of %s", node);
    cn_http_finish(req, 200);
}
