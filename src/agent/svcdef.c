/* agent/svcdef.c - service definitions (consul-compat.md 5.6; Consul's
 * structs.ServiceDefinition, agent_endpoint.go AgentRegisterService and
 * agent.go addServiceInternal).
 *
 * Input is untrusted (HTTP bodies, config files): every string is bounded
 * by the state's limits, counts by CN_CATALOG_LIST_MAX and
 * CN_SVCDEF_CHECKS_MAX; the decoded row owns copies in its own arena, so
 * the JSON can go. Checks stay JSON (with Consul's automatic ID, name and
 * ServiceID filled in) and are validated here with the runners' rules.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "api/api_int.h"
#include "local.h"

static char *dup_str(struct cn_arena *a, const char *s)
{
    return s ? cn_arena_strndup(a, s, strlen(s)) : cn_arena_strndup(a, "", 0);
}

static bool too_long(const char *s)
{
    return s && strnlen(s, CN_CATALOG_STR_BYTES_MAX + 1) > CN_CATALOG_STR_BYTES_MAX;
}

/* Moves every borrowed string of svc into the arena. */
static int own_strings(struct cn_arena *a, struct cn_service *svc)
{
    const char **tags = svc->n_tags ? cn_arena_alloc(a, svc->n_tags * sizeof *tags) : NULL;
    struct cn_pair *meta = svc->n_meta ? cn_arena_alloc(a, svc->n_meta * sizeof *meta) : NULL;
    struct cn_svc_addr *addrs =
        svc->n_tagged_addresses ? cn_arena_alloc(a, svc->n_tagged_addresses * sizeof *addrs) : NULL;
    if ((svc->n_tags && !tags) || (svc->n_meta && !meta) || (svc->n_tagged_addresses && !addrs))
        return -ENOMEM;
    svc->id = dup_str(a, svc->id);
    svc->name = dup_str(a, svc->name);
    svc->kind = dup_str(a, svc->kind);
    svc->address = dup_str(a, svc->address);
    for (uint32_t i = 0; i < svc->n_tags; i++)
        if (!(tags[i] = dup_str(a, svc->tags[i])))
            return -ENOMEM;
    for (uint32_t i = 0; i < svc->n_meta; i++)
        if (!(meta[i].key = dup_str(a, svc->meta[i].key)) ||
            !(meta[i].value = dup_str(a, svc->meta[i].value)))
            return -ENOMEM;
    for (uint32_t i = 0; i < svc->n_tagged_addresses; i++) {
        addrs[i] = svc->tagged_addresses[i];
        if (!(addrs[i].name = dup_str(a, addrs[i].name)) ||
            !(addrs[i].address = dup_str(a, addrs[i].address)))
            return -ENOMEM;
    }
    if (svc->proxy) {
        uint8_t *p = cn_arena_alloc(a, svc->proxy_len);
        if (!p)
            return -ENOMEM;
        svc->proxy = memcpy(p, svc->proxy, svc->proxy_len);
    }
    if (svc->connect) {
        uint8_t *p = cn_arena_alloc(a, svc->connect_len);
        if (!p)
            return -ENOMEM;
        svc->connect = memcpy(p, svc->connect, svc->connect_len);
    }
    svc->tags = tags;
    svc->meta = meta;
    svc->tagged_addresses = addrs;
    if (!svc->id || !svc->name || !svc->kind || !svc->address)
        return -ENOMEM;
    return 0;
}

static int validate(const struct cn_service *svc, char *err)
{
    char why[CN_ERRMSG_MAX];
    if (!svc->name || !*svc->name) {
        snprintf(err, CN_ERRMSG_MAX, "Missing service name");
        return CN_EBADREQ;
    }
    if (svc->address && (strcmp(svc->address, "0.0.0.0") == 0 || strcmp(svc->address, "::") == 0 ||
                         strcmp(svc->address, "[::]") == 0)) {
        snprintf(err, CN_ERRMSG_MAX, "Invalid service address");
        return CN_EBADREQ;
    }
    if (too_long(svc->id) || too_long(svc->name) || too_long(svc->address) || too_long(svc->kind)) {
        snprintf(err, CN_ERRMSG_MAX, "Request decode failed: a name, ID or address is longer "
                                     "than %d bytes", CN_CATALOG_STR_BYTES_MAX);
        return CN_EBADREQ;
    }
    for (uint32_t i = 0; i < svc->n_tags; i++)
        if (too_long(svc->tags[i])) {
            snprintf(err, CN_ERRMSG_MAX, "Request decode failed: a tag is longer than %d bytes",
                     CN_CATALOG_STR_BYTES_MAX);
            return CN_EBADREQ;
        }
    if (cn__api_meta_validate(svc->meta, svc->n_meta, false, why, sizeof why) < 0) {
        snprintf(err, CN_ERRMSG_MAX, "Invalid Service Meta: %.200s", why);
        return CN_EBADREQ;
    }
    return 0;
}

/* One entry of Check/Checks: copied, completed, validated. */
static int add_check(struct cn__svcdef *d, const json_t *in, size_t i, size_t total, char *err)
{
    json_t *c;
    struct cn_check_def *def = NULL;
    char buf[CN_CATALOG_STR_BYTES_MAX + 64];
    int rc;
    if (!json_is_object(in)) {
        snprintf(err, CN_ERRMSG_MAX, "Request decode failed: a check must be an object");
        return CN_EMALFORMED;
    }
    c = json_deep_copy(in);
    if (!c)
        return -ENOMEM;
    d->checks[d->n_checks++] = c;
    if (!cn_json_get(c, "CheckID") && !cn_json_get(c, "ID")) {
        /* Consul's automatic IDs: service:<id>, or :1, :2 ... for several. */
        if (total > 1)
            snprintf(buf, sizeof buf, "service:%s:%zu", d->svc.id, i + 1);
        else
            snprintf(buf, sizeof buf, "service:%s", d->svc.id);
        json_object_set_new(c, "CheckID", json_string(buf));
    }
    if (!json_string_value(cn_json_get(c, "Name")) || !*json_string_value(cn_json_get(c, "Name"))) {
        snprintf(buf, sizeof buf, "Service '%s' check", d->svc.name);
        json_object_set_new(c, "Name", json_string(buf));
    }
    json_object_set_new(c, "ServiceID", json_string(d->svc.id));
    rc = cn_check_def_parse(c, &def, err);
    if (rc == 0)
        rc = cn_check_def_validate(def, err);
    cn_check_def_free(def);
    return rc;
}

static int collect_checks(struct cn__svcdef *d, const json_t *obj, char *err)
{
    const json_t *one = cn_json_get(obj, "Check"), *many = cn_json_get(obj, "Checks");
    size_t total = 0, k = 0;
    int rc;
    if (one && json_is_object(one))
        total++;
    if (many && json_is_array(many))
        total += json_array_size(many);
    else if (many && !json_is_null(many)) {
        snprintf(err, CN_ERRMSG_MAX, "Request decode failed: Checks must be an array");
        return CN_EMALFORMED;
    }
    if (total > CN_SVCDEF_CHECKS_MAX) {
        snprintf(err, CN_ERRMSG_MAX, "Request decode failed: more than %d checks",
                 CN_SVCDEF_CHECKS_MAX);
        return CN_EBADREQ;
    }
    if (one && json_is_object(one) && (rc = add_check(d, one, k++, total, err)) < 0)
        return rc;
    for (size_t i = 0; many && json_is_array(many) && i < json_array_size(many); i++)
        if ((rc = add_check(d, json_array_get(many, i), k++, total, err)) < 0)
            return rc;
    return 0;
}

/* Canonical text of the service part: sorted keys, compact, no checks. */
static int canonical(struct cn__svcdef *d, const json_t *obj)
{
    json_t *copy = json_copy((json_t *)obj);
    const char *k;
    json_t *v;
    void *tmp;
    char *text;
    if (!copy)
        return -ENOMEM;
    json_object_foreach_safe(copy, tmp, k, v) {
        char low[16];
        size_t n = strlen(k), j;
        if (n >= sizeof low)
            continue;
        for (j = 0; j < n; j++)
            low[j] = (char)(k[j] >= 'A' && k[j] <= 'Z' ? k[j] + 32 : k[j]);
        low[n] = '\0';
        if (strcmp(low, "check") == 0 || strcmp(low, "checks") == 0)
            json_object_del(copy, k);
    }
    text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(copy);
    if (!text)
        return -ENOMEM;
    d->json = cn_strndup(text, strlen(text));
    free(text);
    return d->json ? 0 : -ENOMEM;
}

int cn__svcdef_parse(const json_t *obj, struct cn__svcdef *out, char *err)
{
    char jerr[CN_JSON_ERR_BYTES];
    const char *token = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    cn_arena_init(&out->arena, CN_SVCDEF_BYTES_MAX);
    if (!json_is_object(obj)) {
        snprintf(err, CN_ERRMSG_MAX, "Request decode failed: expected an object");
        return CN_EMALFORMED;
    }
    rc = cn__api_decode_service(&out->arena, obj, true, &out->svc, jerr);
    if (rc < 0) {
        snprintf(err, CN_ERRMSG_MAX, "%s", jerr);
        return rc == -ENOMEM ? rc : rc == CN_EBADREQ ? rc : CN_EMALFORMED;
    }
    if ((rc = validate(&out->svc, err)) < 0)
        return rc;
    if (!out->svc.id || !*out->svc.id)
        out->svc.id = out->svc.name;
    if (cn_json_get_str(obj, "Token", &token, NULL, jerr) < 0)
        token = NULL;
    if ((rc = own_strings(&out->arena, &out->svc)) < 0)
        return rc;
    out->token = dup_str(&out->arena, token);
    if (!out->token)
        return -ENOMEM;
    if ((rc = collect_checks(out, obj, err)) < 0)
        return rc;
    return canonical(out, obj);
}

void cn__svcdef_free(struct cn__svcdef *d)
{
    for (uint32_t i = 0; i < d->n_checks; i++)
        json_decref(d->checks[i]);
    d->n_checks = 0;
    cn_free(d->json);
    d->json = NULL;
    cn_arena_close(&d->arena);
}
