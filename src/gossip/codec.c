/* gossip/codec.c - memberlist messages on the wire (gossip-notes.md 2).
 *
 * Go's go-msgpack encodes structs as maps keyed by field name, sorted; we
 * write exactly that (so our bytes match a Go peer's) and read any key
 * order, skipping unknown keys, accepting nil for any field and both
 * integer families. Strings and byte slices are both "raw" (fixstr, 0xda,
 * 0xdb): the writer runs with old_str. Pure: no I/O.
 */
#include <errno.h>

#include "gossip_int.h"

/* ---- table-driven struct reader ------------------------------------- */

enum fkind { FK_U8, FK_U16, FK_U32, FK_U64, FK_BOOL, FK_STR };

struct fdesc {
    const char *key;
    uint8_t kind;
    uint16_t off;
};

#define F(key, kind, type, field) { key, kind, (uint16_t)offsetof(type, field) }

static int read_field(struct cn_mp_reader *r, const struct fdesc *d, void *out)
{
    uint8_t *dst = (uint8_t *)out + d->off;
    struct cn_mp_obj o;
    if (cn_mp_read(r, &o) < 0)
        return CN_EMALFORMED;
    if (o.type == CN_MP_NIL)
        return 0;  /* Go leaves the zero value. */
    if (d->kind == FK_STR) {
        struct cn__gstr s;
        if (o.type != CN_MP_STR && o.type != CN_MP_BIN)
            return CN_EMALFORMED;
        s.p = o.v.s.p;
        s.len = o.v.s.len;
        memcpy(dst, &s, sizeof s);
        return 0;
    }
    if (d->kind == FK_BOOL) {
        bool b;
        if (o.type != CN_MP_BOOL)
            return CN_EMALFORMED;
        b = o.v.b;
        memcpy(dst, &b, sizeof b);
        return 0;
    }
    if (o.type != CN_MP_UINT)
        return CN_EMALFORMED;  /* Negative or float: never valid here. */
    switch (d->kind) {
    case FK_U8: {
        uint8_t v = (uint8_t)o.v.u;
        if (o.v.u > UINT8_MAX)
            return CN_EMALFORMED;
        memcpy(dst, &v, 1);
        return 0;
    }
    case FK_U16: {
        uint16_t v = (uint16_t)o.v.u;
        if (o.v.u > UINT16_MAX)
            return CN_EMALFORMED;
        memcpy(dst, &v, 2);
        return 0;
    }
    case FK_U32: {
        uint32_t v = (uint32_t)o.v.u;
        if (o.v.u > UINT32_MAX)
            return CN_EMALFORMED;
        memcpy(dst, &v, 4);
        return 0;
    }
    default:
        memcpy(dst, &o.v.u, 8);
        return 0;
    }
}

static int read_struct(struct cn_mp_reader *r, const struct fdesc *d, size_t nd,
                       void *out, size_t out_size)
{
    uint32_t n;
    const uint8_t *start = r->p;
    memset(out, 0, out_size);
    if (cn_mp_read_map(r, &n) < 0)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t klen;
        size_t j;
        if (cn_mp_read_str(r, &k, &klen) < 0)
            goto bad;
        for (j = 0; j < nd; j++)
            if (strlen(d[j].key) == klen && memcmp(d[j].key, k, klen) == 0)
                break;
        if (j == nd) {
            if (cn_mp_skip(r) < 0)
                goto bad;
        } else if (read_field(r, &d[j], out) < 0) {
            goto bad;
        }
    }
    return 0;
bad:
    r->p = start;
    return CN_EMALFORMED;
}

int cn__gm_read_ping(struct cn_mp_reader *r, struct cn__gm_ping *m)
{
    static const struct fdesc d[] = {
        F("SeqNo", FK_U32, struct cn__gm_ping, seq),
        F("Node", FK_STR, struct cn__gm_ping, node),
        F("SourceAddr", FK_STR, struct cn__gm_ping, src_addr),
        F("SourcePort", FK_U16, struct cn__gm_ping, src_port),
        F("SourceNode", FK_STR, struct cn__gm_ping, src_node),
    };
    return read_struct(r, d, CN_ARRAY_LEN(d), m, sizeof *m);
}

int cn__gm_read_iping(struct cn_mp_reader *r, struct cn__gm_iping *m)
{
    static const struct fdesc d[] = {
        F("SeqNo", FK_U32, struct cn__gm_iping, seq),
        F("Target", FK_STR, struct cn__gm_iping, target),
        F("Port", FK_U16, struct cn__gm_iping, port),
        F("Node", FK_STR, struct cn__gm_iping, node),
        F("Nack", FK_BOOL, struct cn__gm_iping, nack),
        F("SourceAddr", FK_STR, struct cn__gm_iping, src_addr),
        F("SourcePort", FK_U16, struct cn__gm_iping, src_port),
        F("SourceNode", FK_STR, struct cn__gm_iping, src_node),
    };
    return read_struct(r, d, CN_ARRAY_LEN(d), m, sizeof *m);
}

int cn__gm_read_ack(struct cn_mp_reader *r, struct cn__gm_ack *m)
{
    static const struct fdesc d[] = {
        F("SeqNo", FK_U32, struct cn__gm_ack, seq),
        F("Payload", FK_STR, struct cn__gm_ack, payload),
    };
    return read_struct(r, d, CN_ARRAY_LEN(d), m, sizeof *m);
}

int cn__gm_read_nack(struct cn_mp_reader *r, uint32_t *seq)
{
    struct cn__gm_ack m;
    int rc = cn__gm_read_ack(r, &m); /* Same SeqNo key; Payload unused. */
    if (rc == 0)
        *seq = m.seq;
    return rc;
}

int cn__gm_read_accuse(struct cn_mp_reader *r, struct cn__gm_accuse *m)
{
    static const struct fdesc d[] = {
        F("Incarnation", FK_U32, struct cn__gm_accuse, inc),
        F("Node", FK_STR, struct cn__gm_accuse, node),
        F("From", FK_STR, struct cn__gm_accuse, from),
    };
    return read_struct(r, d, CN_ARRAY_LEN(d), m, sizeof *m);
}

int cn__gm_read_alive(struct cn_mp_reader *r, struct cn__gm_alive *m)
{
    static const struct fdesc d[] = {
        F("Incarnation", FK_U32, struct cn__gm_alive, inc),
        F("Node", FK_STR, struct cn__gm_alive, node),
        F("Addr", FK_STR, struct cn__gm_alive, addr),
        F("Port", FK_U16, struct cn__gm_alive, port),
        F("Meta", FK_STR, struct cn__gm_alive, meta),
        F("Vsn", FK_STR, struct cn__gm_alive, vsn),
    };
    return read_struct(r, d, CN_ARRAY_LEN(d), m, sizeof *m);
}

int cn__gm_read_pp_header(struct cn_mp_reader *r, struct cn__gm_pp_header *m)
{
    struct { uint64_t nodes, user_len; bool join; } t;
    static const struct fdesc d[] = {
        { "Nodes", FK_U64, 0 },
        { "UserStateLen", FK_U64, 8 },
        { "Join", FK_BOOL, 16 },
    };
    _Static_assert(offsetof(__typeof__(t), join) == 16, "layout");
    if (read_struct(r, d, CN_ARRAY_LEN(d), &t, sizeof t) < 0)
        return CN_EMALFORMED;
    if (t.nodes > CN_GOSSIP_MEMBERS_MAX || t.user_len > CN_GOSSIP_STREAM_BYTES_MAX)
        return CN_EMALFORMED;
    m->nodes = (uint32_t)t.nodes;
    m->user_len = (uint32_t)t.user_len;
    m->join = t.join;
    return 0;
}

int cn__gm_read_pp_node(struct cn_mp_reader *r, struct cn__gm_pp_node *m)
{
    static const struct fdesc d[] = {
        F("Name", FK_STR, struct cn__gm_pp_node, name),
        F("Addr", FK_STR, struct cn__gm_pp_node, addr),
        F("Port", FK_U16, struct cn__gm_pp_node, port),
        F("Meta", FK_STR, struct cn__gm_pp_node, meta),
        F("Incarnation", FK_U32, struct cn__gm_pp_node, inc),
        F("State", FK_U8, struct cn__gm_pp_node, state),
        F("Vsn", FK_STR, struct cn__gm_pp_node, vsn),
    };
    return read_struct(r, d, CN_ARRAY_LEN(d), m, sizeof *m);
}

int cn__gm_read_err(struct cn_mp_reader *r, struct cn__gstr *msg)
{
    static const struct fdesc d[] = { { "Error", FK_STR, 0 } };
    return read_struct(r, d, 1, msg, sizeof *msg);
}

int cn__gm_read_user_len(struct cn_mp_reader *r, uint32_t *len)
{
    uint64_t v;
    static const struct fdesc d[] = { { "UserMsgLen", FK_U64, 0 } };
    if (read_struct(r, d, 1, &v, sizeof v) < 0 || v > CN_GOSSIP_STREAM_BYTES_MAX)
        return CN_EMALFORMED;
    *len = (uint32_t)v;
    return 0;
}

/* ---- writers (keys in Go's sorted field order) ---------------------- */

void cn__gm_writer(struct cn_mp_writer *w, struct cn_buf *b)
{
    cn_mp_writer_init(w, b);
    w->old_str = true;
}

static void put_type(struct cn_mp_writer *w, uint8_t t) { cn_mp_put_raw(w, &t, 1); }
static void key(struct cn_mp_writer *w, const char *k) { cn_mp_put_cstr(w, k); }
static void put_s(struct cn_mp_writer *w, struct cn__gstr s) { cn_mp_put_str(w, s.p, s.len); }

void cn__gm_put_ping(struct cn_mp_writer *w, const struct cn__gm_ping *m)
{
    bool src = m->src_addr.len > 0;  /* omitempty on the Source* fields */
    put_type(w, CN__GM_PING);
    cn_mp_put_map(w, src ? 5 : 2);
    key(w, "Node"); put_s(w, m->node);
    key(w, "SeqNo"); cn_mp_put_uint(w, m->seq);
    if (src) {
        key(w, "SourceAddr"); put_s(w, m->src_addr);
        key(w, "SourceNode"); put_s(w, m->src_node);
        key(w, "SourcePort"); cn_mp_put_uint(w, m->src_port);
    }
}

void cn__gm_put_iping(struct cn_mp_writer *w, const struct cn__gm_iping *m)
{
    bool src = m->src_addr.len > 0;
    put_type(w, CN__GM_IPING);
    cn_mp_put_map(w, src ? 8 : 5);
    key(w, "Nack"); cn_mp_put_bool(w, m->nack);
    key(w, "Node"); put_s(w, m->node);
    key(w, "Port"); cn_mp_put_uint(w, m->port);
    key(w, "SeqNo"); cn_mp_put_uint(w, m->seq);
    if (src) {
        key(w, "SourceAddr"); put_s(w, m->src_addr);
        key(w, "SourceNode"); put_s(w, m->src_node);
        key(w, "SourcePort"); cn_mp_put_uint(w, m->src_port);
    }
    key(w, "Target"); put_s(w, m->target);
}

void cn__gm_put_ack(struct cn_mp_writer *w, const struct cn__gm_ack *m)
{
    put_type(w, CN__GM_ACK);
    cn_mp_put_map(w, 2);
    key(w, "Payload");
    if (m->payload.len)
        put_s(w, m->payload);
    else
        cn_mp_put_nil(w);  /* Go's nil []byte */
    key(w, "SeqNo"); cn_mp_put_uint(w, m->seq);
}

void cn__gm_put_nack(struct cn_mp_writer *w, uint32_t seq)
{
    put_type(w, CN__GM_NACK);
    cn_mp_put_map(w, 1);
    key(w, "SeqNo"); cn_mp_put_uint(w, seq);
}

void cn__gm_put_accuse(struct cn_mp_writer *w, uint8_t type,
                       const struct cn__gm_accuse *m)
{
    CN_ASSERT(type == CN__GM_SUSPECT || type == CN__GM_DEAD);
    put_type(w, type);
    cn_mp_put_map(w, 3);
    key(w, "From"); put_s(w, m->from);
    key(w, "Incarnation"); cn_mp_put_uint(w, m->inc);
    key(w, "Node"); put_s(w, m->node);
}

void cn__gm_put_alive(struct cn_mp_writer *w, const struct cn__gm_alive *m)
{
    put_type(w, CN__GM_ALIVE);
    cn_mp_put_map(w, 6);
    key(w, "Addr"); put_s(w, m->addr);
    key(w, "Incarnation"); cn_mp_put_uint(w, m->inc);
    key(w, "Meta"); put_s(w, m->meta);
    key(w, "Node"); put_s(w, m->node);
    key(w, "Port"); cn_mp_put_uint(w, m->port);
    key(w, "Vsn"); put_s(w, m->vsn);
}

void cn__gm_put_pp_header(struct cn_mp_writer *w, const struct cn__gm_pp_header *m)
{
    put_type(w, CN__GM_PUSHPULL);
    cn_mp_put_map(w, 3);
    key(w, "Join"); cn_mp_put_bool(w, m->join);
    key(w, "Nodes"); cn_mp_put_uint(w, m->nodes);
    key(w, "UserStateLen"); cn_mp_put_uint(w, m->user_len);
}

void cn__gm_put_pp_node(struct cn_mp_writer *w, const struct cn__gm_pp_node *m)
{
    cn_mp_put_map(w, 7);
    key(w, "Addr"); put_s(w, m->addr);
    key(w, "Incarnation"); cn_mp_put_uint(w, m->inc);
    key(w, "Meta"); put_s(w, m->meta);
    key(w, "Name"); put_s(w, m->name);
    key(w, "Port"); cn_mp_put_uint(w, m->port);
    key(w, "State"); cn_mp_put_uint(w, m->state);
    key(w, "Vsn"); put_s(w, m->vsn);
}

void cn__gm_put_err(struct cn_mp_writer *w, const char *msg)
{
    put_type(w, CN__GM_ERR);
    cn_mp_put_map(w, 1);
    key(w, "Error"); cn_mp_put_cstr(w, msg);
}

/* ---- compound and CRC ------------------------------------------------ */

int cn__gm_compound_split(const uint8_t *p, size_t len, struct cn__gstr *parts,
                          size_t max, size_t *n, bool *truncated)
{
    size_t count, off;
    *n = 0;
    *truncated = false;
    if (len < 1)
        return CN_EMALFORMED;
    count = p[0];
    if (count == 0 || len - 1 < count * 2)
        return CN_EMALFORMED;
    CN_ASSERT(max >= CN_GOSSIP_COMPOUND_PARTS_MAX);
    off = 1 + count * 2;
    for (size_t i = 0; i < count; i++) {
        size_t plen = (size_t)p[1 + 2 * i] << 8 | p[2 + 2 * i];
        if (plen > len - off) {
            *truncated = true;  /* memberlist keeps the parts before it */
            break;
        }
        parts[*n].p = p + off;
        parts[*n].len = (uint32_t)plen;
        (*n)++;
        off += plen;
    }
    return 0;
}

int cn__gm_compound_build(struct cn_buf *out, const struct cn__gstr *parts,
                          size_t n)
{
    uint8_t hdr[2 + 2 * CN_GOSSIP_COMPOUND_PARTS_MAX];
    int rc;
    CN_ASSERT(n >= 1 && n <= CN_GOSSIP_COMPOUND_PARTS_MAX);
    hdr[0] = CN__GM_COMPOUND;
    hdr[1] = (uint8_t)n;
    for (size_t i = 0; i < n; i++) {
        CN_ASSERT(parts[i].len <= UINT16_MAX);
        hdr[2 + 2 * i] = (uint8_t)(parts[i].len >> 8);
        hdr[3 + 2 * i] = (uint8_t)parts[i].len;
    }
    rc = cn_buf_append(out, hdr, 2 + 2 * n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = cn_buf_append(out, parts[i].p, parts[i].len);
    return rc;
}

int cn__gm_crc_wrap(struct cn_buf *out, const uint8_t *msg, size_t len)
{
    uint32_t crc = cn_crc32_ieee(0, msg, len);
    uint8_t hdr[5] = { CN__GM_CRC, (uint8_t)(crc >> 24), (uint8_t)(crc >> 16),
                       (uint8_t)(crc >> 8), (uint8_t)crc };
    int rc = cn_buf_append(out, hdr, 5);
    return rc ? rc : cn_buf_append(out, msg, len);
}

int cn__gm_crc_unwrap(const uint8_t *p, size_t len, struct cn__gstr *inner)
{
    uint32_t want;
    if (len < 5 || p[0] != CN__GM_CRC)
        return CN_EMALFORMED;
    want = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
    if (cn_crc32_ieee(0, p + 5, len - 5) != want)
        return CN_ECORRUPT;
    inner->p = p + 5;
    inner->len = (uint32_t)(len - 5);
    return 0;
}

/* ---- compression wrapper ---------------------------------------------- */

int cn__gm_compress(struct cn__lzw_ws *ws, const uint8_t *msg, size_t len,
                    struct cn_buf *out)
{
    struct cn_buf z;
    struct cn_mp_writer w;
    int rc;
    cn_buf_init(&z, CN_GOSSIP_INFLATE_BYTES_MAX);
    rc = cn__lzw_encode(ws, msg, len, &z);
    if (rc == 0) {
        cn__gm_writer(&w, out);
        put_type(&w, CN__GM_COMPRESS);
        cn_mp_put_map(&w, 2);
        key(&w, "Algo"); cn_mp_put_uint(&w, 0);
        key(&w, "Buf"); cn_mp_put_str(&w, z.data, z.len);
        rc = w.err;
    }
    cn_buf_close(&z);
    return rc;
}

int cn__gm_decompress(const uint8_t *p, size_t len, struct cn_buf *out)
{
    struct { uint64_t algo; struct cn__gstr buf; } c;
    static const struct fdesc d[] = {
        { "Algo", FK_U64, 0 },
        { "Buf", FK_STR, 8 },
    };
    struct cn_mp_reader r;
    cn_mp_reader_init(&r, p, len);
    if (read_struct(&r, d, 2, &c, sizeof c) < 0 || c.algo != 0)
        return CN_EMALFORMED;
    return cn__lzw_decode(c.buf.p, c.buf.len, out);
}

/* ---- stream framing --------------------------------------------------- */

/* Parses one plain stream message from r. */
static int stream_parse(struct cn_mp_reader *r)
{
    uint8_t t;
    if (cn_mp_left(r) < 1)
        return CN_EMALFORMED;
    t = *r->p++;
    switch (t) {
    case CN__GM_PUSHPULL: {
        struct cn__gm_pp_header h;
        if (cn__gm_read_pp_header(r, &h) < 0)
            return CN_EMALFORMED;
        for (uint32_t i = 0; i < h.nodes; i++)
            if (cn_mp_skip(r) < 0)
                return CN_EMALFORMED;
        if (cn_mp_left(r) < h.user_len)
            return CN_EMALFORMED;
        r->p += h.user_len;
        return 0;
    }
    case CN__GM_USER: {
        uint32_t n;
        if (cn__gm_read_user_len(r, &n) < 0 || cn_mp_left(r) < n)
            return CN_EMALFORMED;
        r->p += n;
        return 0;
    }
    case CN__GM_PING: case CN__GM_ACK: case CN__GM_COMPRESS: case CN__GM_ERR:
        return cn_mp_skip(r);
    default:
        return CN_EMALFORMED;
    }
}

int cn__gm_stream_complete(const uint8_t *p, size_t len, size_t *msg_len)
{
    struct cn_mp_reader r;
    if (len < 1)
        return 0;
    if (p[0] == CN__GM_ENCRYPT) {
        uint32_t n;
        if (len < 5)
            return 0;
        n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
        if (n > CN_GOSSIP_STREAM_BYTES_MAX)
            return CN_EMALFORMED;
        if (len - 5 < n)
            return 0;
        *msg_len = 5 + (size_t)n;
        return 1;
    }
    switch (p[0]) {
    case CN__GM_PUSHPULL: case CN__GM_USER: case CN__GM_PING: case CN__GM_ACK:
    case CN__GM_COMPRESS: case CN__GM_ERR:
        break;
    default:
        return CN_EMALFORMED;
    }
    cn_mp_reader_init(&r, p, len);
    if (stream_parse(&r) < 0)
        return 0;  /* Truncated looks like malformed: wait for more/EOF. */
    *msg_len = (size_t)(r.p - p);
    return 1;
}
