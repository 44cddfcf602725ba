/* http/router.c - route lookup, Allow values, path cleaning, URL codec. */
#include <stdio.h>

#include "http_int.h"

const struct cn_route *cn__http_route_find(const struct cn_route *routes,
                                           size_t n, const char *path,
                                           size_t path_len)
{
    const struct cn_route *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = routes[i].path;
        size_t len = strlen(p);
        CN_ASSERT(len > 0);
        if (p[len - 1] != '/') {
            if (len == path_len && memcmp(p, path, len) == 0)
                return &routes[i]; /* Exact beats any prefix. */
        } else if (len <= path_len && memcmp(p, path, len) == 0 &&
                   len > best_len) {
            best = &routes[i];
            best_len = len;
        }
    }
    return best;
}

static const char *method_names[] = {"GET", "HEAD", "PUT", "POST", "DELETE",
                                     "OPTIONS", "PATCH"};

const char *cn__http_method_name(unsigned method_bit)
{
    for (unsigned i = 0; i < CN_ARRAY_LEN(method_names); i++)
        if (method_bit == (1u << i))
            return method_names[i];
    return "?";
}

/* Consul lists OPTIONS first, then the route's methods. */
void cn__http_allow_value(unsigned methods, char *out, size_t out_size)
{
    size_t o = 0;
    o += (size_t)snprintf(out, out_size, "OPTIONS");
    for (unsigned i = 0; i < CN_ARRAY_LEN(method_names) && o < out_size; i++) {
        unsigned bit = 1u << i;
        if ((methods & bit) && bit != CN_HTTP_OPTIONS)
            o += (size_t)snprintf(out + o, out_size - o, ",%s", method_names[i]);
    }
}

bool cn__http_path_clean(const char *in, size_t len, char *out, size_t *out_len)
{
    size_t r = 0, w = 0, dotdot = 0;
    bool trailing = len > 0 && in[len - 1] == '/';

    /* Rooted: out always starts with '/'. */
    out[w++] = '/';
    dotdot = 1;
    while (r < len) {
        if (in[r] == '/') {
            r++;
        } else if (in[r] == '.' && (r + 1 == len || in[r + 1] == '/')) {
            r++;
        } else if (in[r] == '.' && in[r + 1] == '.' &&
                   (r + 2 == len || in[r + 2] == '/')) {
            r += 2;
            if (w > dotdot) { /* Back up to the previous '/'. */
                w--;
                while (w > dotdot && out[w] != '/')
                    w--;
            }
        } else {
            if (w != 1)
                out[w++] = '/';
            while (r < len && in[r] != '/')
                out[w++] = in[r++];
        }
    }
    if (trailing && w > 1)
        out[w++] = '/';
    out[w] = 0;
    *out_len = w;
    return w == len && memcmp(in, out, len) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int cn_url_decode(const char *in, size_t len, char *out, bool plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '%') {
            int hi, lo;
            if (len - i < 3) /* Needs two hex digits after '%'. */
                return CN_EMALFORMED;
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return CN_EMALFORMED;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = 0;
    if (o > INT32_MAX)
        return CN_ETOOBIG;
    return (int)o;
}

int cn_url_encode(struct cn_buf *b, const void *s, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    const uint8_t *p = s;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = p[i];
        int rc;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
            c == '~' || (c == '/' && keep_slash)) {
            rc = cn_buf_putc(b, c);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
            rc = cn_buf_append(b, esc, 3);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}
