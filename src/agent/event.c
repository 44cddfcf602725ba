/* agent/event.c - user events seen by this agent (Consul's
 * agent/user_event.go): the last CN_EVENT_BUFFER in a ring, oldest
 * first. Delivery applies the event's node, service and tag filters
 * (regular expressions, POSIX extended here, RE2 in Consul) to this
 * agent's node name and local services. Events travel over the LAN
 * gossip pool (pool.c), the firing agent's own included; the pool calls
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

/* Some local service matches the service (and tag) filter. The regexes
 * are compiled once here, not once per service and tag. */
static bool service_wanted(struct cn_agent *a, const char *sf, const char *tf)
{
    struct cn__lsvc **svcs;
    size_t n;
    regex_t sre, tre;
    bool found = false, tags = tf && *tf;
    if (!a->local || regcomp(&sre, sf, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    if (tags && regcomp(&tre, tf, REG_EXTENDED | REG_NOSUB) != 0) {
        regfree(&sre);
        return false;
    }
    if (cn__local_services_sorted(a, &svcs, &n) == 0) {
        for (size_t i = 0; i < n && !found; i++) {
            const struct cn_service *v = &svcs[i]->def.svc;
            if (regexec(&sre, v->name, 0, NULL, 0) != 0)
                continue;
            found = !tags;
            for (uint32_t t = 0; t < v->n_tags && !found; t++)
                found = regexec(&tre, v->tags[t], 0, NULL, 0) == 0;
        }
        cn_free(svcs);
    }
    if (tags)
        regfree(&tre);
    regfree(&sre);
    return found;
}

static bool wanted(struct cn_agent *a, const struct cn_user_event *ev)
{
    if (ev->node_filter && *ev->node_filter && !ev_re_match(ev->node_filter, a->cfg.node_name))
        return false;
    if (!ev->service_filter || !*ev->service_filter)
        return true;
    return service_wanted(a, ev->service_filter, ev->tag_filter);
}

static char *put(char **p, const char *s, size_t n)
{
    char *at = *p;
    if (n)
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

/* ---- the event on the wire ----
 *
 * Consul fires a user event as the serf user event "consul:event:<name>"
 * whose payload is the UserEvent as MessagePack: a map of "ID", "n"
 * (name), "p" (payload, bin, omitted when empty), "nf", "sf", "tf"
 * (filters, omitted when empty) and "v" (version). The LTime is serf's. */

static void put_kv_str(struct cn_mp_writer *w, const char *k, const char *v)
{
    cn_mp_put_cstr(w, k);
    cn_mp_put_cstr(w, v);
}

int cn__event_encode(const struct cn_user_event *ev, struct cn_buf *out)
{
    struct cn_mp_writer w;
    const char *nf = ev->node_filter ? ev->node_filter : "";
    const char *sf = ev->service_filter ? ev->service_filter : "";
    const char *tf = ev->tag_filter ? ev->tag_filter : "";
    cn_mp_writer_init(&w, out);
    cn_mp_put_map(&w, 3 + (ev->payload_len > 0) + !!*nf + !!*sf + !!*tf);
    put_kv_str(&w, "ID", ev->id);
    put_kv_str(&w, "n", ev->name);
    if (ev->payload_len) {
        cn_mp_put_cstr(&w, "p");
        cn_mp_put_bin(&w, ev->payload, ev->payload_len);
    }
    if (*nf)
        put_kv_str(&w, "nf", nf);
    if (*sf)
        put_kv_str(&w, "sf", sf);
    if (*tf)
        put_kv_str(&w, "tf", tf);
    cn_mp_put_cstr(&w, "v");
    cn_mp_put_int(&w, ev->version);
    return w.err;
}

/* Reads a string (or bin) value into *mem, NUL-terminated; NULL if it is
 * not one or holds a NUL (payloads may: see want_bytes). */
static const char *take(struct cn_mp_reader *r, char **mem, size_t *len_out, bool want_bytes)
{
    struct cn_mp_obj o;
    char *at = *mem;
    if (cn_mp_read(r, &o) < 0)
        return NULL;
    if (want_bytes && o.type == CN_MP_NIL) {
        *len_out = 0;
        return "";
    }
    if ((o.type != CN_MP_STR && o.type != CN_MP_BIN) ||
        (!want_bytes && memchr(o.v.s.p, 0, o.v.s.len)))
        return NULL;
    memcpy(at, o.v.s.p, o.v.s.len);
    at[o.v.s.len] = '\0';
    *mem += o.v.s.len + 1;
    if (len_out)
        *len_out = o.v.s.len;
    return at;
}

static bool key_is(const uint8_t *k, uint32_t kl, const char *name)
{
    return kl == strlen(name) && memcmp(k, name, kl) == 0;
}

int cn__event_decode(const uint8_t *p, size_t len, struct cn_user_event *out, char **mem_out)
{
    struct cn_mp_reader r;
    uint32_t n;
    char *mem, *at;
    memset(out, 0, sizeof *out);
    out->node_filter = out->service_filter = out->tag_filter = "";
    *mem_out = NULL;
    cn_mp_reader_init(&r, p, len);
    if (cn_mp_read_map(&r, &n) < 0 || n > 32)
        return CN_EMALFORMED;
    /* The strings are parts of the message: len bytes (+NULs) hold them. */
    if (!(mem = at = cn_alloc(len + 8)))
        return -ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t kl;
        const char *v = "";
        size_t vl = 0;
        uint64_t ver;
        if (cn_mp_read_str(&r, &k, &kl) < 0)
            goto bad;
        if (key_is(k, kl, "ID")) {
            if (!(v = take(&r, &at, &vl, false)) || vl >= sizeof out->id)
                goto bad;
            memcpy(out->id, v, vl + 1);
        } else if (key_is(k, kl, "n")) {
            if (!(out->name = take(&r, &at, NULL, false)))
                goto bad;
        } else if (key_is(k, kl, "p")) {
            if (!(v = take(&r, &at, &out->payload_len, true)))
                goto bad;
            out->payload = (const uint8_t *)v;
        } else if (key_is(k, kl, "nf") || key_is(k, kl, "sf") || key_is(k, kl, "tf")) {
            if (!(v = take(&r, &at, NULL, false)))
                goto bad;
            *(k[0] == 'n' ? &out->node_filter : k[0] == 's' ? &out->service_filter
                                                             : &out->tag_filter) = v;
        } else if (key_is(k, kl, "v")) {
            if (cn_mp_read_uint(&r, &ver) < 0)
                goto bad;
            out->version = ver > 1000 ? 1000 : (int)ver;
        } else if (cn_mp_skip(&r) < 0) {
            goto bad;
        }
    }
    if (!out->name)
        goto bad;
    *mem_out = mem;
    return 0;
bad:
    cn_free(mem);
    memset(out, 0, sizeof *out);
    return CN_EMALFORMED;
}
