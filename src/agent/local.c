/* agent/local.c - the agent's own services and checks (Consul's
 * agent/local/state.go and the registration half of agent/agent.go).
 *
 * Entries live in two maps by ID. A change bumps the entry's generation
 * and queues it on the dirty list that the sync engine (ae.c) drains; a
 * removal leaves a tombstone until the catalog has forgotten it. Checks
 * run in the check runner (agent/checks); their callbacks update status
 * and output here: a status change syncs at once, an output-only change
 * waits up to check_update_interval (Consul's deferred check sync).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api_int.h"
#include "local.h"

static struct cn__local *L(struct cn_agent *a) { return a->local; }

/* ---- dirty list, change notification ---- */

static void dirty_unlink(struct cn__dirty *d)
{
    if (!d->queued)
        return;
    d->prev->next = d->next;
    d->next->prev = d->prev;
    d->next = d->prev = NULL;
    d->queued = false;
}

static void dirty_push(struct cn__local *l, struct cn__dirty *d)
{
    if (d->queued)
        return;
    d->next = &l->dirty;
    d->prev = l->dirty.prev;
    l->dirty.prev->next = d;
    l->dirty.prev = d;
    d->queued = true;
}

static void changed(struct cn_agent *a)
{
    if (L(a)->notify)
        L(a)->notify(a);
    cn__ae_schedule(a);
}

void cn__local_changed_svc(struct cn_agent *a, struct cn__lsvc *s)
{
    s->gen = ++L(a)->change_seq;
    dirty_push(L(a), &s->dirty);
    changed(a);
}

void cn__local_changed_chk(struct cn_agent *a, struct cn__lchk *c)
{
    c->gen = ++L(a)->change_seq;
    c->output_pending = false;
    dirty_push(L(a), &c->dirty);
    changed(a);
}

void cn__local_node_changed(struct cn_agent *a)
{
    L(a)->node_in_sync = false;
    L(a)->node_gen = ++L(a)->change_seq;
    changed(a);
}

/* ---- entries ---- */

void cn__local_free_chk(struct cn__lchk *c)
{
    if (!c)
        return;
    dirty_unlink(&c->dirty);
    if (c->runner)
        cn_check_stop(c->runner);
    cn_free(c->id);
    cn_free(c->name);
    cn_free(c->notes);
    cn_free(c->service_id);
    cn_free(c->json);
    cn_free(c->output);
    cn_free(c->definition);
    cn_free(c);
}

void cn__local_free_svc(struct cn__lsvc *s)
{
    if (!s)
        return;
    dirty_unlink(&s->dirty);
    cn__svcdef_free(&s->def);
    cn_free(s->id);
    cn_free(s);
}

struct cn__lsvc *cn__local_service(struct cn_agent *a, const char *id)
{
    struct cn__lsvc *s = cn_map_get(&L(a)->services, id, strlen(id));
    return s && !s->deleted ? s : NULL;
}

struct cn__lchk *cn__local_check(struct cn_agent *a, const char *id)
{
    struct cn__lchk *c = cn_map_get(&L(a)->checks, id, strlen(id));
    return c && !c->deleted ? c : NULL;
}

static void link_check(struct cn__lsvc *s, struct cn__lchk *c)
{
    c->svc = s;
    c->svc_prev = NULL;
    c->svc_next = s->checks;
    if (s->checks)
        s->checks->svc_prev = c;
    s->checks = c;
}

static void unlink_check(struct cn__lchk *c)
{
    if (!c->svc)
        return;
    if (c->svc_prev)
        c->svc_prev->svc_next = c->svc_next;
    else
        c->svc->checks = c->svc_next;
    if (c->svc_next)
        c->svc_next->svc_prev = c->svc_prev;
    c->svc = NULL;
    c->svc_next = c->svc_prev = NULL;
}

/* Removes a check: a tombstone stays for the sync unless its service is
 * going too (deregistering a service deletes its checks). */
static void drop_check(struct cn_agent *a, struct cn__lchk *c, bool tombstone)
{
    if (c->runner) {
        cn_check_stop(c->runner);
        c->runner = NULL;
    }
    unlink_check(c);
    if (!tombstone) {
        cn_map_del(&L(a)->checks, c->id, strlen(c->id));
        cn__local_free_chk(c);
        return;
    }
    c->deleted = true;
    cn__local_changed_chk(a, c);
}

int cn__local_remove_check(struct cn_agent *a, const char *id, bool persist)
{
    struct cn__lchk *c = cn__local_check(a, id);
    if (!c)
        return CN_ENOTFOUND;
    if (persist)
        cn__persist_remove_check(a, id);
    drop_check(a, c, true);
    return 0;
}

int cn__local_remove_service(struct cn_agent *a, const char *id, bool persist)
{
    struct cn__lsvc *s = cn__local_service(a, id);
    if (!s)
        return CN_ENOTFOUND;
    while (s->checks) {
        if (persist)
            cn__persist_remove_check(a, s->checks->id);
        drop_check(a, s->checks, false);
    }
    if (persist)
        cn__persist_remove_service(a, id);
    s->deleted = true;
    cn__local_changed_svc(a, s);
    return 0;
}

static size_t entries(struct cn_agent *a)
{
    return L(a)->services.count + L(a)->checks.count;
}

int cn__local_add_service(struct cn_agent *a, const json_t *def, enum cn_check_source src,
                          bool replace_checks, bool persist, char *err, int *status)
{
    struct cn__svcdef d;
    struct cn__lsvc *s;
    json_t *checks[CN_SVCDEF_CHECKS_MAX];
    uint32_t n_checks;
    int rc = cn__svcdef_parse(def, &d, err);
    *status = 400;
    if (rc < 0) {
        if (rc == -ENOMEM)
            *status = 500;
        cn__svcdef_free(&d);
        return rc;
    }
    s = cn_map_get(&L(a)->services, d.svc.id, strlen(d.svc.id));
    if (!s && entries(a) >= CN_LOCAL_ENTRIES_MAX) {
        cn__svcdef_free(&d);
        snprintf(err, CN_ERRMSG_MAX, "Too many local services and checks (%d)", CN_LOCAL_ENTRIES_MAX);
        *status = 429;
        return CN_ELIMIT;
    }
    /* The checks are registered one by one below; the entry keeps only
     * the service part. */
    n_checks = d.n_checks;
    memcpy(checks, d.checks, n_checks * sizeof *checks);
    d.n_checks = 0;
    if (!s) {
        s = cn_calloc(1, sizeof *s);
        if (!s || !(s->id = cn_strndup(d.svc.id, strlen(d.svc.id))) ||
            cn_map_put(&L(a)->services, s->id, strlen(s->id), s, NULL) < 0) {
            if (s)
                cn_free(s->id);
            cn_free(s);
            cn__svcdef_free(&d);
            for (uint32_t i = 0; i < n_checks; i++)
                json_decref(checks[i]);
            *status = 500;
            return -ENOMEM;
        }
    } else {
        cn__svcdef_free(&s->def);
    }
    s->def = d;
    s->deleted = false;
    s->from_config = src == CN_CHECK_SOURCE_LOCAL;
    rc = 0;
    for (uint32_t i = 0; i < n_checks; i++)
        if (rc == 0)
            rc = cn__local_add_check(a, checks[i], src, persist, err, status);
    if (replace_checks) {
        for (struct cn__lchk *c = s->checks, *next; c; c = next) {
            bool keep = false;
            next = c->svc_next;
            for (uint32_t i = 0; i < n_checks && !keep; i++) {
                const json_t *id = cn_json_get(checks[i], "CheckID");
                const char *cid = json_string_value(id ? id : cn_json_get(checks[i], "ID"));
                keep = cid && strcmp(cid, c->id) == 0;
            }
            if (!keep && !(strncmp(c->id, CN_SERVICE_MAINT_PREFIX, strlen(CN_SERVICE_MAINT_PREFIX)) == 0)) {
                if (persist)
                    cn__persist_remove_check(a, c->id);
                drop_check(a, c, true);
            }
        }
    }
    for (uint32_t i = 0; i < n_checks; i++)
        json_decref(checks[i]);
    if (persist)
        cn__persist_service(a, s);
    cn__local_changed_svc(a, s);
    return rc;
}

/* ---- checks ---- */

static enum cn_health health_of(enum cn_check_status st)
{
    switch (st) {
    case CN_CHECK_PASSING: return CN_HEALTH_PASSING;
    case CN_CHECK_WARNING: return CN_HEALTH_WARNING;
    default: return CN_HEALTH_CRITICAL;
    }
}

static void on_check_update(void *ctx, struct cn_check *check, enum cn_check_status st,
                            const char *output, size_t output_len)
{
    struct cn__lchk *c = ctx;
    struct cn_agent *a = c->agent;
    (void)check;
    enum cn_health h = health_of(st);
    bool same_output = c->output && strlen(c->output) == output_len &&
                       memcmp(c->output, output, output_len) == 0;
    char *copy;
    if (h == c->status && same_output)
        return;
    /* The row stores a C string: output bytes after a NUL are dropped. */
    copy = cn_strndup(output, strnlen(output, output_len));
    if (!copy)
        return; /* Keep the old output; the status still syncs next time. */
    cn_free(c->output);
    c->output = copy;
    if (h != c->status) {
        c->status = h;
        cn__local_changed_chk(a, c);
        return;
    }
    /* Output only: at most every check_update_interval. */
    uint64_t now = uv_now(a->loop);
    if (!c->output_pending) {
        c->output_pending = true;
        L(a)->pending_outputs++;
        c->output_due_ms = c->last_sync_ms + CN_CHECK_UPDATE_INTERVAL_MS;
        if (c->output_due_ms <= now)
            cn__local_changed_chk(a, c);
    }
    if (L(a)->notify)
        L(a)->notify(a);
}

/* The catalog's HealthCheckDefinition: non-zero fields only, durations as
 * Go strings (consul-compat.md 5.5). */
static int definition_mp(const struct cn_check_def *d, struct cn_buf *b)
{
    struct cn_mp_writer w;
    char dur[32];
    uint32_t n = 0;
    const struct { const char *k; int64_t v; } durs[] = {
        {"Interval", d->interval_ns}, {"Timeout", d->timeout_ns}, {"TTL", d->ttl_ns},
        {"DeregisterCriticalServiceAfter", d->deregister_critical_service_after_ns}};
    const struct { const char *k; const char *v; } strs[] = {
        {"HTTP", d->http}, {"Method", d->method}, {"TLSServerName", d->tls_server_name},
        {"TCP", d->tcp}, {"UDP", d->udp}, {"GRPC", d->grpc}, {"H2PING", d->h2ping},
        {"DockerContainerID", d->docker_container_id}, {"Shell", d->shell},
        {"AliasNode", d->alias_node}, {"AliasService", d->alias_service}};
    for (size_t i = 0; i < CN_ARRAY_LEN(strs); i++)
        n += strs[i].v && *strs[i].v;
    for (size_t i = 0; i < CN_ARRAY_LEN(durs); i++)
        n += durs[i].v > 0;
    n += (d->n_headers > 0) + (d->body_len > 0) + d->tls_skip_verify + d->disable_redirects +
         (d->n_args > 0);
    cn_mp_writer_init(&w, b);
    cn_mp_put_map(&w, n);
    for (size_t i = 0; i < CN_ARRAY_LEN(strs); i++)
        if (strs[i].v && *strs[i].v) {
            cn_mp_put_cstr(&w, strs[i].k);
            cn_mp_put_cstr(&w, strs[i].v);
        }
    if (d->n_headers) {
        cn_mp_put_cstr(&w, "Header");
        cn_mp_put_map(&w, (uint32_t)d->n_headers);
        for (size_t i = 0; i < d->n_headers; i++) {
            cn_mp_put_cstr(&w, d->headers[i].name);
            cn_mp_put_array(&w, (uint32_t)d->headers[i].n_values);
            for (size_t j = 0; j < d->headers[i].n_values; j++)
                cn_mp_put_cstr(&w, d->headers[i].values[j]);
        }
    }
    if (d->body_len) {
        cn_mp_put_cstr(&w, "Body");
        cn_mp_put_str(&w, d->body, d->body_len);
    }
    if (d->tls_skip_verify) {
        cn_mp_put_cstr(&w, "TLSSkipVerify");
        cn_mp_put_bool(&w, true);
    }
    if (d->disable_redirects) {
        cn_mp_put_cstr(&w, "DisableRedirects");
        cn_mp_put_bool(&w, true);
    }
    if (d->n_args) {
        cn_mp_put_cstr(&w, "ScriptArgs");
        cn_mp_put_array(&w, (uint32_t)d->n_args);
        for (size_t i = 0; i < d->n_args; i++)
            cn_mp_put_cstr(&w, d->args[i]);
    }
    for (size_t i = 0; i < CN_ARRAY_LEN(durs); i++)
        if (durs[i].v > 0) {
            cn_duration_format(durs[i].v, dur, sizeof dur);
            cn_mp_put_cstr(&w, durs[i].k);
            cn_mp_put_cstr(&w, dur);
        }
    return w.err;
}

static char *canonical_json(const json_t *obj)
{
    char *t = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS), *out;
    if (!t)
        return NULL;
    out = cn_strndup(t, strlen(t));
    free(t);
    return out;
}

/* Fills the catalog-facing fields of c from def. */
static int describe(struct cn__lchk *c, const struct cn_check_def *def)
{
    struct cn_buf b;
    enum cn_check_type t = cn_check_def_type(def);
    int64_t timeout = def->timeout_ns;
    cn_buf_init(&b, CN_CATALOG_TEXT_BYTES_MAX);
    if (definition_mp(def, &b) < 0) {
        cn_buf_close(&b);
        return CN_ETOOBIG;
    }
    c->definition = cn_buf_steal(&b, &c->definition_len);
    if (!c->definition)
        return -ENOMEM;
    snprintf(c->type, sizeof c->type, "%s", cn_check_type_name(t));
    c->interval[0] = c->timeout[0] = '\0';
    if (def->interval_ns > 0)
        cn_duration_format(def->interval_ns, c->interval, sizeof c->interval);
    if (timeout > 0)
        cn_duration_format(timeout, c->timeout, sizeof c->timeout);
    c->dereg_after_ms = cn_check_def_dereg_after_ms(def);
    return 0;
}

static int check_error(int rc, const char *msg, char *err, int *status, int code)
{
    snprintf(err, CN_ERRMSG_MAX, "%s", msg);
    *status = code;
    return rc;
}

/* Starts the runner, or keeps the check static when this agent cannot run
 * its kind (gRPC, UDP, ...): registered, critical, saying why. */
static int start_runner(struct cn_agent *a, struct cn__lchk *c, const struct cn_check_def *def,
                        char *err, int *status)
{
    char why[CN_ERRMSG_MAX];
    int rc;
    c->status = def->status ? health_of(def->status) : CN_HEALTH_CRITICAL;
    if (c->is_static)
        return 0;
    rc = cn_check_start(L(a)->runner, def, on_check_update, c, &c->runner, why);
    if (rc == CN_EUNSUPPORTED) {
        c->is_static = true;
        c->output = cn_strndup(why, strlen(why));
        return 0;
    }
    if (rc < 0)
        return check_error(rc, why, err, status, rc == CN_EBADREQ ? 400 : 500);
    return 0;
}

/* A new entry for def (or the existing one, if nothing changed). */
static int check_entry(struct cn_agent *a, const json_t *obj, struct cn_check_def *def,
                       struct cn__lsvc *svc, enum cn_check_source src, bool persist,
                       char *err, int *status)
{
    const char *id = def->id && *def->id ? def->id : def->name;
    char *json = canonical_json(obj);
    struct cn__lchk *old = cn_map_get(&L(a)->checks, id, strlen(id)), *c;
    int rc = 0;
    if (!json)
        return check_error(-ENOMEM, "out of memory", err, status, 500);
    if (old && !old->deleted && old->svc == svc && old->json && strcmp(old->json, json) == 0) {
        old->from_config = src == CN_CHECK_SOURCE_LOCAL;
        old->persist = persist;
        cn_free(json);
        return 0; /* Same definition: keep it running, keep its status. */
    }
    c = cn_calloc(1, sizeof *c);
    if (!c) {
        cn_free(json);
        return check_error(-ENOMEM, "out of memory", err, status, 500);
    }
    c->agent = a;
    c->dirty.is_check = true;
    c->json = json;
    c->id = cn_strndup(id, strlen(id));
    c->name = cn_strndup(def->name ? def->name : "", def->name ? strlen(def->name) : 0);
    c->notes = cn_strndup(def->notes ? def->notes : "", def->notes ? strlen(def->notes) : 0);
    c->service_id = cn_strndup(svc ? svc->id : "", svc ? strlen(svc->id) : 0);
    c->from_config = src == CN_CHECK_SOURCE_LOCAL;
    c->persist = persist;
    c->is_static = cn_check_def_type(def) == CN_CHECK_TYPE_NONE;
    if (!c->id || !c->name || !c->notes || !c->service_id || (rc = describe(c, def)) < 0 ||
        (rc = start_runner(a, c, def, err, status)) < 0) {
        if (!c->id || !c->name || !c->notes || !c->service_id)
            check_error(-ENOMEM, "out of memory", err, status, 500);
        cn__local_free_chk(c);
        return rc < 0 ? rc : -ENOMEM;
    }
    if (old) {
        cn_map_del(&L(a)->checks, old->id, strlen(old->id));
        unlink_check(old);
        cn__local_free_chk(old);
    }
    if (cn_map_put(&L(a)->checks, c->id, strlen(c->id), c, NULL) < 0) {
        cn__local_free_chk(c);
        return check_error(-ENOMEM, "out of memory", err, status, 500);
    }
    if (svc)
        link_check(svc, c);
    cn__local_changed_chk(a, c);
    return 0;
}

int cn__local_add_check(struct cn_agent *a, const json_t *obj, enum cn_check_source src,
                        bool persist, char *err, int *status)
{
    struct cn_check_def *def = NULL;
    struct cn__lsvc *svc = NULL;
    int rc;
    *status = 400;
    rc = cn_check_def_parse(obj, &def, err);
    if (rc == 0 && (!def->name || !*def->name))
        rc = check_error(CN_EBADREQ, "Missing check name", err, status, 400);
    if (rc == 0 && (rc = cn_check_def_validate(def, err)) < 0)
        *status = 400;
    if (rc == 0 && def->service_id && *def->service_id &&
        !(svc = cn__local_service(a, def->service_id))) {
        snprintf(err, CN_ERRMSG_MAX, "ServiceID \"%.200s\" does not exist", def->service_id);
        *status = 404;
        rc = CN_ENOTFOUND;
    }
    if (rc == 0 && !cn_map_get(&L(a)->checks, def->id ? def->id : def->name,
                               strlen(def->id ? def->id : def->name)) &&
        entries(a) >= CN_LOCAL_ENTRIES_MAX)
        rc = check_error(CN_ELIMIT, "Too many local services and checks", err, status, 429);
    if (rc == 0) {
        def->source = src;
        rc = check_entry(a, obj, def, svc, src, persist, err, status);
    }
    if (rc == 0 && persist)
        cn__persist_check(a, cn__local_check(a, def->id && *def->id ? def->id : def->name));
    if (rc < 0 && rc == -ENOMEM)
        *status = 500;
    cn_check_def_free(def);
    return rc;
}

int cn__local_ttl_update(struct cn_agent *a, const char *id, enum cn_check_status st,
                         const char *output, size_t output_len)
{
    struct cn__lchk *c = cn__local_check(a, id);
    if (!c)
        return CN_ENOTFOUND;
    if (!c->runner || cn_check_type(c->runner) != CN_CHECK_TTL)
        return CN_ESTATE;
    /* The runner reports through on_check_update before this returns. */
    return cn_check_ttl_update(c->runner, st, output, output_len);
}

/* ---- maintenance (static critical checks, consul-compat.md 8) ---- */

static int add_static(struct cn_agent *a, const char *id, const char *name, const char *notes,
                      struct cn__lsvc *svc)
{
    struct cn__lchk *old = cn_map_get(&L(a)->checks, id, strlen(id)), *c;
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "CheckID", id, "Name", name, "Notes", notes,
                          "ServiceID", svc ? svc->id : "", "Status", "critical");
    if (!j)
        return -ENOMEM;
    c = cn_calloc(1, sizeof *c);
    if (!c) {
        json_decref(j);
        return -ENOMEM;
    }
    c->agent = a;
    c->dirty.is_check = true;
    c->json = canonical_json(j);
    json_decref(j);
    c->id = cn_strndup(id, strlen(id));
    c->name = cn_strndup(name, strlen(name));
    c->notes = cn_strndup(notes, strlen(notes));
    c->service_id = cn_strndup(svc ? svc->id : "", svc ? strlen(svc->id) : 0);
    c->is_static = c->persist = true;
    c->status = CN_HEALTH_CRITICAL;
    if (!c->json || !c->id || !c->name || !c->notes || !c->service_id) {
        cn__local_free_chk(c);
        return -ENOMEM;
    }
    if (old) {
        cn_map_del(&L(a)->checks, old->id, strlen(old->id));
        unlink_check(old);
        cn__local_free_chk(old);
    }
    if (cn_map_put(&L(a)->checks, c->id, strlen(c->id), c, NULL) < 0) {
        cn__local_free_chk(c);
        return -ENOMEM;
    }
    if (svc)
        link_check(svc, c);
    cn__persist_check(a, c);
    cn__local_changed_chk(a, c);
    return 0;
}

int cn__local_service_maint(struct cn_agent *a, const char *id, bool enable, const char *reason)
{
    struct cn__lsvc *s = cn__local_service(a, id);
    char cid[CN_CATALOG_STR_BYTES_MAX + 32];
    if (!s)
        return CN_ENOTFOUND;
    snprintf(cid, sizeof cid, "%s%s", CN_SERVICE_MAINT_PREFIX, id);
    if (!enable) {
        if (cn__local_check(a, cid))
            cn__local_remove_check(a, cid, true);
        return 0;
    }
    if (cn__local_check(a, cid))
        return 0; /* Already in maintenance: Consul keeps the first reason. */
    return add_static(a, cid, "Service Maintenance Mode",
                      reason && *reason ? reason
                                        : "Maintenance mode is enabled for this service, but no "
                                          "reason was provided. This is a default message.",
                      s);
}

int cn__local_node_maint(struct cn_agent *a, bool enable, const char *reason)
{
    if (!enable) {
        if (cn__local_check(a, CN_NODE_MAINT_CHECK_ID))
            cn__local_remove_check(a, CN_NODE_MAINT_CHECK_ID, true);
        return 0;
    }
    if (cn__local_check(a, CN_NODE_MAINT_CHECK_ID))
        return 0;
    return add_static(a, CN_NODE_MAINT_CHECK_ID, "Node Maintenance Mode",
                      reason && *reason ? reason
                                        : "Maintenance mode is enabled for this node, but no "
                                          "reason was provided. This is a default message.",
                      NULL);
}

/* ---- reads ---- */

static int by_id(const void *x, const void *y)
{
    const char *a = **(char *const *const *)x, *b = **(char *const *const *)y;
    return strcmp(a, b);
}

/* Both entry structs start with a dirty link and then (after agent for
 * checks) the id; sort through a pointer to the id instead. */
static int sorted(struct cn_map *m, void ***out, size_t *n, size_t id_off)
{
    uint32_t pos = 0;
    const void *k;
    size_t kl, i = 0;
    void *v;
    char ***keys = cn_calloc(m->count + 1, sizeof *keys);
    void **vals = cn_calloc(m->count + 1, sizeof *vals);
    if (!keys || !vals) {
        cn_free(keys);
        cn_free(vals);
        return -ENOMEM;
    }
    while (cn_map_next(m, &pos, &k, &kl, &v)) {
        bool deleted = id_off == offsetof(struct cn__lsvc, id) ? ((struct cn__lsvc *)v)->deleted
                                                              : ((struct cn__lchk *)v)->deleted;
        if (!deleted)
            keys[i++] = (char **)((char *)v + id_off);
    }
    qsort(keys, i, sizeof *keys, by_id);
    for (size_t j = 0; j < i; j++)
        vals[j] = (char *)keys[j] - id_off;
    cn_free(keys);
    *out = vals;
    *n = i;
    return 0;
}

int cn__local_services_sorted(struct cn_agent *a, struct cn__lsvc ***out, size_t *n)
{
    return sorted(&L(a)->services, (void ***)out, n, offsetof(struct cn__lsvc, id));
}

int cn__local_checks_sorted(struct cn_agent *a, struct cn__lchk ***out, size_t *n)
{
    return sorted(&L(a)->checks, (void ***)out, n, offsetof(struct cn__lchk, id));
}

void cn__local_check_row(struct cn_agent *a, const struct cn__lchk *c, struct cn_check *out)
{
    memset(out, 0, sizeof *out);
    out->node = a->cfg.node_name;
    out->id = c->id;
    out->name = c->name;
    out->status = c->status;
    out->notes = c->notes;
    out->output = c->output ? c->output : "";
    out->service_id = c->service_id;
    out->service_name = c->svc ? c->svc->def.svc.name : "";
    out->service_tags = c->svc ? c->svc->def.svc.tags : NULL;
    out->n_service_tags = c->svc ? c->svc->def.svc.n_tags : 0;
    out->type = c->type;
    out->interval = c->interval;
    out->timeout = c->timeout;
    out->definition = c->definition;
    out->definition_len = c->definition_len;
}

enum cn_health cn__local_service_health(struct cn_agent *a, const struct cn__lsvc *s)
{
    const struct cn_check *rows[CN_SVCDEF_CHECKS_MAX + 8];
    struct cn_check buf[CN_SVCDEF_CHECKS_MAX + 8];
    struct cn__lchk *node_maint = cn__local_check(a, CN_NODE_MAINT_CHECK_ID);
    size_t n = 0;
    if (node_maint) {
        cn__local_check_row(a, node_maint, &buf[n]);
        rows[n] = &buf[n];
        n++;
    }
    for (const struct cn__lchk *c = s->checks; c && n < CN_ARRAY_LEN(buf); c = c->svc_next) {
        cn__local_check_row(a, c, &buf[n]);
        rows[n] = &buf[n];
        n++;
    }
    return cn_state_checks_aggregate(rows, n);
}
