/* gossip/shell_query.c - the shell's half of serf queries: the public
 * query API, answers to the keyring queries (the keyring lives in the
 * shell, keyring.c), user queries handed to query_cb, and the cluster-wide
 * keyring operation that collects every member's answer (serf KeyManager).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "shell_int.h"

#define KR_ARENA_BYTES_MAX (4u << 20)

struct krop {
    enum cn_gossip_key_op op;
    uint32_t num_nodes, num_resp, num_err;
    struct cn_gossip_node_message *msgs;
    size_t n_msgs;
    struct cn_gossip_key_count *keys, *prim;
    size_t n_keys, n_prim;
    struct cn_arena a;
    cn_gossip_keyring_fn *cb;
    void *ctx;
};

struct cn__uquery {
    struct cn__uquery *next;
    uint32_t handle;
    cn_gossip_query_fn *cb;     /* plain query */
    void *ctx;
    struct krop *kr;            /* keyring operation */
};

static uint64_t now_ms(struct cn_gossip *g) { return uv_now(g->loop); }

static void uq_free(struct cn__uquery *q)
{
    if (q->kr) {
        cn_free(q->kr->msgs);
        cn_free(q->kr->keys);
        cn_free(q->kr->prim);
        cn_arena_close(&q->kr->a);
        cn_free(q->kr);
    }
    cn_free(q);
}

/* At close. A keyring operation still gets its one callback (its caller
 * owns memory until then); plain queries' callbacks are dropped. */
void cn__shell_queries_free(struct cn_gossip *g)
{
    while (g->uqueries) {
        struct cn__uquery *q = g->uqueries;
        g->uqueries = q->next;
        if (q->kr) {
            struct cn_gossip_keyring_result res = {
                .rc = CN_ECLOSED, .num_nodes = q->kr->num_nodes, .num_resp = q->kr->num_resp,
            };
            q->kr->cb(q->kr->ctx, &res);
        }
        uq_free(q);
    }
}

static void uq_unlink(struct cn_gossip *g, struct cn__uquery *q)
{
    for (struct cn__uquery **pp = &g->uqueries; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            return;
        }
}

/* ---- answering the keyring queries (serf internal_query.go) -------------- */

static void key_b64(const uint8_t *k, size_t len, char out[48])
{
    cn_base64_encode(k, len, out);
    out[cn_base64_encoded_len(len)] = '\0';
}

/* Applies install/use/remove; NULL on success, else serf's message. */
static const char *keyring_apply(struct cn_gossip *g, const char *op, const struct cn__gstr *k)
{
    char b64[48];
    bool plain = g->kr.n == 0;
    int rc;
    if (k->len != 16 && k->len != 24 && k->len != 32)
        return strcmp(op, "install-key") == 0 ? "key size must be 16, 24 or 32 bytes"
               : strcmp(op, "use-key") == 0   ? "Requested key is not in the keyring"
                                              : NULL;
    key_b64(k->p, k->len, b64);
    if (strcmp(op, "install-key") == 0) {
        rc = cn__keyring_install(&g->kr, b64);
        if (rc == 0 && plain)
            cn__gcore_set_encrypted(g->core, true);
        return rc == -ENOSPC ? "keyring is full" : rc < 0 ? "invalid key" : NULL;
    }
    if (strcmp(op, "use-key") == 0)
        return cn__keyring_use(&g->kr, b64) < 0 ? "Requested key is not in the keyring" : NULL;
    rc = cn__keyring_remove(&g->kr, b64);
    return rc == -EBUSY ? "Removing the primary key is not allowed" : NULL;
}

/* list-keys: as many keys as fit serf's response limit (serf truncates
 * the same way and says so in Message). */
static void respond_list(struct cn_gossip *g, const struct cn__gqitem *it,
                         struct cn__sm_keyresp *r, char (*keys)[48])
{
    char msg[96];
    size_t total = g->kr.n;
    for (size_t n = total + 1; n-- > 0;) {
        struct cn_buf b;
        int rc;
        r->n_keys = (uint32_t)n;
        for (size_t i = 0; i < n; i++)
            r->keys[i] = (struct cn__gstr){ (const uint8_t *)keys[i], (uint32_t)strlen(keys[i]) };
        if (n < total) {
            snprintf(msg, sizeof msg, "truncated key list response, showing first %zu of %zu keys",
                     n, total);
            r->message = (struct cn__gstr){ (const uint8_t *)msg, (uint32_t)strlen(msg) };
        }
        cn_buf_init(&b, CN_GOSSIP_QUERY_RESPONSE_BYTES_MAX);
        rc = cn__sm_keyresp_encode(&b, r);
        if (rc == 0)
            rc = cn__gcore_query_respond(g->core, now_ms(g), &it->tok, b.data, b.len);
        cn_buf_close(&b);
        if (rc != -EMSGSIZE)
            return;
    }
}

static void answer_keyring(struct cn_gossip *g, const struct cn__gqitem *it)
{
    const char *op = it->name + strlen("_serf_");
    struct cn__sm_keyresp r;
    struct cn__gstr k;
    char keys[CN__KEYRING_MAX][48];
    const char *err = NULL;
    struct cn_buf b;
    memset(&r, 0, sizeof r);
    if (strcmp(op, "list-keys") == 0) {
        if (g->kr.n == 0) {
            err = "Keyring is empty (encryption not enabled)";
        } else {
            for (size_t i = 0; i < g->kr.n; i++)
                key_b64(g->kr.keys[i], g->kr.lens[i], keys[i]);
            r.primary = (struct cn__gstr){ (const uint8_t *)keys[0], (uint32_t)strlen(keys[0]) };
            r.result = true;
            respond_list(g, it, &r, keys);
            return;
        }
    } else if (cn__sm_keyreq_decode(it->payload, it->len, &k) < 0) {
        err = "Failed to decode key request";
    } else if (g->kr.n == 0) {
        err = "No keyring to modify (encryption not enabled)";
    } else {
        err = keyring_apply(g, op, &k);
    }
    r.result = err == NULL;
    if (err)
        r.message = (struct cn__gstr){ (const uint8_t *)err, (uint32_t)strlen(err) };
    cn_buf_init(&b, CN_GOSSIP_QUERY_RESPONSE_BYTES_MAX);
    if (cn__sm_keyresp_encode(&b, &r) == 0)
        (void)cn__gcore_query_respond(g->core, now_ms(g), &it->tok, b.data, b.len);
    cn_buf_close(&b);
}

static void handle_in(struct cn_gossip *g, const struct cn__gqitem *it)
{
    struct cn_gossip_query_in q;
    if (strncmp(it->name, "_serf_", 6) == 0) {
        answer_keyring(g, it);  /* the core hands us only the keyring ones */
        return;
    }
    if (!g->query_cb)
        return;
    q.name = it->name;
    q.payload = it->payload;
    q.payload_len = it->len;
    q.source_node = it->src_node ? it->src_node : "";
    q.ltime = it->ltime;
    q.token = it->tok;
    g->query_cb(g->query_ctx, &q);
}

/* ---- collecting keyring answers (serf KeyManager.streamKeyResp) ------------ */

static bool kr_note(struct krop *k, const char *node, const struct cn__gstr *msg)
{
    struct cn_gossip_node_message *m;
    char *n = cn_arena_strndup(&k->a, node, strlen(node));
    char *t = cn_arena_strndup(&k->a, msg->p ? (const char *)msg->p : "", msg->len);
    if (!n || !t || !(m = cn_realloc(k->msgs, (k->n_msgs + 1) * sizeof *m)))
        return false;
    k->msgs = m;
    m[k->n_msgs].node = n;
    m[k->n_msgs++].message = t;
    return true;
}

static void kr_count(struct krop *k, struct cn_gossip_key_count **arr, size_t *n,
                     const struct cn__gstr *key)
{
    struct cn_gossip_key_count *a;
    char *s;
    for (size_t i = 0; i < *n; i++)
        if (strlen((*arr)[i].key) == key->len && memcmp((*arr)[i].key, key->p, key->len) == 0) {
            (*arr)[i].count++;
            return;
        }
    if (!(s = cn_arena_strndup(&k->a, (const char *)key->p, key->len)) ||
        !(a = cn_realloc(*arr, (*n + 1) * sizeof *a)))
        return;
    *arr = a;
    a[*n].key = s;
    a[(*n)++].count = 1;
}

static void kr_response(struct krop *k, const char *from, const uint8_t *p, size_t len)
{
    struct cn__sm_keyresp r;
    k->num_resp++;
    if (cn__sm_keyresp_decode(p, len, &r) < 0) {
        static const char text[] = "Failed to decode key query response";
        const struct cn__gstr bad = { (const uint8_t *)text, sizeof text - 1 };
        k->num_err++;
        kr_note(k, from, &bad);
        return;
    }
    if (!r.result)
        k->num_err++;
    if (!r.result || r.message.len)
        kr_note(k, from, &r.message);
    for (uint32_t i = 0; i < r.n_keys; i++)
        if (r.keys[i].len)
            kr_count(k, &k->keys, &k->n_keys, &r.keys[i]);
    if (r.primary.len)
        kr_count(k, &k->prim, &k->n_prim, &r.primary);
}

static void kr_finish(struct cn_gossip *g, struct cn__uquery *q)
{
    struct krop *k = q->kr;
    struct cn_gossip_keyring_result res = {
        .rc = k->num_err ? -EIO : k->num_resp < k->num_nodes ? CN_ETIMEOUT : 0,
        .num_nodes = k->num_nodes, .num_resp = k->num_resp, .num_err = k->num_err,
        .messages = k->msgs, .n_messages = k->n_msgs,
        .keys = k->keys, .n_keys = k->n_keys,
        .primary_keys = k->prim, .n_primary_keys = k->n_prim,
    };
    uq_unlink(g, q);
    cn__gcore_query_cancel(g->core, q->handle);
    k->cb(k->ctx, &res);
    uq_free(q);
}

static void handle_reply(struct cn_gossip *g, const struct cn__gqitem *it)
{
    struct cn__uquery *q = g->uqueries;
    struct cn_gossip_query_reply r = { 0 };
    while (q && q->handle != it->handle)
        q = q->next;
    if (!q)
        return;
    if (q->kr) {
        if (it->kind == CN__GQ_RESP)
            kr_response(q->kr, it->name, it->payload, it->len);
        if (it->kind == CN__GQ_DONE || q->kr->num_resp >= q->kr->num_nodes)
            kr_finish(g, q);
        return;
    }
    r.type = it->kind == CN__GQ_ACK    ? CN_GOSSIP_QR_ACK
             : it->kind == CN__GQ_RESP ? CN_GOSSIP_QR_RESPONSE
                                       : CN_GOSSIP_QR_DONE;
    r.from = it->name;
    r.payload = it->payload;
    r.payload_len = it->len;
    if (it->kind == CN__GQ_DONE)
        uq_unlink(g, q);
    q->cb(q->ctx, &r);
    if (it->kind == CN__GQ_DONE)
        uq_free(q);
}

void cn__shell_deliver_queries(struct cn_gossip *g)
{
    struct cn__gqitem *items;
    size_t n;
    cn__gcore_take_queries(g->core, &items, &n);
    for (size_t i = 0; i < n && !g->closing; i++) {
        if (items[i].kind == CN__GQ_IN)
            handle_in(g, &items[i]);
        else
            handle_reply(g, &items[i]);
    }
    cn__gcore_queries_free(items, n);
}

/* ---- public API ------------------------------------------------------------ */

static int start(struct cn_gossip *g, const struct cn__gquery_params *qp,
                 struct cn__uquery *q)
{
    int rc = cn__gcore_query(g->core, now_ms(g), qp, &q->handle);
    if (rc < 0) {
        uq_free(q);
        return rc;
    }
    q->next = g->uqueries;
    g->uqueries = q;
    return 0;
}

int cn_gossip_query(struct cn_gossip *g, const char *name, const uint8_t *payload, size_t len,
                    const struct cn_gossip_query_params *p, cn_gossip_query_fn *cb, void *ctx)
{
    struct cn__gquery_params qp = { .name = name, .payload = payload, .len = len, .p = p };
    struct cn__uquery *q;
    if (!cb || !name)
        return -EINVAL;
    if (!(q = cn_calloc(1, sizeof *q)))
        return -ENOMEM;
    q->cb = cb;
    q->ctx = ctx;
    return start(g, &qp, q);
}

int cn_gossip_query_respond(struct cn_gossip *g, const struct cn_gossip_query_token *tok,
                            const uint8_t *payload, size_t len)
{
    return cn__gcore_query_respond(g->core, now_ms(g), tok, payload, len);
}

uint64_t cn_gossip_query_default_timeout(struct cn_gossip *g)
{
    return cn__gcore_query_default_timeout(g->core);
}

int cn_gossip_keyring_op(struct cn_gossip *g, enum cn_gossip_key_op op, const char *b64key,
                         cn_gossip_keyring_fn *cb, void *ctx)
{
    static const char *const names[] = { "_serf_list-keys", "_serf_install-key",
                                         "_serf_use-key", "_serf_remove-key" };
    uint8_t key[32];
    size_t klen = 0;
    struct cn_buf b;
    struct cn__uquery *q;
    int rc;
    if (!cb || (unsigned)op > CN_GOSSIP_KEY_REMOVE)
        return -EINVAL;
    if (op != CN_GOSSIP_KEY_LIST && (!b64key || cn__key_decode(b64key, key, &klen) < 0))
        return -EINVAL;
    if (!(q = cn_calloc(1, sizeof *q)) || !(q->kr = cn_calloc(1, sizeof *q->kr))) {
        cn_free(q);
        return -ENOMEM;
    }
    cn_arena_init(&q->kr->a, KR_ARENA_BYTES_MAX);
    q->kr->op = op;
    q->kr->cb = cb;
    q->kr->ctx = ctx;
    q->kr->num_nodes = (uint32_t)cn__gcore_alive_count(g->core);
    cn_buf_init(&b, CN_GOSSIP_QUERY_BYTES_MAX);
    rc = cn__sm_keyreq_encode(&b, key, klen);
    if (rc == 0) {
        struct cn__gquery_params qp = { .name = names[op], .payload = b.data, .len = b.len };
        rc = start(g, &qp, q);
    } else {
        uq_free(q);
    }
    cn_buf_close(&b);
    return rc;
}
