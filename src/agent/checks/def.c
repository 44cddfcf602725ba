/* agent/checks/def.c - check definitions: JSON decoding, packing, Consul's
 * validation rules.
 *
 * Decoding follows structs.CheckDefinition.UnmarshalJSON and the agent's
 * FixupCheckType: Go's case-insensitive field match, snake_case aliases
 * (cn_json_get ignores '_'), "Args"/"ScriptArgs", "ID"/"CheckID", and
 * durations as Go strings or ns numbers. Unknown fields are ignored, as
 * Consul's HTTP decoder does.
 *
 * A decoded definition borrows its strings from the JSON only while it is
 * packed: pack() copies the struct, its arrays and every string into one
 * allocation (measured first, then filled), so a definition is one
 * cn_free and its size is bounded by CN_CHECK_DEF_BYTES_MAX.
 */
#include <errno.h>
#include <stdio.h>

#include "checks_int.h"
#include "json/json.h"

/* ---- names ---- */

static const char *const status_names[] = {
    [CN_CHECK_STATUS_NONE] = "",
    [CN_CHECK_PASSING] = "passing",
    [CN_CHECK_WARNING] = "warning",
    [CN_CHECK_CRITICAL] = "critical",
};

const char *cn_check_status_name(enum cn_check_status s)
{
    CN_ASSERT((unsigned)s < CN_ARRAY_LEN(status_names));
    return status_names[s];
}

int cn_check_status_parse(const char *s, size_t n, enum cn_check_status *out)
{
    for (unsigned i = CN_CHECK_PASSING; i <= CN_CHECK_CRITICAL; i++) {
        if (strlen(status_names[i]) == n && memcmp(status_names[i], s, n) == 0) {
            *out = (enum cn_check_status)i;
            return 0;
        }
    }
    return CN_EMALFORMED;
}

static const char *const type_names[] = {
    [CN_CHECK_TYPE_NONE] = "",     [CN_CHECK_TTL] = "ttl",
    [CN_CHECK_HTTP] = "http",      [CN_CHECK_TCP] = "tcp",
    [CN_CHECK_SCRIPT] = "script",  [CN_CHECK_UDP] = "udp",
    [CN_CHECK_GRPC] = "grpc",      [CN_CHECK_H2PING] = "h2ping",
    [CN_CHECK_DOCKER] = "docker",  [CN_CHECK_ALIAS] = "alias",
    [CN_CHECK_OS_SERVICE] = "os_service",
};

const char *cn_check_type_name(enum cn_check_type t)
{
    CN_ASSERT((unsigned)t < CN_ARRAY_LEN(type_names));
    return type_names[t];
}

/* ---- packing ---- */

/* Measures (base == NULL) or fills one block. */
struct packer {
    char *base;
    size_t off;
};

static void *pk_alloc(struct packer *p, size_t size)
{
    size_t at = (p->off + 7) & ~(size_t)7;
    p->off = at + size;
    return p->base ? p->base + at : NULL;
}

static const char *pk_mem(struct packer *p, const char *s, size_t n)
{
    char *d;
    if (!s)
        return NULL;
    d = p->base ? p->base + p->off : NULL;
    p->off += n + 1;
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static const char *pk_str(struct packer *p, const char *s)
{
    return s ? pk_mem(p, s, strlen(s)) : NULL;
}

static const char *const *pk_strv(struct packer *p, const char *const *v, size_t n)
{
    const char **d;
    if (!v || !n)
        return NULL;
    d = pk_alloc(p, n * sizeof *d);
    for (size_t i = 0; i < n; i++) {
        const char *s = pk_str(p, v[i]);
        if (d)
            d[i] = s;
    }
    return d;
}

static void pack_headers(struct packer *p, const struct cn_check_def *in,
                         struct cn_check_def *o)
{
    struct cn_check_header *h;
    if (!in->headers || !in->n_headers) {
        o->headers = NULL;
        o->n_headers = 0;
        return;
    }
    h = pk_alloc(p, in->n_headers * sizeof *h);
    for (size_t i = 0; i < in->n_headers; i++) {
        const char *name = pk_str(p, in->headers[i].name);
        const char *const *vals = pk_strv(p, in->headers[i].values,
                                          in->headers[i].n_values);
        if (h) {
            h[i].name = name;
            h[i].values = vals;
            h[i].n_values = vals ? in->headers[i].n_values : 0;
        }
    }
    o->headers = h;
}

/* Copies in's strings into p; o (may be a scratch struct when measuring)
 * gets the new pointers. */
static void pack_fields(struct packer *p, const struct cn_check_def *in,
                        struct cn_check_def *o)
{
    *o = *in;
    o->id = pk_str(p, in->id);
    o->name = pk_str(p, in->name);
    o->notes = pk_str(p, in->notes);
    o->service_id = pk_str(p, in->service_id);
    o->token = pk_str(p, in->token);
    o->args = pk_strv(p, in->args, in->n_args);
    o->n_args = in->args ? in->n_args : 0;
    o->script = pk_str(p, in->script);
    o->http = pk_str(p, in->http);
    o->method = pk_str(p, in->method);
    pack_headers(p, in, o);
    o->body = pk_mem(p, in->body, in->body_len);
    o->body_len = in->body ? in->body_len : 0;
    o->tcp = pk_str(p, in->tcp);
    o->udp = pk_str(p, in->udp);
    o->grpc = pk_str(p, in->grpc);
    o->h2ping = pk_str(p, in->h2ping);
    o->docker_container_id = pk_str(p, in->docker_container_id);
    o->shell = pk_str(p, in->shell);
    o->alias_node = pk_str(p, in->alias_node);
    o->alias_service = pk_str(p, in->alias_service);
    o->os_service = pk_str(p, in->os_service);
    o->tls_server_name = pk_str(p, in->tls_server_name);
}

int cn_check_def_clone(const struct cn_check_def *def, struct cn_check_def **out)
{
    struct packer p = {NULL, 0};
    struct cn_check_def scratch, *o;

    if (def->n_args > CN_CHECK_ARGS_MAX || def->n_headers > CN_CHECK_HEADERS_MAX)
        return CN_ETOOBIG;
    for (size_t i = 0; i < def->n_headers; i++)
        if (def->headers[i].n_values > CN_CHECK_HEADERS_MAX)
            return CN_ETOOBIG;
    pk_alloc(&p, sizeof *o);
    pack_fields(&p, def, &scratch);
    if (p.off > CN_CHECK_DEF_BYTES_MAX)
        return CN_ETOOBIG;
    o = cn_alloc(p.off);
    if (!o)
        return -ENOMEM;
    p.base = (char *)o;
    p.off = 0;
    pk_alloc(&p, sizeof *o);
    pack_fields(&p, def, o);
    *out = o;
    return 0;
}

void cn_check_def_free(struct cn_check_def *def)
{
    cn_free(def); /* One block: see pack_fields. */
}

/* ---- decoding ---- */

enum fkind { F_STR, F_BOOL, F_DUR, F_INT };

struct field {
    const char *name;
    enum fkind kind;
    size_t off;
};

#define FLD(n, k, m) {n, k, offsetof(struct cn_check_def, m)}

/* Plain fields; ID, Status, Args, Header and Body are decoded by hand. */
static const struct field fields[] = {
    FLD("Name", F_STR, name),
    FLD("Notes", F_STR, notes),
    FLD("ServiceID", F_STR, service_id),
    FLD("Token", F_STR, token),
    FLD("Script", F_STR, script),
    FLD("HTTP", F_STR, http),
    FLD("Method", F_STR, method),
    FLD("DisableRedirects", F_BOOL, disable_redirects),
    FLD("TCP", F_STR, tcp),
    FLD("UDP", F_STR, udp),
    FLD("GRPC", F_STR, grpc),
    FLD("GRPCUseTLS", F_BOOL, grpc_use_tls),
    FLD("H2PING", F_STR, h2ping),
    FLD("H2PingUseTLS", F_BOOL, h2ping_use_tls),
    FLD("DockerContainerID", F_STR, docker_container_id),
    FLD("Shell", F_STR, shell),
    FLD("AliasNode", F_STR, alias_node),
    FLD("AliasService", F_STR, alias_service),
    FLD("OSService", F_STR, os_service),
    FLD("TLSServerName", F_STR, tls_server_name),
    FLD("TLSSkipVerify", F_BOOL, tls_skip_verify),
    FLD("Interval", F_DUR, interval_ns),
    FLD("Timeout", F_DUR, timeout_ns),
    FLD("TTL", F_DUR, ttl_ns),
    FLD("DeregisterCriticalServiceAfter", F_DUR, deregister_critical_service_after_ns),
    FLD("OutputMaxSize", F_INT, output_max_size),
    FLD("SuccessBeforePassing", F_INT, success_before_passing),
    FLD("FailuresBeforeWarning", F_INT, failures_before_warning),
    FLD("FailuresBeforeCritical", F_INT, failures_before_critical),
};

/* A string that will be used as a C string: no NUL inside. */
static int get_cstr(const json_t *obj, const char *name, const char **out, char *err)
{
    const char *s;
    size_t n;
    int rc = cn_json_get_str(obj, name, &s, &n, err);
    if (rc != 0)
        return rc;
    if (memchr(s, 0, n)) {
        cn_json_errf(err, "field \"%s\": NUL in string", name);
        return CN_EMALFORMED;
    }
    *out = s;
    return 0;
}

static int get_field(const json_t *obj, const struct field *f, struct cn_check_def *d,
                     char *err)
{
    void *p = (char *)d + f->off;
    switch (f->kind) {
    case F_STR:
        return get_cstr(obj, f->name, (const char **)p, err);
    case F_BOOL:
        return cn_json_get_bool(obj, f->name, (bool *)p, err);
    case F_DUR:
        return cn_json_get_duration(obj, f->name, (int64_t *)p, err);
    case F_INT:
        return cn_json_get_i64(obj, f->name, (int64_t *)p, err);
    }
    CN_UNREACHABLE();
}

/* Temporary arrays of a decode; strings stay borrowed from the JSON. */
struct scratch {
    const char **args;
    struct cn_check_header *headers;
    const char **values;     /* All header values, back to back. */
};

static void scratch_free(struct scratch *s)
{
    cn_free(s->args);
    cn_free(s->headers);
    cn_free(s->values);
}

static int get_strv(const json_t *arr, const char *name, const char **out,
                    size_t max, size_t *n_out, char *err)
{
    size_t n = json_array_size(arr);
    if (!json_is_array(arr)) {
        cn_json_errf(err, "field \"%s\": expected an array of strings", name);
        return CN_EMALFORMED;
    }
    if (n > max) {
        cn_json_errf(err, "field \"%s\": more than %zu entries", name, max);
        return CN_ETOOBIG;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_string(v) || memchr(json_string_value(v), 0, json_string_length(v))) {
            cn_json_errf(err, "field \"%s\": expected an array of strings", name);
            return CN_EMALFORMED;
        }
        out[i] = json_string_value(v);
    }
    *n_out = n;
    return 0;
}

static int get_args(const json_t *obj, struct cn_check_def *d, struct scratch *s,
                    char *err)
{
    const char *name = "ScriptArgs";
    json_t *v = cn_json_get(obj, name);
    if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0)) {
        name = "Args";
        v = cn_json_get(obj, name);
    }
    if (!v || json_is_null(v))
        return 0;
    s->args = cn_calloc(CN_MAX(json_array_size(v), 1), sizeof *s->args);
    if (!s->args)
        return -ENOMEM;
    d->args = s->args;
    return get_strv(v, name, s->args, CN_CHECK_ARGS_MAX, &d->n_args, err);
}

/* Header: {"Name": ["v1", "v2"], ...}, as Go's map[string][]string. */
static int get_headers(const json_t *obj, struct cn_check_def *d, struct scratch *s,
                       char *err)
{
    json_t *h = cn_json_get(obj, "Header"), *v;
    const char *k;
    size_t n, nv = 0, at = 0;
    int rc;
    if (!h || json_is_null(h))
        return 0;
    if (!json_is_object(h)) {
        cn_json_errf(err, "field \"Header\": expected an object of string arrays");
        return CN_EMALFORMED;
    }
    n = json_object_size(h);
    if (n > CN_CHECK_HEADERS_MAX) {
        cn_json_errf(err, "field \"Header\": more than %d names", CN_CHECK_HEADERS_MAX);
        return CN_ETOOBIG;
    }
    json_object_foreach(h, k, v) nv += json_array_size(v);
    s->headers = cn_calloc(CN_MAX(n, 1), sizeof *s->headers);
    s->values = cn_calloc(CN_MAX(nv, 1), sizeof *s->values);
    if (!s->headers || !s->values)
        return -ENOMEM;
    d->headers = s->headers;
    json_object_foreach(h, k, v)
    {
        struct cn_check_header *e = &s->headers[d->n_headers++];
        e->name = k;
        e->values = s->values + at;
        rc = get_strv(v, "Header", s->values + at, CN_CHECK_HEADERS_MAX, &e->n_values, err);
        if (rc < 0)
            return rc;
        at += e->n_values;
    }
    return 0;
}

static int get_special(const json_t *obj, struct cn_check_def *d, struct scratch *s,
                       char *err)
{
    const char *st = NULL;
    size_t n = 0;
    int rc = get_cstr(obj, "ID", &d->id, err);
    if (rc == 1)
        rc = get_cstr(obj, "CheckID", &d->id, err);
    if (rc < 0)
        return rc;
    rc = cn_json_get_str(obj, "Status", &st, &n, err);
    if (rc < 0)
        return rc;
    if (rc == 0 && n > 0 && cn_check_status_parse(st, n, &d->status) < 0) {
        snprintf(err, CN_ERRMSG_MAX, "Bad check status");
        return CN_EBADREQ;
    }
    rc = cn_json_get_str(obj, "Body", &d->body, &d->body_len, err);
    if (rc < 0)
        return rc;
    rc = get_args(obj, d, s, err);
    if (rc < 0)
        return rc;
    return get_headers(obj, d, s, err);
}

int cn_check_def_parse(const json_t *obj, struct cn_check_def **out, char *err)
{
    struct cn_check_def d;
    struct scratch s = {NULL, NULL, NULL};
    int rc = 0;

    if (!json_is_object(obj)) {
        cn_json_errf(err, "expected a JSON object");
        return CN_EMALFORMED;
    }
    memset(&d, 0, sizeof d);
    for (size_t i = 0; i < CN_ARRAY_LEN(fields) && rc >= 0; i++)
        rc = get_field(obj, &fields[i], &d, err);
    if (rc >= 0)
        rc = get_special(obj, &d, &s, err);
    /* UnmarshalJSON: H2PingUseTLS defaults to true for an H2PING check. */
    if (rc >= 0 && d.h2ping && *d.h2ping && !cn_json_get(obj, "H2PingUseTLS"))
        d.h2ping_use_tls = true;
    if (rc >= 0) {
        rc = cn_check_def_clone(&d, out);
        if (rc == CN_ETOOBIG)
            cn_json_errf(err, "check definition larger than %d bytes",
                         CN_CHECK_DEF_BYTES_MAX);
    }
    scratch_free(&s);
    return rc < 0 ? rc : 0;
}

/* ---- validation ---- */

static bool set(const char *s)
{
    return s && *s;
}

static bool is_script(const struct cn_check_def *d)
{
    return d->n_args > 0 || set(d->script);
}

static bool is_alias(const struct cn_check_def *d)
{
    return set(d->alias_node) || set(d->alias_service);
}

static int invalid(char *err, const char *why)
{
    snprintf(err, CN_ERRMSG_MAX, "Invalid check: %s", why);
    return CN_EBADREQ;
}

int cn_check_def_validate(const struct cn_check_def *d, char *err)
{
    bool interval_check = is_script(d) || set(d->http) || set(d->tcp) ||
                          set(d->udp) || set(d->grpc) || set(d->h2ping) ||
                          set(d->os_service);

    if (d->interval_ns > 0 && d->ttl_ns > 0)
        return invalid(err, "Interval and TTL cannot both be specified");
    if (interval_check && d->interval_ns <= 0)
        return invalid(err, "Interval must be > 0 for Script, HTTP, H2PING, TCP, "
                            "UDP or OSService checks");
    if (interval_check && is_alias(d))
        return invalid(err, "Interval cannot be set for Alias checks");
    if (is_alias(d) && d->ttl_ns > 0)
        return invalid(err, "TTL must be not be set for Alias checks");
    if (!interval_check && !is_alias(d) && d->ttl_ns <= 0)
        return invalid(err, "TTL must be > 0 for TTL checks");
    if (d->output_max_size < 0)
        return invalid(err, "MaxOutputMaxSize must be positive");
    if (d->failures_before_warning > d->failures_before_critical)
        return invalid(err, "FailuresBeforeWarning can't be higher than "
                            "FailuresBeforeCritical");
    return 0;
}

/* CheckType.Type(): the first kind that applies, in Consul's order. */
enum cn_check_type cn_check_def_type(const struct cn_check_def *d)
{
    bool iv = d->interval_ns > 0;
    if (set(d->grpc) && iv)
        return CN_CHECK_GRPC;
    if (set(d->http) && iv)
        return CN_CHECK_HTTP;
    if (d->ttl_ns > 0)
        return CN_CHECK_TTL;
    if (set(d->tcp) && iv)
        return CN_CHECK_TCP;
    if (set(d->udp) && iv)
        return CN_CHECK_UDP;
    if (is_alias(d))
        return CN_CHECK_ALIAS;
    if (is_script(d) && set(d->docker_container_id) && iv)
        return CN_CHECK_DOCKER;
    if (is_script(d))
        return CN_CHECK_SCRIPT;
    if (set(d->h2ping) && iv)
        return CN_CHECK_H2PING;
    if (set(d->os_service) && iv)
        return CN_CHECK_OS_SERVICE;
    return CN_CHECK_TYPE_NONE;
}

uint64_t cn_check_def_dereg_after_ms(const struct cn_check_def *d)
{
    uint64_t ms;
    if (d->deregister_critical_service_after_ns <= 0)
        return 0;
    ms = (uint64_t)d->deregister_critical_service_after_ns / 1000000u;
    return ms < CN_CHECK_DEREG_MIN_MS ? CN_CHECK_DEREG_MIN_MS : ms;
}
