/* agent/api/keyring.c - /v1/operator/keyring (consul-compat.md 5.8):
 * GET lists, POST installs, PUT makes primary, DELETE removes a gossip
 * encryption key on every member of our pools.
 *
 * Consul runs the operation on the WAN pool (servers) and then on the LAN
 * pool of every datacenter, each through serf's internal keyring queries.
 * Here an agent runs it on the pools it is a member of: the WAN pool if it
 * is a server, then its own LAN pool. Other datacenters' LAN pools are not
 * reached (their servers run the same endpoint). One KeyringResponse per
 * pool, in that order; any node that failed or did not answer makes the
 * request fail with every message, as Consul's does. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent_int.h"
#include "api_int.h"
#include "gossip/gossip.h"

struct kr_wait {
    struct cn_http_req *req;   /* NULL once the client went away. */
    struct cn_agent *a;
    enum cn_gossip_key_op op;
    char key[64];
    bool pools[2];             /* [0] WAN, [1] LAN: still to run. */
    bool wan_now;
    json_t *responses;         /* Array of KeyringResponse. */
    char errors[2048];
    size_t n_errors;
};

static void kr_free(struct kr_wait *w)
{
    json_decref(w->responses);
    cn_free(w);
}

static void kr_cancel(struct cn_http_req *req)
{
    struct kr_wait *w = req->handler_ctx;
    w->req = NULL;
}

static void add_error(struct kr_wait *w, const char *fmt, ...) CN_PRINTF(2, 3);
static void add_error(struct kr_wait *w, const char *fmt, ...)
{
    size_t used = strlen(w->errors);
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (used + strlen(line) + 4 < sizeof w->errors)
        snprintf(w->errors + used, sizeof w->errors - used, "\t* %s\n", line);
    w->n_errors++;
}

static json_t *counts(const struct cn_gossip_key_count *k, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++)
        json_object_set_new(o, k[i].key, json_integer(k[i].count));
    return o;
}

static json_t *response_json(struct kr_wait *w, const struct cn_gossip_keyring_result *r)
{
    json_t *msgs = json_object();
    for (size_t i = 0; msgs && i < r->n_messages; i++)
        json_object_set_new(msgs, r->messages[i].node, json_string(r->messages[i].message));
    return json_pack("{s:b,s:s,s:s,s:s,s:o*,s:o*,s:o*,s:i}", "WAN", w->wan_now,
                     "Datacenter", w->a->cfg.datacenter, "Segment", "", "Partition", "",
                     "Messages", msgs, "Keys", counts(r->keys, r->n_keys),
                     "PrimaryKeys", counts(r->primary_keys, r->n_primary_keys),
                     "NumNodes", (json_int_t)r->num_nodes);
}

static void kr_next(struct kr_wait *w);

static void kr_done(void *ctx, const struct cn_gossip_keyring_result *r)
{
    struct kr_wait *w = ctx;
    const char *pool = w->wan_now ? "WAN" : "LAN";
    if (r->rc == CN_ECLOSED) { /* Shutting down: no next pool. */
        add_error(w, "%s pool: %s", pool, cn_strerror(r->rc));
        w->pools[0] = w->pools[1] = false;
        kr_next(w);
        return;
    }
    json_t *j = response_json(w, r);
    if (!j || json_array_append_new(w->responses, j) < 0)
        add_error(w, "%s pool: out of memory", pool);
    for (size_t i = 0; i < r->n_messages; i++)
        add_error(w, "%s pool: %s: %s", pool, r->messages[i].node, r->messages[i].message);
    if (r->num_resp < r->num_nodes)
        add_error(w, "%s pool: %u of %u members answered before the timeout", pool,
                  r->num_resp, r->num_nodes);
    kr_next(w);
}

static void kr_finish(struct kr_wait *w)
{
    struct cn_http_req *req = w->req;
    if (req && w->n_errors) {
        cn_http_error(req, 500, "%zu error%s occurred:\n%s\n", w->n_errors,
                      w->n_errors == 1 ? "" : "s", w->errors);
    } else if (req && w->op == CN_GOSSIP_KEY_LIST) {
        struct cn_json_enc e;
        cn__api_json_init(req, &e);
        cn_json_value(&e, w->responses);
        cn__api_json_send(req, &e, 200);
    } else if (req) {
        cn_http_finish(req, 200);
    }
    kr_free(w);
}

/* Runs the operation on the next pool; finishes after the last. */
static void kr_next(struct kr_wait *w)
{
    for (int i = 0; i < 2; i++) {
        struct cn_gossip *g;
        int rc;
        if (!w->pools[i])
            continue;
        w->pools[i] = false;
        w->wan_now = i == 0;
        g = cn__agent_pool(w->a, w->wan_now);
        if (!g)
            continue;
        rc = cn_gossip_keyring_op(g, w->op, w->key, kr_done, w);
        if (rc == 0)
            return;
        add_error(w, "%s pool: %s", w->wan_now ? "WAN" : "LAN",
                  rc == -EINVAL ? "invalid key" : cn_strerror(rc));
    }
    kr_finish(w);
}

/* ?local-only: this agent's own keyring, no query. */
static void list_local(struct cn_http_req *req, struct cn_agent *a)
{
    char keys[32][48];
    struct cn_json_enc e;
    struct cn_gossip *g = cn__agent_pool(a, false);
    int n = g ? cn_gossip_key_list(g, keys, CN_ARRAY_LEN(keys)) : 0;
    cn__api_json_init(req, &e);
    cn_json_arr_begin(&e);
    cn_json_obj_begin(&e);
    cn_json_kv_bool(&e, "WAN", false);
    cn_json_kv_str(&e, "Datacenter", a->cfg.datacenter);
    cn_json_kv_str(&e, "Segment", "");
    cn_json_kv_str(&e, "Partition", "");
    cn_json_key(&e, "Keys");
    cn_json_obj_begin(&e);
    for (int i = 0; i < n; i++)
        cn_json_kv_u64(&e, keys[i], 1);
    cn_json_obj_end(&e);
    cn_json_key(&e, "PrimaryKeys");
    cn_json_obj_begin(&e);
    if (n > 0)
        cn_json_kv_u64(&e, keys[0], 1);
    cn_json_obj_end(&e);
    cn_json_kv_u64(&e, "NumNodes", 1);
    cn_json_obj_end(&e);
    cn_json_arr_end(&e);
    cn__api_json_send(req, &e, 200);
}

/* The {"Key": "..."} body of install/use/remove; 0 or a finished error. */
static int body_key(struct cn_http_req *req, char *out, size_t max)
{
    char err[CN_JSON_ERR_BYTES];
    json_t *root = NULL;
    const char *k = NULL;
    if (cn_json_parse(req->body, req->body_len, &root, err) < 0 ||
        cn_json_get_str(root, "Key", &k, NULL, err) < 0) {
        json_decref(root);
        cn_http_error(req, 400, "Request decode failed: %s", err);
        return -1;
    }
    if (!k || !*k || strlen(k) >= max) {
        json_decref(root);
        cn_http_error(req, 400, "Request decode failed: a base64 \"Key\" is required");
        return -1;
    }
    snprintf(out, max, "%s", k);
    json_decref(root);
    return 0;
}

void cn__api_operator_keyring(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    struct kr_wait *w;
    const char *m = req->method_name;
    enum cn_gossip_key_op op = strcmp(m, "POST") == 0 ? CN_GOSSIP_KEY_INSTALL
                             : strcmp(m, "PUT") == 0 ? CN_GOSSIP_KEY_USE
                             : strcmp(m, "DELETE") == 0 ? CN_GOSSIP_KEY_REMOVE
                                                        : CN_GOSSIP_KEY_LIST;
    if (op == CN_GOSSIP_KEY_LIST && cn_http_flag(req, "local-only")) {
        list_local(req, a);
        return;
    }
    w = cn_calloc(1, sizeof *w);
    if (!w || !(w->responses = json_array())) {
        cn_free(w);
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    if (op != CN_GOSSIP_KEY_LIST && body_key(req, w->key, sizeof w->key) < 0) {
        kr_free(w);
        return;
    }
    w->req = req;
    w->a = a;
    w->op = op;
    w->pools[0] = a->cfg.server;
    w->pools[1] = true;
    req->handler_ctx = w;
    cn_http_on_cancel(req, kr_cancel);
    kr_next(w);
}
