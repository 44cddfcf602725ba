/* filter/literal.c - Go's literal rules, as bexpr inherits them.
 *
 * bexpr unquotes string literals with strconv.Unquote, converts a literal
 * to the type of the field it meets with strconv.ParseInt(s, 0, 64),
 * ParseFloat(s, 64) and ParseBool, and quotes values in messages with %q.
 * These are those rules, written from Go's documented syntax.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "filter_int.h"

/* ---- strconv.Unquote ---- */

int cn__filter_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t cn__filter_utf8_put(uint32_t r, uint8_t *out)
{
    if (r < 0x80) {
        out[0] = (uint8_t)r;
        return 1;
    }
    if (r < 0x800) {
        out[0] = (uint8_t)(0xc0 | (r >> 6));
        out[1] = (uint8_t)(0x80 | (r & 0x3f));
        return 2;
    }
    if (r < 0x10000) {
        out[0] = (uint8_t)(0xe0 | (r >> 12));
        out[1] = (uint8_t)(0x80 | ((r >> 6) & 0x3f));
        out[2] = (uint8_t)(0x80 | (r & 0x3f));
        return 3;
    }
    out[0] = (uint8_t)(0xf0 | (r >> 18));
    out[1] = (uint8_t)(0x80 | ((r >> 12) & 0x3f));
    out[2] = (uint8_t)(0x80 | ((r >> 6) & 0x3f));
    out[3] = (uint8_t)(0x80 | (r & 0x3f));
    return 4;
}

/* One escape of Go's strconv.UnquoteChar for a "-quoted string, at s[i]
 * just past the backslash. Writes the bytes to out (>= 4), returns bytes
 * consumed after the backslash, or 0 if the escape is invalid. */
static size_t unescape(const uint8_t *s, size_t n, size_t i, uint8_t *out,
                       size_t *out_len)
{
    static const char simple_in[] = "abfnrtv\\";
    static const char simple_out[] = "\a\b\f\n\r\t\v\\";
    if (i >= n)
        return 0;
    const char *hit = memchr(simple_in, s[i], sizeof simple_in - 1);
    if (hit) {
        out[0] = (uint8_t)simple_out[hit - simple_in];
        *out_len = 1;
        return 1;
    }
    uint32_t v = 0;
    size_t digits = 0;
    switch (s[i]) {
    case 'x': digits = 2; break;
    case 'u': digits = 4; break;
    case 'U': digits = 8; break;
    default:
        if (s[i] < '0' || s[i] > '7' || n - i < 3)
            return 0;
        for (size_t k = 0; k < 3; k++) {
            if (s[i + k] < '0' || s[i + k] > '7')
                return 0;
            v = v * 8 + (uint32_t)(s[i + k] - '0');
        }
        if (v > 255)
            return 0;
        out[0] = (uint8_t)v;
        *out_len = 1;
        return 3;
    }
    if (n - i - 1 < digits)
        return 0;
    for (size_t k = 0; k < digits; k++) {
        int h = cn__filter_hexval(s[i + 1 + k]);
        if (h < 0)
            return 0;
        v = v * 16 + (uint32_t)h;
    }
    if (s[i] == 'x') {
        out[0] = (uint8_t)v; /* A byte, not a rune. */
        *out_len = 1;
    } else {
        if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
            return 0;
        *out_len = cn__filter_utf8_put(v, out);
    }
    return digits + 1;
}

/* Go's strconv.Unquote of a "-quoted body (the quotes excluded; it holds
 * no '"', since the grammar ends a string at the first one), appended to
 * out. 0, CN_EBADREQ (Go's "invalid syntax"), -EMSGSIZE or -ENOMEM. */
int cn__filter_unquote(const uint8_t *s, size_t n, struct cn_buf *out)
{
    int rc;
    for (size_t i = 0; i < n;) {
        uint8_t tmp[4];
        size_t tlen = 0, used;
        if (s[i] == '\n')
            return CN_EBADREQ; /* Go rejects a raw newline. */
        if (s[i] != '\\') {
            size_t j = i + 1;
            while (j < n && s[j] != '\\' && s[j] != '\n')
                j++;
            if ((rc = cn_buf_append(out, s + i, j - i)) < 0)
                return rc;
            i = j;
            continue;
        }
        used = unescape(s, n, i + 1, tmp, &tlen);
        if (used == 0)
            return CN_EBADREQ;
        if ((rc = cn_buf_append(out, tmp, tlen)) < 0)
            return rc;
        i += 1 + used;
    }
    return 0;
}

/* ---- strconv.Quote ---- */

/* Length of the valid UTF-8 sequence at s (n > 0 bytes), or 0. */
size_t cn__filter_utf8_len(const uint8_t *s, size_t n)
{
    size_t k;
    if (s[0] < 0x80)
        return 1;
    if ((s[0] & 0xe0) == 0xc0 && s[0] >= 0xc2)
        k = 2;
    else if ((s[0] & 0xf0) == 0xe0)
        k = 3;
    else if ((s[0] & 0xf8) == 0xf0 && s[0] <= 0xf4)
        k = 4;
    else
        return 0;
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if (k == 3 && ((s[0] == 0xe0 && s[1] < 0xa0) ||
                   (s[0] == 0xed && s[1] >= 0xa0)))
        return 0; /* Overlong or surrogate. */
    if (k == 4 && ((s[0] == 0xf0 && s[1] < 0x90) ||
                   (s[0] == 0xf4 && s[1] >= 0x90)))
        return 0;
    return k;
}

/* One piece of Go's strconv.Quote output for the rune at s (n > 0 bytes
 * left): printable text as is, \" \\ and C escapes, \xNN for other
 * control bytes and invalid UTF-8, \u00NN for C1 controls. Writes tmp
 * (>= 8 bytes), returns its length; *adv gets the bytes consumed. */
static size_t quote_piece(const uint8_t *s, size_t n, char *tmp, size_t *adv)
{
    static const char hex[] = "0123456789abcdef";
    static const char ctl[] = "\a\b\f\n\r\t\v";
    uint8_t c = s[0];
    const char *esc = c ? strchr(ctl, c) : NULL;
    size_t k;

    *adv = 1;
    if (c == '"' || c == '\\' || esc) {
        tmp[0] = '\\';
        tmp[1] = esc ? "abfnrtv"[esc - ctl] : (char)c;
        return 2;
    }
    if (c >= 0x20 && c < 0x7f) {
        tmp[0] = (char)c;
        return 1;
    }
    if (c < 0x80 || (k = cn__filter_utf8_len(s, n)) == 0) {
        tmp[0] = '\\', tmp[1] = 'x';
        tmp[2] = hex[c >> 4], tmp[3] = hex[c & 15];
        return 4;
    }
    *adv = k;
    if (k == 2 && c == 0xc2 && s[1] < 0xa0) {
        memcpy(tmp, "\\u00", 4);
        tmp[4] = hex[s[1] >> 4], tmp[5] = hex[s[1] & 15];
        return 6;
    }
    memcpy(tmp, s, k);
    return k;
}

/* Go's %q of s, close enough for messages, NUL-terminated within cap;
 * text that does not fit is cut and marked `"...`. */
void cn__filter_quote(char *out, size_t cap, const void *sv, size_t len)
{
    const uint8_t *s = sv;
    size_t o = 1, i, total = 2, adv;
    char tmp[8];

    CN_ASSERT(cap >= 6);
    for (i = 0; i < len; i += adv)
        total += quote_piece(s + i, len - i, tmp, &adv);
    bool cut = total + 1 > cap;
    out[0] = '"';
    for (i = 0; i < len; i += adv) {
        size_t tn = quote_piece(s + i, len - i, tmp, &adv);
        if (o + tn + (cut ? 5 : 2) > cap) /* Closing quote, "...", NUL. */
            break;
        memcpy(out + o, tmp, tn);
        o += tn;
    }
    CN_ASSERT(!cut || o + 5 <= cap);
    out[o++] = '"';
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---- strconv.ParseInt, ParseFloat, ParseBool ---- */

static int lower(int c)
{
    return c | 0x20;
}

/* Go's underscoreOK: '_' only between digits (a base prefix counts as a
 * digit). */
static bool underscore_ok(const uint8_t *s, size_t n)
{
    char saw = '^';
    size_t i = 0;
    bool hex = false;
    if (n >= 1 && (s[0] == '-' || s[0] == '+'))
        s++, n--;
    if (n >= 2 && s[0] == '0' &&
        (lower(s[1]) == 'b' || lower(s[1]) == 'o' || lower(s[1]) == 'x')) {
        i = 2;
        saw = '0';
        hex = lower(s[1]) == 'x';
    }
    for (; i < n; i++) {
        int c = s[i];
        if ((c >= '0' && c <= '9') || (hex && lower(c) >= 'a' &&
                                       lower(c) <= 'f')) {
            saw = '0';
        } else if (c == '_') {
            if (saw != '0')
                return false;
            saw = '_';
        } else {
            if (saw == '_')
                return false;
            saw = '!';
        }
    }
    return saw != '_';
}

/* strconv.ParseUint(s, 0, 64) on the unsigned part. */
static enum cn__filter_conv parse_uint0(const uint8_t *s, size_t n,
                                        uint64_t *out)
{
    unsigned base = 10;
    bool underscores = false;
    uint64_t v = 0;
    size_t i = 0;

    if (n == 0)
        return CN__CONV_SYNTAX;
    if (s[0] == '0') {
        if (n >= 3 && lower(s[1]) == 'b')
            base = 2, i = 2;
        else if (n >= 3 && lower(s[1]) == 'o')
            base = 8, i = 2;
        else if (n >= 3 && lower(s[1]) == 'x')
            base = 16, i = 2;
        else
            base = 8, i = 1;
    }
    for (; i < n; i++) {
        int c = s[i], d;
        if (c == '_') {
            underscores = true;
            continue;
        } else if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (lower(c) >= 'a' && lower(c) <= 'z') {
            d = lower(c) - 'a' + 10;
        } else {
            return CN__CONV_SYNTAX;
        }
        if ((unsigned)d >= base)
            return CN__CONV_SYNTAX;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return CN__CONV_RANGE;
        v = v * base + (uint64_t)d;
    }
    if (underscores && !underscore_ok(s, n))
        return CN__CONV_SYNTAX;
    *out = v;
    return CN__CONV_OK;
}

/* ParseInt(s, 0, 64), but also accepting what ParseUint would (a uint64
 * field): values above INT64_MAX set i_above. */
static void convert_int(struct cn__filter_lit *lit, const uint8_t *s,
                        size_t n)
{
    bool neg = n > 0 && s[0] == '-';
    uint64_t u = 0;
    if (n > 0 && (s[0] == '-' || s[0] == '+'))
        s++, n--;
    lit->i_conv = (uint8_t)parse_uint0(s, n, &u);
    if (lit->i_conv != CN__CONV_OK)
        return;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1) {
            lit->i_conv = CN__CONV_RANGE;
            return;
        }
        lit->i = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else if (u > (uint64_t)INT64_MAX) {
        lit->i_above = true;
    } else {
        lit->i = (int64_t)u;
    }
}

static bool word_ieq(const uint8_t *s, size_t n, const char *w)
{
    size_t wl = strlen(w);
    if (n != wl)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower(s[i]) != w[i])
            return false;
    return true;
}

/* strconv.ParseFloat(s, 64): Go float syntax (decimal or hex with a p
 * exponent, '_' between digits, inf/infinity/nan), checked here, then
 * strtod on the text without underscores. */
static void convert_float(struct cn__filter_lit *lit, const uint8_t *s,
                          size_t n)
{
    char buf[128];
    size_t i = 0, o = 0, digits = 0;
    bool hex = false, underscores = false;

    lit->d_conv = CN__CONV_SYNTAX;
    if (n == 0 || n >= sizeof buf)
        return;
    if (s[0] == '+' || s[0] == '-')
        buf[o++] = (char)s[i++];
    if (word_ieq(s + i, n - i, "inf") || word_ieq(s + i, n - i, "infinity")) {
        lit->d = o && buf[0] == '-' ? -INFINITY : INFINITY;
        lit->d_conv = CN__CONV_OK;
        return;
    }
    if (o == 0 && word_ieq(s, n, "nan")) {
        lit->d = NAN;
        lit->d_conv = CN__CONV_OK;
        return;
    }
    if (n - i >= 2 && s[i] == '0' && lower(s[i + 1]) == 'x') {
        hex = true;
        buf[o++] = '0', buf[o++] = 'x';
        i += 2;
    }
    bool dot = false, exp = false;
    for (; i < n; i++) {
        int c = s[i];
        bool is_d = (c >= '0' && c <= '9') ||
                    (hex && !exp && lower(c) >= 'a' && lower(c) <= 'f');
        if (c == '_') {
            underscores = true;
            continue;
        } else if (is_d) {
            digits += !exp;
        } else if (c == '.' && !dot && !exp) {
            dot = true;
        } else if (!exp && digits > 0 && lower(c) == (hex ? 'p' : 'e')) {
            exp = true;
            buf[o++] = (char)c;
            if (i + 1 < n && (s[i + 1] == '+' || s[i + 1] == '-'))
                buf[o++] = (char)s[++i];
            if (i + 1 >= n)
                return; /* Exponent without digits. */
            continue;
        } else {
            return;
        }
        buf[o++] = (char)c;
    }
    if (digits == 0 || (hex && !exp) || (exp && !(buf[o - 1] >= '0' &&
                                                   buf[o - 1] <= '9')))
        return;
    if (underscores && !underscore_ok(s, n))
        return;
    buf[o] = '\0';
    errno = 0;
    char *end;
    double d = strtod(buf, &end);
    if (*end != '\0')
        return;
    lit->d = d;
    lit->d_conv = (uint8_t)(errno == ERANGE && isinf(d) ? CN__CONV_RANGE
                                                         : CN__CONV_OK);
}

static void convert_bool(struct cn__filter_lit *lit, const uint8_t *s,
                         size_t n)
{
    static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
    static const char *const f[] = { "0", "f", "F", "FALSE", "false",
                                     "False" };
    lit->b_conv = CN__CONV_SYNTAX;
    for (size_t i = 0; i < CN_ARRAY_LEN(t); i++) {
        if (n == strlen(t[i]) && memcmp(s, t[i], n) == 0) {
            lit->b = true;
            lit->b_conv = CN__CONV_OK;
        } else if (n == strlen(f[i]) && memcmp(s, f[i], n) == 0) {
            lit->b = false;
            lit->b_conv = CN__CONV_OK;
        }
    }
}

void cn__filter_convert(struct cn__filter_lit *lit, const uint8_t *s,
                        size_t len)
{
    memset(lit, 0, sizeof *lit);
    convert_int(lit, s, len);
    convert_float(lit, s, len);
    convert_bool(lit, s, len);
}
