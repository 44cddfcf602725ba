/* agent/local.h - the agent's own services and checks (Consul's
 * agent/local/state.go), their anti-entropy sync to the catalog
 * (agent/ae/), persistence in the data dir, and user events.
 * Shared by src/agent and src/agent/api only; loop thread only.
 *
 * Local registrations are the truth for this node: every change marks the
 * entry out of sync and schedules a sync at once; a full sync every minute
 * (ae_interval) compares the catalog's view of this node with ours and
 * fixes both directions (the catalog's extra entries are removed, except
 * the serfHealth check and the consul service). Output-only check changes
 * reach the catalog at most every check_update_interval (5 min).
 */
#ifndef CN_AGENT_LOCAL_H
#define CN_AGENT_LOCAL_H

#include <jansson.h>

#include "agent/checks/checks.h"
#include "agent_int.h"
#include "state/state.h"

/* Consul's fixed intervals (consul-compat.md 1.3). */
#define CN_AE_INTERVAL_MS (60 * 1000)
#define CN_CHECK_UPDATE_INTERVAL_MS (5 * 60 * 1000)
#define CN_CHECK_REAP_INTERVAL_MS (30 * 1000)
/* Register/deregister calls of one sync in flight at once. */
#define CN_AE_INFLIGHT_MAX 32
/* Local services and checks one agent holds (Consul has no limit; 10k
 * services with a check each is the bar). */
#define CN_LOCAL_ENTRIES_MAX 65536
/* A service definition or check definition file / body. */
#define CN_SVCDEF_BYTES_MAX (256 << 10)
#define CN_SVCDEF_CHECKS_MAX 64

#define CN_NODE_MAINT_CHECK_ID "_node_maintenance"
#define CN_SERVICE_MAINT_PREFIX "_service_maintenance:"
#define CN_SERF_CHECK_ID "serfHealth"
#define CN_CONSUL_SERVICE_ID "consul"

/* ---- service definitions (svcdef.c; fuzzed) ---- */

/* A decoded service definition: the catalog row (strings in `arena`),
 * its canonical JSON (sorted keys, compact, without Check/Checks) for
 * persistence and change detection, and its checks as JSON objects with
 * Consul's automatic IDs, names and ServiceID filled in. */
struct cn__svcdef {
    struct cn_service svc;
    char *token;
    char *json;               /* cn_alloc'd. */
    json_t *checks[CN_SVCDEF_CHECKS_MAX];
    uint32_t n_checks;
    struct cn_arena arena;
};

/* Decodes a service definition object (PUT /v1/agent/service/register,
 * a config file's "service"). 0, or CN_EBADREQ/CN_EMALFORMED with
 * Consul's text in err (CN_ERRMSG_MAX): "Missing service name", "Invalid
 * service address", "Invalid Service Meta: ...", "Invalid check: ...",
 * "Request decode failed: ..."; -ENOMEM. Free with cn__svcdef_free even
 * on error. */
int cn__svcdef_parse(const json_t *obj, struct cn__svcdef *out, char *err);
void cn__svcdef_free(struct cn__svcdef *d);

/* ---- local state ---- */

struct cn__lsvc;
struct cn__lchk;

/* Intrusive list of entries waiting for a sync. */
struct cn__dirty {
    struct cn__dirty *next, *prev;
    bool queued;
    bool is_check;                /* Which entry struct embeds it. */
};

struct cn__lsvc {
    struct cn__dirty dirty;
    struct cn__svcdef def;        /* def.svc.id is the key. */
    char *id;
    bool from_config;
    bool deleted;                 /* Tombstone: deregister from the catalog. */
    uint64_t gen, sent_gen;       /* Changes vs what the last sync sent. */
    uint64_t seen_full;           /* Full sync that last found it listed. */
    bool in_flight;
    struct cn__lchk *checks;      /* Its live checks (svc_next chain). */
};

struct cn__lchk {
    struct cn__dirty dirty;
    struct cn_agent *agent;
    char *id;
    char *name, *notes, *service_id;   /* service_id "" = node-level. */
    struct cn__lsvc *svc;         /* NULL for node-level checks. */
    struct cn__lchk *svc_next, *svc_prev;
    char *json;                   /* Canonical definition (persisted). */
    struct cn_check *runner;      /* NULL: static (maintenance, unsupported). */
    enum cn_health status;
    char *output;
    char type[16], interval[32], timeout[32];
    uint8_t *definition;          /* Catalog "Definition" (MessagePack). */
    size_t definition_len;
    uint64_t dereg_after_ms;
    bool from_config, persist, is_static;
    bool deleted;
    uint64_t gen, sent_gen;
    uint64_t seen_full;           /* Full sync that last found it listed. */
    bool in_flight;
    /* Output changed but the status did not: synced at output_due_ms. */
    bool output_pending;
    uint64_t output_due_ms;
    uint64_t last_sync_ms;
};

struct cn__local_stats {
    uint64_t syncs, full_syncs, rpcs, rpc_errors, services, checks;
};

struct cn__local {
    struct cn_agent *agent;
    struct cn_check_runner *runner;
    struct cn_map services;       /* id -> cn__lsvc */
    struct cn_map checks;         /* id -> cn__lchk */
    struct cn__dirty dirty;       /* List head. */
    bool node_in_sync, node_in_flight;
    uint64_t node_gen;
    uint64_t change_seq;          /* Bumped on every local change; entries
                                   * take it as their generation. */
    uv_timer_t sync_timer, full_timer, tick_timer;
    bool sync_armed;
    unsigned inflight;
    unsigned backoff_ms;
    uint64_t retry_at_ms;
    bool full_pending, full_running;
    uint64_t full_backoff_ms;      /* Retry delay after a failed full sync. */
    uint64_t full_seq;             /* Numbers the full syncs' diff passes. */
    uint64_t ticks;
    size_t pending_outputs;       /* Checks with a deferred output sync. */
    bool closing;
    int open_handles;
    struct cn__local_stats stats;
    /* Waiters on local changes (hash blocking, event list). */
    void (*notify)(struct cn_agent *a);
};

/* local.c */
int cn__local_start(struct cn_agent *a, char *errmsg);
void cn__local_close(struct cn_agent *a, void (*cb)(void *), void *arg);

/* Adds or replaces a service and its checks. status gets the HTTP status
 * to answer on error (400/500). 0 or < 0 with err (CN_ERRMSG_MAX). */
int cn__local_add_service(struct cn_agent *a, const json_t *def, enum cn_check_source src,
                          bool replace_checks, bool persist, char *err, int *status);
/* CN_ENOTFOUND if unknown. */
int cn__local_remove_service(struct cn_agent *a, const char *id, bool persist);
/* Adds or replaces a check (PUT /v1/agent/check/register body). */
int cn__local_add_check(struct cn_agent *a, const json_t *def, enum cn_check_source src,
                        bool persist, char *err, int *status);
int cn__local_remove_check(struct cn_agent *a, const char *id, bool persist);
/* TTL pass/warn/fail/update: CN_ENOTFOUND, CN_ESTATE (not a TTL check). */
int cn__local_ttl_update(struct cn_agent *a, const char *id, enum cn_check_status st,
                         const char *output, size_t output_len);
/* Maintenance: CN_ENOTFOUND for an unknown service. */
int cn__local_service_maint(struct cn_agent *a, const char *id, bool enable,
                            const char *reason);
int cn__local_node_maint(struct cn_agent *a, bool enable, const char *reason);

struct cn__lsvc *cn__local_service(struct cn_agent *a, const char *id);
struct cn__lchk *cn__local_check(struct cn_agent *a, const char *id);
/* Live entries sorted by ID (bytewise); *out is cn_alloc'd. */
int cn__local_services_sorted(struct cn_agent *a, struct cn__lsvc ***out, size_t *n);
int cn__local_checks_sorted(struct cn_agent *a, struct cn__lchk ***out, size_t *n);
/* Config reload: services and checks from config files are reconciled
 * with cfg->services / cfg->checks (unchanged ones keep running). */
int cn__local_load_config(struct cn_agent *a, bool reload, char *errmsg);

/* The check as the catalog stores it (views into c and its service). */
void cn__local_check_row(struct cn_agent *a, const struct cn__lchk *c, struct cn_check *out);
/* AgentService JSON (consul-compat 5.6); with_hash adds ContentHash. */
void cn__local_agent_service_json(struct cn_agent *a, struct cn_json_enc *e,
                                  const struct cn__lsvc *s, bool with_hash);
/* ContentHash: FNV-1a 64 over the AgentService JSON, 16 hex digits. */
void cn__local_service_hash(struct cn_agent *a, const struct cn__lsvc *s, char out[17]);
/* Aggregated status of a local service (maintenance > critical > ...). */
enum cn_health cn__local_service_health(struct cn_agent *a, const struct cn__lsvc *s);

/* Marks an entry changed: queued for the next sync, waiters notified. */
void cn__local_changed_svc(struct cn_agent *a, struct cn__lsvc *s);
void cn__local_changed_chk(struct cn_agent *a, struct cn__lchk *c);
void cn__local_node_changed(struct cn_agent *a);
void cn__local_free_svc(struct cn__lsvc *s);
void cn__local_free_chk(struct cn__lchk *c);

/* ae.c: the sync engine. */
void cn__ae_start(struct cn_agent *a);
void cn__ae_schedule(struct cn_agent *a);        /* Sync changes soon. */
void cn__ae_full_sync(struct cn_agent *a);       /* Now. */
void cn__ae_stop(struct cn_agent *a);            /* Cancels calls in flight. */

/* ae_diff.c (pure; unit-tested): is the catalog's copy the same as ours?
 * Rows as jansson (the state encoders' shape): CreateIndex/ModifyIndex
 * never count; for checks neither do Output (check_update_interval),
 * ServiceName, ServiceTags and Node. With tag override, a service's Tags
 * are the catalog's business. */
bool cn__ae_service_same(const json_t *local, const json_t *remote, bool tag_override);
bool cn__ae_check_same(const json_t *local, const json_t *remote);
bool cn__ae_node_same(const json_t *local, const json_t *remote);
/* Which catalog entries of this node the agent does not have and must
 * delete: never serfHealth nor the consul service. */
bool cn__ae_remote_service_stale(const char *id, bool local_has);
bool cn__ae_remote_check_stale(const char *id, bool local_has);
/* FNV-1a 64 as 16 lower-case hex digits. */
void cn__ae_hash_hex(const void *p, size_t n, char out[17]);

/* persist.c: <data-dir>/services and <data-dir>/checks (not in -dev). */
int cn__persist_service(struct cn_agent *a, const struct cn__lsvc *s);
int cn__persist_check(struct cn_agent *a, const struct cn__lchk *c);
void cn__persist_remove_service(struct cn_agent *a, const char *id);
void cn__persist_remove_check(struct cn_agent *a, const char *id);
/* Re-registers what a previous run persisted (after the config's). */
int cn__persist_load(struct cn_agent *a);

/* event.c: user events (in memory, the last 256), delivered by the LAN
 * gossip pool through cn_agent_event_deliver. */
#define CN_EVENT_BUFFER 256
struct cn_user_event {
    char id[CN_UUID_STR_BYTES];
    const char *name;
    const uint8_t *payload;
    size_t payload_len;
    const char *node_filter, *service_filter, *tag_filter;
    int version;
    uint64_t ltime;
};
/* Applies this agent's node/service/tag filters, then records the event
 * and wakes /v1/event/list waiters. The gossip layer calls this for every
 * received user event. 0, or -ENOMEM (event dropped). */
int cn_agent_event_deliver(struct cn_agent *a, const struct cn_user_event *ev);
/* Events oldest first; valid until the next delivery. */
/* The UserEvent as Consul gossips it (serf event "consul:event:<name>",
 * MessagePack payload). decode: strings point into *mem (free it with
 * cn_free; NULL on error); the LTime is not in the message. */
#define CN_EVENT_SERF_PREFIX "consul:event:"
int cn__event_encode(const struct cn_user_event *ev, struct cn_buf *out);
int cn__event_decode(const uint8_t *p, size_t len, struct cn_user_event *out, char **mem);
size_t cn__events(struct cn_agent *a, const struct cn_user_event **out, size_t max);
void cn__events_free(struct cn_agent *a);

#endif
