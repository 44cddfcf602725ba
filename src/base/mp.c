/* base/mp.c - bounded MessagePack reader and writer (spec:
 * github.com/msgpack/msgpack/blob/master/spec.md). See base.h for why we
 * do not use msgpack-c's unpacker on untrusted input. */
#include <errno.h>

#include "base.h"

void cn_mp_reader_init(struct cn_mp_reader *r, const void *data, size_t len)
{
    r->p = data;
    r->end = r->p + len;
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Parses the item at r->p into o without advancing; returns its header
 * length (payload of str/bin/ext included) or CN_EMALFORMED. */
static int peek(const struct cn_mp_reader *r, struct cn_mp_obj *o, size_t *adv)
{
    size_t left = cn_mp_left(r), hdr = 1, payload = 0;
    const uint8_t *p = r->p;
    uint8_t c;

    if (left < 1)
        return CN_EMALFORMED;
    c = p[0];
    if (c <= 0x7f) {
        o->type = CN_MP_UINT;
        o->v.u = c;
    } else if (c >= 0xe0) {
        o->type = CN_MP_INT;
        o->v.i = (int8_t)c;
    } else if (c >= 0x80 && c <= 0x8f) {
        o->type = CN_MP_MAP;
        o->v.n = c & 0x0f;
    } else if (c >= 0x90 && c <= 0x9f) {
        o->type = CN_MP_ARRAY;
        o->v.n = c & 0x0f;
    } else if (c >= 0xa0 && c <= 0xbf) {
        o->type = CN_MP_STR;
        payload = c & 0x1f;
    } else {
        static const uint8_t extra[0x20] = {
            /* c0 nil, c1 unused, c2 false, c3 true */ 0, 0xff, 0, 0,
            /* c4-c6 bin8/16/32 */ 1, 2, 4,
            /* c7-c9 ext8/16/32 */ 2, 3, 5,
            /* ca float32, cb float64 */ 4, 8,
            /* cc-cf uint8..64 */ 1, 2, 4, 8,
            /* d0-d3 int8..64 */ 1, 2, 4, 8,
            /* d4-d8 fixext1..16 */ 2, 3, 5, 9, 17,
            /* d9-db str8/16/32 */ 1, 2, 4,
            /* dc-dd array16/32 */ 2, 4,
            /* de-df map16/32 */ 2, 4,
        };
        uint8_t x = extra[c - 0xc0];
        if (x == 0xff)
            return CN_EMALFORMED;
        hdr = 1u + (c >= 0xd4 && c <= 0xd8 ? 1u : x); /* fixext: type byte only */
        if (left < hdr)
            return CN_EMALFORMED;
        switch (c) {
        case 0xc0: o->type = CN_MP_NIL; break;
        case 0xc2: o->type = CN_MP_BOOL; o->v.b = false; break;
        case 0xc3: o->type = CN_MP_BOOL; o->v.b = true; break;
        case 0xc4: case 0xc5: case 0xc6:
            o->type = CN_MP_BIN;
            payload = (size_t)be(p + 1, x);
            break;
        case 0xc7: case 0xc8: case 0xc9:
            o->type = CN_MP_EXT;
            payload = (size_t)be(p + 1, x - 1);
            o->v.s.ext_type = (int8_t)p[x];
            break;
        case 0xca: {
            uint32_t b32 = (uint32_t)be(p + 1, 4);
            float f;
            memcpy(&f, &b32, 4);
            o->type = CN_MP_FLOAT;
            o->v.f = f;
            break;
        }
        case 0xcb: {
            uint64_t b64 = be(p + 1, 8);
            o->type = CN_MP_FLOAT;
            memcpy(&o->v.f, &b64, 8);
            break;
        }
        case 0xcc: case 0xcd: case 0xce: case 0xcf:
            o->type = CN_MP_UINT;
            o->v.u = be(p + 1, x);
            break;
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
            uint64_t u = be(p + 1, x);
            int64_t v;
            int shift = 64 - 8 * x;
            /* Sign-extend the x-byte big-endian value. */
            v = (int64_t)(u << shift) >> shift;
            if (v >= 0) {
                o->type = CN_MP_UINT;
                o->v.u = (uint64_t)v;
            } else {
                o->type = CN_MP_INT;
                o->v.i = v;
            }
            break;
        }
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
            o->type = CN_MP_EXT;
            o->v.s.ext_type = (int8_t)p[1];
            payload = (size_t)1 << (c - 0xd4);
            break;
        case 0xd9: case 0xda: case 0xdb:
            o->type = CN_MP_STR;
            payload = (size_t)be(p + 1, x);
            break;
        case 0xdc: case 0xdd:
            o->type = CN_MP_ARRAY;
            o->v.n = (uint32_t)be(p + 1, x);
            break;
        case 0xde: case 0xdf:
            o->type = CN_MP_MAP;
            o->v.n = (uint32_t)be(p + 1, x);
            break;
        default:
            return CN_EMALFORMED;
        }
    }
    if (o->type == CN_MP_STR || o->type == CN_MP_BIN || o->type == CN_MP_EXT) {
        if (payload > left - hdr)
            return CN_EMALFORMED;
        o->v.s.p = p + hdr;
        o->v.s.len = (uint32_t)payload;
        hdr += payload;
    } else if (o->type == CN_MP_ARRAY || o->type == CN_MP_MAP) {
        /* Every element takes at least one byte: a count the rest of the
         * input cannot hold is a lie, rejected before anyone allocates. */
        uint64_t need = (uint64_t)o->v.n * (o->type == CN_MP_MAP ? 2u : 1u);
        if (need > left - hdr)
            return CN_EMALFORMED;
    }
    *adv = hdr;
    return 0;
}

int cn_mp_read(struct cn_mp_reader *r, struct cn_mp_obj *o)
{
    size_t adv;
    int rc = peek(r, o, &adv);
    if (rc < 0)
        return rc;
    r->p += adv;
    return 0;
}

static int read_type(struct cn_mp_reader *r, struct cn_mp_obj *o,
                     enum cn_mp_type t)
{
    size_t adv;
    if (peek(r, o, &adv) < 0 || o->type != t)
        return CN_EMALFORMED;
    r->p += adv;
    return 0;
}

int cn_mp_read_nil(struct cn_mp_reader *r)
{
    struct cn_mp_obj o;
    return read_type(r, &o, CN_MP_NIL);
}

int cn_mp_read_bool(struct cn_mp_reader *r, bool *out)
{
    struct cn_mp_obj o;
    if (read_type(r, &o, CN_MP_BOOL) < 0)
        return CN_EMALFORMED;
    *out = o.v.b;
    return 0;
}

int cn_mp_read_uint(struct cn_mp_reader *r, uint64_t *out)
{
    struct cn_mp_obj o;
    if (read_type(r, &o, CN_MP_UINT) < 0)
        return CN_EMALFORMED;
    *out = o.v.u;
    return 0;
}

int cn_mp_read_int(struct cn_mp_reader *r, int64_t *out)
{
    struct cn_mp_obj o;
    size_t adv;
    if (peek(r, &o, &adv) < 0)
        return CN_EMALFORMED;
    if (o.type == CN_MP_INT)
        *out = o.v.i;
    else if (o.type == CN_MP_UINT && o.v.u <= (uint64_t)INT64_MAX)
        *out = (int64_t)o.v.u;
    else
        return CN_EMALFORMED;
    r->p += adv;
    return 0;
}

int cn_mp_read_str(struct cn_mp_reader *r, const uint8_t **p, uint32_t *len)
{
    struct cn_mp_obj o;
    size_t adv;
    if (peek(r, &o, &adv) < 0 || (o.type != CN_MP_STR && o.type != CN_MP_BIN))
        return CN_EMALFORMED;
    r->p += adv;
    *p = o.v.s.p;
    *len = o.v.s.len;
    return 0;
}

int cn_mp_read_array(struct cn_mp_reader *r, uint32_t *n)
{
    struct cn_mp_obj o;
    if (read_type(r, &o, CN_MP_ARRAY) < 0)
        return CN_EMALFORMED;
    *n = o.v.n;
    return 0;
}

int cn_mp_read_map(struct cn_mp_reader *r, uint32_t *n)
{
    struct cn_mp_obj o;
    if (read_type(r, &o, CN_MP_MAP) < 0)
        return CN_EMALFORMED;
    *n = o.v.n;
    return 0;
}

int cn_mp_skip(struct cn_mp_reader *r)
{
    /* Iterative: pending[d] = items still to skip at depth d. */
    uint64_t pending[CN_MP_DEPTH_MAX + 1];
    int depth = 0;
    const uint8_t *start = r->p;

    pending[0] = 1;
    while (depth >= 0) {
        struct cn_mp_obj o;
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        pending[depth]--;
        if (cn_mp_read(r, &o) < 0)
            goto bad;
        if ((o.type == CN_MP_ARRAY || o.type == CN_MP_MAP) && o.v.n > 0) {
            if (depth == CN_MP_DEPTH_MAX)
                goto bad;
            depth++;
            pending[depth] = (uint64_t)o.v.n * (o.type == CN_MP_MAP ? 2u : 1u);
        }
    }
    return 0;
bad:
    r->p = start;
    return CN_EMALFORMED;
}

/* ---- writer ---- */

void cn_mp_writer_init(struct cn_mp_writer *w, struct cn_buf *b)
{
    w->b = b;
    w->err = 0;
    w->old_str = false;
}

static void put(struct cn_mp_writer *w, const void *p, size_t n)
{
    if (w->err == 0)
        w->err = cn_buf_append(w->b, p, n);
}

static void put_be(struct cn_mp_writer *w, uint8_t tag, uint64_t v, int n)
{
    uint8_t tmp[9];
    tmp[0] = tag;
    for (int i = 0; i < n; i++)
        tmp[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    put(w, tmp, (size_t)n + 1);
}

void cn_mp_put_raw(struct cn_mp_writer *w, const void *p, size_t len) { put(w, p, len); }

void cn_mp_put_nil(struct cn_mp_writer *w)
{
    uint8_t c = 0xc0;
    put(w, &c, 1);
}

void cn_mp_put_bool(struct cn_mp_writer *w, bool v)
{
    uint8_t c = v ? 0xc3 : 0xc2;
    put(w, &c, 1);
}

void cn_mp_put_uint(struct cn_mp_writer *w, uint64_t v)
{
    if (v <= 0x7f) {
        uint8_t c = (uint8_t)v;
        put(w, &c, 1);
    } else if (v <= 0xff) {
        put_be(w, 0xcc, v, 1);
    } else if (v <= 0xffff) {
        put_be(w, 0xcd, v, 2);
    } else if (v <= 0xffffffffu) {
        put_be(w, 0xce, v, 4);
    } else {
        put_be(w, 0xcf, v, 8);
    }
}

void cn_mp_put_int(struct cn_mp_writer *w, int64_t v)
{
    if (v >= 0) {
        cn_mp_put_uint(w, (uint64_t)v);
    } else if (v >= -32) {
        uint8_t c = (uint8_t)(int8_t)v;
        put(w, &c, 1);
    } else if (v >= INT8_MIN) {
        put_be(w, 0xd0, (uint64_t)v, 1);
    } else if (v >= INT16_MIN) {
        put_be(w, 0xd1, (uint64_t)v, 2);
    } else if (v >= INT32_MIN) {
        put_be(w, 0xd2, (uint64_t)v, 4);
    } else {
        put_be(w, 0xd3, (uint64_t)v, 8);
    }
}

void cn_mp_put_double(struct cn_mp_writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, 8);
    put_be(w, 0xcb, bits, 8);
}

void cn_mp_put_str(struct cn_mp_writer *w, const void *p, size_t len)
{
    if (len <= 31) {
        uint8_t c = (uint8_t)(0xa0 | len);
        put(w, &c, 1);
    } else if (len <= 0xff && !w->old_str) {
        put_be(w, 0xd9, len, 1);
    } else if (len <= 0xffff) {
        put_be(w, 0xda, len, 2);
    } else if (len <= 0xffffffffu) {
        put_be(w, 0xdb, len, 4);
    } else if (w->err == 0) {
        w->err = -EMSGSIZE;
        return;
    }
    put(w, p, len);
}

void cn_mp_put_cstr(struct cn_mp_writer *w, const char *s) { cn_mp_put_str(w, s, strlen(s)); }

void cn_mp_put_bin(struct cn_mp_writer *w, const void *p, size_t len)
{
    if (len <= 0xff) {
        put_be(w, 0xc4, len, 1);
    } else if (len <= 0xffff) {
        put_be(w, 0xc5, len, 2);
    } else if (len <= 0xffffffffu) {
        put_be(w, 0xc6, len, 4);
    } else if (w->err == 0) {
        w->err = -EMSGSIZE;
        return;
    }
    put(w, p, len);
}

void cn_mp_put_array(struct cn_mp_writer *w, uint32_t n)
{
    if (n <= 15) {
        uint8_t c = (uint8_t)(0x90 | n);
        put(w, &c, 1);
    } else if (n <= 0xffff) {
        put_be(w, 0xdc, n, 2);
    } else {
        put_be(w, 0xdd, n, 4);
    }
}

void cn_mp_put_map(struct cn_mp_writer *w, uint32_t n)
{
    if (n <= 15) {
        uint8_t c = (uint8_t)(0x80 | n);
        put(w, &c, 1);
    } else if (n <= 0xffff) {
        put_be(w, 0xde, n, 2);
    } else {
        put_be(w, 0xdf, n, 4);
    }
}
