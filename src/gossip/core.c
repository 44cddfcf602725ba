/* gossip/core.c - the pure gossip core: setup, input dispatch, the send
 * pipeline and the ready/advance batch.
 * Pure: no I/O, no clock; driven by cn__gcore_recv/stream_in/tick.
 * Spec: SWIM (Das, Gupta, Motivala, DSN 2002); Lifeguard (Dadgar et al.
 * 2018); memberlist/serf behaviour per docs/gossip-notes.md.
 *
 * Sending (notes 2.11): a message may take queued broadcasts along in a
 * compound (piggyback) up to the 1400-byte budget, is LZW-compressed if
 * that is smaller, gets a CRC if the recipient speaks protocol >= 5, and
 * leaves through the ready batch; the shell seals it (AES-GCM) and sends.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "core_int.h"

void cn__gossip_timing_init(struct cn__gossip_timing *t, enum cn_gossip_profile p)
{
    static const struct cn__gossip_timing prof[] = {
        [CN_GOSSIP_LAN] = { 10000, 3, 4, 4, 6, 30000, 1000, 500, 3, 200, 30000, 8, 8301 },
        [CN_GOSSIP_WAN] = { 30000, 3, 4, 6, 6, 60000, 5000, 3000, 4, 500, 60000, 8, 8302 },
        [CN_GOSSIP_LOCAL] = { 1000, 1, 2, 3, 6, 15000, 1000, 200, 3, 100, 15000, 8, 7946 },
    };
    CN_ASSERT((unsigned)p < CN_ARRAY_LEN(prof));
    *t = prof[p];
}

void cn__gaddr_format(const uint8_t *ip, size_t len, char *out, size_t out_size)
{
    CN_ASSERT(out_size >= 48);
    if (len == 16 && !inet_ntop(AF_INET6, ip, out, (socklen_t)out_size))
        len = 0;
    if (len == 4)
        snprintf(out, out_size, "%u.%u.%u.%u", ip[0], ip[1], ip[2], ip[3]);
    else if (len != 16)
        snprintf(out, out_size, "?");
}

uint32_t cg_hash_name(const char *s, size_t n) { return (uint32_t)cn_hash(s, n); }

void cg_node_addr(const struct ml_node *n, struct cn__gaddr *a)
{
    memset(a, 0, sizeof *a);
    memcpy(a->ip, n->addr, n->addr_len);
    a->len = n->addr_len;
    a->port = n->port;
}

/* ---- setup ----------------------------------------------------------- */

static int self_alive(struct cn__gcore *c)
{
    struct cn__gm_alive a = {
        .inc = 1,
        .node = { (const uint8_t *)c->name, c->name_len },
        .addr = { c->cfg.addr.ip, c->cfg.addr.len },
        .port = c->cfg.addr.port,
        .meta = { c->my_meta, c->my_meta_len },
        .vsn = { c->vsn, 6 },
    };
    cg_alive(c, &a, true /* bootstrap */);
    c->self = cg_node(c, (const uint8_t *)c->name, c->name_len);
    return c->self ? 0 : -ENOMEM;
}

int cn__gcore_new(struct cn__gcore **out, const struct cn__gcore_config *cfg,
                  uint64_t now_ms)
{
    static const uint8_t vsn[6] = CN__GOSSIP_VSN_INIT;
    struct cn__gcore *c;
    struct cn_buf meta;
    size_t nlen = cfg->name ? strlen(cfg->name) : 0;
    int rc;

    if (nlen == 0 || nlen > CN_GOSSIP_NAME_BYTES_MAX)
        return -EINVAL;
    if (cfg->addr.len != 4 && cfg->addr.len != 16)
        return -EINVAL;
    c = cn_calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->cfg = *cfg;
    c->log = cfg->log;
    c->now_ms = now_ms;
    memcpy(c->vsn, vsn, 6);
    cn_prng_seed(&c->prng, cfg->seed);
    cn_map_init(&c->ml_map);
    tlq_init(&c->ml_q);
    tlq_init(&c->sf_q);
    c->name = cn_strndup(cfg->name, nlen);
    c->name_len = (uint8_t)nlen;
    c->cfg.name = c->name;
    c->cfg.tags = NULL;
    c->cfg.n_tags = 0;
    c->next_stream_id = 1;
    cn_buf_init(&meta, CN_GOSSIP_META_BYTES_MAX);
    rc = c->name ? cn__gossip_tags_encode(cfg->tags, cfg->n_tags, &meta) : -ENOMEM;
    if (rc == 0) {
        size_t mlen = 0;
        c->my_meta = cn_buf_steal(&meta, &mlen);
        c->my_meta_len = (uint16_t)mlen;
    }
    cn_buf_close(&meta);
    if (rc == 0 && !c->my_meta)
        rc = -ENOMEM;
    if (rc == 0 && cfg->compress)
        rc = cn__lzw_ws_init(&c->lzw);
    if (rc == 0)
        rc = sf_init(c);
    if (rc == 0)
        rc = self_alive(c);
    if (rc < 0) {
        cn__gcore_free(c);
        return rc;
    }
    /* Stagger the periodic jobs like memberlist's randomized start. */
    c->next_probe_ms = now_ms + cn_prng_below(&c->prng, cfg->t.probe_interval_ms);
    c->next_gossip_ms = now_ms + cn_prng_below(&c->prng, cfg->t.gossip_interval_ms);
    c->next_pushpull_ms = now_ms + cfg->t.push_pull_ms +
                          cn_prng_below(&c->prng, cfg->t.push_pull_ms);
    *out = c;
    return 0;
}

static void free_ready(struct cn__gcore *c)
{
    for (size_t i = 0; i < c->n_pkts; i++)
        cn_free(c->pkts[i].data);
    for (size_t i = 0; i < c->n_streams; i++)
        cn_free(c->streams[i].data);
    for (size_t i = 0; i < c->n_events; i++)
        cn_free(c->events_blob[i]);
    c->n_pkts = c->n_streams = c->n_events = 0;
    c->leave_done = false;
}

void cn__gcore_free(struct cn__gcore *c)
{
    if (!c)
        return;
    free_ready(c);
    cn_free(c->pkts);
    cn_free(c->streams);
    cn_free(c->events_out);
    cn_free(c->events_blob);
    sf_free(c);
    cg_nodes_free(c);
    tlq_close(&c->ml_q);
    tlq_close(&c->sf_q);
    cn_free(c->acks);
    cn_free(c->ostreams);
    if (c->lzw.table)
        cn__lzw_ws_close(&c->lzw);
    cn_free(c->my_meta);
    cn_free(c->name);
    cn_free(c);
}

/* ---- output ------------------------------------------------------------ */

static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *p;
    if (n < *cap)
        return true;
    ncap = *cap ? *cap * 2 : 16;
    p = cn_realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

static void push_pkt(struct cn__gcore *c, const struct cn__gaddr *to,
                     const uint8_t *p, size_t len)
{
    uint8_t *d;
    if (!grow((void **)&c->pkts, &c->cap_pkts, c->n_pkts, sizeof *c->pkts))
        return;  /* Out of memory: a lost datagram, which SWIM tolerates. */
    d = cn_memdup(p, len);
    if (!d)
        return;
    c->pkts[c->n_pkts].to = *to;
    c->pkts[c->n_pkts].data = d;
    c->pkts[c->n_pkts].len = len;
    c->n_pkts++;
}

void cg_send(struct cn__gcore *c, const struct cn__gaddr *to,
             const struct ml_node *node, const uint8_t *msg, size_t len,
             bool piggyback)
{
    struct cn__gstr parts[CN_GOSSIP_COMPOUND_PARTS_MAX];
    uint8_t *owned[CN_GOSSIP_COMPOUND_PARTS_MAX];
    size_t n_parts = 1, n_owned = 0, used = 0;
    struct cn_buf cb, zb, crc;
    const uint8_t *out = msg;
    size_t out_len = len;
    size_t overhead = CN__GM_COMPOUND_OVERHEAD + (c->cfg.encrypted ? CN__GM_ENCRYPT_OVERHEAD : 0);

    cn_buf_init(&cb, CN_GOSSIP_UDP_RECV_BYTES_MAX);
    cn_buf_init(&zb, CN_GOSSIP_UDP_RECV_BYTES_MAX);
    cn_buf_init(&crc, CN_GOSSIP_UDP_RECV_BYTES_MAX);
    parts[0].p = msg;
    parts[0].len = (uint32_t)len;
    if (piggyback && len + overhead < CN_GOSSIP_UDP_SEND_BYTES_MAX) {
        size_t budget = CN_GOSSIP_UDP_SEND_BYTES_MAX - len - overhead;
        n_parts += tlq_take(c, &c->ml_q, CN__GM_PART_OVERHEAD, budget, parts + 1,
                            CN_ARRAY_LEN(parts) - 1, &used, owned, &n_owned);
        n_parts += tlq_take(c, &c->sf_q, CN__GM_PART_OVERHEAD, budget - used,
                            parts + n_parts, CN_ARRAY_LEN(parts) - n_parts, &used,
                            owned, &n_owned);
        if (n_parts > 1 && cn__gm_compound_build(&cb, parts, n_parts) == 0) {
            out = cb.data;
            out_len = cb.len;
        }
    }
    if (c->cfg.compress && cn__gm_compress(&c->lzw, out, out_len, &zb) == 0 &&
        zb.len < out_len) {
        out = zb.data;
        out_len = zb.len;
    }
    if (node && node->vsn[1] >= 5 && cn__gm_crc_wrap(&crc, out, out_len) == 0) {
        out = crc.data;
        out_len = crc.len;
    }
    push_pkt(c, to, out, out_len);
    for (size_t i = 0; i < n_owned; i++)
        cn_free(owned[i]);
    cn_buf_close(&cb);
    cn_buf_close(&zb);
    cn_buf_close(&crc);
}

/* Streams are always compressed when compression is on (memberlist
 * rawSendMsgStream). Consumes msg. */
void cg_send_stream(struct cn__gcore *c, const struct cn__gaddr *to,
                    enum cn__gstream_kind kind, bool join, struct cn_buf *msg,
                    uint64_t deadline_ms, uint32_t *id_out)
{
    struct cn_buf z;
    struct cn__gstream *s;
    struct out_stream *os;
    uint8_t *data;
    size_t len;

    cn_buf_init(&z, CN_GOSSIP_STREAM_BYTES_MAX);
    if (c->cfg.compress && cn__gm_compress(&c->lzw, msg->data, msg->len, &z) == 0) {
        cn_buf_close(msg);
        *msg = z;
    } else {
        cn_buf_close(&z);
    }
    *id_out = 0;
    if (!grow((void **)&c->streams, &c->cap_streams, c->n_streams, sizeof *s) ||
        !grow((void **)&c->ostreams, &c->cap_ostreams, c->n_ostreams, sizeof *os)) {
        cn_buf_close(msg);
        return;
    }
    data = cn_buf_steal(msg, &len);
    if (!data)
        return;
    s = &c->streams[c->n_streams++];
    s->id = c->next_stream_id++;
    if (c->next_stream_id == 0)
        c->next_stream_id = 1;
    s->kind = kind;
    s->to = *to;
    s->data = data;
    s->len = len;
    s->deadline_ms = deadline_ms;
    os = &c->ostreams[c->n_ostreams++];
    os->id = s->id;
    os->kind = (uint8_t)kind;
    os->join = join;
    os->deadline_ms = deadline_ms;
    *id_out = s->id;
}

/* Copies the member (and user event) into one blob owned by the batch. */
void cg_emit_event(struct cn__gcore *c, enum cn_gossip_event_type t,
                   const struct sf_member *m, const struct cn__sm_event *ue)
{
    struct cn_gossip_event *ev;
    size_t bytes = 0;
    char *blob, *s;

    if (!grow((void **)&c->events_out, &c->cap_events, c->n_events, sizeof *ev) ||
        !grow((void **)&c->events_blob, &c->cap_blob, c->n_events, sizeof(void *)))
        return;
    if (m) {
        bytes += strlen(m->name) + 1 + m->n_tags * sizeof(struct cn_gossip_tag);
        for (size_t i = 0; i < m->n_tags; i++)
            bytes += strlen(m->tags[i].key) + strlen(m->tags[i].value) + 2;
    }
    if (ue)
        bytes += ue->name.len + 1 + ue->payload.len;
    blob = cn_alloc(bytes + 1);
    if (!blob)
        return;
    ev = &c->events_out[c->n_events];
    memset(ev, 0, sizeof *ev);
    ev->type = t;
    s = blob;
    if (m) {
        struct cn_gossip_tag *tags = (struct cn_gossip_tag *)(void *)s;
        s += m->n_tags * sizeof *tags;
        sf_member_view(m, &ev->member);
        for (size_t i = 0; i < m->n_tags; i++) {
            size_t kl = strlen(m->tags[i].key) + 1, vl = strlen(m->tags[i].value) + 1;
            tags[i].key = memcpy(s, m->tags[i].key, kl);
            s += kl;
            tags[i].value = memcpy(s, m->tags[i].value, vl);
            s += vl;
        }
        ev->member.tags = tags;
        ev->member.name = memcpy(s, m->name, strlen(m->name) + 1);
        s += strlen(m->name) + 1;
    }
    if (ue) {
        if (ue->name.len)
            memcpy(s, ue->name.p, ue->name.len);
        s[ue->name.len] = '\0';
        ev->user_name = s;
        s += ue->name.len + 1;
        if (ue->payload.len)
            memcpy(s, ue->payload.p, ue->payload.len);
        ev->payload = (const uint8_t *)s;
        ev->payload_len = ue->payload.len;
        ev->ltime = ue->ltime;
        ev->coalesce = ue->cc;
    }
    c->events_blob[c->n_events] = blob;
    c->n_events++;
}

void cn__gcore_take_events(struct cn__gcore *c, struct cn_gossip_event **ev,
                           void ***blobs, size_t *n)
{
    *ev = c->events_out;
    *blobs = c->events_blob;
    *n = c->n_events;
    c->events_out = NULL;
    c->events_blob = NULL;
    c->n_events = c->cap_events = c->cap_blob = 0;
}

void cn__gcore_events_free(struct cn_gossip_event *ev, void **blobs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cn_free(blobs[i]);
    cn_free(blobs);
    cn_free(ev);
}

bool cn__gcore_has_ready(const struct cn__gcore *c)
{
    return c->n_pkts || c->n_streams || c->n_events || c->n_qitems || c->leave_done;
}

void cn__gcore_ready(struct cn__gcore *c, struct cn__gready *rd)
{
    rd->pkts = c->pkts;
    rd->n_pkts = c->n_pkts;
    rd->streams = c->streams;
    rd->n_streams = c->n_streams;
    rd->events = c->events_out;
    rd->n_events = c->n_events;
    rd->leave_done = c->leave_done;
    rd->leave_rc = c->leave_rc;
}

/* Frees exactly what rd handed out; output produced since ready() (e.g.
 * by stream_done called while the batch was being executed) stays. */
void cn__gcore_advance(struct cn__gcore *c, struct cn__gready *rd)
{
    CN_ASSERT(rd->n_pkts <= c->n_pkts);
    CN_ASSERT(rd->n_streams <= c->n_streams);
    CN_ASSERT(rd->n_events <= c->n_events);
    for (size_t i = 0; i < rd->n_pkts; i++)
        cn_free(c->pkts[i].data);
    if (c->n_pkts > rd->n_pkts)
        memmove(c->pkts, c->pkts + rd->n_pkts, (c->n_pkts - rd->n_pkts) * sizeof *c->pkts);
    c->n_pkts -= rd->n_pkts;
    for (size_t i = 0; i < rd->n_streams; i++)
        cn_free(c->streams[i].data);
    if (c->n_streams > rd->n_streams)
        memmove(c->streams, c->streams + rd->n_streams,
                (c->n_streams - rd->n_streams) * sizeof *c->streams);
    c->n_streams -= rd->n_streams;
    for (size_t i = 0; i < rd->n_events; i++)
        cn_free(c->events_blob[i]);
    if (rd->n_events && c->n_events > rd->n_events) {
        memmove(c->events_out, c->events_out + rd->n_events,
                (c->n_events - rd->n_events) * sizeof *c->events_out);
        memmove(c->events_blob, c->events_blob + rd->n_events,
                (c->n_events - rd->n_events) * sizeof *c->events_blob);
    }
    c->n_events -= rd->n_events;
    if (rd->leave_done)
        c->leave_done = false;
    memset(rd, 0, sizeof *rd);
}

/* ---- input --------------------------------------------------------------- */

static int handle_leaf(struct cn__gcore *c, const struct cn__gaddr *from,
                       uint8_t type, struct cn_mp_reader *r, const uint8_t *body,
                       size_t body_len)
{
    union {
        struct cn__gm_ping ping;
        struct cn__gm_iping iping;
        struct cn__gm_ack ack;
        struct cn__gm_accuse acc;
        struct cn__gm_alive alive;
        uint32_t seq;
    } m;
    switch (type) {
    case CN__GM_PING:
        if (cn__gm_read_ping(r, &m.ping) < 0)
            return CN_EMALFORMED;
        cg_on_ping(c, from, &m.ping);
        return 0;
    case CN__GM_IPING:
        if (cn__gm_read_iping(r, &m.iping) < 0)
            return CN_EMALFORMED;
        cg_on_iping(c, from, &m.iping);
        return 0;
    case CN__GM_ACK:
        if (cn__gm_read_ack(r, &m.ack) < 0)
            return CN_EMALFORMED;
        cg_on_ack(c, m.ack.seq);
        return 0;
    case CN__GM_NACK:
        if (cn__gm_read_nack(r, &m.seq) < 0)
            return CN_EMALFORMED;
        cg_on_nack(c, m.seq);
        return 0;
    case CN__GM_SUSPECT:
    case CN__GM_DEAD:
        if (cn__gm_read_accuse(r, &m.acc) < 0 || m.acc.node.len == 0 ||
            m.acc.node.len > CN_GOSSIP_NAME_BYTES_MAX ||
            m.acc.from.len > CN_GOSSIP_NAME_BYTES_MAX)
            return CN_EMALFORMED;
        if (type == CN__GM_SUSPECT)
            cg_suspect(c, &m.acc);
        else
            cg_dead(c, &m.acc);
        return 0;
    case CN__GM_ALIVE:
        if (cn__gm_read_alive(r, &m.alive) < 0)
            return CN_EMALFORMED;
        return cg_alive(c, &m.alive, false);
    case CN__GM_USER:
        return sf_handle_user(c, body, body_len);
    default:
        return CN_EMALFORMED;
    }
}

int cg_handle_msg(struct cn__gcore *c, const struct cn__gaddr *from,
                  const uint8_t *p, size_t len, int depth)
{
    struct cn_mp_reader r;
    int rc = 0;
    if (len < 1 || depth > CN_GOSSIP_WRAP_DEPTH_MAX)
        return CN_EMALFORMED;
    switch (p[0]) {
    case CN__GM_CRC: {
        struct cn__gstr in;
        rc = cn__gm_crc_unwrap(p, len, &in);
        return rc ? rc : cg_handle_msg(c, from, in.p, in.len, depth + 1);
    }
    case CN__GM_COMPRESS: {
        struct cn_buf out;
        cn_buf_init(&out, CN_GOSSIP_UDP_RECV_BYTES_MAX);
        rc = cn__gm_decompress(p + 1, len - 1, &out);
        if (rc == 0)
            rc = cg_handle_msg(c, from, out.data, out.len, depth + 1);
        cn_buf_close(&out);
        return rc < 0 && rc != -ENOMEM ? CN_EMALFORMED : rc;
    }
    case CN__GM_COMPOUND: {
        struct cn__gstr parts[CN_GOSSIP_COMPOUND_PARTS_MAX];
        size_t n;
        bool trunc;
        rc = cn__gm_compound_split(p + 1, len - 1, parts, CN_ARRAY_LEN(parts), &n, &trunc);
        if (rc < 0)
            return rc;
        for (size_t i = 0; i < n; i++)
            if (cg_handle_msg(c, from, parts[i].p, parts[i].len, depth + 1) < 0)
                rc = CN_EMALFORMED;  /* Others still count (memberlist). */
        return trunc ? CN_EMALFORMED : rc;
    }
    default:
        cn_mp_reader_init(&r, p + 1, len - 1);
        return handle_leaf(c, from, p[0], &r, p + 1, len - 1);
    }
}

int cn__gcore_recv(struct cn__gcore *c, uint64_t now_ms,
                   const struct cn__gaddr *from, const uint8_t *p, size_t len)
{
    int rc;
    c->now_ms = now_ms;
    if (len > CN_GOSSIP_UDP_RECV_BYTES_MAX)
        rc = CN_ETOOBIG;
    else
        rc = cg_handle_msg(c, from, p, len, 0);
    if (rc < 0)
        c->ctr.bad_pkts++;
    return rc;
}

void cg_encode_ack(struct cn_buf *b, uint32_t seq)
{
    struct cn_mp_writer w;
    struct cn__gm_ack a = { .seq = seq };
    cn__gm_writer(&w, b);
    cn__gm_put_ack(&w, &a);
}

int cn__gcore_stream_in(struct cn__gcore *c, uint64_t now_ms,
                        const struct cn__gaddr *from, const uint8_t *p,
                        size_t len, struct cn_buf *reply)
{
    struct cn_buf plain, msg;
    bool join;
    int rc;

    c->now_ms = now_ms;
    cn_buf_init(&plain, CN_GOSSIP_INFLATE_BYTES_MAX);
    if (len >= 1 && p[0] == CN__GM_COMPRESS) {
        rc = cn__gm_decompress(p + 1, len - 1, &plain);
        if (rc < 0)
            goto out;
        p = plain.data;
        len = plain.len;
    }
    rc = CN_EMALFORMED;
    if (len < 1)
        goto out;
    cn_buf_init(&msg, CN_GOSSIP_STREAM_BYTES_MAX);
    if (p[0] == CN__GM_PUSHPULL) {
        /* memberlist answers with its state before merging the remote one. */
        rc = cg_local_state(c, false, &msg);
        if (rc == 0)
            rc = cg_merge_stream(c, p, len, false, &join);
    } else if (p[0] == CN__GM_PING) {
        struct cn_mp_reader r;
        struct cn__gm_ping ping;
        cn_mp_reader_init(&r, p + 1, len - 1);
        rc = cn__gm_read_ping(&r, &ping);
        if (rc == 0 && ping.node.len &&
            (ping.node.len != c->name_len || memcmp(ping.node.p, c->name, c->name_len)))
            rc = CN_EMALFORMED;  /* Not for us: memberlist sends nothing. */
        if (rc == 0)
            cg_encode_ack(&msg, ping.seq);
    } else if (p[0] == CN__GM_USER) {
        struct cn_mp_reader r;
        uint32_t ulen;
        cn_mp_reader_init(&r, p + 1, len - 1);
        rc = cn__gm_read_user_len(&r, &ulen);
        if (rc == 0 && cn_mp_left(&r) >= ulen)
            rc = sf_handle_user(c, r.p, ulen);
        else
            rc = CN_EMALFORMED;
    }
    if (rc == 0 && msg.len > 0) {
        if (c->cfg.compress)
            rc = cn__gm_compress(&c->lzw, msg.data, msg.len, reply);
        else
            rc = cn_buf_append(reply, msg.data, msg.len);
    }
    cn_buf_close(&msg);
out:
    cn_buf_close(&plain);
    if (rc < 0 && rc != -ENOMEM)
        c->ctr.bad_pkts++;
    return rc;
}

int cn__gcore_stream_done(struct cn__gcore *c, uint64_t now_ms, uint32_t id,
                          int rc, const uint8_t *p, size_t len)
{
    struct out_stream os;
    size_t i;
    bool join;

    c->now_ms = now_ms;
    for (i = 0; i < c->n_ostreams; i++)
        if (c->ostreams[i].id == id)
            break;
    if (i == c->n_ostreams)
        return -ENOENT;
    os = c->ostreams[i];
    c->ostreams[i] = c->ostreams[--c->n_ostreams];
    if (os.kind == CN__GSTREAM_PING) {
        bool ok = false;
        if (rc == 0) {
            struct cn_buf plain;
            cn_buf_init(&plain, CN_GOSSIP_UDP_RECV_BYTES_MAX);
            if (len && p[0] == CN__GM_COMPRESS &&
                cn__gm_decompress(p + 1, len - 1, &plain) == 0) {
                p = plain.data;
                len = plain.len;
            }
            if (len && p[0] == CN__GM_ACK) {
                struct cn_mp_reader r;
                struct cn__gm_ack a;
                cn_mp_reader_init(&r, p + 1, len - 1);
                ok = cn__gm_read_ack(&r, &a) == 0;
            }
            cn_buf_close(&plain);
        }
        cg_probe_tcp_result(c, id, ok);
        return ok ? 0 : CN_EMALFORMED;
    }
    if (rc < 0)
        return rc;
    rc = cg_merge_stream(c, p, len, os.join, &join);
    if (rc < 0)
        c->ctr.bad_pkts++;
    return rc;
}

void cn__gcore_tick(struct cn__gcore *c, uint64_t now_ms)
{
    c->now_ms = CN_MAX(now_ms, c->now_ms);  /* never backwards */
    now_ms = c->now_ms;
    cg_acks_tick(c);
    cg_suspicion_tick(c);
    if (!c->leaving)
        cg_probe_tick(c);
    if (now_ms >= c->next_gossip_ms) {
        c->next_gossip_ms = now_ms + c->cfg.t.gossip_interval_ms;
        cg_gossip_tick(c);
    }
    if (!c->leaving)
        cg_pushpull_tick(c);
    sf_tick(c);
    /* Outbound streams whose shell never reported back (it always should). */
    for (size_t i = 0; i < c->n_ostreams;) {
        if (now_ms > c->ostreams[i].deadline_ms + 60000)
            c->ostreams[i] = c->ostreams[--c->n_ostreams];
        else
            i++;
    }
}

/* ---- public core operations ------------------------------------------ */

int cn__gcore_join(struct cn__gcore *c, uint64_t now_ms,
                   const struct cn__gaddr *addr, uint32_t *id)
{
    c->now_ms = now_ms;
    return cg_start_pushpull(c, addr, true, id);
}

void cn__gcore_set_encrypted(struct cn__gcore *c, bool on) { c->cfg.encrypted = on; }
uint32_t cn__gcore_health(const struct cn__gcore *c) { return c->awareness; }

int cn__gcore_set_tags(struct cn__gcore *c, uint64_t now_ms,
                       const struct cn_gossip_tag *tags, size_t n)
{
    struct cn_buf meta;
    uint8_t *m;
    size_t mlen;
    int rc;
    c->now_ms = now_ms;
    cn_buf_init(&meta, CN_GOSSIP_META_BYTES_MAX);
    rc = cn__gossip_tags_encode(tags, n, &meta);
    if (rc < 0) {
        cn_buf_close(&meta);
        return rc;
    }
    m = cn_buf_steal(&meta, &mlen);
    if (!m)
        return -ENOMEM;
    cn_free(c->my_meta);
    c->my_meta = m;
    c->my_meta_len = (uint16_t)mlen;
    cg_refute(c, c->self->inc);  /* alive with inc+1 and the new Meta */
    c->awareness = c->awareness ? c->awareness - 1 : 0;  /* not a refutation */
    return 0;
}

void cn__gcore_counters(const struct cn__gcore *c, struct cn__gcore_counters *out)
{
    *out = c->ctr;
}

void cn__gcore_drop_broadcasts(struct cn__gcore *c)
{
    tlq_close(&c->ml_q);
    tlq_close(&c->sf_q);
}
