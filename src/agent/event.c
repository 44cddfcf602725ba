/* agent/event.c - user events seen by this agent (Consul's
 * agent/user_event.go): the last CN_EVENT_BUFFER in a ring, oldest
 * first. Delivery applies the event's node, service and tag filters
 * (regular expressions, POSIX extended here, RE2 in Consul) to this
 * agent's node name and local services. Local fires deliver directly
 * until the gossip integration spreads them; it will call
 * cn_agent_event_deliver for every event it receives. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>

#include "api/wait.h"
#include "local.h"

struct stored {
    struct cn_user_event ev;
    char *mem;                     /* name, filters, payload in one block. */
};

struct cn__events {
    struct stored ring[CN_EVENT_BUFFER];
    size_t next, count;
    uint64_t ltime;
};

static bool ev_re_match(const char *re, const char *s)
{
    regex_t r;
    bool m;
    if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
        return false; /* Consul logs and drops an event it cannot parse. */
    m = regexec(&r, s, 0, NULL, 0) == 0;
    regfree(&r);
    return m;
}

static bool wanted(struct cn_agent *a, const struct cn_user_event *ev)
{
    struct cn__lsvc **svcs;
    size_t n;
    bool found = false;
    if (ev->node_filter && *ev->node_filter && !ev_re_match(ev->node_filter, a->cfg.node_name))
        return false;
    if (!ev->service_filter || !*ev->service_filter)
        return true;
    if (!a->local || cn__local_services_sorted(a, &svcs, &n) < 0)
        return false;
    for (size_t i = 0; i < n && !found; i++) {
        const struct cn_service *v = &svcs[i]->def.svc;
        if (!ev_re_match(ev->service_filter, v->name))
            continue;
        if (!ev->tag_filter || !*ev->tag_filter)
            found = true;
        for (uint32_t t = 0; t < v->n_tags && !found; t++)
            found = ev_re_match(ev->tag_filter, v->tags[t]);
    }
    cn_free(svcs);
    return found;
}

static char *put(char **p, const char *s, size_t n)
{
    char *at = *p;
    memcpy(at, s, n);
    at[n] = '\0';
    *p += n + 1;
    return at;
}

int cn_agent_event_deliver(struct cn_agent *a, const struct cn_user_event *ev)
{
    struct cn__events *e = a->events;
    struct stored *slot;
    const char *nf = ev->node_filter ? ev->node_filter : "";
    const char *sf = ev->service_filter ? ev->service_filter : "";
    const char *tf = ev->tag_filter ? ev->tag_filter : "";
    size_t need = strlen(ev->name) + strlen(nf) + strlen(sf) + strlen(tf) + ev->payload_len + 5;
    char *mem, *p;
    if (!e && !(e = a->events = cn_calloc(1, sizeof *e)))
        return -ENOMEM;
    if (!wanted(a, ev))
        return 0;
    if (!(mem = cn_alloc(need)))
        return -ENOMEM;
    slot = &e->ring[e->next];
    cn_free(slot->mem);
    slot->mem = p = mem;
    slot->ev = *ev;
    slot->ev.name = put(&p, ev->name, strlen(ev->name));
    slot->ev.node_filter = put(&p, nf, strlen(nf));
    slot->ev.service_filter = put(&p, sf, strlen(sf));
    slot->ev.tag_filter = put(&p, tf, strlen(tf));
    slot->ev.payload = (const uint8_t *)put(&p, (const char *)ev->payload, ev->payload_len);
    if (ev->ltime > e->ltime)
        e->ltime = ev->ltime;
    e->next = (e->next + 1) % CN_EVENT_BUFFER;
    if (e->count < CN_EVENT_BUFFER)
        e->count++;
    CN_DEBUG_LOG("agent: new event: %s (%s)", slot->ev.name, slot->ev.id);
    cn__wait_notify(a);
    return 0;
}

size_t cn__events(struct cn_agent *a, const struct cn_user_event **out, size_t max)
{
    struct cn__events *e = a->events;
    size_t n = 0;
    if (!e)
        return 0;
    size_t first = (e->next + CN_EVENT_BUFFER - e->count) % CN_EVENT_BUFFER;
    for (size_t i = 0; i < e->count && n < max; i++)
        out[n++] = &e->ring[(first + i) % CN_EVENT_BUFFER].ev;
    return n;
}

uint64_t cn__events_next_ltime(struct cn_agent *a)
{
    if (!a->events && !(a->events = cn_calloc(1, sizeof *a->events)))
        return 1;
    return ++a->events->ltime;
}

void cn__events_free(struct cn_agent *a)
{
    struct cn__events *e = a->events;
    if (!e)
        return;
    for (size_t i = 0; i < CN_EVENT_BUFFER; i++)
        cn_free(e->ring[i].mem);
    cn_free(e);
    a->events = NULL;
}
