/* json/enc.c - streaming JSON encoder with Go-compatible output. */
#include <errno.h>
#include <math.h>
#include <stdio.h>

#include "json.h"

void cn_json_enc_init(struct cn_json_enc *e, struct cn_buf *b, bool pretty)
{
    e->b = b;
    e->err = 0;
    e->depth = 0;
    e->pretty = pretty;
    e->need_comma = false;
    e->after_key = false;
}

/* Appends are the encoder's inner loop: the common case (room, no error)
 * is a bare memcpy; cn_buf_append grows the buffer otherwise. The buffer
 * keeps one byte for a NUL (cn_buf_reserve), hence < rather than <=. */
static inline void put(struct cn_json_enc *e, const void *p, size_t n)
{
    struct cn_buf *b = e->b;
    if (CN_LIKELY(n < b->cap - b->len && e->err == 0)) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    } else if (e->err == 0) {
        e->err = cn_buf_append(b, p, n);
    }
}

static inline void putc1(struct cn_json_enc *e, char c)
{
    struct cn_buf *b = e->b;
    if (CN_LIKELY(b->len + 1 < b->cap && e->err == 0))
        b->data[b->len++] = (uint8_t)c;
    else if (e->err == 0)
        e->err = cn_buf_putc(b, (uint8_t)c);
}

/* A newline and four spaces per level, as Go's MarshalIndent("", "    "). */
#define SP16 "                "
#define SP64 SP16 SP16 SP16 SP16
static const char nl_indent[] = "\n" SP64 SP64 SP64 SP64;
_Static_assert(sizeof nl_indent >= 1 + 4 * CN_JSON_ENC_DEPTH_MAX, "indent string");

static void newline_indent(struct cn_json_enc *e, int depth)
{
    put(e, nl_indent, 1 + 4 * (size_t)depth);
}

static void before_value(struct cn_json_enc *e)
{
    if (e->after_key) {
        e->after_key = false;
        return;
    }
    if (e->need_comma)
        putc1(e, ',');
    if (e->pretty && e->depth > 0)
        newline_indent(e, e->depth);
}

static void begin(struct cn_json_enc *e, char c)
{
    before_value(e);
    putc1(e, c);
    e->depth++;
    e->need_comma = false;
    if (e->depth > CN_JSON_ENC_DEPTH_MAX && e->err == 0)
        e->err = -EMSGSIZE; /* Our own bug, but never corrupt output. */
}

static void end(struct cn_json_enc *e, char c)
{
    CN_ASSERT(e->depth > 0);
    CN_ASSERT(!e->after_key);
    e->depth--;
    if (e->need_comma && e->pretty)
        newline_indent(e, e->depth);
    putc1(e, c);
    e->need_comma = true;
}

void cn_json_obj_begin(struct cn_json_enc *e) { begin(e, '{'); }
void cn_json_obj_end(struct cn_json_enc *e) { end(e, '}'); }
void cn_json_arr_begin(struct cn_json_enc *e) { begin(e, '['); }
void cn_json_arr_end(struct cn_json_enc *e) { end(e, ']'); }

/* Length of a valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    /* Overlong, surrogate or beyond U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* Bytes copied as they are: printable ASCII except '"', '\\' and Go's
 * HTML escapes '<', '>', '&'. A bitmap: this test runs on every byte. */
static const uint64_t safe_ascii_bits[2] = {
    0xffffffff00000000u & ~(1ull << '"' | 1ull << '&' | 1ull << '<' | 1ull << '>'),
    ~(1ull << ('\\' - 64)),
};

static inline bool safe_ascii(uint8_t c)
{
    return c < 128 && (safe_ascii_bits[c >> 6] >> (c & 63) & 1);
}

static void put_escaped(struct cn_json_enc *e, const uint8_t *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    putc1(e, '"');
    while (i < n) {
        size_t run = i;
        while (run < n && safe_ascii(s[run]))
            run++;
        if (run > i) {
            put(e, s + i, run - i);
            i = run;
            continue;
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            if (c == '"' || c == '\\') {
                char two[2] = {'\\', (char)c};
                put(e, two, 2);
            } else if (c == '\n') {
                put(e, "\\n", 2);
            } else if (c == '\r') {
                put(e, "\\r", 2);
            } else if (c == '\t') {
                put(e, "\\t", 2);
            } else {
                put(e, esc, 6);
            }
            i++;
            continue;
        }
        size_t len = utf8_len(s + i, n - i);
        if (len == 0) {
            put(e, "\\ufffd", 6); /* Go replaces invalid bytes one by one. */
            i++;
        } else if (len == 3 && s[i] == 0xe2 && s[i + 1] == 0x80 &&
                   (s[i + 2] == 0xa8 || s[i + 2] == 0xa9)) {
            put(e, s[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
            i += 3;
        } else {
            put(e, s + i, len);
            i += len;
        }
    }
    putc1(e, '"');
}

void cn_json_key(struct cn_json_enc *e, const char *key)
{
    cn_json_keyn(e, key, strlen(key));
}

void cn_json_keyn(struct cn_json_enc *e, const char *key, size_t len)
{
    CN_ASSERT(!e->after_key);
    before_value(e);
    put_escaped(e, (const uint8_t *)key, len);
    if (e->pretty)
        put(e, ": ", 2);
    else
        putc1(e, ':');
    e->after_key = true;
    e->need_comma = true;
}

void cn_json_str(struct cn_json_enc *e, const void *s, size_t len)
{
    before_value(e);
    put_escaped(e, s, len);
    e->need_comma = true;
}

void cn_json_cstr(struct cn_json_enc *e, const char *s)
{
    cn_json_str(e, s ? s : "", s ? strlen(s) : 0);
}

void cn_json_u64(struct cn_json_enc *e, uint64_t v)
{
    char tmp[24];
    size_t n = cn_u64_to_str(v, tmp);
    before_value(e);
    put(e, tmp, n);
    e->need_comma = true;
}

void cn_json_i64(struct cn_json_enc *e, int64_t v)
{
    before_value(e);
    if (v < 0) {
        putc1(e, '-');
        char tmp[24];
        size_t n = cn_u64_to_str((uint64_t)0 - (uint64_t)v, tmp);
        put(e, tmp, n);
    } else {
        char tmp[24];
        size_t n = cn_u64_to_str((uint64_t)v, tmp);
        put(e, tmp, n);
    }
    e->need_comma = true;
}

void cn_json_double(struct cn_json_enc *e, double v)
{
    char tmp[40];
    int n;
    before_value(e);
    if (!isfinite(v))
        v = 0; /* JSON has no NaN/Inf; Go refuses them, we write 0. */
    n = snprintf(tmp, sizeof tmp, "%.17g", v);
    /* Shortest form that round-trips, as Go prints. */
    for (int prec = 1; prec < 17; prec++) {
        char t2[40];
        int n2 = snprintf(t2, sizeof t2, "%.*g", prec, v);
        if (strtod(t2, NULL) == v) {
            memcpy(tmp, t2, (size_t)n2 + 1);
            n = n2;
            break;
        }
    }
    put(e, tmp, (size_t)n);
    e->need_comma = true;
}

void cn_json_bool(struct cn_json_enc *e, bool v)
{
    before_value(e);
    if (v)
        put(e, "true", 4);
    else
        put(e, "false", 5);
    e->need_comma = true;
}

void cn_json_null(struct cn_json_enc *e)
{
    before_value(e);
    put(e, "null", 4);
    e->need_comma = true;
}

void cn_json_b64(struct cn_json_enc *e, const void *p, size_t len,
                 bool null_if_empty)
{
    size_t n;
    if (len == 0 && null_if_empty) {
        cn_json_null(e);
        return;
    }
    before_value(e);
    n = cn_base64_encoded_len(len);
    putc1(e, '"');
    if (e->err == 0)
        e->err = cn_buf_reserve(e->b, n);
    if (e->err == 0) {
        cn_base64_encode(p, len, (char *)e->b->data + e->b->len);
        e->b->len += n;
    }
    putc1(e, '"');
    e->need_comma = true;
}

void cn_json_raw(struct cn_json_enc *e, const char *json, size_t len)
{
    before_value(e);
    put(e, json, len);
    e->need_comma = true;
}

void cn_json_value(struct cn_json_enc *e, const json_t *v)
{
    size_t i;
    const char *k;
    json_t *x;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        cn_json_obj_begin(e);
        json_object_foreach((json_t *)v, k, x)
        {
            cn_json_key(e, k);
            cn_json_value(e, x); /* Depth bounded by cn_json_parse. */
        }
        cn_json_obj_end(e);
        break;
    case JSON_ARRAY:
        cn_json_arr_begin(e);
        json_array_foreach(v, i, x) cn_json_value(e, x);
        cn_json_arr_end(e);
        break;
    case JSON_STRING:
        cn_json_str(e, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        cn_json_i64(e, json_integer_value(v));
        break;
    case JSON_REAL:
        cn_json_double(e, json_real_value(v));
        break;
    case JSON_TRUE:
        cn_json_bool(e, true);
        break;
    case JSON_FALSE:
        cn_json_bool(e, false);
        break;
    case JSON_NULL:
        cn_json_null(e);
        break;
    }
}

void cn_json_finish(struct cn_json_enc *e)
{
    CN_ASSERT(e->depth == 0);
    if (e->pretty)
        putc1(e, '\n');
}

void cn_json_kv_str(struct cn_json_enc *e, const char *key, const char *s)
{
    cn_json_key(e, key);
    cn_json_cstr(e, s);
}

void cn_json_kv_u64(struct cn_json_enc *e, const char *key, uint64_t v)
{
    cn_json_key(e, key);
    cn_json_u64(e, v);
}

void cn_json_kv_bool(struct cn_json_enc *e, const char *key, bool v)
{
    cn_json_key(e, key);
    cn_json_bool(e, v);
}
