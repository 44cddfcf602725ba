/* server/session.c - Session endpoints (consul-compat.md 5.3; Consul's
 * agent/consul/session_endpoint.go).
 *
 * Create and destroy are Raft writes (the agent builds the command; the
 * leader stamps its clock into destroys). Renew is not a write, as in
 * Consul: it runs on the leader, which restarts the session's TTL timer
 * (leader.c). Reads block on the sessions table, or on the node for
 * /v1/session/node/:node.
 */
#include <errno.h>
#include <stdio.h>

#include "server_int.h"

struct walk {
    struct cn_mp_writer *w;
    uint32_t count;
};

static int visit_session(void *ctx, const struct cn_session *sess)
{
    struct walk *k = ctx;
    cn_state_session_encode(k->w, sess);
    k->count++;
    return k->w->err;
}

static int arm(struct cn_server *s, struct cn_watch *w, void *arg)
{
    (void)arg;
    return cn_state_watch_table(s->state, w, CN_TABLE_SESSIONS);
}

static int arm_node(struct cn_server *s, struct cn_watch *w, void *arg)
{
    const struct cn_rpc_cat_args *a = arg;
    return cn_state_watch_name(s->state, w, CN_WATCH_NODE, a->name, strlen(a->name));
}

static int encode(struct cn_server *s, struct cn_rpc_call *call,
                  const struct cn_rpc_cat_args *a)
{
    struct cn_mp_writer w;
    struct walk k = {.w = &w};
    struct cn_session sess;
    int rc = 0;
    cn__reply_array_begin(call, &w);
    switch (call->method) {
    case CN_RPC_SESSION_INFO:
    case CN_RPC_SESSION_RENEW:
        if (cn_state_session_get(s->state, a->name, &sess) == 0)
            rc = visit_session(&k, &sess);
        break;
    case CN_RPC_SESSION_LIST:
        rc = cn_state_sessions_list(s->state, visit_session, &k);
        break;
    case CN_RPC_SESSION_NODE:
        rc = cn_state_node_sessions(s->state, a->name, visit_session, &k);
        break;
    default:
        return CN_EUNSUPPORTED;
    }
    if (rc == CN_ENOTFOUND)
        rc = 0;
    if (rc < 0)
        return rc == -EMSGSIZE ? CN_ETOOBIG : rc;
    return cn__reply_array_end(call, &w, k.count);
}

void cn__session_read(struct cn_server *s, struct cn_rpc_call *call, bool timed_out)
{
    struct cn_rpc_cat_args a;
    uint64_t index;
    int rc = cn_rpc_cat_args_decode(call->args.data, call->args.len, &a);
    if (rc < 0) {
        cn__server_reply(s, call, rc, "invalid session arguments");
        return;
    }
    if (cn__route_read(s, call, a.q.consistency, cn__session_read)) {
        cn_rpc_cat_args_free(&a);
        return;
    }
    index = cn_state_table_index(s->state, CN_TABLE_SESSIONS);
    if (cn__bq_park_if_needed(s, call, &a.q, index, timed_out, cn__session_read,
                              call->method == CN_RPC_SESSION_NODE ? arm_node : arm, &a)) {
        cn_rpc_cat_args_free(&a);
        return;
    }
    rc = encode(s, call, &a);
    if (rc == 0)
        cn__server_meta(s, call, index, a.q.consistency);
    cn_rpc_cat_args_free(&a);
    cn__server_reply(s, call, rc, rc == CN_ETOOBIG ? "result too large" : NULL);
}

/* Session.Renew: the leader looks the session up and restarts its TTL. */
void cn__session_renew(struct cn_server *s, struct cn_rpc_call *call, bool timed_out)
{
    struct cn_rpc_cat_args a;
    struct cn_session sess;
    char err[CN_ERRMSG_MAX];
    int rc = cn_rpc_cat_args_decode(call->args.data, call->args.len, &a);
    (void)timed_out;
    if (rc < 0) {
        cn__server_reply(s, call, rc, "invalid session arguments");
        return;
    }
    /* Default consistency: only the leader keeps TTL timers. */
    if (cn__route_read(s, call, CN_CONSISTENCY_DEFAULT, cn__session_renew)) {
        cn_rpc_cat_args_free(&a);
        return;
    }
    if (cn_state_session_get(s->state, a.name, &sess) < 0) {
        /* python-consul and Patroni recreate the session on this 404. */
        snprintf(err, sizeof err, "Session id '%.64s' not found", a.name);
        cn_rpc_cat_args_free(&a);
        cn__server_reply(s, call, CN_ENOTFOUND, err);
        return;
    }
    cn__leader_session_renewed(s, &sess);
    rc = encode(s, call, &a);
    if (rc == 0)
        cn__server_meta(s, call, cn_state_table_index(s->state, CN_TABLE_SESSIONS),
                        CN_CONSISTENCY_DEFAULT);
    cn_rpc_cat_args_free(&a);
    cn__server_reply(s, call, rc, NULL);
}
