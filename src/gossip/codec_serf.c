/* gossip/codec_serf.c - serf messages inside memberlist user messages
 * (gossip-notes.md 3.2) and serf tags in memberlist Meta (3.1). Pure. */
#include <errno.h>
#include <stdlib.h>

#include "gossip_int.h"

static void put_type(struct cn_mp_writer *w, uint8_t t) { cn_mp_put_raw(w, &t, 1); }
static void key(struct cn_mp_writer *w, const char *k) { cn_mp_put_cstr(w, k); }

/* Reads a map, handing each value to fn(ctx, key, klen, reader). */
typedef int field_fn(void *ctx, const uint8_t *k, uint32_t klen,
                     struct cn_mp_reader *r);

static bool keq(const uint8_t *k, uint32_t klen, const char *s)
{
    return strlen(s) == klen && memcmp(k, s, klen) == 0;
}

static int read_map(struct cn_mp_reader *r, void *ctx, field_fn *fn)
{
    uint32_t n;
    const uint8_t *start = r->p;
    if (cn_mp_read_map(r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t klen;
        if (cn_mp_read_str(r, &k, &klen) < 0 || fn(ctx, k, klen, r) < 0) {
            r->p = start;
            return CN_EMALFORMED;
        }
    }
    return 0;
}

/* Value readers that accept nil as the zero value (go-msgpack does). */
static int rd_u64(struct cn_mp_reader *r, uint64_t *v)
{
    if (cn_mp_read_nil(r) == 0) {
        *v = 0;
        return 0;
    }
    return cn_mp_read_uint(r, v);
}

static int rd_str(struct cn_mp_reader *r, struct cn__gstr *s)
{
    if (cn_mp_read_nil(r) == 0) {
        s->p = NULL;
        s->len = 0;
        return 0;
    }
    return cn_mp_read_str(r, &s->p, &s->len);
}

static int rd_bool(struct cn_mp_reader *r, bool *b)
{
    if (cn_mp_read_nil(r) == 0) {
        *b = false;
        return 0;
    }
    return cn_mp_read_bool(r, b);
}

static int intent_field(void *ctx, const uint8_t *k, uint32_t klen,
                        struct cn_mp_reader *r)
{
    struct cn__sm_intent *m = ctx;
    if (keq(k, klen, "LTime"))
        return rd_u64(r, &m->ltime);
    if (keq(k, klen, "Node"))
        return rd_str(r, &m->node);
    if (keq(k, klen, "Prune"))
        return rd_bool(r, &m->prune);
    return cn_mp_skip(r);
}

int cn__sm_read_intent(struct cn_mp_reader *r, struct cn__sm_intent *m)
{
    memset(m, 0, sizeof *m);
    return read_map(r, m, intent_field);
}

static int event_field(void *ctx, const uint8_t *k, uint32_t klen,
                       struct cn_mp_reader *r)
{
    struct cn__sm_event *m = ctx;
    if (keq(k, klen, "LTime"))
        return rd_u64(r, &m->ltime);
    if (keq(k, klen, "Name"))
        return rd_str(r, &m->name);
    if (keq(k, klen, "Payload"))
        return rd_str(r, &m->payload);
    if (keq(k, klen, "CC"))
        return rd_bool(r, &m->cc);
    return cn_mp_skip(r);
}

int cn__sm_read_event(struct cn_mp_reader *r, struct cn__sm_event *m)
{
    memset(m, 0, sizeof *m);
    return read_map(r, m, event_field);
}

static int query_field(void *ctx, const uint8_t *k, uint32_t klen,
                       struct cn_mp_reader *r)
{
    struct cn__sm_query *m = ctx;
    uint64_t v;
    if (keq(k, klen, "LTime"))
        return rd_u64(r, &m->ltime);
    if (keq(k, klen, "ID") || keq(k, klen, "Flags") || keq(k, klen, "Port")) {
        if (rd_u64(r, &v) < 0 || v > (keq(k, klen, "Port") ? 0xffffu : 0xffffffffu))
            return CN_EMALFORMED;
        if (keq(k, klen, "ID"))
            m->id = (uint32_t)v;
        else if (keq(k, klen, "Flags"))
            m->flags = (uint32_t)v;
        else
            m->port = (uint16_t)v;
        return 0;
    }
    if (keq(k, klen, "Addr"))
        return rd_str(r, &m->addr);
    if (keq(k, klen, "SourceNode"))
        return rd_str(r, &m->src_node);
    if (keq(k, klen, "Name"))
        return rd_str(r, &m->name);
    if (keq(k, klen, "Filters")) {
        uint32_t n;
        if (cn_mp_read_nil(r) == 0)
            return 0;
        if (cn_mp_read_array(r, &n) < 0)
            return CN_EMALFORMED;
        m->filtered = n > 0;
        for (uint32_t i = 0; i < n; i++)
            if (cn_mp_skip(r) < 0)
                return CN_EMALFORMED;
        return 0;
    }
    return cn_mp_skip(r);
}

int cn__sm_read_query(struct cn_mp_reader *r, struct cn__sm_query *m)
{
    memset(m, 0, sizeof *m);
    return read_map(r, m, query_field);
}

void cn__sm_put_intent(struct cn_mp_writer *w, uint8_t type,
                       const struct cn__sm_intent *m)
{
    CN_ASSERT(type == CN__SM_LEAVE || type == CN__SM_JOIN);
    put_type(w, CN__GM_USER);
    put_type(w, type);
    cn_mp_put_map(w, type == CN__SM_LEAVE ? 3 : 2);
    key(w, "LTime"); cn_mp_put_uint(w, m->ltime);
    key(w, "Node"); cn_mp_put_str(w, m->node.p, m->node.len);
    if (type == CN__SM_LEAVE) {
        key(w, "Prune"); cn_mp_put_bool(w, m->prune);
    }
}

void cn__sm_put_event(struct cn_mp_writer *w, const struct cn__sm_event *m)
{
    put_type(w, CN__GM_USER);
    put_type(w, CN__SM_EVENT);
    cn_mp_put_map(w, 4);
    key(w, "CC"); cn_mp_put_bool(w, m->cc);
    key(w, "LTime"); cn_mp_put_uint(w, m->ltime);
    key(w, "Name"); cn_mp_put_str(w, m->name.p, m->name.len);
    key(w, "Payload");
    if (m->payload.len)
        cn_mp_put_str(w, m->payload.p, m->payload.len);
    else
        cn_mp_put_nil(w);
}

void cn__sm_put_qresp_ack(struct cn_mp_writer *w, uint64_t ltime, uint32_t id,
                          const char *from)
{
    put_type(w, CN__GM_USER);
    put_type(w, CN__SM_QRESP);
    cn_mp_put_map(w, 5);
    key(w, "Flags"); cn_mp_put_uint(w, 1);  /* queryFlagAck */
    key(w, "From"); cn_mp_put_cstr(w, from);
    key(w, "ID"); cn_mp_put_uint(w, id);
    key(w, "LTime"); cn_mp_put_uint(w, ltime);
    key(w, "Payload"); cn_mp_put_nil(w);
}

/* ---- tags ------------------------------------------------------------- */

static int tag_cmp(const void *a, const void *b)
{
    const struct cn_gossip_tag *x = a, *y = b;
    return strcmp(x->key, y->key);
}

int cn__gossip_tags_encode(const struct cn_gossip_tag *tags, size_t n,
                           struct cn_buf *out)
{
    struct cn_gossip_tag sorted[64];
    struct cn_mp_writer w;
    uint8_t magic = 0xff;
    if (n > CN_ARRAY_LEN(sorted))
        return -EMSGSIZE;
    if (n)
        memcpy(sorted, tags, n * sizeof *tags);
    qsort(sorted, n, sizeof *sorted, tag_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1].key, sorted[i].key) == 0)
            return -EINVAL;
    cn__gm_writer(&w, out);
    cn_mp_put_raw(&w, &magic, 1);
    cn_mp_put_map(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        cn_mp_put_cstr(&w, sorted[i].key);
        cn_mp_put_cstr(&w, sorted[i].value);
    }
    if (w.err == 0 && out->len > CN_GOSSIP_META_BYTES_MAX)
        return -EMSGSIZE;
    return w.err;
}

/* Tag strings are copied NUL-terminated; keys/values holding NUL bytes
 * would be cut short, so they are refused. */
static bool has_nul(const uint8_t *p, uint32_t n) { return n && memchr(p, 0, n); }

int cn__gossip_tags_decode(const uint8_t *meta, size_t len,
                           struct cn_gossip_tag **tags_out, size_t *n_out)
{
    struct cn_mp_reader r;
    struct cn__gstr kv[2 * 64];
    uint32_t n = 0;
    size_t bytes = 0;
    struct cn_gossip_tag *t;
    char *s;

    if (len > CN_GOSSIP_META_BYTES_MAX)
        return CN_EMALFORMED;
    if (len > 0 && meta[0] != 0xff) {
        /* Legacy serf: the whole Meta is the role. */
        n = 1;
        kv[0].p = (const uint8_t *)"role";
        kv[0].len = 4;
        kv[1].p = meta;
        kv[1].len = (uint32_t)len;
    } else if (len > 0) {
        cn_mp_reader_init(&r, meta + 1, len - 1);
        if (cn_mp_read_map(&r, &n) < 0 || n > 64)
            return CN_EMALFORMED;
        for (uint32_t i = 0; i < 2 * n; i++)
            if (rd_str(&r, &kv[i]) < 0)
                return CN_EMALFORMED;
    }
    for (uint32_t i = 0; i < 2 * n; i++) {
        if (has_nul(kv[i].p, kv[i].len))
            return CN_EMALFORMED;
        bytes += kv[i].len + 1;
    }
    t = cn_alloc(n * sizeof *t + bytes);
    if (!t)
        return -ENOMEM;
    s = (char *)(t + n);
    for (uint32_t i = 0; i < n; i++) {
        for (int j = 0; j < 2; j++) {
            const struct cn__gstr *x = &kv[2 * i + (uint32_t)j];
            if (x->len)
                memcpy(s, x->p, x->len);
            s[x->len] = '\0';
            if (j == 0)
                t[i].key = s;
            else
                t[i].value = s;
            s += x->len + 1;
        }
    }
    qsort(t, n, sizeof *t, tag_cmp);
    *tags_out = t;
    *n_out = n;
    return 0;
}
