/* state/cat_test_util.h - helpers for catalog/session tests (header-only;
 * include after test_util.h). */
#ifndef CN_STATE_CAT_TEST_UTIL_H
#define CN_STATE_CAT_TEST_UTIL_H

#include "test_util.h"
#include "state_int.h" /* cn__state_verify */

/* Applies an encoded command at the next index: 1 for true, -1 for an
 * error string (copied to t_err), or the apply's error code. */
static CN_UNUSED char t_err[512];

static inline int t_apply_cmd(struct cn_state *st, const struct cn_buf *cmd)
{
    struct cn_buf reply;
    struct cn_mp_reader r;
    const uint8_t *s;
    uint32_t n;
    bool b;
    int rc;
    cn_buf_init(&reply, 1 << 20);
    rc = cn_state_apply(st, cn_state_last_index(st) + 1, cmd->data, cmd->len,
                        &reply);
    t_err[0] = '\0';
    if (rc == 0) {
        cn_mp_reader_init(&r, reply.data, reply.len);
        if (cn_mp_read_bool(&r, &b) == 0) {
            rc = b ? 1 : 0;
        } else {
            assert_int_equal(cn_mp_read_str(&r, &s, &n), 0);
            snprintf(t_err, sizeof t_err, "%.*s", (int)n, (const char *)s);
            rc = -1;
        }
    }
    cn_buf_close(&reply);
    return rc;
}

static inline int t_register(struct cn_state *st, const struct cn_register *r,
                             uint64_t now_ms)
{
    struct cn_buf cmd;
    int rc;
    cn_buf_init(&cmd, 1 << 20);
    assert_int_equal(cn_state_cmd_register(&cmd, r, now_ms), 0);
    rc = t_apply_cmd(st, &cmd);
    cn_buf_close(&cmd);
    return rc;
}

/* A node with one service and optional checks of a status. */
static inline int t_reg(struct cn_state *st, const char *node, const char *addr,
                        const char *svc, const char *svc_id, const char *tag,
                        enum cn_health svc_check, enum cn_health node_check)
{
    struct cn_register r;
    struct cn_service s;
    struct cn_check checks[2];
    const char *tags[1] = {tag};
    memset(&r, 0, sizeof r);
    memset(&s, 0, sizeof s);
    memset(checks, 0, sizeof checks);
    r.node.name = node;
    r.node.address = addr;
    if (svc) {
        s.name = svc;
        s.id = svc_id;
        s.tags = tag ? tags : NULL;
        s.n_tags = tag ? 1 : 0;
        s.port = 8080;
        r.service = &s;
    }
    if (svc && svc_check) {
        checks[r.n_checks].name = "svc-check";
        checks[r.n_checks].id = svc_id ? svc_id : svc; /* check ID = svc ID */
        checks[r.n_checks].service_id = svc_id ? svc_id : svc;
        checks[r.n_checks].status = svc_check;
        r.n_checks++;
    }
    if (node_check) {
        checks[r.n_checks].id = "serfHealth";
        checks[r.n_checks].name = "Serf Health Status";
        checks[r.n_checks].status = node_check;
        r.n_checks++;
    }
    r.checks = checks;
    return t_register(st, &r, 1000);
}

static inline int t_dereg(struct cn_state *st, const char *node,
                          const char *svc_id, const char *check_id)
{
    struct cn_deregister d = {node, svc_id, check_id};
    struct cn_buf cmd;
    int rc;
    cn_buf_init(&cmd, 1 << 16);
    assert_int_equal(cn_state_cmd_deregister(&cmd, &d, 2000), 0);
    rc = t_apply_cmd(st, &cmd);
    cn_buf_close(&cmd);
    return rc;
}

static inline int t_session(struct cn_state *st, const char *id, const char *node,
                            enum cn_session_behavior behavior,
                            uint64_t lock_delay_ns, const char *node_check)
{
    struct cn_session s;
    struct cn_buf cmd;
    const char *checks[1] = {node_check};
    int rc;
    memset(&s, 0, sizeof s);
    s.id = id;
    s.node = node;
    s.behavior = behavior;
    s.lock_delay_ns = lock_delay_ns;
    s.node_checks = node_check ? checks : NULL;
    s.n_node_checks = node_check ? 1 : 0;
    cn_buf_init(&cmd, 1 << 16);
    assert_int_equal(cn_state_cmd_session_create(&cmd, &s), 0);
    rc = t_apply_cmd(st, &cmd);
    cn_buf_close(&cmd);
    return rc;
}

static inline int t_destroy(struct cn_state *st, const char *id, uint64_t now_ms)
{
    struct cn_buf cmd;
    int rc;
    cn_buf_init(&cmd, 1 << 16);
    assert_int_equal(cn_state_cmd_session_destroy(&cmd, id, now_ms), 0);
    rc = t_apply_cmd(st, &cmd);
    cn_buf_close(&cmd);
    return rc;
}

/* Collected names from a visit. */
struct t_names {
    char v[64][96];
    int n;
};

static CN_UNUSED int t_collect_svc(void *ctx, const struct cn_node *node,
                         const struct cn_service *svc)
{
    struct t_names *c = ctx;
    snprintf(c->v[c->n++], 96, "%s/%s", node->name, svc->id);
    return 0;
}

static CN_UNUSED int t_collect_check(void *ctx, const struct cn_check *chk)
{
    struct t_names *c = ctx;
    snprintf(c->v[c->n++], 96, "%s/%s", chk->node, chk->id);
    return 0;
}

static CN_UNUSED int t_collect_node(void *ctx, const struct cn_node *node)
{
    struct t_names *c = ctx;
    snprintf(c->v[c->n++], 96, "%s", node->name);
    return 0;
}

static CN_UNUSED int t_collect_session(void *ctx, const struct cn_session *s)
{
    struct t_names *c = ctx;
    snprintf(c->v[c->n++], 96, "%s", s->id);
    return 0;
}

#endif
