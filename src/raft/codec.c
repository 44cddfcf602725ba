/* raft/codec.c - binary encodings of Raft messages and configurations.
 * Layouts are in raft.h. Pure.
 *
 * Why a fixed little-endian layout and not msgpack: every field is a
 * fixed-width integer except entry payloads, so a framed layout is both
 * smaller and simpler to validate (one bounds check per field, no type
 * tags); decode is a zero-copy cursor like cn_mp_reader. The decoder never
 * allocates from a declared count before checking that the remaining bytes
 * can hold that many minimal items, and rejects trailing bytes.
 */
#include <errno.h>

#include "raft_int.h"

/* ---- primitives ------------------------------------------------------- */

struct wr {
    uint8_t *p;
};

static void put8(struct wr *w, uint8_t v) { *w->p++ = v; }
static void put16(struct wr *w, uint16_t v)
{
    w->p[0] = (uint8_t)v;
    w->p[1] = (uint8_t)(v >> 8);
    w->p += 2;
}
static void put32(struct wr *w, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        w->p[i] = (uint8_t)(v >> (8 * i));
    w->p += 4;
}
static void put64(struct wr *w, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        w->p[i] = (uint8_t)(v >> (8 * i));
    w->p += 8;
}
static void putn(struct wr *w, const void *p, size_t n)
{
    if (n)
        memcpy(w->p, p, n);
    w->p += n;
}

struct rd {
    const uint8_t *p, *end;
    bool bad;
};

static bool need(struct rd *r, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}
static uint8_t get8(struct rd *r)
{
    return need(r, 1) ? *r->p++ : 0;
}
static uint16_t get16(struct rd *r)
{
    uint16_t v;
    if (!need(r, 2))
        return 0;
    v = (uint16_t)(r->p[0] | (r->p[1] << 8));
    r->p += 2;
    return v;
}
static uint32_t get32(struct rd *r)
{
    uint32_t v = 0;
    if (!need(r, 4))
        return 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)r->p[i] << (8 * i);
    r->p += 4;
    return v;
}
static uint64_t get64(struct rd *r)
{
    uint64_t v = 0;
    if (!need(r, 8))
        return 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += 8;
    return v;
}
static const uint8_t *getn(struct rd *r, size_t n)
{
    const uint8_t *p;
    if (!need(r, n))
        return NULL;
    p = r->p;
    r->p += n;
    return p;
}

/* ---- configurations --------------------------------------------------- */

const struct cn_raft_member *cn_raft_conf_find(const struct cn_raft_conf *c,
                                               uint64_t id)
{
    for (uint32_t i = 0; i < c->n; i++)
        if (c->members[i].id == id)
            return &c->members[i];
    return NULL;
}

bool cn_raft_conf_valid(const struct cn_raft_conf *c)
{
    if (c->n > CN_RAFT_MEMBERS_MAX)
        return false;
    for (uint32_t i = 0; i < c->n; i++) {
        const struct cn_raft_member *m = &c->members[i];
        if (m->id == CN_RAFT_NONE || (i && m->id <= c->members[i - 1].id))
            return false;
        if (m->role != CN_RAFT_VOTER && m->role != CN_RAFT_LEARNER)
            return false;
        if (m->addr_len > CN_RAFT_ADDR_BYTES_MAX)
            return false;
    }
    return true;
}

int cn_raft_conf_encode(const struct cn_raft_conf *c, struct cn_buf *out)
{
    size_t n = 2;
    struct wr w;
    int rc;

    if (!cn_raft_conf_valid(c))
        return -EINVAL;
    for (uint32_t i = 0; i < c->n; i++)
        n += 10 + c->members[i].addr_len;
    rc = cn_buf_reserve(out, n);
    if (rc < 0)
        return rc;
    w.p = out->data + out->len;
    put8(&w, 1);
    put8(&w, (uint8_t)c->n);
    for (uint32_t i = 0; i < c->n; i++) {
        put64(&w, c->members[i].id);
        put8(&w, c->members[i].role);
        put8(&w, c->members[i].addr_len);
        putn(&w, c->members[i].addr, c->members[i].addr_len);
    }
    CN_ASSERT((size_t)(w.p - (out->data + out->len)) == n);
    out->len += n;
    return 0;
}

int cn_raft_conf_decode(const uint8_t *p, size_t n, struct cn_raft_conf *c)
{
    struct rd r;
    struct cn_raft_conf t;

    if (!p) /* An empty entry has no data pointer: p + 0 would be UB. */
        return CN_EMALFORMED;
    r.p = p;
    r.end = p + n;
    r.bad = false;
    if (get8(&r) != 1)
        return CN_EMALFORMED;
    memset(&t, 0, sizeof t);
    t.n = get8(&r);
    if (r.bad || t.n > CN_RAFT_MEMBERS_MAX)
        return CN_EMALFORMED;
    for (uint32_t i = 0; i < t.n; i++) {
        struct cn_raft_member *m = &t.members[i];
        const uint8_t *a;
        m->id = get64(&r);
        m->role = get8(&r);
        m->addr_len = get8(&r);
        if (r.bad || m->addr_len > CN_RAFT_ADDR_BYTES_MAX)
            return CN_EMALFORMED;
        a = getn(&r, m->addr_len);
        if (!a && m->addr_len)
            return CN_EMALFORMED;
        if (m->addr_len)
            memcpy(m->addr, a, m->addr_len);
    }
    if (r.bad || r.p != r.end || !cn_raft_conf_valid(&t))
        return CN_EMALFORMED;
    *c = t;
    return 0;
}

/* ---- messages --------------------------------------------------------- */

#define HDR_BYTES 28 /* version type flags term from to */
#define ENT_HDR_BYTES 13 /* term kind len */

static size_t body_bytes(const struct cn_raft_msg *m)
{
    size_t n = 0;
    switch (m->type) {
    case CN_RAFT_MSG_APPEND:
        n = 28;
        for (uint32_t k = 0; k < m->n_entries; k++)
            n += ENT_HDR_BYTES + m->entries[k].len;
        return n;
    case CN_RAFT_MSG_APPEND_RESP:
        return 24;
    case CN_RAFT_MSG_VOTE:
    case CN_RAFT_MSG_PRE_VOTE:
    case CN_RAFT_MSG_HEARTBEAT:
    case CN_RAFT_MSG_SNAPSHOT_RESP:
        return 16;
    case CN_RAFT_MSG_HEARTBEAT_RESP:
        return 8;
    case CN_RAFT_MSG_SNAPSHOT:
        return 40 + (size_t)m->len;
    default:
        return 0;
    }
}

static bool encodable(const struct cn_raft_msg *m)
{
    if (m->type < CN_RAFT_MSG_APPEND || m->type >= CN_RAFT_MSG_TYPE_MAX ||
        (m->flags & ~CN_RAFT_F_ALL))
        return false;
    if (m->type != CN_RAFT_MSG_APPEND && m->n_entries)
        return false;
    if (m->n_entries > CN_RAFT_MSG_ENTRIES_MAX || (m->n_entries && !m->entries))
        return false;
    for (uint32_t k = 0; k < m->n_entries; k++)
        if (m->entries[k].len > CN_RAFT_ENTRY_BYTES_MAX ||
            m->entries[k].index != m->index + 1 + k)
            return false;
    if (m->type == CN_RAFT_MSG_SNAPSHOT &&
        (m->len > CN_RAFT_SNAPSHOT_CHUNK_BYTES_MAX || (m->len && !m->data)))
        return false;
    return true;
}

int cn_raft_msg_encode(const struct cn_raft_msg *m, struct cn_buf *out)
{
    size_t n;
    struct wr w;
    int rc;

    if (!encodable(m))
        return -EINVAL;
    n = HDR_BYTES + body_bytes(m);
    if (n > CN_RAFT_MSG_BYTES_MAX)
        return -EMSGSIZE;
    rc = cn_buf_reserve(out, n);
    if (rc < 0)
        return rc;
    w.p = out->data + out->len;
    put8(&w, CN_RAFT_WIRE_VERSION);
    put8(&w, m->type);
    put16(&w, m->flags);
    put64(&w, m->term);
    put64(&w, m->from);
    put64(&w, m->to);
    switch (m->type) {
    case CN_RAFT_MSG_APPEND:
        put64(&w, m->index);
        put64(&w, m->log_term);
        put64(&w, m->commit);
        put32(&w, m->n_entries);
        for (uint32_t k = 0; k < m->n_entries; k++) {
            const struct cn_raft_entry *e = &m->entries[k];
            put64(&w, e->term);
            put8(&w, e->kind);
            put32(&w, e->len);
            putn(&w, e->data, e->len);
        }
        break;
    case CN_RAFT_MSG_APPEND_RESP:
        put64(&w, m->index);
        put64(&w, m->hint_index);
        put64(&w, m->hint_term);
        break;
    case CN_RAFT_MSG_VOTE:
    case CN_RAFT_MSG_PRE_VOTE:
        put64(&w, m->index);
        put64(&w, m->log_term);
        break;
    case CN_RAFT_MSG_HEARTBEAT:
        put64(&w, m->commit);
        put64(&w, m->ctx);
        break;
    case CN_RAFT_MSG_HEARTBEAT_RESP:
        put64(&w, m->ctx);
        break;
    case CN_RAFT_MSG_SNAPSHOT:
        put64(&w, m->index);
        put64(&w, m->log_term);
        put64(&w, m->total);
        put32(&w, m->conf_len);
        put64(&w, m->offset);
        put32(&w, m->len);
        putn(&w, m->data, m->len);
        break;
    case CN_RAFT_MSG_SNAPSHOT_RESP:
        put64(&w, m->index);
        put64(&w, m->offset);
        break;
    default:
        break;
    }
    CN_ASSERT((size_t)(w.p - (out->data + out->len)) == n);
    out->len += n;
    return 0;
}

static int decode_entries(struct rd *r, struct cn_raft_msg *m)
{
    struct cn_raft_entry *ents;
    uint32_t n = get32(r);

    if (r->bad || n > CN_RAFT_MSG_ENTRIES_MAX ||
        n > (size_t)(r->end - r->p) / ENT_HDR_BYTES ||
        m->index > UINT64_MAX - CN_RAFT_MSG_ENTRIES_MAX)
        return CN_EMALFORMED;
    m->n_entries = n;
    if (n == 0)
        return 0;
    ents = cn_calloc(n, sizeof *ents);
    if (!ents)
        return -ENOMEM;
    m->entries = ents;
    for (uint32_t k = 0; k < n; k++) {
        ents[k].index = m->index + 1 + k;
        ents[k].term = get64(r);
        ents[k].kind = get8(r);
        ents[k].len = get32(r);
        if (r->bad || ents[k].len > CN_RAFT_ENTRY_BYTES_MAX)
            return CN_EMALFORMED;
        ents[k].data = (uint8_t *)(uintptr_t)getn(r, ents[k].len);
        if (r->bad)
            return CN_EMALFORMED;
        if (ents[k].len == 0)
            ents[k].data = NULL;
    }
    return 0;
}

static int decode_body(struct rd *r, struct cn_raft_msg *m)
{
    switch (m->type) {
    case CN_RAFT_MSG_APPEND:
        m->index = get64(r);
        m->log_term = get64(r);
        m->commit = get64(r);
        return decode_entries(r, m);
    case CN_RAFT_MSG_APPEND_RESP:
        m->index = get64(r);
        m->hint_index = get64(r);
        m->hint_term = get64(r);
        return 0;
    case CN_RAFT_MSG_VOTE:
    case CN_RAFT_MSG_PRE_VOTE:
        m->index = get64(r);
        m->log_term = get64(r);
        return 0;
    case CN_RAFT_MSG_HEARTBEAT:
        m->commit = get64(r);
        m->ctx = get64(r);
        return 0;
    case CN_RAFT_MSG_HEARTBEAT_RESP:
        m->ctx = get64(r);
        return 0;
    case CN_RAFT_MSG_SNAPSHOT:
        m->index = get64(r);
        m->log_term = get64(r);
        m->total = get64(r);
        m->conf_len = get32(r);
        m->offset = get64(r);
        m->len = get32(r);
        if (r->bad || m->len > CN_RAFT_SNAPSHOT_CHUNK_BYTES_MAX)
            return CN_EMALFORMED;
        m->data = m->len ? getn(r, m->len) : NULL;
        return 0;
    case CN_RAFT_MSG_SNAPSHOT_RESP:
        m->index = get64(r);
        m->offset = get64(r);
        return 0;
    default:
        return 0;
    }
}

int cn_raft_msg_decode(const uint8_t *p, size_t n, struct cn_raft_msg *m)
{
    struct rd r;
    struct cn_raft_msg t;
    int rc;

    if (!p || n > CN_RAFT_MSG_BYTES_MAX)
        return CN_EMALFORMED;
    r.p = p;
    r.end = p + n;
    r.bad = false;
    memset(&t, 0, sizeof t);
    if (get8(&r) != CN_RAFT_WIRE_VERSION)
        return CN_EMALFORMED;
    t.type = get8(&r);
    t.flags = get16(&r);
    t.term = get64(&r);
    t.from = get64(&r);
    t.to = get64(&r);
    if (r.bad || t.type < CN_RAFT_MSG_APPEND || t.type >= CN_RAFT_MSG_TYPE_MAX ||
        (t.flags & ~CN_RAFT_F_ALL))
        return CN_EMALFORMED;
    rc = decode_body(&r, &t);
    if (rc == 0 && (r.bad || r.p != r.end))
        rc = CN_EMALFORMED;
    if (rc < 0) {
        cn_raft_msg_release(&t);
        return rc;
    }
    *m = t;
    return 0;
}

void cn_raft_msg_release(struct cn_raft_msg *m)
{
    if (m->n_entries && m->entries)
        cn_free((void *)(uintptr_t)m->entries);
    m->entries = NULL;
    m->n_entries = 0;
}
