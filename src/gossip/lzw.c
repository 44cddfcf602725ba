/* gossip/lzw.c - LZW as Go's compress/lzw does it, LSB bit order, 8-bit
 * literals (the GIF flavour): clear 256, end 257, codes 9..12 bits.
 * memberlist compresses with it (gossip-notes.md 2.6), so our encoder
 * reproduces Go's width-growth points and table resets bit for bit, and
 * our decoder accepts exactly what Go's accepts (plus: a KwKwK code right
 * after a clear is rejected instead of expanding garbage). Pure.
 */
#include <errno.h>

#include "gossip_int.h"

#define LIT_WIDTH 8
#define CLEAR_CODE 256u
#define EOF_CODE 257u
#define MAX_WIDTH 12
#define MAX_CODE 4095u
#define TABLE_SIZE (4 * (1 << 12))
#define TABLE_MASK (TABLE_SIZE - 1)
#define INVALID_LAST 0xffffu

int cn__lzw_ws_init(struct cn__lzw_ws *ws)
{
    ws->table = cn_calloc(TABLE_SIZE, sizeof ws->table[0]);
    ws->gen = 1;
    return ws->table ? 0 : -ENOMEM;
}

void cn__lzw_ws_close(struct cn__lzw_ws *ws)
{
    cn_free(ws->table);
    ws->table = NULL;
}

/* Entries carry a generation in their top half, so a reset is gen++
 * instead of clearing 128 KiB (Go clears its table). */
static void next_gen(struct cn__lzw_ws *ws)
{
    if (++ws->gen == 0) {
        memset(ws->table, 0, TABLE_SIZE * sizeof ws->table[0]);
        ws->gen = 1;
    }
}

struct enc {
    struct cn__lzw_ws *ws;
    struct cn_buf *out;
    uint32_t bits, nbits, width, hi, overflow;
    int err;
};

static void put_code(struct enc *e, uint32_t c)
{
    e->bits |= c << e->nbits;
    e->nbits += e->width;
    while (e->nbits >= 8) {
        if (e->err == 0)
            e->err = cn_buf_putc(e->out, (uint8_t)e->bits);
        e->bits >>= 8;
        e->nbits -= 8;
    }
}

static void enc_reset(struct enc *e)
{
    e->width = LIT_WIDTH + 1;
    e->hi = CLEAR_CODE + 1;
    e->overflow = CLEAR_CODE << 1;
}

/* Go's incHi: true when the codes ran out (a clear code was sent). */
static bool inc_hi(struct enc *e)
{
    e->hi++;
    if (e->hi == e->overflow) {
        e->width++;
        e->overflow <<= 1;
    }
    if (e->hi == MAX_CODE) {
        put_code(e, CLEAR_CODE);
        enc_reset(e);
        next_gen(e->ws);
        return true;
    }
    return false;
}

int cn__lzw_encode(struct cn__lzw_ws *ws, const uint8_t *in, size_t n,
                   struct cn_buf *out)
{
    struct enc e = { .ws = ws, .out = out };
    uint64_t *tab = ws->table;
    uint32_t code;

    CN_ASSERT(tab != NULL);
    enc_reset(&e);
    next_gen(ws);
    put_code(&e, CLEAR_CODE);
    if (n > 0) {
        code = in[0];
        for (size_t i = 1; i < n; i++) {
            uint32_t lit = in[i], key = code << 8 | lit;
            uint32_t hash = (key >> 12 ^ key) & TABLE_MASK, h = hash;
            uint64_t g = (uint64_t)ws->gen << 32;
            bool hit = false;
            for (uint64_t t = tab[h]; (t & ~0xffffffffull) == g;
                 h = (h + 1) & TABLE_MASK, t = tab[h]) {
                if (key == (uint32_t)t >> 12) {
                    code = (uint32_t)t & MAX_CODE;
                    hit = true;
                    break;
                }
            }
            if (hit)
                continue;
            put_code(&e, code);
            code = lit;
            if (inc_hi(&e))
                continue;
            g = (uint64_t)ws->gen << 32;
            while ((tab[hash] & ~0xffffffffull) == g)
                hash = (hash + 1) & TABLE_MASK;
            tab[hash] = g | (uint32_t)(key << 12 | e.hi);
        }
        put_code(&e, code);
        inc_hi(&e);
    }
    put_code(&e, EOF_CODE);
    if (e.nbits > 0 && e.err == 0)
        e.err = cn_buf_putc(out, (uint8_t)e.bits);
    return e.err;
}

int cn__lzw_decode(const uint8_t *in, size_t n, struct cn_buf *out)
{
    uint16_t prefix[MAX_CODE + 1];
    uint8_t suffix[MAX_CODE + 1];
    uint8_t tmp[MAX_CODE + 2];
    uint32_t acc = 0, nbits = 0, width = LIT_WIDTH + 1;
    uint32_t hi = EOF_CODE, overflow = 1u << width, last = INVALID_LAST;
    size_t i = 0;
    int rc;

    memset(prefix, 0, sizeof prefix);  /* Defensive: never read unset. */
    memset(suffix, 0, sizeof suffix);
    for (;;) {
        uint32_t code;
        while (nbits < width) {
            if (i >= n)
                return CN_EMALFORMED;  /* Go: io.ErrUnexpectedEOF */
            acc |= (uint32_t)in[i++] << nbits;
            nbits += 8;
        }
        code = acc & ((1u << width) - 1);
        acc >>= width;
        nbits -= width;

        if (code < CLEAR_CODE) {
            if ((rc = cn_buf_putc(out, (uint8_t)code)) < 0)
                return rc;
            if (last != INVALID_LAST) {
                suffix[hi] = (uint8_t)code;
                prefix[hi] = (uint16_t)last;
            }
        } else if (code == CLEAR_CODE) {
            width = LIT_WIDTH + 1;
            hi = EOF_CODE;
            overflow = 1u << width;
            last = INVALID_LAST;
            continue;
        } else if (code == EOF_CODE) {
            return 0;
        } else if (code <= hi) {
            size_t k = sizeof tmp;
            uint32_t c = code;
            if (code == hi) {
                if (last == INVALID_LAST)
                    return CN_EMALFORMED;
                /* KwKwK: last's expansion plus its own first byte. */
                c = last;
                while (c >= CLEAR_CODE)
                    c = prefix[c];
                tmp[--k] = (uint8_t)c;
                c = last;
            }
            while (c >= CLEAR_CODE) {
                /* Chains strictly descend, so k stays >= 1. */
                CN_ASSERT(k > 1);
                tmp[--k] = suffix[c];
                c = prefix[c];
            }
            tmp[--k] = (uint8_t)c;
            if ((rc = cn_buf_append(out, tmp + k, sizeof tmp - k)) < 0)
                return rc;
            if (last != INVALID_LAST) {
                suffix[hi] = (uint8_t)c;
                prefix[hi] = (uint16_t)last;
            }
        } else {
            return CN_EMALFORMED;
        }
        last = code;
        hi++;
        if (hi >= overflow) {
            if (width == MAX_WIDTH) {
                last = INVALID_LAST;
                hi--;
            } else {
                width++;
                overflow = 1u << width;
            }
        }
    }
}
