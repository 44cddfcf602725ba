/* base/codec.c - base64, strict integer parsing, Go durations. */
#include "base.h"

/* ---- base64 (RFC 4648 section 4, padded) ---- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cn_base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

void cn_base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = '=';
    }
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cn_base64_decode(const char *in, size_t n, uint8_t *out, size_t *out_len)
{
    size_t o = 0;
    if (n % 4 != 0)
        return CN_EMALFORMED;
    for (size_t i = 0; i < n; i += 4) {
        int v[4], pad = 0;
        for (int k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else {
                if (pad) /* "=" followed by data */
                    return CN_EMALFORMED;
                v[k] = b64_val(in[i + k]);
                if (v[k] < 0)
                    return CN_EMALFORMED;
            }
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    *out_len = o;
    return 0;
}

/* ---- integers ---- */

int cn_parse_u64(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0 || n > 20)
        return CN_EMALFORMED;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (d > 9)
            return CN_EMALFORMED;
        if (v > (UINT64_MAX - d) / 10)
            return CN_EMALFORMED;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int cn_parse_i64(const char *s, size_t n, int64_t *out)
{
    uint64_t u;
    bool neg = n > 0 && s[0] == '-';
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        s++;
        n--;
    }
    if (cn_parse_u64(s, n, &u) < 0)
        return CN_EMALFORMED;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1)
            return CN_EMALFORMED;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX)
            return CN_EMALFORMED;
        *out = (int64_t)u;
    }
    return 0;
}

/* ---- Go durations ---- */

struct unit {
    const char *name;
    uint64_t ns;
};
/* Longest names first so "ms" is not read as "m". */
static const struct unit units[] = {
    {"ns", 1ull},           {"us", 1000ull},          {"\xc2\xb5s", 1000ull},
    {"\xce\xbcs", 1000ull}, {"ms", 1000000ull},       {"s", 1000000000ull},
    {"m", 60000000000ull},  {"h", 3600000000000ull},
};

static const struct unit *match_unit(const char *s, size_t n, size_t *len)
{
    size_t u_len = 0;
    /* A unit is the run of bytes up to the next digit or '.'. */
    while (u_len < n && !(s[u_len] >= '0' && s[u_len] <= '9') && s[u_len] != '.')
        u_len++;
    for (size_t i = 0; i < CN_ARRAY_LEN(units); i++) {
        if (strlen(units[i].name) == u_len && memcmp(s, units[i].name, u_len) == 0) {
            *len = u_len;
            return &units[i];
        }
    }
    return NULL;
}

int cn_duration_parse(const char *s, size_t n, int64_t *ns_out)
{
    uint64_t total = 0;
    bool neg = false;
    size_t i = 0;

    if (n == 0 || n > CN_DURATION_BYTES_MAX)
        return CN_EMALFORMED;
    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    }
    if (n - i == 1 && s[i] == '0') {
        *ns_out = 0;
        return 0;
    }
    if (i == n)
        return CN_EMALFORMED;
    while (i < n) {
        uint64_t whole = 0, frac = 0, scale = 1;
        bool digits = false;
        size_t ulen;
        const struct unit *u;

        while (i < n && s[i] >= '0' && s[i] <= '9') {
            if (whole > (UINT64_MAX - 9) / 10)
                return CN_EMALFORMED;
            whole = whole * 10 + (uint64_t)(s[i++] - '0');
            digits = true;
        }
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && s[i] >= '0' && s[i] <= '9') {
                if (scale < 1000000000000000000ull) { /* Extra digits are dropped. */
                    frac = frac * 10 + (uint64_t)(s[i] - '0');
                    scale *= 10;
                }
                i++;
                digits = true;
            }
        }
        if (!digits)
            return CN_EMALFORMED;
        u = match_unit(s + i, n - i, &ulen);
        if (!u)
            return CN_EMALFORMED;
        i += ulen;
        if (whole > (uint64_t)INT64_MAX / u->ns)
            return CN_EMALFORMED;
        whole *= u->ns;
        /* frac/scale * unit, computed without overflow in long double. */
        whole += (uint64_t)((long double)frac * (long double)u->ns / (long double)scale);
        if (whole > (uint64_t)INT64_MAX - total)
            return CN_EMALFORMED;
        total += whole;
    }
    *ns_out = neg ? -(int64_t)total : (int64_t)total;
    return 0;
}

/* Writes v / 10^prec's fraction into the tail of buf ending at *w, with
 * trailing zeros dropped and no '.' if the fraction is zero. */
static uint64_t put_frac(char *buf, size_t *w, uint64_t v, int prec)
{
    bool print = false;
    for (int i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(v % 10);
        print = print || digit != 0;
        if (print)
            buf[--*w] = (char)('0' + digit);
        v /= 10;
    }
    if (print)
        buf[--*w] = '.';
    return v;
}

static void put_int(char *buf, size_t *w, uint64_t v)
{
    do {
        buf[--*w] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
}

size_t cn_duration_format(int64_t ns, char *out, size_t out_size)
{
    char buf[40];
    size_t w = sizeof buf, len;
    bool neg = ns < 0;
    uint64_t u = neg ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

    CN_ASSERT(out_size >= 32);
    if (u == 0) {
        memcpy(out, "0s", 3);
        return 2;
    }
    buf[--w] = 's';
    if (u < 1000000000ull) {
        int prec;
        if (u < 1000ull) {
            prec = 0;
            buf[--w] = 'n';
        } else if (u < 1000000ull) {
            prec = 3;
            buf[--w] = '\xb5'; /* U+00B5 MICRO SIGN, as Go prints it. */
            buf[--w] = '\xc2';
        } else {
            prec = 6;
            buf[--w] = 'm';
        }
        u = put_frac(buf, &w, u, prec);
        put_int(buf, &w, u);
    } else {
        u = put_frac(buf, &w, u, 9);
        put_int(buf, &w, u % 60);
        u /= 60;
        if (u > 0) {
            buf[--w] = 'm';
            put_int(buf, &w, u % 60);
            u /= 60;
            if (u > 0) {
                buf[--w] = 'h';
                put_int(buf, &w, u);
            }
        }
    }
    if (neg)
        buf[--w] = '-';
    len = sizeof buf - w;
    memcpy(out, buf + w, len);
    out[len] = '\0';
    return len;
}
