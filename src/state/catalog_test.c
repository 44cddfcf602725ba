/* state/catalog_test.c - catalog and health: register/deregister
 * semantics, reads, indexes, watches, encoders and txn catalog ops. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cat_test_util.h"

static struct t_txn tx;

static void test_register_and_read(void **state)
{
    struct cn_state *st = t_new(0);
    struct t_names c = {0};
    struct cn_node n;
    const char *v1[] = {"v1"};
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", "web-1", "v1",
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);   /* 1 */
    assert_int_equal(t_reg(st, "n2", "10.0.0.2", "web", "web-2", "v2",
                           CN_HEALTH_PASSING, CN_HEALTH_WARNING), 1);   /* 2 */
    assert_int_equal(t_reg(st, "n2", "10.0.0.2", "db", NULL, NULL, 0, 0), 1); /* 3 */
    assert_int_equal(cn_state_node_get(st, "N1", &n), 0);  /* Case-insensitive. */
    assert_string_equal(n.name, "n1");
    assert_string_equal(n.address, "10.0.0.1");
    assert_int_equal(n.create_index, 1);
    assert_int_equal(cn_state_node_get(st, "nope", &n), CN_ENOTFOUND);
    assert_int_equal(cn_state_nodes_list(st, t_collect_node, &c), 0);
    assert_int_equal(c.n, 2);
    c.n = 0;
    assert_int_equal(cn_state_node_services(st, "n2", t_collect_svc, &c), 0);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.v[0], "n2/db");   /* ID defaults to the name. */
    assert_string_equal(c.v[1], "n2/web-2");
    c.n = 0;
    assert_int_equal(cn_state_service_nodes(st, "WEB", NULL, 0, t_collect_svc, &c), 0);
    assert_int_equal(c.n, 2);
    c.n = 0;
    assert_int_equal(cn_state_service_nodes(st, "web", v1, 1, t_collect_svc, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0], "n1/web-1");
    c.n = 0;
    assert_int_equal(cn_state_node_checks(st, "n2", t_collect_check, &c), 0);
    assert_int_equal(c.n, 2);
    c.n = 0;
    assert_int_equal(cn_state_service_checks(st, "web", t_collect_check, &c), 0);
    assert_int_equal(c.n, 2);
    c.n = 0;
    assert_int_equal(cn_state_checks_in_state(st, CN_HEALTH_WARNING, t_collect_check, &c), 0);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.v[0], "n2/serfHealth");
    c.n = 0;
    assert_int_equal(cn_state_checks_in_state(st, 0, t_collect_check, &c), 0);
    assert_int_equal(c.n, 4);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_NODES), 2);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_SERVICES), 3);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_CHECKS), 2);
    assert_int_equal(cn_state_service_index(st, "web"), 2);
    assert_int_equal(cn_state_service_index(st, "db"), 3);
    /* Never seen, nothing extinct yet: the catalog's max index. */
    assert_int_equal(cn_state_service_index(st, "zzz"), 3);
    cn_state_free(st);
}

struct health {
    char line[8][128];
    int n;
};

static int health_fn(void *ctx, const struct cn_node *node,
                     const struct cn_service *svc,
                     const struct cn_check *const *checks, size_t n_checks)
{
    struct health *h = ctx;
    char *p = h->line[h->n++];
    size_t off = (size_t)snprintf(p, 128, "%s/%s:%s", node->name, svc->id,
                                  cn_state_health_name(cn_state_checks_aggregate(checks, n_checks)));
    for (size_t i = 0; i < n_checks; i++)
        off += (size_t)snprintf(p + off, 128 - off, " %s", checks[i]->id);
    return 0;
}

static void test_health_service(void **state)
{
    struct cn_state *st = t_new(0);
    struct health h = {0};
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", "web-1", NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);
    assert_int_equal(t_reg(st, "n2", "10.0.0.2", "web", "web-2", NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_WARNING), 1);
    assert_int_equal(t_reg(st, "n3", "10.0.0.3", "web", "web-3", NULL,
                           CN_HEALTH_CRITICAL, 0), 1);
    assert_int_equal(cn_state_health_service(st, "web", NULL, 0, false, health_fn, &h), 0);
    assert_int_equal(h.n, 3);
    /* Node-level checks first, then the instance's. */
    assert_string_equal(h.line[0], "n1/web-1:passing serfHealth web-1");
    assert_string_equal(h.line[1], "n2/web-2:warning serfHealth web-2");
    assert_string_equal(h.line[2], "n3/web-3:critical web-3");
    h.n = 0;
    /* ?passing drops warning too. */
    assert_int_equal(cn_state_health_service(st, "web", NULL, 0, true, health_fn, &h), 0);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.line[0], "n1/web-1:passing serfHealth web-1");
    cn_state_free(st);
}

static void test_aggregate(void **state)
{
    struct cn_check a = {.id = "x", .status = CN_HEALTH_PASSING};
    struct cn_check b = {.id = "y", .status = CN_HEALTH_CRITICAL};
    struct cn_check m = {.id = "_service_maintenance:web", .status = CN_HEALTH_CRITICAL};
    const struct cn_check *v[3] = {&a, &b, &m};
    enum cn_health h;
    (void)state;
    assert_int_equal(cn_state_checks_aggregate(v, 0), CN_HEALTH_PASSING);
    assert_int_equal(cn_state_checks_aggregate(v, 1), CN_HEALTH_PASSING);
    assert_int_equal(cn_state_checks_aggregate(v, 2), CN_HEALTH_CRITICAL);
    assert_int_equal(cn_state_checks_aggregate(v, 3), CN_HEALTH_MAINTENANCE);
    assert_int_equal(cn_state_health_parse("warning", &h), 0);
    assert_int_equal(h, CN_HEALTH_WARNING);
    assert_int_equal(cn_state_health_parse("any", &h), 0);
    assert_int_equal(h, 0);
    assert_int_equal(cn_state_health_parse("bogus", &h), CN_ENOTFOUND);
}

static void test_unchanged_register_is_noop(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_node n;
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", NULL, "a",
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);  /* 1 */
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", NULL, "a",
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);  /* 2 */
    assert_int_equal(cn_state_table_index(st, CN_TABLE_NODES), 1);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_SERVICES), 1);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_CHECKS), 1);
    assert_int_equal(cn_state_service_index(st, "web"), 1);
    assert_int_equal(cn_state_last_index(st), 2);
    /* A new address moves the node (and the services on it). */
    assert_int_equal(t_reg(st, "n1", "10.0.0.9", "web", NULL, "a",
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);  /* 3 */
    assert_int_equal(cn_state_node_get(st, "n1", &n), 0);
    assert_int_equal(n.create_index, 1);
    assert_int_equal(n.modify_index, 3);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_SERVICES), 1);
    assert_int_equal(cn_state_service_index(st, "web"), 3);
    cn_state_free(st);
}

static void test_skip_node_update(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_register r;
    struct cn_service s = {.name = "api"};
    struct cn_node n;
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", NULL, NULL, NULL, 0, 0), 1);
    memset(&r, 0, sizeof r);
    r.node.name = "n1";
    r.skip_node_update = true;       /* No address needed, none changed. */
    r.service = &s;
    assert_int_equal(t_register(st, &r, 0), 1);
    assert_int_equal(cn_state_node_get(st, "n1", &n), 0);
    assert_string_equal(n.address, "10.0.0.1");
    assert_int_equal(n.modify_index, 1);
    r.skip_node_update = false;
    assert_int_equal(t_register(st, &r, 0), -1);
    assert_string_equal(t_err, "Must provide address if SkipNodeUpdate is not set");
    cn_state_free(st);
}

static void test_register_errors(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_register r;
    struct cn_service s = {.name = "web"};
    struct cn_check c = {.name = "chk", .service_id = "missing"};
    struct t_names names = {0};
    (void)state;
    memset(&r, 0, sizeof r);
    r.node.address = "10.0.0.1";
    assert_int_equal(t_register(st, &r, 0), -1);
    assert_string_equal(t_err, "Must provide node");
    r.node.name = "n1";
    r.node.id = "not-a-uuid";
    assert_int_equal(t_register(st, &r, 0), -1);
    assert_string_equal(t_err, "Bad node ID: uuid string is wrong length");
    r.node.id = NULL;
    s.name = NULL;
    s.id = "web-1";
    r.service = &s;
    assert_int_equal(t_register(st, &r, 0), -1);
    assert_string_equal(t_err, "Must provide service name with ID");
    s.name = "web";
    s.address = "0.0.0.0";
    assert_int_equal(t_register(st, &r, 0), -1);
    assert_string_equal(t_err, "Invalid service address");
    s.address = NULL;
    struct cn_pair meta[1] = {{"consul-x", "1"}};
    s.meta = meta;
    s.n_meta = 1;
    assert_int_equal(t_register(st, &r, 0), -1);
    assert_string_equal(t_err, "failed inserting service: Invalid Service Meta for node n1 "
                               "and serviceID web-1: Couldn't load metadata pair "
                               "('consul-x', '1'): Key prefix 'consul-' is reserved "
                               "for internal use");
    s.n_meta = 0;
    /* A check naming a missing service fails the whole register. */
    r.checks = &c;
    r.n_checks = 1;
    assert_int_equal(t_register(st, &r, 0), -1);
    assert_string_equal(t_err, "failed inserting check: Missing service registration");
    assert_int_equal(cn_state_nodes_list(st, t_collect_node, &names), 0);
    assert_int_equal(names.n, 0); /* Rolled back: no node either. */
    assert_int_equal(cn_state_table_index(st, CN_TABLE_NODES), 0);
    cn__state_verify(st);
    cn_state_free(st);
}

static void test_deregister(void **state)
{
    struct cn_state *st = t_new(0);
    struct t_names c = {0};
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", NULL, NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);  /* 1 */
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "db", NULL, NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);  /* 2 */
    assert_int_equal(t_dereg(st, "n1", "web", NULL), 1);              /* 3 */
    assert_int_equal(cn_state_node_checks(st, "n1", t_collect_check, &c), 0);
    assert_int_equal(c.n, 2);       /* db's check and serfHealth stay. */
    assert_int_equal(cn_state_service_index(st, "web"), 3); /* Extinction. */
    assert_int_equal(t_dereg(st, "n1", NULL, "serfHealth"), 1);       /* 4 */
    c.n = 0;
    assert_int_equal(cn_state_node_checks(st, "n1", t_collect_check, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(t_dereg(st, "n1", "nothing", NULL), 1);          /* 5 */
    assert_int_equal(cn_state_table_index(st, CN_TABLE_SERVICES), 3);
    assert_int_equal(t_dereg(st, "N1", NULL, NULL), 1);               /* 6 */
    c.n = 0;
    assert_int_equal(cn_state_nodes_list(st, t_collect_node, &c), 0);
    assert_int_equal(c.n, 0);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_SERVICES), 6);
    assert_int_equal(cn_state_table_index(st, CN_TABLE_CHECKS), 6);
    assert_int_equal(cn_state_service_index(st, "db"), 6);
    assert_int_equal(cn_state_service_index(st, "web"), 6);
    assert_int_equal(t_dereg(st, "n1", NULL, NULL), 1);  /* Gone: still true. */
    assert_int_equal(t_dereg(st, "", NULL, NULL), -1);
    assert_string_equal(t_err, "Must provide node");
    cn__state_verify(st);
    cn_state_free(st);
}

static void test_node_id_rename_and_clash(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_register r;
    struct cn_node n;
    struct t_names c = {0};
    const char *id = "40e4a748-2192-161a-0510-9bf59fe950b5";
    (void)state;
    memset(&r, 0, sizeof r);
    r.node.id = id;
    r.node.name = "old";
    r.node.address = "10.0.0.1";
    assert_int_equal(t_register(st, &r, 0), 1);                        /* 1 */
    struct cn_service web = {.name = "web"};
    r.service = &web;                  /* Same node (with its ID) + web. */
    assert_int_equal(t_register(st, &r, 0), 1);                        /* 2 */
    r.service = NULL;
    r.node.name = "new";                                               /* 3 */
    assert_int_equal(t_register(st, &r, 0), 1);
    assert_int_equal(cn_state_node_get(st, "old", &n), CN_ENOTFOUND);
    assert_int_equal(cn_state_node_get(st, id, &n), 0);     /* By ID too. */
    assert_string_equal(n.name, "new");
    assert_int_equal(n.create_index, 1);   /* Kept across the rename. */
    assert_int_equal(cn_state_node_services(st, "new", t_collect_svc, &c), 0);
    assert_int_equal(c.n, 0);              /* "old"'s services went with it. */
    /* A healthy node holds "taken": another ID may not take its name. */
    assert_int_equal(t_reg(st, "taken", "10.0.0.2", NULL, NULL, NULL, 0,
                           CN_HEALTH_PASSING), 1);
    r.node.id = "40e4a748-2192-161a-0510-9bf59fe950b6";
    r.node.name = "taken";
    assert_int_equal(t_register(st, &r, 0), 1); /* "taken" has no ID: allowed. */
    assert_int_equal(t_reg(st, "other", "10.0.0.3", NULL, NULL, NULL, 0,
                           CN_HEALTH_PASSING), 1);
    cn__state_verify(st);
    cn_state_free(st);
}

static void test_name_clash_healthy(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_register r;
    (void)state;
    struct cn_check serf = {.id = "serfHealth", .name = "s", .status = CN_HEALTH_PASSING};
    memset(&r, 0, sizeof r);
    r.node.id = "11111111-2192-161a-0510-9bf59fe950b5";
    r.node.name = "n";
    r.node.address = "10.0.0.1";
    r.checks = &serf;
    r.n_checks = 1;
    assert_int_equal(t_register(st, &r, 0), 1);
    r.checks = NULL;
    r.n_checks = 0;
    r.node.id = "22222222-2192-161a-0510-9bf59fe950b5";
    assert_int_equal(t_register(st, &r, 0), -1);
    assert_string_equal(t_err, "failed inserting node: Node name n is reserved by node "
                               "11111111-2192-161a-0510-9bf59fe950b5 with name n (10.0.0.1)");
    /* Once the holder is critical, the name can be taken over. */
    serf.status = CN_HEALTH_CRITICAL;
    r.node.id = "11111111-2192-161a-0510-9bf59fe950b5";
    r.checks = &serf;
    r.n_checks = 1;
    assert_int_equal(t_register(st, &r, 0), 1);
    r.checks = NULL;
    r.n_checks = 0;
    r.node.id = "22222222-2192-161a-0510-9bf59fe950b5";
    assert_int_equal(t_register(st, &r, 0), 1);
    cn__state_verify(st);
    cn_state_free(st);
}

/* ---- watches ---- */

static char fired[64];
static size_t n_fired;

struct tw {
    struct cn_watch w;
    char tag;
};

static void on_fire(struct cn_watch *w)
{
    fired[n_fired++] = ((struct tw *)w->ctx)->tag;
    fired[n_fired] = '\0';
}

static void arm(struct cn_state *st, struct tw *t, char tag,
                enum cn_watch_kind kind, const char *name)
{
    memset(t, 0, sizeof *t);
    t->w.fn = on_fire;
    t->w.ctx = t;
    t->tag = tag;
    assert_int_equal(cn_state_watch_name(st, &t->w, kind, name, strlen(name)), 0);
}

static void test_service_and_node_watches(void **state)
{
    struct cn_state *st = t_new(0);
    struct tw web, db, n1, n2, tbl;
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", NULL, NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);
    assert_int_equal(t_reg(st, "n2", "10.0.0.2", "db", NULL, NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_PASSING), 1);
    arm(st, &web, 'w', CN_WATCH_SERVICE, "Web");
    arm(st, &db, 'd', CN_WATCH_SERVICE, "db");
    arm(st, &n1, '1', CN_WATCH_NODE, "n1");
    arm(st, &n2, '2', CN_WATCH_NODE, "N2");
    memset(&tbl, 0, sizeof tbl);
    tbl.w.fn = on_fire;
    tbl.w.ctx = &tbl;
    tbl.tag = 'c';
    assert_int_equal(cn_state_watch_table(st, &tbl.w, CN_TABLE_CHECKS), 0);
    /* web's check goes warning: web, n1, the checks table; not db/n2. */
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", NULL, NULL,
                           CN_HEALTH_WARNING, CN_HEALTH_PASSING), 1);
    assert_string_equal(fired, "w1c");
    n_fired = 0;
    fired[0] = '\0';
    arm(st, &web, 'w', CN_WATCH_SERVICE, "web");
    arm(st, &n1, '1', CN_WATCH_NODE, "n1");
    /* n2's node-level check: every service on n2 (db) and n2. */
    assert_int_equal(t_reg(st, "n2", "10.0.0.2", "db", NULL, NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_CRITICAL), 1);
    assert_string_equal(fired, "d2");
    /* Unchanged: nothing. */
    n_fired = 0;
    fired[0] = '\0';
    arm(st, &db, 'd', CN_WATCH_SERVICE, "db");
    assert_int_equal(t_reg(st, "n2", "10.0.0.2", "db", NULL, NULL,
                           CN_HEALTH_PASSING, CN_HEALTH_CRITICAL), 1);
    assert_string_equal(fired, "");
    /* A service that appears wakes a watch parked on its name. */
    struct tw api;
    arm(st, &api, 'a', CN_WATCH_SERVICE, "api");
    assert_int_equal(t_reg(st, "n2", "10.0.0.2", "api", NULL, NULL, 0, 0), 1);
    assert_string_equal(fired, "a");
    assert_int_equal(cn_state_watch_name(st, &api.w, CN_WATCH_KV_KEY, "x", 1), -EINVAL);
    cn_state_free(st);
}

/* ---- encoders ---- */

/* The keys of a map, space-separated, skipping values. */
static void map_keys(struct cn_mp_reader *r, char *out, size_t size)
{
    uint32_t n;
    size_t off = 0;
    assert_int_equal(cn_mp_read_map(r, &n), 0);
    out[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t kl;
        assert_int_equal(cn_mp_read_str(r, &k, &kl), 0);
        off += (size_t)snprintf(out + off, size - off, "%s%.*s", i ? " " : "",
                                (int)kl, (const char *)k);
        assert_int_equal(cn_mp_skip(r), 0);
    }
}

struct enc_ctx {
    struct cn_mp_writer *w;
};

static int enc_sn(void *ctx, const struct cn_node *n, const struct cn_service *s)
{
    struct enc_ctx *e = ctx;
    cn_state_service_node_encode(e->w, n, s);
    cn_state_node_service_encode(e->w, s);
    cn_state_node_encode(e->w, n);
    return 0;
}

static int enc_check(void *ctx, const struct cn_check *c)
{
    cn_state_check_encode(((struct enc_ctx *)ctx)->w, c);
    return 0;
}

static void test_encoders(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_buf b;
    struct cn_mp_writer w;
    struct cn_mp_reader r;
    struct enc_ctx e = {&w};
    char keys[1024];
    (void)state;
    assert_int_equal(t_reg(st, "n1", "10.0.0.1", "web", NULL, "v1",
                           CN_HEALTH_PASSING, 0), 1);
    assert_int_equal(t_reg(st, "n2", "10.0.0.2", "web", NULL, "v2", 0, 0), 1);
    assert_int_equal(t_reg(st, "n2", "10.0.0.2", "Web", "w2", "v1", 0, 0), 1);
    cn_buf_init(&b, 1 << 20);
    cn_mp_writer_init(&w, &b);
    assert_int_equal(cn_state_service_nodes(st, "web", NULL, 0, enc_sn, &e), 0);
    assert_int_equal(cn_state_node_checks(st, "n1", enc_check, &e), 0);
    assert_int_equal(cn_state_catalog_services_encode(st, &w), 0);
    assert_int_equal(w.err, 0);
    cn_mp_reader_init(&r, b.data, b.len);
    map_keys(&r, keys, sizeof keys);
    assert_string_equal(keys, "ID Node Address Datacenter TaggedAddresses NodeMeta "
                        "ServiceKind ServiceID ServiceName ServiceTags ServiceAddress "
                        "ServiceWeights ServiceMeta ServicePort ServiceSocketPath "
                        "ServiceEnableTagOverride ServiceProxy ServiceConnect "
                        "CreateIndex ModifyIndex");
    map_keys(&r, keys, sizeof keys);
    assert_string_equal(keys, "ID Service Tags Address Meta Port Weights "
                        "EnableTagOverride Proxy Connect CreateIndex ModifyIndex");
    map_keys(&r, keys, sizeof keys);
    assert_string_equal(keys, "ID Node Address Datacenter TaggedAddresses Meta "
                        "CreateIndex ModifyIndex");
    for (int i = 0; i < 6; i++) /* The other two instances. */
        assert_int_equal(cn_mp_skip(&r), 0);
    map_keys(&r, keys, sizeof keys);
    assert_string_equal(keys, "Node CheckID Name Status Notes Output ServiceID "
                        "ServiceName ServiceTags Type Interval Timeout ExposedPort "
                        "Definition CreateIndex ModifyIndex");
    /* {"Web":["v1"],"web":["v1","v2"]}: exact names, bytewise order. */
    uint32_t n;
    const uint8_t *s;
    uint32_t sl;
    assert_int_equal(cn_mp_read_map(&r, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(cn_mp_read_str(&r, &s, &sl), 0);
    assert_memory_equal(s, "Web", 3);
    assert_int_equal(cn_mp_read_array(&r, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(cn_mp_skip(&r), 0);
    assert_int_equal(cn_mp_read_str(&r, &s, &sl), 0);
    assert_memory_equal(s, "web", 3);
    assert_int_equal(cn_mp_read_array(&r, &n), 0);
    assert_int_equal(n, 2);
    cn_buf_close(&b);
    cn_state_free(st);
}

/* ---- txn catalog ops ---- */

static void test_txn_catalog_ops(void **state)
{
    struct cn_state *st = t_new(0);
    struct cn_txn_op ops[4];
    struct cn_buf cmd;
    (void)state;
    memset(ops, 0, sizeof ops);
    ops[0].kind = CN_TXN_NODE;
    ops[0].verb = CN_CAT_SET;
    ops[0].node.name = "n1";
    ops[0].node.address = "10.0.0.1";
    ops[1].kind = CN_TXN_SERVICE;
    ops[1].verb = CN_CAT_SET;
    ops[1].node.name = "n1";
    ops[1].service.name = "web";
    ops[2].kind = CN_TXN_CHECK;
    ops[2].verb = CN_CAT_SET;
    ops[2].check.node = "n1";
    ops[2].check.name = "c1";
    ops[2].check.service_id = "web";
    ops[2].check.status = CN_HEALTH_PASSING;
    ops[3].kind = CN_TXN_KV;
    ops[3].kv = t_op(CN_KV_SET, "k", "v");
    cn_buf_init(&cmd, 1 << 16);
    assert_int_equal(cn_state_cmd_txn_ops(&cmd, ops, 4, 5000), 0);
    memset(&tx, 0, sizeof tx);
    cn_buf_init(&tx.reply, 1 << 20);
    assert_int_equal(cn_state_apply(st, 1, cmd.data, cmd.len, &tx.reply), 0);
    /* Results: Node, Service, Check, KV (decode only the shape here). */
    struct cn_mp_reader r;
    uint32_t n;
    const uint8_t *k;
    uint32_t kl;
    cn_mp_reader_init(&r, tx.reply.data, tx.reply.len);
    assert_int_equal(cn_mp_read_map(&r, &n), 0);
    assert_int_equal(cn_mp_read_str(&r, &k, &kl), 0);
    assert_int_equal(cn_mp_read_array(&r, &n), 0);
    assert_int_equal(n, 4);
    const char *want[] = {"Node", "Service", "Check", "KV"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(cn_mp_read_map(&r, &n), 0);
        assert_int_equal(cn_mp_read_str(&r, &k, &kl), 0);
        assert_int_equal(kl, strlen(want[i]));
        assert_memory_equal(k, want[i], kl);
        assert_int_equal(cn_mp_skip(&r), 0);
    }
    cn_buf_close(&tx.reply);
    assert_int_equal(cn_state_service_index(st, "web"), 1);
    /* Failures: stale cas, missing get, delete-cas of a missing node. */
    memset(ops, 0, sizeof ops);
    ops[0].kind = CN_TXN_NODE;
    ops[0].verb = CN_CAT_CAS;
    ops[0].index = 99;
    ops[0].node.name = "n1";
    ops[0].node.address = "x";
    ops[1].kind = CN_TXN_SERVICE;
    ops[1].verb = CN_CAT_GET;
    ops[1].node.name = "n1";
    ops[1].service.id = "nope";
    ops[2].kind = CN_TXN_CHECK;
    ops[2].verb = CN_CAT_DELETE_CAS;
    ops[2].check.node = "n1";
    ops[2].check.id = "c1";
    ops[2].index = 7;
    ops[3].kind = CN_TXN_NODE;
    ops[3].verb = CN_CAT_GET;
    ops[3].node.name = "ghost";
    cmd.len = 0;
    assert_int_equal(cn_state_cmd_txn_ops(&cmd, ops, 4, 5000), 0);
    memset(&tx, 0, sizeof tx);
    cn_buf_init(&tx.reply, 1 << 20);
    assert_int_equal(cn_state_apply(st, 2, cmd.data, cmd.len, &tx.reply), 0);
    t_txn_decode(&tx);
    assert_false(tx.ok);
    assert_int_equal(tx.n_errors, 4);
    assert_string_equal(tx.err_what[0], "failed to set node \"n1\", index is stale");
    assert_string_equal(tx.err_what[1], "service \"nope\" on node \"n1\" doesn't exist");
    assert_string_equal(tx.err_what[2], "failed to delete check \"c1\" on node \"n1\", index is stale");
    assert_string_equal(tx.err_what[3], "node \"ghost\" doesn't exist");
    cn_buf_close(&tx.reply);
    /* A read-only catalog txn. */
    assert_true(cn_state_txn_ops_read_only(&ops[1], 1));
    assert_false(cn_state_txn_ops_read_only(ops, 1));
    cn_buf_close(&cmd);
    cn__state_verify(st);
    cn_state_free(st);
}

static void test_encoders_refuse(void **state)
{
    struct cn_buf b;
    struct cn_register r;
    struct cn_session s;
    char big[CN_CATALOG_STR_BYTES_MAX + 2];
    uint8_t bad_blob[2] = {0x92, 0x01}; /* An array missing an element. */
    struct cn_service svc = {.name = "x", .proxy = bad_blob, .proxy_len = 2};
    (void)state;
    cn_buf_init(&b, 1 << 20);
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memset(&r, 0, sizeof r);
    r.node.name = big;
    assert_int_equal(cn_state_cmd_register(&b, &r, 0), CN_EMALFORMED);
    r.node.name = "n";
    r.service = &svc;
    assert_int_equal(cn_state_cmd_register(&b, &r, 0), CN_EMALFORMED);
    r.service = NULL;
    r.n_checks = CN_REGISTER_CHECKS_MAX + 1;
    assert_int_equal(cn_state_cmd_register(&b, &r, 0), CN_EMALFORMED);
    memset(&s, 0, sizeof s);
    s.id = "not-a-uuid";
    s.behavior = CN_SESSION_RELEASE;
    assert_int_equal(cn_state_cmd_session_create(&b, &s), CN_EMALFORMED);
    s.id = "adf4238a-882b-9ddc-4a9d-5b6758e4159e";
    s.behavior = (enum cn_session_behavior)7;
    assert_int_equal(cn_state_cmd_session_create(&b, &s), CN_EMALFORMED);
    assert_int_equal(b.len, 0);
    cn_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_and_read),
        cmocka_unit_test(test_health_service),
        cmocka_unit_test(test_aggregate),
        cmocka_unit_test(test_unchanged_register_is_noop),
        cmocka_unit_test(test_skip_node_update),
        cmocka_unit_test(test_register_errors),
        cmocka_unit_test(test_deregister),
        cmocka_unit_test(test_node_id_rename_and_clash),
        cmocka_unit_test(test_name_clash_healthy),
        cmocka_unit_test(test_service_and_node_watches),
        cmocka_unit_test(test_encoders),
        cmocka_unit_test(test_txn_catalog_ops),
        cmocka_unit_test(test_encoders_refuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
