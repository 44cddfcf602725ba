/* agent/api/routes.c - the HTTP API route table (shaped like Consul's
 * agent/http_register.go). The dispatcher (src/http) answers 404, 405
 * with Allow, OPTIONS and 413 from this table before any handler runs. */
#include "agent/agent_int.h"

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
    {"/v1/snapshot",          GET | PUT,          cn__api_snapshot,       0, CN_SNAPSHOT_IMAGE_BYTES_MAX},
};

const size_t cn__api_n_routes = CN_ARRAY_LEN(cn__api_routes);

/* Every response carries the default ACL policy (consul-compat.md 2.2). */
static void agent_after(struct cn_http_req *req, int status)
{
    (void)status;
    cn_http_set_header(req, "X-Consul-Default-ACL-Policy", "allow");
}

const struct cn_http_mw cn__api_mw_agent = {NULL, agent_after};
