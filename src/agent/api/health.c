/* agent/api/health.c - /v1/health/... (consul-compat.md 5.5; Consul's
 * agent/health_endpoint.go). */
#include <errno.h>
#include <stdio.h>
#include <strings.h>

#include "api_int.h"

static void checks_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_filter *f = NULL;
    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    if (cn__api_filter(req, &f) < 0)
        return;
    cn__api_send_list(req, call, f, CN__ELEM_HEALTH_CHECK);
    cn_filter_free(f);
}

static void service_done(struct cn_http_req *req, struct cn_rpc_call *call)
{
    struct cn_filter *f = NULL;
    if (cn__api_call_failed(req, call))
        return;
    cn__api_meta_headers(req, &call->meta);
    if (cn__api_filter(req, &f) < 0)
        return;
    cn__api_send_list(req, call, f, CN__ELEM_CHECK_SERVICE_NODE);
    cn_filter_free(f);
}

static bool filter_ok(struct cn_http_req *req)
{
    struct cn_filter *f;
    if (cn__api_filter(req, &f) < 0)
        return false;
    cn_filter_free(f);
    return true;
}

static void by_name(struct cn_http_req *req, enum cn_rpc_method m, const char *missing)
{
    const char *name = cn__api_suffix(req, missing);
    if (name && filter_ok(req))
        cn__api_cat_read(req, m, name, NULL, 0, NULL, 0, false, checks_done);
}

void cn__api_health_node(struct cn_http_req *req)
{
    by_name(req, CN_RPC_HEALTH_NODE, "Missing node name");
}

void cn__api_health_checks(struct cn_http_req *req)
{
    by_name(req, CN_RPC_HEALTH_CHECKS, "Missing service name");
}

void cn__api_health_state(struct cn_http_req *req)
{
    by_name(req, CN_RPC_HEALTH_STATE, "Missing check state");
}

/* ?passing: bare or empty = true; else Go's strconv.ParseBool. */
static int parse_passing(struct cn_http_req *req, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    const struct cn_http_param *p = cn_http_param(req, "passing");
    *out = false;
    if (!p)
        return 0;
    if (!p->value_len) {
        *out = true;
        return 0;
    }
    for (size_t i = 0; i < CN_ARRAY_LEN(yes); i++) {
        if (strcmp(p->value, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(p->value, no[i]) == 0)
            return 0;
    }
    cn_http_error(req, 400, "Invalid value for ?passing");
    return CN_EBADREQ;
}

void cn__api_health_service(struct cn_http_req *req)
{
    const char *tags[CN_RPC_CAT_TAGS_MAX], *meta[2 * CN_RPC_CAT_META_MAX];
    const char *name = cn__api_suffix(req, "Missing service name");
    bool passing;
    size_t nt, nm;
    if (!name || parse_passing(req, &passing) < 0 || !filter_ok(req))
        return;
    nt = cn__api_params(req, "tag", tags, CN_RPC_CAT_TAGS_MAX);
    nm = cn__api_node_meta(req, meta, CN_RPC_CAT_META_MAX);
    cn__api_cat_read(req, CN_RPC_HEALTH_SERVICE, name, tags, nt, meta, nm, passing,
                     service_done);
}
