/* agent/api/api_int.h - shared by the catalog, health, session, event and
 * agent-service handlers (src/agent/api). */
#ifndef CN_API_INT_H
#define CN_API_INT_H

#include "agent/agent_int.h"
#include "filter/filter.h"
#include "state/state.h"

/* A catalog register: a node, a service and up to CN_REGISTER_CHECKS_MAX
 * checks with definitions. */
#define CN_API_REGISTER_BYTES_MAX (512 << 10)
/* Event payloads are capped by serf's 512 B with the name; a little more
 * is read so the size error can be Consul's. */
#define CN_API_EVENT_BODY_BYTES_MAX (64 << 10)

/* ---- mpjson.c ---- */
/* One MessagePack value -> JSON (maps keep their order). */
int cn__mp_to_json(struct cn_mp_reader *r, struct cn_json_enc *e, int depth);
/* One MessagePack value -> a new jansson value (NULL on error). */
json_t *cn__mp_to_jansson(struct cn_mp_reader *r, int depth);
/* A jansson value -> MessagePack (opaque blobs: Definition, Proxy). */
int cn__json_to_mp(const json_t *v, struct cn_mp_writer *w, int depth);

/* ---- filter.c: ?filter= on list replies ---- */
/* Which Go struct an element mirrors (filter.h: selectors follow it). */
enum cn__elem {
    CN__ELEM_NODE = 1,
    CN__ELEM_SERVICE_NODE,
    CN__ELEM_NODE_SERVICE,
    CN__ELEM_CHECK_SERVICE_NODE,
    CN__ELEM_HEALTH_CHECK,
    CN__ELEM_AGENT_SERVICE,
};
/* Adds what the JSON omits but the Go struct has, and turns Definition
 * durations into ns, in place (filter.h "Differences"). */
void cn__filter_shape(json_t *elem, enum cn__elem kind);
/* Compiles ?filter=; on a bad one answers 500 with the filter's text and
 * returns CN_EBADREQ (request finished). *out NULL when absent. */
int cn__api_filter(struct cn_http_req *req, struct cn_filter **out);
/* Evaluates f on the MessagePack element at r (not advanced). 1 match,
 * 0 no match, < 0 error with the text in err. */
int cn__filter_mp(const struct cn_filter *f, const struct cn_mp_reader *r,
                  enum cn__elem kind, char *err);
/* Writes a MessagePack array reply as a JSON array, keeping the
 * elements f matches. Finishes req (200, or 500 on a filter error). */
void cn__api_send_list(struct cn_http_req *req, const struct cn_rpc_call *call,
                       const struct cn_filter *f, enum cn__elem kind);

/* ---- query helpers (catalog.c) ---- */
/* Every value of a repeated parameter (?tag=a&tag=b), at most max. */
size_t cn__api_params(struct cn_http_req *req, const char *name, const char **out,
                      size_t max);
/* ?node-meta=k:v pairs into kv (key, value, ...; split at the first ':'),
 * arena memory. Returns the pair count. */
size_t cn__api_node_meta(struct cn_http_req *req, const char **kv, size_t max_pairs);
/* Starts a catalog/health/session read with cn_rpc_cat_args. */
void cn__api_cat_read(struct cn_http_req *req, enum cn_rpc_method m, const char *name,
                      const char *const *tags, size_t n_tags, const char *const *meta,
                      size_t n_meta, bool passing, cn__api_done_fn *done);
/* A write RPC whose reply is `true` or an error string (HTTP 500). */
void cn__api_write_done(struct cn_http_req *req, struct cn_rpc_call *call);
/* The path suffix as a NUL-terminated arena string; NULL (and a 400 with
 * `what`) when empty. */
const char *cn__api_suffix(struct cn_http_req *req, const char *what);

/* ---- decoding bodies (catalog.c) ---- */
/* Consul's validateMetadata: 0, or CN_EBADREQ with the reason in err. */
int cn__api_meta_validate(const struct cn_pair *m, uint32_t n, bool allow_consul_prefix,
                          char *err, size_t err_size);
int cn__api_get_strs(struct cn_arena *a, const json_t *obj, const char *name,
                     const char *const **out, uint32_t *n, char *err);
int cn__api_get_pairs(struct cn_arena *a, const json_t *obj, const char *name,
                      const struct cn_pair **out, uint32_t *n, char *err);
/* A Service object (catalog register/txn: "Service" is the name; agent
 * definitions: "Name") into svc, strings borrowed from obj. */
int cn__api_decode_service(struct cn_arena *a, const json_t *obj, bool agent_form,
                           struct cn_service *svc, char *err);
int cn__api_decode_check(struct cn_arena *a, const json_t *obj, struct cn_check *c,
                         char *err);
int cn__api_decode_node(struct cn_arena *a, const json_t *obj, struct cn_node *n,
                        char *err);

/* Handlers. */
void cn__api_catalog_register(struct cn_http_req *req);
void cn__api_catalog_deregister(struct cn_http_req *req);
void cn__api_catalog_datacenters(struct cn_http_req *req);
/* api/keyring.c */
void cn__api_operator_keyring(struct cn_http_req *req);
/* An RPC whose reply is a string (status/leader) or an array of strings,
 * answered as JSON (status.c). */
void cn__api_status_call(struct cn_http_req *req, enum cn_rpc_method m);
void cn__api_catalog_nodes(struct cn_http_req *req);
void cn__api_catalog_services(struct cn_http_req *req);
void cn__api_catalog_service(struct cn_http_req *req);
void cn__api_catalog_node(struct cn_http_req *req);
void cn__api_catalog_node_services(struct cn_http_req *req);
void cn__api_health_node(struct cn_http_req *req);
void cn__api_health_checks(struct cn_http_req *req);
void cn__api_health_service(struct cn_http_req *req);
void cn__api_health_state(struct cn_http_req *req);
void cn__api_session_create(struct cn_http_req *req);
void cn__api_session_destroy(struct cn_http_req *req);
void cn__api_session_renew(struct cn_http_req *req);
void cn__api_session_info(struct cn_http_req *req);
void cn__api_session_node(struct cn_http_req *req);
void cn__api_session_list(struct cn_http_req *req);
void cn__api_event_fire(struct cn_http_req *req);
void cn__api_event_list(struct cn_http_req *req);
/* agent_svc.c: /v1/agent/ services, checks, maintenance, reload. */
void cn__api_agent_services(struct cn_http_req *req);
void cn__api_agent_service(struct cn_http_req *req);
void cn__api_agent_service_register(struct cn_http_req *req);
void cn__api_agent_service_deregister(struct cn_http_req *req);
void cn__api_agent_service_maintenance(struct cn_http_req *req);
void cn__api_agent_maintenance(struct cn_http_req *req);
void cn__api_agent_checks(struct cn_http_req *req);
void cn__api_agent_check_register(struct cn_http_req *req);
void cn__api_agent_check_deregister(struct cn_http_req *req);
void cn__api_agent_check_pass(struct cn_http_req *req);
void cn__api_agent_check_warn(struct cn_http_req *req);
void cn__api_agent_check_fail(struct cn_http_req *req);
void cn__api_agent_check_update(struct cn_http_req *req);
void cn__api_agent_health_id(struct cn_http_req *req);
void cn__api_agent_health_name(struct cn_http_req *req);
void cn__api_agent_reload(struct cn_http_req *req);

#endif
