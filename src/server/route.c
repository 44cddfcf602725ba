/* server/route.c - where a call runs: here, on the leader, or later.
 *
 *   leader       writes are proposed to Raft and answered at commit;
 *                consistent reads wait for a ReadIndex round first.
 *   follower     the call is forwarded to the leader over the transport
 *                (a copy on the wire; the reply is copied back). Calls that
 *                arrived from another server are never forwarded again, so
 *                there are no loops: they fail with "No cluster leader" and
 *                the origin holds and retries.
 *   no leader    the call is held, re-dispatched from the top when a
 *                leader appears, and failed after CN_SERVER_HOLD_MS
 *                (Consul's rpc_hold_timeout).
 */
#include <errno.h>
#include <stdio.h>

#include "server_int.h"

#define HOLD_TICK_MS 100
/* A forwarded blocking query may wait up to 10 min 38 s on the leader. */
#define FORWARD_TIMEOUT_MS (CN_QUERY_WAIT_MAX_MS + CN_QUERY_WAIT_MAX_MS / 16 + 30000)

static void op_free(struct cn__op *op)
{
    if (op->kind == OP_FORWARD)
        cn_rpc_call_close(&((struct op_forward *)op)->fwd);
    cn_free(op);
}

/* ---- hold until there is a leader ---- */

static void on_hold_tick(uv_timer_t *t)
{
    struct cn_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    struct cn__op *op = s->held, *next;
    for (; op; op = next) {
        next = op->next;
        if (now < ((struct op_hold *)op)->deadline_ms)
            continue;
        struct cn_rpc_call *call = op->call;
        cn__op_unlink(&s->held, op);
        op_free(op);
        s->stats.hold_timeouts++;
        if (call)
            cn__server_reply(s, call, CN_ENOLEADER, "No cluster leader");
    }
    if (!s->held)
        uv_timer_stop(t);
}

static void hold(struct cn_server *s, struct cn_rpc_call *call, uint64_t deadline_ms)
{
    struct op_hold *h = cn_calloc(1, sizeof *h);
    if (!h || s->closing) {
        cn_free(h);
        cn__server_reply(s, call, CN_ENOLEADER, "No cluster leader");
        return;
    }
    h->op.kind = OP_HOLD;
    h->op.srv = s;
    h->op.call = call;
    h->deadline_ms = deadline_ms ? deadline_ms : uv_now(s->loop) + CN_SERVER_HOLD_MS;
    call->callee_priv = h;
    cn__op_link(&s->held, &h->op);
    s->stats.held++;
    if (!uv_is_active((uv_handle_t *)&s->hold_timer))
        uv_timer_start(&s->hold_timer, on_hold_tick, HOLD_TICK_MS, HOLD_TICK_MS);
}

/* A leader appeared (or changed): re-dispatch every held call. */
void cn__route_leader_changed(struct cn_server *s)
{
    struct cn__op *list = s->held;
    if (!cn_server_leader(s)[0])
        return;
    s->held = NULL;
    while (list) {
        struct cn__op *op = list;
        struct cn_rpc_call *call = op->call;
        list = op->next;
        op_free(op);
        if (call) {
            call->callee_priv = NULL;
            cn_server_call(s, call);
        }
    }
}

/* ---- forward to the leader ---- */

static void forward_done(struct cn_rpc_call *fwd)
{
    struct op_forward *f = CN_CONTAINER_OF(fwd, struct op_forward, fwd);
    struct cn_server *s = f->op.srv;
    struct cn_rpc_call *call = f->op.call;
    if (!call) { /* The caller left; only the copy remained. */
        op_free(&f->op);
        return;
    }
    call->callee_priv = NULL;
    if (fwd->rc == CN_ENOLEADER && uv_now(s->loop) < f->deadline_ms) {
        uint64_t deadline = f->deadline_ms; /* The leader lost it: retry. */
        op_free(&f->op);
        hold(s, call, deadline);
        return;
    }
    call->meta = fwd->meta;
    if (fwd->rc == 0) {
        cn_buf_reset(&call->reply);
        if (cn_buf_append(&call->reply, fwd->reply.data, fwd->reply.len) < 0) {
            op_free(&f->op);
            cn__server_reply(s, call, CN_ETOOBIG, "reply too large");
            return;
        }
    }
    int rc = fwd->rc;
    char err[CN_ERRMSG_MAX];
    snprintf(err, sizeof err, "%s", fwd->errmsg);
    op_free(&f->op);
    cn__server_reply(s, call, rc, err);
}

static void forward_to(struct cn_server *s, struct cn_rpc_call *call, const char *addr,
                       bool to_leader)
{
    struct op_forward *f = cn_calloc(1, sizeof *f);
    if (!f) {
        cn__server_reply(s, call, -ENOMEM, NULL);
        return;
    }
    f->op.kind = OP_FORWARD;
    f->op.srv = s;
    f->op.call = call;
    f->deadline_ms = uv_now(s->loop) + CN_SERVER_HOLD_MS;
    cn_rpc_call_init(&f->fwd, call->method);
    f->fwd.args.max = call->args.max;
    if (cn_buf_append(&f->fwd.args, call->args.data, call->args.len) < 0) {
        op_free(&f->op);
        cn__server_reply(s, call, -ENOMEM, NULL);
        return;
    }
    f->fwd.done = forward_done;
    /* The leader answers; it never forwards on. A server of another DC
     * may forward to its own leader. */
    f->fwd.forwarded = to_leader;
    snprintf(f->fwd.dc, sizeof f->fwd.dc, "%s", call->dc);
    call->callee_priv = f;
    s->stats.forwarded++;
    cn_transport_call(s->transport, addr, &f->fwd, FORWARD_TIMEOUT_MS);
}

static void forward(struct cn_server *s, struct cn_rpc_call *call)
{
    forward_to(s, call, cn_server_leader(s), true);
}

void cn__route_remote_dc(struct cn_server *s, struct cn_rpc_call *call)
{
    char addrs[16][64];
    size_t n = s->cfg.dc_servers && s->transport
                   ? s->cfg.dc_servers(s->cfg.pool_ctx, call->dc, addrs, 16) : 0;
    if (n == 0) {
        cn__server_reply(s, call, CN_ENODC, "No path to datacenter");
        return;
    }
    forward_to(s, call, addrs[cn_prng_below(&s->prng, n)], false);
}

/* Not the leader: forward, hold, or refuse (a call already forwarded). */
static void elsewhere(struct cn_server *s, struct cn_rpc_call *call)
{
    if (call->forwarded)
        cn__server_reply(s, call, CN_ENOLEADER, "No cluster leader");
    else if (cn_server_leader(s)[0] && s->transport)
        forward(s, call);
    else
        hold(s, call, 0);
}

/* ---- leader: propose, ReadIndex ---- */

static void on_committed(void *ctx, int rc, uint64_t index, const struct cn_buf *reply)
{
    struct op_wait *w = ctx;
    struct cn_server *s = w->op.srv;
    struct cn_rpc_call *call = w->op.call;
    cn_free(w);
    if (!call)
        return; /* The caller left; the write still happened. */
    call->callee_priv = NULL;
    s->stats.applies++;
    if (rc == 0 && reply && cn_buf_append(&call->reply, reply->data, reply->len) < 0)
        rc = CN_ETOOBIG;
    if (rc < 0)
        s->stats.apply_errors++;
    if (rc == 0)
        cn__server_meta(s, call, index, CN_CONSISTENCY_DEFAULT);
    cn__server_reply(s, call, rc,
                     rc == CN_ENOLEADER ? "leadership lost while committing log" : NULL);
}

void cn__route_write(struct cn_server *s, struct cn_rpc_call *call, const uint8_t *cmd,
                     size_t len)
{
    struct op_wait *w;
    int rc;
    if (!cn_server_is_leader(s)) {
        elsewhere(s, call);
        return;
    }
    w = cn_calloc(1, sizeof *w);
    if (!w) {
        cn__server_reply(s, call, -ENOMEM, NULL);
        return;
    }
    w->op.kind = OP_PROPOSE;
    w->op.srv = s;
    w->op.call = call;
    rc = cn_raft_node_propose(s->raft, cmd, len, on_committed, w, &w->cookie);
    if (rc < 0) {
        cn_free(w);
        if (rc == CN_ENOLEADER)
            elsewhere(s, call);
        else
            cn__server_reply(s, call, rc, rc == CN_ELIMIT ? "too many writes in flight" : NULL);
        return;
    }
    call->callee_priv = w;
}

static void on_read_index(void *ctx, int rc, uint64_t index, const struct cn_buf *reply)
{
    struct op_wait *w = ctx;
    struct cn_server *s = w->op.srv;
    struct cn_rpc_call *call = w->op.call;
    cn_bq_run_fn *then = w->then;
    (void)index;
    (void)reply;
    cn_free(w);
    if (!call)
        return;
    call->callee_priv = NULL;
    if (rc < 0) {
        elsewhere(s, call); /* Lost leadership: let the new leader answer. */
        return;
    }
    /* The barrier passed: the re-run must not ask for another one, and
     * this leader has applied everything committed before its term. */
    struct cn_raft_status st;
    cn_raft_node_status(s->raft, &st);
    if (st.role == CN_RAFT_LEADER)
        s->reads_ready_term = st.term;
    call->callee_priv = &cn__read_done_marker;
    then(s, call, false);
}

bool cn__route_read(struct cn_server *s, struct cn_rpc_call *call, enum cn_consistency c,
                    cn_bq_run_fn *run)
{
    struct op_wait *w;
    /* Stale reads run anywhere; re-runs of a query parked here stay here
     * (routing happened when it first arrived). */
    if (c == CN_CONSISTENCY_STALE || call->callee_priv)
        return false;
    if (!cn_server_is_leader(s)) {
        elsewhere(s, call);
        return true;
    }
    if (c == CN_CONSISTENCY_DEFAULT) {
        /* A new leader may not yet have applied what its predecessors
         * committed (after a restart it re-applies its whole log): until a
         * barrier has passed in its term, default reads take one too, or
         * they could answer from an older (even empty) state. */
        struct cn_raft_status st;
        cn_raft_node_status(s->raft, &st);
        if (s->reads_ready_term == st.term)
            return false;
    }
    w = cn_calloc(1, sizeof *w);
    if (!w)
        return false; /* Degrade to default consistency rather than fail. */
    w->op.kind = OP_READINDEX;
    w->op.srv = s;
    w->op.call = call;
    w->then = run;
    if (cn_raft_node_read(s->raft, on_read_index, w, &w->cookie) < 0) {
        cn_free(w);
        elsewhere(s, call);
        return true;
    }
    call->callee_priv = w;
    return true;
}

struct cn__op cn__read_done_marker = {.kind = OP_READ_DONE};

/* ---- cancel, shutdown ---- */

void cn__route_cancel(struct cn_server *s, struct cn__op *op)
{
    switch (op->kind) {
    case OP_PROPOSE:
    case OP_READINDEX:
        /* Forgotten: the completion never runs, so the op goes here. */
        cn_raft_node_forget(s->raft, ((struct op_wait *)op)->cookie);
        cn_free(op);
        return;
    case OP_FORWARD:
        cn_transport_call_cancel(s->transport, &((struct op_forward *)op)->fwd);
        op_free(op);
        return;
    case OP_HOLD:
        cn__op_unlink(&s->held, op);
        op_free(op);
        return;
    case OP_READ_DONE:
        return; /* Nothing in flight. */
    case OP_BQ:
        break;
    }
    CN_UNREACHABLE();
}

void cn__route_fail_all(struct cn_server *s)
{
    while (s->held) {
        struct cn__op *op = s->held;
        struct cn_rpc_call *call = op->call;
        cn__op_unlink(&s->held, op);
        op_free(op);
        if (call)
            cn__server_reply(s, call, CN_ECLOSED, "server shutting down");
    }
}
