/* agent/local_cfg.c - local state life cycle, and services/checks from
 * config files: loaded at start, reconciled on reload (SIGHUP, PUT
 * /v1/agent/reload, `cairn reload`). Entries registered through the API
 * are left alone by a reload; config entries that disappeared are
 * removed, changed ones re-registered, unchanged checks keep running
 * (and keep their status). */
#include <errno.h>
#include <stdio.h>

#include "local.h"

static int each_def(struct cn_agent *a, const struct cn_strlist *defs, bool services,
                    char *errmsg)
{
    for (size_t i = 0; i < defs->n; i++) {
        char err[CN_ERRMSG_MAX];
        json_error_t je;
        int status, rc;
        json_t *obj = json_loads(defs->v[i], 0, &je);
        if (!obj)
            return cn_errf_rc(errmsg, CN_EBADREQ, "config %s: %s", services ? "service" : "check",
                              je.text);
        rc = services ? cn__local_add_service(a, obj, CN_CHECK_SOURCE_LOCAL, true, false, err, &status)
                      : cn__local_add_check(a, obj, CN_CHECK_SOURCE_LOCAL, false, err, &status);
        json_decref(obj);
        if (rc < 0)
            return cn_errf_rc(errmsg, rc, "config %s: %s", services ? "service" : "check", err);
    }
    return 0;
}

/* IDs the new config defines (services: ID or Name; checks: ID/CheckID or
 * Name), to find config entries that disappeared. */
static bool defines(const struct cn_strlist *defs, const char *id, bool services)
{
    for (size_t i = 0; i < defs->n; i++) {
        json_t *o = json_loads(defs->v[i], 0, NULL);
        const char *x = json_string_value(cn_json_get(o, services ? "ID" : "CheckID"));
        bool hit;
        if (!x && !services)
            x = json_string_value(cn_json_get(o, "ID"));
        if (!x || !*x)
            x = json_string_value(cn_json_get(o, "Name"));
        hit = x && strcmp(x, id) == 0;
        json_decref(o);
        if (hit)
            return true;
    }
    return false;
}

static void drop_vanished(struct cn_agent *a, const struct cn_agent_config *cfg)
{
    struct cn__lsvc **svcs;
    struct cn__lchk **chks;
    size_t n;
    if (cn__local_services_sorted(a, &svcs, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (svcs[i]->from_config && !defines(&cfg->services, svcs[i]->id, true))
                cn__local_remove_service(a, svcs[i]->id, false);
        cn_free(svcs);
    }
    if (cn__local_checks_sorted(a, &chks, &n) == 0) {
        for (size_t i = 0; i < n; i++)
            if (chks[i]->from_config && !chks[i]->svc && !defines(&cfg->checks, chks[i]->id, false))
                cn__local_remove_check(a, chks[i]->id, false);
        cn_free(chks);
    }
}

int cn__local_load_config(struct cn_agent *a, bool reload, char *errmsg)
{
    struct cn_agent_config fresh;
    const struct cn_agent_config *cfg = &a->cfg;
    int rc;
    if (reload) {
        rc = cn_agent_config_reload_defs(&a->cfg, &fresh, errmsg);
        if (rc < 0) {
            cn_agent_config_free(&fresh);
            return rc;
        }
        cfg = &fresh;
        drop_vanished(a, cfg);
    }
    rc = each_def(a, &cfg->services, true, errmsg);
    if (rc == 0)
        rc = each_def(a, &cfg->checks, false, errmsg);
    if (reload) {
        /* Keep the new definitions for the next reload's comparison. */
        struct cn_strlist tmp = a->cfg.services;
        a->cfg.services = fresh.services;
        fresh.services = tmp;
        tmp = a->cfg.checks;
        a->cfg.checks = fresh.checks;
        fresh.checks = tmp;
        cn_agent_config_free(&fresh);
        CN_INFO("agent: reloaded %zu service and %zu check definitions from config",
                a->cfg.services.n, a->cfg.checks.n);
    }
    return rc;
}

int cn__local_start(struct cn_agent *a, char *errmsg)
{
    struct cn_check_runner_config rc_cfg = {
        .loop = a->loop, .enable_script_checks = a->cfg.enable_script_checks,
        .enable_local_script_checks = a->cfg.enable_local_script_checks,
    };
    struct cn__local *l = cn_calloc(1, sizeof *l);
    int rc;
    if (!l)
        return cn_errf_rc(errmsg, -ENOMEM, "local state");
    l->agent = a;
    cn_map_init(&l->services);
    cn_map_init(&l->checks);
    l->dirty.next = l->dirty.prev = &l->dirty;
    a->local = l;
    rc = cn_check_runner_new(&l->runner, &rc_cfg, errmsg);
    if (rc < 0)
        return rc;
    cn__ae_start(a);
    if ((rc = cn__local_load_config(a, false, errmsg)) < 0)
        return rc;
    return cn__persist_load(a);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct cn_agent *a = h->data;
    struct cn__local *l = a->local;
    if (--l->open_handles > 0 || l->runner)
        return;
    a->local = NULL;
    cn_free(l);
}

static void on_runner_closed(void *arg)
{
    struct cn_agent *a = arg;
    struct cn__local *l = a->local;
    l->runner = NULL;
    if (l->open_handles == 0) {
        a->local = NULL;
        cn_free(l);
    }
}

void cn__local_close(struct cn_agent *a, void (*cb)(void *), void *arg)
{
    struct cn__local *l = a->local;
    uint32_t pos = 0;
    const void *k;
    size_t kl;
    void *v;
    (void)cb;
    (void)arg;
    if (!l || l->closing)
        return;
    l->closing = true;
    cn__ae_stop(a);
    while (cn_map_next(&l->checks, &pos, &k, &kl, &v)) {
        struct cn__lchk *c = v;
        if (c->runner) {
            cn_check_stop(c->runner);
            c->runner = NULL;
        }
        cn__local_free_chk(c);
    }
    pos = 0;
    while (cn_map_next(&l->services, &pos, &k, &kl, &v))
        cn__local_free_svc(v);
    cn_map_close(&l->checks);
    cn_map_close(&l->services);
    if (l->open_handles) {
        uv_close((uv_handle_t *)&l->sync_timer, on_handle_closed);
        uv_close((uv_handle_t *)&l->full_timer, on_handle_closed);
        uv_close((uv_handle_t *)&l->tick_timer, on_handle_closed);
    }
    if (l->runner)
        cn_check_runner_close(l->runner, on_runner_closed, a);
    else if (!l->open_handles) {
        a->local = NULL;
        cn_free(l);
    }
}
