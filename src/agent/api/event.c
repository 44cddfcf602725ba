/* agent/api/event.c - PUT /v1/event/fire/:name, GET /v1/event/list
 * (consul-compat.md 5.7; Consul's agent/event_endpoint.go). */
#include <errno.h>
#include <regex.h>
#include <stdio.h>

#include "agent/local.h"
#include "api_int.h"
#include "wait.h"

static void event_json(struct cn_json_enc *e, const struct cn_user_event *ev)
{
    cn_json_obj_begin(e);
    cn_json_kv_str(e, "ID", ev->id);
    cn_json_kv_str(e, "Name", ev->name);
    cn_json_key(e, "Payload");
    cn_json_b64(e, ev->payload, ev->payload_len, true);
    cn_json_kv_str(e, "NodeFilter", ev->node_filter);
    cn_json_kv_str(e, "ServiceFilter", ev->service_filter);
    cn_json_kv_str(e, "TagFilter", ev->tag_filter);
    cn_json_kv_u64(e, "Version", (uint64_t)ev->version);
    cn_json_kv_u64(e, "LTime", ev->ltime);
    cn_json_obj_end(e);
}

static bool re_ok(const char *re)
{
    regex_t r;
    if (!*re)
        return true;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    regfree(&r);
    return true;
}

/* validateUserEventParams. */
static const char *validate(const struct cn_user_event *ev)
{
    if (!*ev->name)
        return "User event missing name";
    if (*ev->tag_filter && !*ev->service_filter)
        return "Cannot provide tag filter without service filter";
    if (!re_ok(ev->node_filter))
        return "Invalid node filter";
    if (!re_ok(ev->service_filter))
        return "Invalid service filter";
    if (!re_ok(ev->tag_filter))
        return "Invalid tag filter";
    return NULL;
}

void cn__api_event_fire(struct cn_http_req *req)
{
    struct cn_agent *a = req->app;
    const struct cn_http_param *n = cn_http_param(req, "node"), *s = cn_http_param(req, "service");
    const struct cn_http_param *t = cn_http_param(req, "tag");
    struct cn_user_event ev = {
        .name = cn_arena_strndup(&req->arena, req->suffix, req->suffix_len),
        .payload = req->body, .payload_len = req->body_len,
        .node_filter = n ? n->value : "", .service_filter = s ? s->value : "",
        .tag_filter = t ? t->value : "", .version = 1,
    };
    struct cn_json_enc e;
    const char *why;
    int rc;
    if (!ev.name) {
        cn_http_fail(req, -ENOMEM, NULL);
        return;
    }
    if (req->suffix_len == 0) {
        cn_http_error(req, 400, "Missing name");
        return;
    }
    if ((why = validate(&ev))) {
        cn_http_error(req, 500, "%s", why);
        return;
    }
    /* serf's UserEventSizeLimit (consul-compat.md 5.7). */
    if (strlen(ev.name) + ev.payload_len > CN_GOSSIP_USER_EVENT_BYTES_MAX) {
        cn_http_error(req, 500, "user event exceeds configured limit of %d bytes before encoding",
                      CN_GOSSIP_USER_EVENT_BYTES_MAX);
        return;
    }
    cn_uuid_v4(ev.id);
    rc = cn__agent_fire_event(a, &ev);
    if (rc == -EMSGSIZE) {
        cn_http_error(req, 500, "user event exceeds sane limit of %d bytes after encoding",
                      CN_GOSSIP_USER_EVENT_BYTES_MAX);
        return;
    }
    if (rc < 0) {
        cn_http_fail(req, rc, NULL);
        return;
    }
    cn__api_json_init(req, &e);
    event_json(&e, &ev); /* The reply shows LTime 0, as Consul's. */
    cn__api_json_send(req, &e, 200);
}

/* uuidToUint64: the two 64-bit halves of the UUID XORed. */
static uint64_t uuid_index(const char *id)
{
    uint64_t lo = 0, hi = 0;
    int k = 0;
    for (const char *p = id; *p; p++) {
        int v = *p >= '0' && *p <= '9' ? *p - '0' : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
              : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10 : -1;
        if (v < 0)
            continue;
        if (k < 16)
            lo = lo << 4 | (uint64_t)v;
        else
            hi = hi << 4 | (uint64_t)v;
        k++;
    }
    return lo ^ hi;
}

static size_t matching(struct cn_agent *a, const char *name, const struct cn_user_event **out)
{
    const struct cn_user_event *all[CN_EVENT_BUFFER];
    size_t n = cn__events(a, all, CN_EVENT_BUFFER), m = 0;
    for (size_t i = 0; i < n; i++)
        if (!*name || strcmp(all[i]->name, name) == 0)
            out[m++] = all[i];
    return m;
}

static uint64_t list_index(const struct cn_user_event **evs, size_t n)
{
    uint64_t idx = n ? uuid_index(evs[n - 1]->id) : 1;
    return idx ? idx : 1;
}

struct list_wait {
    const char *name;
    uint64_t index;
};

static void send_list(struct cn_http_req *req, const char *name)
{
    const struct cn_user_event *evs[CN_EVENT_BUFFER];
    size_t n = matching(req->app, name, evs);
    struct cn_query_meta m = {.index = list_index(evs, n), .known_leader = true};
    struct cn_json_enc e;
    cn__api_meta_headers(req, &m);
    cn__api_json_init(req, &e);
    cn_json_arr_begin(&e);
    for (size_t i = 0; i < n; i++)
        event_json(&e, evs[i]);
    cn_json_arr_end(&e);
    cn__api_json_send(req, &e, 200);
}

static bool list_wait(struct cn_http_req *req, void *arg, bool timed_out, bool probe)
{
    struct list_wait *w = arg;
    (void)timed_out;
    if (probe) {
        const struct cn_user_event *evs[CN_EVENT_BUFFER];
        size_t n = matching(req->app, w->name, evs);
        return list_index(evs, n) != w->index;
    }
    send_list(req, w->name);
    return true;
}

void cn__api_event_list(struct cn_http_req *req)
{
    const struct cn_http_param *np = cn_http_param(req, "name");
    const struct cn_user_event *evs[CN_EVENT_BUFFER];
    struct cn_query_opts q;
    struct list_wait *w;
    const char *name = np ? np->value : "";
    if (cn__api_query_opts(req, &q) < 0)
        return;
    /* Blocks only while the special index equals ?index. */
    size_t n = matching(req->app, name, evs);
    if (!q.min_index || list_index(evs, n) != q.min_index ||
        !(w = cn_arena_alloc(&req->arena, sizeof *w))) {
        send_list(req, name);
        return;
    }
    w->name = name;
    w->index = q.min_index;
    if (cn__wait_park(req, q.wait_ms, list_wait, w) < 0)
        send_list(req, name);
}
