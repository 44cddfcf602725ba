/* agent/api/listfilter.c - ?filter= on list replies (filter/filter.h).
 *
 * Consul filters on the server, against its Go result structs. We filter
 * in the agent, on the elements of the server's reply: each element is
 * turned into a jansson value shaped like the Go struct (fields the JSON
 * omits are added, Definition durations become ns), evaluated, and, if it
 * matches, streamed from the MessagePack as usual. The blocking index is
 * that of the unfiltered query, as in Consul.
 */
#include <errno.h>
#include <stdio.h>

#include "api_int.h"

static void ensure(json_t *obj, const char *key, json_t *dflt_owned)
{
    if (json_is_object(obj) && !json_object_get(obj, key))
        json_object_set_new(obj, key, dflt_owned);
    else
        json_decref(dflt_owned);
}

/* Go time.Duration fields of CheckType/HealthCheckDefinition. */
static void definition_ns(json_t *def)
{
    static const char *const fields[] = {"Interval", "Timeout", "TTL",
                                         "DeregisterCriticalServiceAfter"};
    for (size_t i = 0; i < CN_ARRAY_LEN(fields); i++) {
        json_t *v = json_object_get(def, fields[i]);
        int64_t ns = 0;
        if (json_is_string(v) && cn_duration_parse(json_string_value(v),
                                                   json_string_length(v), &ns) < 0)
            ns = 0;
        if (json_is_string(v) || !v)
            json_object_set_new(def, fields[i], json_integer(ns));
    }
}

static void shape_check(json_t *c)
{
    json_t *def = json_object_get(c, "Definition");
    if (!json_is_object(def)) {
        def = json_object();
        json_object_set_new(c, "Definition", def);
    }
    definition_ns(def);
}

static void shape_node_service(json_t *s)
{
    ensure(s, "Kind", json_string(""));
    ensure(s, "TaggedAddresses", json_object());
}

void cn__filter_shape(json_t *elem, enum cn__elem kind)
{
    size_t i;
    json_t *x;
    switch (kind) {
    case CN__ELEM_NODE:
        return;
    case CN__ELEM_SERVICE_NODE:
        ensure(elem, "ServiceTaggedAddresses", json_object());
        return;
    case CN__ELEM_NODE_SERVICE:
    case CN__ELEM_AGENT_SERVICE:
        shape_node_service(elem);
        return;
    case CN__ELEM_HEALTH_CHECK:
        shape_check(elem);
        return;
    case CN__ELEM_CHECK_SERVICE_NODE:
        shape_node_service(json_object_get(elem, "Service"));
        json_array_foreach(json_object_get(elem, "Checks"), i, x)
            shape_check(x);
        return;
    }
}

int cn__api_filter(struct cn_http_req *req, struct cn_filter **out)
{
    const struct cn_http_param *p = cn_http_param(req, "filter");
    char err[CN_ERRMSG_MAX];
    *out = NULL;
    if (!p || !p->value_len)
        return 0;
    int rc = cn_filter_compile(p->value, p->value_len, out, err);
    if (rc < 0) {
        cn_http_error(req, 500, "%s", err);
        return CN_EBADREQ;
    }
    return 0;
}

int cn__filter_mp(const struct cn_filter *f, const struct cn_mp_reader *r,
                  enum cn__elem kind, char *err)
{
    struct cn_mp_reader copy = *r;
    json_t *elem;
    bool match = false;
    int rc;
    if (!f)
        return 1;
    elem = cn__mp_to_jansson(&copy, 0);
    if (!elem) {
        snprintf(err, CN_ERRMSG_MAX, "bad reply from server");
        return CN_EMALFORMED;
    }
    cn__filter_shape(elem, kind);
    rc = cn_filter_match(f, elem, &match, err);
    json_decref(elem);
    if (rc < 0)
        return rc;
    return match ? 1 : 0;
}

void cn__api_send_list(struct cn_http_req *req, const struct cn_rpc_call *call,
                       const struct cn_filter *f, enum cn__elem kind)
{
    struct cn_mp_reader r;
    struct cn_json_enc e;
    char err[CN_ERRMSG_MAX];
    uint32_t n;
    if (cn__api_cache_fresh(req, call))
        return;
    cn_mp_reader_init(&r, call->reply.data, call->reply.len);
    if (cn_mp_read_array(&r, &n) < 0) {
        cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
        return;
    }
    cn__api_json_init(req, &e);
    cn_json_arr_begin(&e);
    for (uint32_t i = 0; i < n; i++) {
        int m = cn__filter_mp(f, &r, kind, err);
        if (m < 0) {
            cn_http_error(req, 500, "%s", err);
            return;
        }
        if (m == 0 ? cn_mp_skip(&r) < 0 : cn__mp_to_json(&r, &e, 0) < 0) {
            cn_http_fail(req, CN_EMALFORMED, "bad reply from server");
            return;
        }
    }
    cn_json_arr_end(&e);
    cn__api_json_send_list(req, &e, call);
}
