/* agent/dns/fake.c - the in-memory test backend (fake.h). */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "fake.h"

struct cn_dns_fake *cn_dns_fake_new(void)
{
    struct cn_dns_fake *f = cn_calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->inst = cn_calloc(FAKE_INSTANCES_MAX, sizeof *f->inst);
    f->out = cn_calloc(FAKE_INSTANCES_MAX, sizeof *f->out);
    if (!f->inst || !f->out) {
        cn_dns_fake_free(f);
        return NULL;
    }
    snprintf(f->dcs[0], sizeof f->dcs[0], "dc1");
    f->n_dcs = 1;
    f->index = 42;
    return f;
}

void cn_dns_fake_free(struct cn_dns_fake *f)
{
    if (!f)
        return;
    cn_free(f->inst);
    cn_free(f->out);
    cn_free(f);
}

static int find_node(const struct cn_dns_fake *f, const char *name)
{
    for (size_t i = 0; i < f->n_nodes; i++)
        if (strcasecmp(f->nodes[i].name, name) == 0)
            return (int)i;
    return -1;
}

int cn_dns_fake_node(struct cn_dns_fake *f, const char *name, const char *addr)
{
    CN_ASSERT(f->n_nodes < FAKE_NODES_MAX);
    struct fake_node *n = &f->nodes[f->n_nodes];
    snprintf(n->name, sizeof n->name, "%s", name);
    snprintf(n->addr, sizeof n->addr, "%s", addr);
    snprintf(n->dc, sizeof n->dc, "dc1");
    return (int)f->n_nodes++;
}

void cn_dns_fake_node_dc(struct cn_dns_fake *f, const char *node, const char *dc)
{
    int i = find_node(f, node);
    CN_ASSERT(i >= 0);
    snprintf(f->nodes[i].dc, sizeof f->nodes[i].dc, "%s", dc);
}

void cn_dns_fake_meta(struct cn_dns_fake *f, const char *node, const char *key,
                      const char *value)
{
    int i = find_node(f, node);
    CN_ASSERT(i >= 0 && f->nodes[i].n_meta < FAKE_META_MAX);
    struct fake_node *n = &f->nodes[i];
    size_t k = n->n_meta++;
    snprintf(n->meta_text[k][0], sizeof n->meta_text[k][0], "%s", key);
    snprintf(n->meta_text[k][1], sizeof n->meta_text[k][1], "%s", value);
    n->meta[k].key = n->meta_text[k][0];
    n->meta[k].value = n->meta_text[k][1];
}

int cn_dns_fake_service(struct cn_dns_fake *f, const char *service,
                        const char *node, const char *svc_addr, uint16_t port,
                        const char *tags, enum cn_dns_health health)
{
    int ni = find_node(f, node);
    CN_ASSERT(ni >= 0 && f->n_inst < FAKE_INSTANCES_MAX);
    struct fake_inst *in = &f->inst[f->n_inst];
    memset(in, 0, sizeof *in);
    in->node = ni;
    snprintf(in->service, sizeof in->service, "%s", service);
    snprintf(in->svc_addr, sizeof in->svc_addr, "%s", svc_addr ? svc_addr : "");
    snprintf(in->tags, sizeof in->tags, "%s", tags ? tags : "");
    in->port = port;
    in->wp = 1;
    in->ww = 1;
    in->health = health;
    return (int)f->n_inst++;
}

void cn_dns_fake_weights(struct cn_dns_fake *f, int inst, uint16_t passing,
                         uint16_t warning)
{
    f->inst[inst].wp = passing;
    f->inst[inst].ww = warning;
}

void cn_dns_fake_dc(struct cn_dns_fake *f, const char *dc)
{
    CN_ASSERT(f->n_dcs < 4);
    snprintf(f->dcs[f->n_dcs++], sizeof f->dcs[0], "%s", dc);
}

void cn_dns_fake_query(struct cn_dns_fake *f, const char *name,
                       const char *service)
{
    CN_ASSERT(f->n_queries < 4);
    snprintf(f->queries[f->n_queries][0], 64, "%s", name);
    snprintf(f->queries[f->n_queries][1], 64, "%s", service);
    f->n_queries++;
}

static bool dc_known(const struct cn_dns_fake *f, const char *dc)
{
    for (size_t i = 0; i < f->n_dcs; i++)
        if (strcasecmp(f->dcs[i], dc) == 0)
            return true;
    return false;
}

static bool has_tag(const char *tags, const char *tag)
{
    size_t tl = strlen(tag);
    const char *p = tags;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == tl && strncasecmp(p, tag, l) == 0)
            return true;
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

static void fill_node(const struct fake_node *n, struct cn_dns_node *out)
{
    out->name = n->name;
    out->address = n->addr;
    out->meta = n->meta;
    out->n_meta = n->n_meta;
}

/* ---- lookups, run now or from the queue ---- */

static void run_node(struct cn_dns_fake *f, struct cn_dns_server *srv,
                     uint64_t id, const char *dc, const char *name)
{
    if (f->status || !dc_known(f, dc)) {
        cn_dns_node_done(srv, id, f->status ? f->status : CN_ENODC, NULL);
        return;
    }
    int i = find_node(f, name);
    if (i < 0 || strcasecmp(f->nodes[i].dc, dc) != 0) {
        cn_dns_node_done(srv, id, 0, NULL);
        return;
    }
    struct cn_dns_node n;
    fill_node(&f->nodes[i], &n);
    cn_dns_node_done(srv, id, 0, &n);
}

static size_t collect(struct cn_dns_fake *f, const char *dc, const char *service,
                      const char *tag, int kind)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n_inst; i++) {
        const struct fake_inst *in = &f->inst[i];
        const struct fake_node *nd = &f->nodes[in->node];
        if (strcasecmp(in->service, service) != 0 || strcasecmp(nd->dc, dc) != 0)
            continue;
        if (tag && !has_tag(in->tags, tag))
            continue;
        if (kind == CN_DNS_SVC_CONNECT && !in->connect)
            continue;
        if (kind == CN_DNS_SVC_INGRESS)
            continue;
        struct cn_dns_instance *o = &f->out[n++];
        fill_node(nd, &o->node);
        o->service_address = in->svc_addr;
        o->port = in->port;
        o->weight_passing = in->wp;
        o->weight_warning = in->ww;
        o->health = in->health;
    }
    return n;
}

static void run_service(struct cn_dns_fake *f, struct cn_dns_server *srv,
                        uint64_t id, const char *dc, const char *service,
                        const char *tag, int kind)
{
    if (f->status || !dc_known(f, dc)) {
        cn_dns_service_done(srv, id, f->status ? f->status : CN_ENODC, NULL);
        return;
    }
    struct cn_dns_service_result r = { f->out, 0, f->index };
    r.n_instances = collect(f, dc, service, tag, kind);
    cn_dns_service_done(srv, id, 0, &r);
}

static void run_prepared(struct cn_dns_fake *f, struct cn_dns_server *srv,
                         uint64_t id, const char *dc, const char *name)
{
    for (size_t i = 0; i < f->n_queries && !f->status; i++) {
        if (strcasecmp(f->queries[i][0], name) != 0)
            continue;
        struct cn_dns_prepared_result r = { { f->out, 0, 0 }, dc,
                                            f->queries[i][1], -1 };
        r.nodes.n_instances = collect(f, dc, f->queries[i][1], NULL, 0);
        cn_dns_prepared_done(srv, id, 0, &r);
        return;
    }
    cn_dns_prepared_done(srv, id, f->status ? f->status : CN_ENOTFOUND, NULL);
}

static void run_reverse(struct cn_dns_fake *f, struct cn_dns_server *srv,
                        uint64_t id, int family, const uint8_t *addr)
{
    char text[64];
    struct cn_dns_reverse_result r = { CN_DNS_REV_NONE, NULL, NULL };
    inet_ntop(family, addr, text, sizeof text);
    for (size_t i = 0; i < f->n_nodes && !r.kind; i++)
        if (strcmp(f->nodes[i].addr, text) == 0)
            r = (struct cn_dns_reverse_result){ CN_DNS_REV_NODE,
                                                f->nodes[i].name,
                                                f->nodes[i].dc };
    for (size_t i = 0; i < f->n_inst && !r.kind; i++)
        if (strcmp(f->inst[i].svc_addr, text) == 0)
            r = (struct cn_dns_reverse_result){ CN_DNS_REV_SERVICE,
                                                f->inst[i].service,
                                                f->nodes[f->inst[i].node].dc };
    cn_dns_reverse_done(srv, id, f->status, &r);
}

static struct fake_pending *enqueue(struct cn_dns_fake *f, int kind,
                                    struct cn_dns_server *srv, uint64_t id)
{
    f->calls++;
    if (f->ignore)
        return NULL;
    if (!f->async || f->n_pending == FAKE_PENDING_MAX)
        return NULL;
    struct fake_pending *p = &f->pending[f->n_pending++];
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->id = id;
    p->srv = srv;
    return p;
}

static void be_node(void *ctx, struct cn_dns_server *srv, uint64_t id,
                    const struct cn_dns_node_req *req)
{
    struct cn_dns_fake *f = ctx;
    struct fake_pending *p = enqueue(f, 1, srv, id);
    if (p) {
        snprintf(p->a, sizeof p->a, "%s", req->datacenter);
        snprintf(p->b, sizeof p->b, "%s", req->node);
    } else if (!f->ignore) {
        run_node(f, srv, id, req->datacenter, req->node);
    }
}

static void be_service(void *ctx, struct cn_dns_server *srv, uint64_t id,
                       const struct cn_dns_service_req *req)
{
    struct cn_dns_fake *f = ctx;
    struct fake_pending *p = enqueue(f, 2, srv, id);
    if (p) {
        snprintf(p->a, sizeof p->a, "%s", req->datacenter);
        snprintf(p->b, sizeof p->b, "%s", req->service);
        snprintf(p->c, sizeof p->c, "%s", req->tag ? req->tag : "");
        p->i = (int)req->kind | (req->tag ? 0x100 : 0);
    } else if (!f->ignore) {
        run_service(f, srv, id, req->datacenter, req->service, req->tag,
                    (int)req->kind);
    }
}

static void be_reverse(void *ctx, struct cn_dns_server *srv, uint64_t id,
                       const struct cn_dns_reverse_req *req)
{
    struct cn_dns_fake *f = ctx;
    struct fake_pending *p = enqueue(f, 3, srv, id);
    if (p) {
        p->i = req->family;
        memcpy(p->addr, req->addr, 16);
    } else if (!f->ignore) {
        run_reverse(f, srv, id, req->family, req->addr);
    }
}

static void be_prepared(void *ctx, struct cn_dns_server *srv, uint64_t id,
                        const struct cn_dns_prepared_req *req)
{
    struct cn_dns_fake *f = ctx;
    struct fake_pending *p = enqueue(f, 4, srv, id);
    if (p) {
        snprintf(p->a, sizeof p->a, "%s", req->datacenter);
        snprintf(p->b, sizeof p->b, "%s", req->name);
    } else if (!f->ignore) {
        run_prepared(f, srv, id, req->datacenter, req->name);
    }
}

static void be_cancel(void *ctx, uint64_t id)
{
    struct cn_dns_fake *f = ctx;
    f->cancels++;
    f->last_cancelled = id;
    for (size_t i = 0; i < f->n_pending; i++) {
        if (f->pending[i].id == id) {
            memmove(&f->pending[i], &f->pending[i + 1],
                    (f->n_pending - i - 1) * sizeof f->pending[0]);
            f->n_pending--;
            break;
        }
    }
}

size_t cn_dns_fake_complete(struct cn_dns_fake *f)
{
    size_t done = 0;
    while (f->n_pending) {
        struct fake_pending p = f->pending[0];
        memmove(&f->pending[0], &f->pending[1],
                (f->n_pending - 1) * sizeof f->pending[0]);
        f->n_pending--;
        switch (p.kind) {
        case 1: run_node(f, p.srv, p.id, p.a, p.b); break;
        case 2:
            run_service(f, p.srv, p.id, p.a, p.b, (p.i & 0x100) ? p.c : NULL,
                        p.i & 0xff);
            break;
        case 3: run_reverse(f, p.srv, p.id, p.i, p.addr); break;
        case 4: run_prepared(f, p.srv, p.id, p.a, p.b); break;
        default: break;
        }
        done++;
    }
    return done;
}

void cn_dns_fake_backend(struct cn_dns_fake *f, struct cn_dns_backend *be)
{
    memset(be, 0, sizeof *be);
    be->ctx = f;
    be->node = be_node;
    be->service = be_service;
    be->reverse = be_reverse;
    be->prepared = be_prepared;
    be->cancel = be_cancel;
}
