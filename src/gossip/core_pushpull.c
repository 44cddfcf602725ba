/* gossip/core_pushpull.c - TCP push/pull anti-entropy and join: encode
 * our full state, validate and merge a peer's (gossip-notes.md 1.5, 2.10).
 * Pure: the core asks the shell to open streams (ready batch) and gets
 * the replies back through cn__gcore_stream_done/stream_in.
 */
#include <errno.h>

#include "core_int.h"

int cg_local_state(struct cn__gcore *c, bool join, struct cn_buf *out)
{
    struct cn_buf user;
    struct cn_mp_writer w;
    struct cn__gm_pp_header h = { .nodes = (uint32_t)c->n_nodes, .join = join };
    int rc;

    cn_buf_init(&user, CN_GOSSIP_STREAM_BYTES_MAX);
    rc = sf_local_state(c, &user);
    if (rc < 0) {
        cn_buf_close(&user);
        return rc;
    }
    h.user_len = (uint32_t)user.len;
    cn__gm_writer(&w, out);
    cn__gm_put_pp_header(&w, &h);
    for (size_t i = 0; i < c->n_nodes; i++) {
        const struct ml_node *n = c->nodes[i];
        struct cn__gm_pp_node pn = {
            .name = { (const uint8_t *)n->name, n->name_len },
            .addr = { n->addr, n->addr_len },
            .meta = { n->meta, n->meta_len },
            .vsn = { n->vsn, 6 },
            .inc = n->inc,
            .port = n->port,
            .state = n->state,
        };
        cn__gm_put_pp_node(&w, &pn);
    }
    cn_mp_put_raw(&w, user.data, user.len);
    cn_buf_close(&user);
    return w.err;
}

static bool pp_node_valid(const struct cn__gm_pp_node *n)
{
    if (n->name.len == 0 || n->name.len > CN_GOSSIP_NAME_BYTES_MAX)
        return false;
    if (n->addr.len != 4 && n->addr.len != 16)
        return false;
    if (n->meta.len > CN_GOSSIP_META_BYTES_MAX || n->state > CN__ML_LEFT)
        return false;
    if (n->vsn.len != 0 && n->vsn.len < 6)
        return false;
    return true;
}

struct vrange {
    uint8_t pmin, pmax, dmin, dmax;
};

static void vr_add(struct vrange *r, const uint8_t *v)
{
    r->pmin = CN_MAX(r->pmin, v[0]);
    r->pmax = CN_MIN(r->pmax, v[1]);
    r->dmin = CN_MAX(r->dmin, v[3]);
    r->dmax = CN_MIN(r->dmax, v[4]);
}

static bool vr_ok(const struct vrange *r, const uint8_t *v)
{
    return v[2] >= r->pmin && v[2] <= r->pmax && v[5] >= r->dmin && v[5] <= r->dmax;
}

/* memberlist verifyProtocol: every alive node's current versions must lie
 * inside the ranges all alive nodes (ours and theirs) understand. */
static bool verify_protocol(const struct cn__gcore *c, const struct cn__gm_pp_node *rn,
                            size_t n)
{
    struct vrange r = { 0, 255, 0, 255 };
    for (size_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i]->state == CN__ML_ALIVE)
            vr_add(&r, c->nodes[i]->vsn);
    for (size_t i = 0; i < n; i++)
        if (rn[i].state == CN__ML_ALIVE && rn[i].vsn.len >= 6)
            vr_add(&r, rn[i].vsn.p);
    for (size_t i = 0; i < c->n_nodes; i++)
        if (c->nodes[i]->state == CN__ML_ALIVE && !vr_ok(&r, c->nodes[i]->vsn))
            return false;
    for (size_t i = 0; i < n; i++)
        if (rn[i].state == CN__ML_ALIVE && rn[i].vsn.len >= 6 && !vr_ok(&r, rn[i].vsn.p))
            return false;
    return true;
}

/* memberlist mergeState (notes 1.5). */
static void merge_nodes(struct cn__gcore *c, const struct cn__gm_pp_node *rn, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct cn__gm_pp_node *r = &rn[i];
        if (r->state == CN__ML_ALIVE) {
            struct cn__gm_alive a = {
                .inc = r->inc, .node = r->name, .addr = r->addr, .port = r->port,
                .meta = r->meta, .vsn = r->vsn,
            };
            cg_alive(c, &a, false);
        } else if (r->state == CN__ML_LEFT) {
            struct cn__gm_accuse d = { .inc = r->inc, .node = r->name, .from = r->name };
            cg_dead(c, &d);
        } else {
            /* Dead or suspect elsewhere: only suspect it here. */
            struct cn__gm_accuse s = {
                .inc = r->inc, .node = r->name,
                .from = { (const uint8_t *)c->name, c->name_len },
            };
            cg_suspect(c, &s);
        }
    }
}

static int parse_and_merge(struct cn__gcore *c, const uint8_t *p, size_t len,
                           bool ignore_old, bool *join)
{
    struct cn_mp_reader r;
    struct cn__gm_pp_header h;
    struct cn__gm_pp_node *rn;
    int rc = CN_EMALFORMED;

    cn_mp_reader_init(&r, p + 1, len - 1);
    if (cn__gm_read_pp_header(&r, &h) < 0)
        return CN_EMALFORMED;
    /* Each node state takes >= 1 byte, so this cannot overshoot input. */
    if (h.nodes > cn_mp_left(&r))
        return CN_EMALFORMED;
    rn = cn_calloc(h.nodes ? h.nodes : 1, sizeof *rn);
    if (!rn)
        return -ENOMEM;
    for (uint32_t i = 0; i < h.nodes; i++)
        if (cn__gm_read_pp_node(&r, &rn[i]) < 0 || !pp_node_valid(&rn[i]))
            goto out;
    if (cn_mp_left(&r) < h.user_len)
        goto out;
    if (!verify_protocol(c, rn, h.nodes)) {
        CG_LOG(c, CN_LOG_WARN, "gossip: push/pull refused: incompatible protocol versions");
        rc = CN_ECONFLICT;
        goto out;
    }
    merge_nodes(c, rn, h.nodes);
    rc = 0;
    if (h.user_len > 0)
        rc = sf_merge_state(c, r.p, h.user_len, ignore_old);
    *join = h.join;
    c->ctr.pushpulls++;
out:
    cn_free(rn);
    return rc;
}

int cg_merge_stream(struct cn__gcore *c, const uint8_t *p, size_t len,
                    bool ignore_old, bool *join_out)
{
    struct cn_buf plain;
    int rc;
    cn_buf_init(&plain, CN_GOSSIP_INFLATE_BYTES_MAX);
    if (len >= 1 && p[0] == CN__GM_COMPRESS) {
        rc = cn__gm_decompress(p + 1, len - 1, &plain);
        if (rc < 0) {
            cn_buf_close(&plain);
            return rc == -ENOMEM ? rc : CN_EMALFORMED;
        }
        p = plain.data;
        len = plain.len;
    }
    if (len < 1) {
        rc = CN_EMALFORMED;
    } else if (p[0] == CN__GM_ERR) {
        struct cn_mp_reader r;
        struct cn__gstr e = { 0 };
        cn_mp_reader_init(&r, p + 1, len - 1);
        (void)cn__gm_read_err(&r, &e);
        CG_LOG(c, CN_LOG_WARN, "gossip: remote error: %.*s", (int)CN_MIN(e.len, 200u),
               e.p ? (const char *)e.p : "");
        rc = CN_EDENIED;
    } else if (p[0] != CN__GM_PUSHPULL) {
        rc = CN_EMALFORMED;
    } else {
        rc = parse_and_merge(c, p, len, ignore_old, join_out);
    }
    cn_buf_close(&plain);
    return rc;
}

int cg_start_pushpull(struct cn__gcore *c, const struct cn__gaddr *to, bool join,
                      uint32_t *id)
{
    struct cn_buf b;
    int rc;
    cn_buf_init(&b, CN_GOSSIP_STREAM_BYTES_MAX);
    rc = cg_local_state(c, join, &b);
    if (rc < 0) {
        cn_buf_close(&b);
        return rc;
    }
    cg_send_stream(c, to, CN__GSTREAM_PUSHPULL, join, &b,
                   c->now_ms + c->cfg.t.tcp_timeout_ms, id);
    cn_buf_close(&b);
    return *id ? 0 : -ENOMEM;
}

static bool skip_pp(const struct cn__gcore *c, const struct ml_node *n, const void *a)
{
    (void)a;
    return n == c->self || n->state != CN__ML_ALIVE;
}

/* memberlist pushPullScale: slower beyond 32 nodes. */
static uint64_t pushpull_interval(const struct cn__gcore *c)
{
    size_t n = cg_est_nodes(c);
    uint64_t base = c->cfg.t.push_pull_ms;
    if (n <= 32)
        return base;
    return base * (uint64_t)(cn_ceil_log2(n) - 5 + 1); /* ceil(log2 n - log2 32) + 1 */
}

void cg_pushpull_tick(struct cn__gcore *c)
{
    struct ml_node *peer;
    struct cn__gaddr to;
    uint32_t id;
    if (c->now_ms < c->next_pushpull_ms)
        return;
    c->next_pushpull_ms = c->now_ms + pushpull_interval(c);
    if (cg_random_nodes(c, 1, &peer, skip_pp, NULL) != 1)
        return;
    cg_node_addr(peer, &to);
    (void)cg_start_pushpull(c, &to, false, &id);
}
