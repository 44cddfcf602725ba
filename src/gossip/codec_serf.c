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

/* ---- queries (serf messageQuery / messageQueryResponse) ------------------ */

static int rd_bounded(struct cn_mp_reader *r, uint64_t max, uint64_t *v)
{
    if (rd_u64(r, v) < 0 || *v > max)
        return CN_EMALFORMED;
    return 0;
}

static int query_filters(struct cn_mp_reader *r, struct cn__sm_query *m)
{
    uint32_t n;
    if (cn_mp_read_nil(r) == 0)
        return 0;
    if (cn_mp_read_array(r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        struct cn__gstr f;
        if (rd_str(r, &f) < 0)
            return CN_EMALFORMED;
        if (m->n_filters < CN_GOSSIP_QUERY_FILTERS_MAX)
            m->filters[m->n_filters++] = f;
        else
            m->filters_over = true;
    }
    return 0;
}

static int query_field(void *ctx, const uint8_t *k, uint32_t klen, struct cn_mp_reader *r)
{
    struct cn__sm_query *m = ctx;
    uint64_t v;
    if (keq(k, klen, "LTime"))
        return rd_u64(r, &m->ltime);
    if (keq(k, klen, "ID") || keq(k, klen, "Flags")) {
        if (rd_bounded(r, 0xffffffffu, &v) < 0)
            return CN_EMALFORMED;
        *(keq(k, klen, "ID") ? &m->id : &m->flags) = (uint32_t)v;
        return 0;
    }
    if (keq(k, klen, "Port") || keq(k, klen, "RelayFactor")) {
        bool port = keq(k, klen, "Port");
        if (rd_bounded(r, port ? 0xffffu : 0xffu, &v) < 0)
            return CN_EMALFORMED;
        if (port)
            m->port = (uint16_t)v;
        else
            m->relay = (uint8_t)v;
        return 0;
    }
    if (keq(k, klen, "Timeout")) {
        if (cn_mp_read_nil(r) == 0)
            return 0;
        return cn_mp_read_int(r, &m->timeout_ns) < 0 ? CN_EMALFORMED : 0;
    }
    if (keq(k, klen, "Addr"))
        return rd_str(r, &m->addr);
    if (keq(k, klen, "SourceNode"))
        return rd_str(r, &m->src_node);
    if (keq(k, klen, "Name"))
        return rd_str(r, &m->name);
    if (keq(k, klen, "Payload"))
        return rd_str(r, &m->payload);
    if (keq(k, klen, "Filters"))
        return query_filters(r, m);
    return cn_mp_skip(r);
}

int cn__sm_read_query(struct cn_mp_reader *r, struct cn__sm_query *m)
{
    memset(m, 0, sizeof *m);
    return read_map(r, m, query_field);
}

static void put_bytes(struct cn_mp_writer *w, const struct cn__gstr *s)
{
    if (s->len)
        cn_mp_put_str(w, s->p, s->len);
    else
        cn_mp_put_nil(w);
}

void cn__sm_put_query(struct cn_mp_writer *w, const struct cn__sm_query *m)
{
    put_type(w, CN__GM_USER);
    put_type(w, CN__SM_QUERY);
    cn_mp_put_map(w, 11);
    key(w, "Addr"); put_bytes(w, &m->addr);
    key(w, "Filters");
    if (m->n_filters) {
        cn_mp_put_array(w, m->n_filters);
        for (uint32_t i = 0; i < m->n_filters; i++)
            cn_mp_put_str(w, m->filters[i].p, m->filters[i].len);
    } else {
        cn_mp_put_nil(w);
    }
    key(w, "Flags"); cn_mp_put_uint(w, m->flags);
    key(w, "ID"); cn_mp_put_uint(w, m->id);
    key(w, "LTime"); cn_mp_put_uint(w, m->ltime);
    key(w, "Name"); cn_mp_put_str(w, m->name.p, m->name.len);
    key(w, "Payload"); put_bytes(w, &m->payload);
    key(w, "Port"); cn_mp_put_uint(w, m->port);
    key(w, "RelayFactor"); cn_mp_put_uint(w, m->relay);
    key(w, "SourceNode"); cn_mp_put_str(w, m->src_node.p, m->src_node.len);
    key(w, "Timeout"); cn_mp_put_int(w, m->timeout_ns);
}

static int qresp_field(void *ctx, const uint8_t *k, uint32_t klen, struct cn_mp_reader *r)
{
    struct cn__sm_qresp *m = ctx;
    uint64_t v;
    if (keq(k, klen, "LTime"))
        return rd_u64(r, &m->ltime);
    if (keq(k, klen, "ID") || keq(k, klen, "Flags")) {
        if (rd_bounded(r, 0xffffffffu, &v) < 0)
            return CN_EMALFORMED;
        *(keq(k, klen, "ID") ? &m->id : &m->flags) = (uint32_t)v;
        return 0;
    }
    if (keq(k, klen, "From"))
        return rd_str(r, &m->from);
    if (keq(k, klen, "Payload"))
        return rd_str(r, &m->payload);
    return cn_mp_skip(r);
}

int cn__sm_read_qresp(struct cn_mp_reader *r, struct cn__sm_qresp *m)
{
    memset(m, 0, sizeof *m);
    return read_map(r, m, qresp_field);
}

void cn__sm_put_qresp(struct cn_mp_writer *w, const struct cn__sm_qresp *m)
{
    put_type(w, CN__GM_USER);
    put_type(w, CN__SM_QRESP);
    cn_mp_put_map(w, 5);
    key(w, "Flags"); cn_mp_put_uint(w, m->flags);
    key(w, "From"); cn_mp_put_str(w, m->from.p, m->from.len);
    key(w, "ID"); cn_mp_put_uint(w, m->id);
    key(w, "LTime"); cn_mp_put_uint(w, m->ltime);
    key(w, "Payload"); put_bytes(w, &m->payload);
}

/* ---- query filters: [type][msgpack] ------------------------------------- */

int cn__sm_filter_nodes_encode(struct cn_buf *out, const char *const *names, size_t n)
{
    struct cn_mp_writer w;
    cn__gm_writer(&w, out);
    put_type(&w, CN__SF_NODE);
    cn_mp_put_array(&w, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        cn_mp_put_cstr(&w, names[i]);
    return w.err;
}

int cn__sm_filter_tag_encode(struct cn_buf *out, const char *tag, const char *expr)
{
    struct cn_mp_writer w;
    cn__gm_writer(&w, out);
    put_type(&w, CN__SF_TAG);
    cn_mp_put_map(&w, 2);
    key(&w, "Tag"); cn_mp_put_cstr(&w, tag);
    key(&w, "Expr"); cn_mp_put_cstr(&w, expr);
    return w.err;
}

int cn__sm_filter_nodes_match(const struct cn__gstr *f, const char *name, size_t len,
                              bool *match)
{
    struct cn_mp_reader r;
    uint32_t n;
    *match = false;
    if (f->len < 1)
        return CN_EMALFORMED;
    if (f->p[0] != CN__SF_NODE)
        return f->p[0] == CN__SF_TAG ? CN_EMALFORMED : -ENOTSUP;
    cn_mp_reader_init(&r, f->p + 1, f->len - 1);
    if (cn_mp_read_nil(&r) == 0)
        return 0;
    if (cn_mp_read_array(&r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        struct cn__gstr s;
        if (rd_str(&r, &s) < 0)
            return CN_EMALFORMED;
        if (s.len == len && (!len || memcmp(s.p, name, len) == 0))
            *match = true;
    }
    return 0;
}

struct tag_filter {
    struct cn__gstr tag, expr;
};

static int tagf_field(void *ctx, const uint8_t *k, uint32_t klen, struct cn_mp_reader *r)
{
    struct tag_filter *m = ctx;
    if (keq(k, klen, "Tag"))
        return rd_str(r, &m->tag);
    if (keq(k, klen, "Expr"))
        return rd_str(r, &m->expr);
    return cn_mp_skip(r);
}

int cn__sm_filter_tag_read(const struct cn__gstr *f, struct cn__gstr *tag,
                           struct cn__gstr *expr)
{
    struct cn_mp_reader r;
    struct tag_filter t = { 0 };
    if (f->len < 1 || f->p[0] != CN__SF_TAG)
        return f->len >= 1 && f->p[0] != CN__SF_NODE ? -ENOTSUP : CN_EMALFORMED;
    cn_mp_reader_init(&r, f->p + 1, f->len - 1);
    if (read_map(&r, &t, tagf_field) < 0)
        return CN_EMALFORMED;
    *tag = t.tag;
    *expr = t.expr;
    return 0;
}

/* ---- keyring query payloads ------------------------------------------- */

int cn__sm_keyreq_encode(struct cn_buf *out, const uint8_t *k, size_t len)
{
    struct cn_mp_writer w;
    cn__gm_writer(&w, out);
    put_type(&w, CN__SM_KEYREQ);
    cn_mp_put_map(&w, 1);
    key(&w, "Key");
    if (len)
        cn_mp_put_str(&w, k, len);
    else
        cn_mp_put_nil(&w);
    return w.err;
}

static int keyreq_field(void *ctx, const uint8_t *k, uint32_t klen, struct cn_mp_reader *r)
{
    if (keq(k, klen, "Key"))
        return rd_str(r, ctx);
    return cn_mp_skip(r);
}

int cn__sm_keyreq_decode(const uint8_t *p, size_t len, struct cn__gstr *k)
{
    struct cn_mp_reader r;
    memset(k, 0, sizeof *k);
    if (len < 2 || p[0] != CN__SM_KEYREQ)
        return CN_EMALFORMED;
    cn_mp_reader_init(&r, p + 1, len - 1);
    return read_map(&r, k, keyreq_field);
}

int cn__sm_keyresp_encode(struct cn_buf *out, const struct cn__sm_keyresp *m)
{
    struct cn_mp_writer w;
    cn__gm_writer(&w, out);
    put_type(&w, CN__SM_KEYRESP);
    cn_mp_put_map(&w, 4);
    key(&w, "Keys");
    if (m->n_keys) {
        cn_mp_put_array(&w, m->n_keys);
        for (uint32_t i = 0; i < m->n_keys; i++)
            cn_mp_put_str(&w, m->keys[i].p, m->keys[i].len);
    } else {
        cn_mp_put_nil(&w);
    }
    key(&w, "Message"); cn_mp_put_str(&w, m->message.p, m->message.len);
    key(&w, "PrimaryKey"); cn_mp_put_str(&w, m->primary.p, m->primary.len);
    key(&w, "Result"); cn_mp_put_bool(&w, m->result);
    return w.err;
}

static int keyresp_field(void *ctx, const uint8_t *k, uint32_t klen, struct cn_mp_reader *r)
{
    struct cn__sm_keyresp *m = ctx;
    uint32_t n;
    if (keq(k, klen, "Result"))
        return rd_bool(r, &m->result);
    if (keq(k, klen, "Message"))
        return rd_str(r, &m->message);
    if (keq(k, klen, "PrimaryKey"))
        return rd_str(r, &m->primary);
    if (!keq(k, klen, "Keys"))
        return cn_mp_skip(r);
    if (cn_mp_read_nil(r) == 0)
        return 0;
    if (cn_mp_read_array(r, &n) < 0 || n > CN__SM_KEYRESP_KEYS_MAX)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++)
        if (rd_str(r, &m->keys[i]) < 0)
            return CN_EMALFORMED;
    m->n_keys = n;
    return 0;
}

int cn__sm_keyresp_decode(const uint8_t *p, size_t len, struct cn__sm_keyresp *m)
{
    struct cn_mp_reader r;
    memset(m, 0, sizeof *m);
    if (len < 2 || p[0] != CN__SM_KEYRESP)
        return CN_EMALFORMED;
    cn_mp_reader_init(&r, p + 1, len - 1);
    return read_map(&r, m, keyresp_field);
}

int cn__sm_conflict_encode(struct cn_buf *out, const struct cn_gossip_member *m,
                           const uint8_t *ip, size_t ip_len)
{
    static const char *const vsn_keys[6] = { "ProtocolMin", "ProtocolMax", "ProtocolCur",
                                             "DelegateMin", "DelegateMax", "DelegateCur" };
    struct cn_mp_writer w;
    cn__gm_writer(&w, out);
    put_type(&w, CN__SM_CONFLICT);
    if (!m) {
        cn_mp_put_nil(&w);
        return w.err;
    }
    cn_mp_put_map(&w, 11);
    key(&w, "Name"); cn_mp_put_cstr(&w, m->name);
    key(&w, "Addr"); cn_mp_put_str(&w, ip, ip_len);
    key(&w, "Port"); cn_mp_put_uint(&w, m->port);
    key(&w, "Tags");
    cn_mp_put_map(&w, (uint32_t)m->n_tags);
    for (size_t i = 0; i < m->n_tags; i++) {
        cn_mp_put_cstr(&w, m->tags[i].key);
        cn_mp_put_cstr(&w, m->tags[i].value);
    }
    key(&w, "Status"); cn_mp_put_uint(&w, (uint64_t)m->status);
    for (int i = 0; i < 6; i++) {
        key(&w, vsn_keys[i]);
        cn_mp_put_uint(&w, m->vsn[i]);
    }
    return w.err;
}

/* ---- relayed responses: [9][relayHeader][serf type][msg] ------------------ */

struct relay_hdr {
    struct cn__gstr ip, name;
    uint64_t port;
};

static int udpaddr_field(void *ctx, const uint8_t *k, uint32_t klen, struct cn_mp_reader *r)
{
    struct relay_hdr *h = ctx;
    if (keq(k, klen, "IP"))
        return rd_str(r, &h->ip);
    if (keq(k, klen, "Port"))
        return rd_u64(r, &h->port);
    return cn_mp_skip(r);
}

static int relay_field(void *ctx, const uint8_t *k, uint32_t klen, struct cn_mp_reader *r)
{
    struct relay_hdr *h = ctx;
    if (keq(k, klen, "DestAddr"))
        return read_map(r, h, udpaddr_field);
    if (keq(k, klen, "DestName"))
        return rd_str(r, &h->name);
    return cn_mp_skip(r);
}

int cn__sm_relay_read(const uint8_t *p, size_t len, struct cn__gaddr *dest,
                      struct cn__gstr *inner)
{
    static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    struct cn_mp_reader r;
    struct relay_hdr h = { 0 };
    cn_mp_reader_init(&r, p, len);
    if (read_map(&r, &h, relay_field) < 0 || h.port == 0 || h.port > 0xffff ||
        (h.ip.len != 4 && h.ip.len != 16) || cn_mp_left(&r) < 2)
        return CN_EMALFORMED;
    memset(dest, 0, sizeof *dest);
    if (h.ip.len == 16 && memcmp(h.ip.p, v4mapped, 12) == 0) {
        memcpy(dest->ip, h.ip.p + 12, 4);
        dest->len = 4;
    } else {
        memcpy(dest->ip, h.ip.p, h.ip.len);
        dest->len = (uint8_t)h.ip.len;
    }
    dest->port = (uint16_t)h.port;
    inner->p = r.p;
    inner->len = (uint32_t)cn_mp_left(&r);
    return 0;
}

int cn__sm_relay_encode(struct cn_buf *out, const struct cn__gaddr *dest, const char *dest_name,
                        const uint8_t *msg, size_t len)
{
    struct cn_mp_writer w;
    cn__gm_writer(&w, out);
    put_type(&w, CN__GM_USER);
    put_type(&w, CN__SM_RELAY);
    cn_mp_put_map(&w, 2);
    key(&w, "DestAddr");
    cn_mp_put_map(&w, 3);
    key(&w, "IP"); cn_mp_put_str(&w, dest->ip, dest->len);
    key(&w, "Port"); cn_mp_put_uint(&w, dest->port);
    key(&w, "Zone"); cn_mp_put_cstr(&w, "");
    key(&w, "DestName"); cn_mp_put_cstr(&w, dest_name);
    cn_mp_put_raw(&w, msg, len);
    return w.err;
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
