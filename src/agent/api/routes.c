/* agent/api/routes.c - the HTTP API route table (shaped like Consul's
 * agent/http_register.go). The dispatcher (src/http) answers 404, 405
 * with Allow, OPTIONS and 413 from this table before any handler runs. */
#include "agent/agent_int.h"
#include "agent/local.h"
#include "api_int.h"

#define GET CN_HTTP_GET
#define HEAD CN_HTTP_HEAD
#define PUT CN_HTTP_PUT
#define POST CN_HTTP_POST
#define DEL CN_HTTP_DELETE

const struct cn_route cn__api_routes[] = {
    /* path                    methods             handler                 flags body max */
    {"/v1/kv/",               GET | HEAD | PUT | DEL, cn__api_kv,          0, CN_KV_VALUE_BYTES_MAX},
    {"/v1/txn",               PUT,                cn__api_txn,            0, CN_TXN_BODY_BYTES_MAX},
    {"/v1/status/leader",     GET,                cn__api_status_leader,  0, 0},
    {"/v1/status/peers",      GET,                cn__api_status_peers,   0, 0},
    {"/v1/agent/self",        GET,                cn__api_agent_self,     0, 0},
    {"/v1/agent/leave",       PUT,                cn__api_agent_leave,    0, 0},
    {"/v1/agent/members",     GET,                cn__api_agent_members,  0, 0},
    {"/v1/agent/join/",       PUT,                cn__api_agent_join,     0, 0},
    {"/v1/agent/force-leave/", PUT,               cn__api_agent_force_leave, 0, 0},
    {"/v1/operator/raft/configuration", GET,      cn__api_raft_configuration, 0, 0},
    {"/v1/operator/raft/peer", DEL,               cn__api_raft_peer,      0, 0},
    {"/v1/operator/keyring", GET | PUT | POST | DEL, cn__api_operator_keyring, 0, 1024},
    {"/v1/snapshot",          GET | PUT,          cn__api_snapshot,       0, CN_SNAPSHOT_IMAGE_BYTES_MAX},
    /* Catalog, health, sessions (consul-compat.md 5.3-5.5). */
    {"/v1/catalog/register",  PUT,                cn__api_catalog_register, 0, CN_API_REGISTER_BYTES_MAX},
    {"/v1/catalog/deregister", PUT,               cn__api_catalog_deregister, 0, 64 << 10},
    {"/v1/catalog/datacenters", GET,              cn__api_catalog_datacenters, 0, 0},
    {"/v1/catalog/nodes",     GET,                cn__api_catalog_nodes,  0, 0},
    {"/v1/catalog/services",  GET,                cn__api_catalog_services, 0, 0},
    {"/v1/catalog/service/",  GET,                cn__api_catalog_service, 0, 0},
    {"/v1/catalog/node/",     GET,                cn__api_catalog_node,   0, 0},
    {"/v1/catalog/node-services/", GET,           cn__api_catalog_node_services, 0, 0},
    {"/v1/health/node/",      GET,                cn__api_health_node,    0, 0},
    {"/v1/health/checks/",    GET,                cn__api_health_checks,  0, 0},
    {"/v1/health/service/",   GET,                cn__api_health_service, 0, 0},
    {"/v1/health/state/",     GET,                cn__api_health_state,   0, 0},
    {"/v1/session/create",    PUT,                cn__api_session_create, 0, 64 << 10},
    {"/v1/session/destroy/",  PUT,                cn__api_session_destroy, 0, 64 << 10},
    {"/v1/session/renew/",    PUT,                cn__api_session_renew,  0, 64 << 10},
    {"/v1/session/info/",     GET,                cn__api_session_info,   0, 0},
    {"/v1/session/node/",     GET,                cn__api_session_node,   0, 0},
    {"/v1/session/list",      GET,                cn__api_session_list,   0, 0},
    {"/v1/event/fire/",       PUT,                cn__api_event_fire,     0, CN_API_EVENT_BODY_BYTES_MAX},
    {"/v1/event/list",        GET,                cn__api_event_list,     0, 0},
    /* Agent-local services and checks (consul-compat.md 5.6). */
    {"/v1/agent/services",    GET,                cn__api_agent_services, 0, 0},
    {"/v1/agent/service/",    GET,                cn__api_agent_service,  0, 0},
    {"/v1/agent/service/register", PUT,           cn__api_agent_service_register, 0, CN_SVCDEF_BYTES_MAX},
    /* python-consul 0.7.1 deregisters with GET, as old Consul allowed. */
    {"/v1/agent/service/deregister/", GET | PUT,  cn__api_agent_service_deregister, 0, 0},
    {"/v1/agent/service/maintenance/", PUT,       cn__api_agent_service_maintenance, 0, 0},
    {"/v1/agent/maintenance", PUT,                cn__api_agent_maintenance, 0, 0},
    {"/v1/agent/checks",      GET,                cn__api_agent_checks,   0, 0},
    {"/v1/agent/check/register", PUT,             cn__api_agent_check_register, 0, CN_SVCDEF_BYTES_MAX},
    {"/v1/agent/check/deregister/", GET | PUT,    cn__api_agent_check_deregister, 0, 0},
    /* Old Consul took GET here too; current is PUT only. Both work. */
    {"/v1/agent/check/pass/", GET | PUT,          cn__api_agent_check_pass, 0, 0},
    {"/v1/agent/check/warn/", GET | PUT,          cn__api_agent_check_warn, 0, 0},
    {"/v1/agent/check/fail/", GET | PUT,          cn__api_agent_check_fail, 0, 0},
    {"/v1/agent/check/update/", PUT,              cn__api_agent_check_update, 0, 64 << 10},
    {"/v1/agent/health/service/id/", GET,         cn__api_agent_health_id, 0, 0},
    {"/v1/agent/health/service/name/", GET,       cn__api_agent_health_name, 0, 0},
    {"/v1/agent/reload",      PUT,                cn__api_agent_reload,   0, 0},
};

const size_t cn__api_n_routes = CN_ARRAY_LEN(cn__api_routes);

/* Every response carries the default ACL policy (consul-compat.md 2.2). */
static void agent_after(struct cn_http_req *req, int status)
{
    (void)status;
    cn_http_set_header(req, "X-Consul-Default-ACL-Policy", "allow");
}

const struct cn_http_mw cn__api_mw_agent = {NULL, agent_after};
