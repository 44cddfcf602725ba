/* agent/rpc_client.c - where an agent's RPCs go.
 *
 * A server agent hands calls to its in-process server (which routes them
 * on: leader, remote datacenter). A client agent runs no Raft: it sends
 * each call to one server of its datacenter known from the LAN pool, over
 * the same framed transport servers use; the server forwards to the leader
 * or another datacenter as needed. The client sticks to one server and
 * moves to the next when a call fails for transport reasons (connection
 * refused or reset, timeout), retrying the call there: that is both the
 * leader-change retry and the rebalancing when a server dies.
 */
#include <errno.h>
#include <stdio.h>

#include "agent_int.h"
#include "server/server.h"

#define CLIENT_TRIES_MAX 3
/* A forwarded blocking query can wait 10 min plus jitter on the server. */
#define CLIENT_TIMEOUT_MS (CN_QUERY_WAIT_MAX_MS + CN_QUERY_WAIT_MAX_MS / 16 + 30000)

struct client_call {
    struct cn_rpc_call fwd;        /* The copy on the wire. */
    struct cn_rpc_call *orig;      /* NULL once the caller left. */
    struct cn_agent *a;
    unsigned tries;
};

static bool transport_failure(int rc)
{
    return rc == -ECONNRESET || rc == -ECONNREFUSED || rc == -EPIPE || rc == CN_ETIMEOUT ||
           rc == -ENOBUFS || rc == -ETIMEDOUT || rc == -EHOSTUNREACH;
}

static void send_next(struct client_call *cc);

static void client_done(struct cn_rpc_call *fwd)
{
    struct client_call *cc = CN_CONTAINER_OF(fwd, struct client_call, fwd);
    struct cn_rpc_call *call = cc->orig;
    struct cn_agent *a = cc->a;
    if (!call) {
        cn_rpc_call_close(fwd);
        cn_free(cc);
        return;
    }
    if (transport_failure(fwd->rc) && cc->tries < CLIENT_TRIES_MAX && !a->stopping) {
        a->rpc_server++; /* This server failed us: rebalance. */
        send_next(cc);
        return;
    }
    call->callee_priv = NULL;
    call->rc = fwd->rc;
    call->meta = fwd->meta;
    snprintf(call->errmsg, sizeof call->errmsg, "%s", fwd->errmsg);
    if (fwd->rc == 0) {
        struct cn_buf tmp = call->reply; /* Hand the reply over, no copy. */
        call->reply = fwd->reply;
        fwd->reply = tmp;
        call->reply.max = CN_MAX(call->reply.max, tmp.max);
    }
    cn_rpc_call_close(fwd);
    cn_free(cc);
    call->done(call);
}

static void send_next(struct client_call *cc)
{
    struct cn_agent *a = cc->a;
    char servers[CN__POOL_SERVERS_MAX][64];
    size_t n = cn__agent_lan_servers(a, servers, CN__POOL_SERVERS_MAX);
    if (n == 0 || !a->transport) {
        struct cn_rpc_call *call = cc->orig;
        cn_rpc_call_close(&cc->fwd);
        cn_free(cc);
        call->callee_priv = NULL;
        call->rc = CN_ENOLEADER;
        snprintf(call->errmsg, sizeof call->errmsg, "No known Consul servers");
        call->done(call);
        return;
    }
    cc->tries++;
    cn_transport_call(a->transport, servers[a->rpc_server % n], &cc->fwd, CLIENT_TIMEOUT_MS);
}

void cn__agent_rpc(struct cn_agent *a, struct cn_rpc_call *call)
{
    struct client_call *cc;
    if (a->server) {
        cn_server_call(a->server, call);
        return;
    }
    cc = cn_calloc(1, sizeof *cc);
    if (cc) {
        cn_rpc_call_init(&cc->fwd, call->method);
        cc->fwd.args.max = call->args.max;
        cc->fwd.reply.max = call->reply.max;
        if (cn_buf_append(&cc->fwd.args, call->args.data, call->args.len) < 0) {
            cn_rpc_call_close(&cc->fwd);
            cn_free(cc);
            cc = NULL;
        }
    }
    if (!cc) {
        call->rc = -ENOMEM;
        snprintf(call->errmsg, sizeof call->errmsg, "out of memory");
        call->done(call);
        return;
    }
    snprintf(cc->fwd.dc, sizeof cc->fwd.dc, "%s", call->dc);
    cc->fwd.done = client_done;
    cc->orig = call;
    cc->a = a;
    call->callee_priv = cc;
    send_next(cc);
}

void cn__agent_rpc_cancel(struct cn_agent *a, struct cn_rpc_call *call)
{
    struct client_call *cc;
    if (a->server) {
        cn_server_cancel(a->server, call);
        return;
    }
    cc = call->callee_priv;
    if (!cc)
        return;
    call->callee_priv = NULL;
    cn_transport_call_cancel(a->transport, &cc->fwd);
    cn_rpc_call_close(&cc->fwd);
    cn_free(cc);
}

/* Client agents open a transport for their RPCs (outbound only in
 * practice; the listener is bound to loopback on an ephemeral port). */
int cn__agent_rpc_client_start(struct cn_agent *a, char *errmsg)
{
    struct cn_transport_handlers h = {0};
    if (a->server)
        return 0;
    return cn_transport_start(&a->transport, a->loop, "127.0.0.1", 0, &h, errmsg);
}

static void on_transport_stopped(void *arg)
{
    (void)arg;
}

void cn__agent_rpc_client_stop(struct cn_agent *a)
{
    if (a->transport) {
        cn_transport_stop(a->transport, on_transport_stopped, NULL);
        a->transport = NULL;
    }
}
