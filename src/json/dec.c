/* json/dec.c - request-body decoding helpers on jansson. */
#include <ctype.h>
#include <stdio.h>

#include "json.h"

void cn_json_errf(char *err, const char *fmt, ...)
{
    char tmp[CN_JSON_ERR_BYTES];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    snprintf(err, CN_JSON_ERR_BYTES, "Request decode failed: %.170s", tmp);
}

/* Depth pre-scan: jansson's parser recurses; refuse deep input before it
 * gets there. Brackets inside strings do not count. */
static bool depth_ok(const uint8_t *p, size_t n)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > CN_JSON_DEPTH_MAX)
                return false;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return true;
}

int cn_json_parse(const void *data, size_t len, json_t **out, char *err)
{
    json_error_t je;
    json_t *v;
    if (!depth_ok(data, len)) {
        cn_json_errf(err, "nesting deeper than %d", CN_JSON_DEPTH_MAX);
        return CN_EMALFORMED;
    }
    /* JSON_ALLOW_NUL: keys/values may carry NUL; we use lengths anyway. */
    v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v) {
        cn_json_errf(err, "%s at line %d column %d", je.text, je.line, je.column);
        return CN_EMALFORMED;
    }
    *out = v;
    return 0;
}

/* Compares ignoring ASCII case and underscores. */
static bool name_eq_folded(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_')
            a++;
        while (*b == '_')
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
        a++;
        b++;
    }
}

json_t *cn_json_get(const json_t *obj, const char *name)
{
    const char *k;
    json_t *v, *folded = NULL;
    if (!json_is_object(obj))
        return NULL;
    v = json_object_get(obj, name);
    if (v)
        return v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (name_eq_folded(k, name)) {
            folded = v;
            break;
        }
    }
    return folded;
}

static json_t *get_present(const json_t *obj, const char *name)
{
    json_t *v = cn_json_get(obj, name);
    return (v && !json_is_null(v)) ? v : NULL;
}

int cn_json_get_str(const json_t *obj, const char *name, const char **out,
                    size_t *len_out, char *err)
{
    json_t *v = get_present(obj, name);
    if (!v)
        return 1;
    if (!json_is_string(v)) {
        cn_json_errf(err, "field \"%s\": expected a string", name);
        return CN_EMALFORMED;
    }
    *out = json_string_value(v);
    if (len_out)
        *len_out = json_string_length(v);
    return 0;
}

int cn_json_get_u64(const json_t *obj, const char *name, uint64_t *out,
                    char *err)
{
    json_t *v = get_present(obj, name);
    if (!v)
        return 1;
    /* jansson holds integers as long long; values above INT64_MAX arrive
     * as reals and are refused (Consul's indexes never get there). */
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        cn_json_errf(err, "field \"%s\": expected an unsigned integer", name);
        return CN_EMALFORMED;
    }
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

int cn_json_get_i64(const json_t *obj, const char *name, int64_t *out,
                    char *err)
{
    json_t *v = get_present(obj, name);
    if (!v)
        return 1;
    if (!json_is_integer(v)) {
        cn_json_errf(err, "field \"%s\": expected an integer", name);
        return CN_EMALFORMED;
    }
    *out = json_integer_value(v);
    return 0;
}

int cn_json_get_bool(const json_t *obj, const char *name, bool *out, char *err)
{
    json_t *v = get_present(obj, name);
    if (!v)
        return 1;
    if (!json_is_boolean(v)) {
        cn_json_errf(err, "field \"%s\": expected a boolean", name);
        return CN_EMALFORMED;
    }
    *out = json_is_true(v);
    return 0;
}

int cn_json_get_duration(const json_t *obj, const char *name, int64_t *ns_out,
                         char *err)
{
    json_t *v = get_present(obj, name);
    if (!v)
        return 1;
    if (json_is_integer(v)) {
        *ns_out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d < -9.2e18 || d > 9.2e18) {
            cn_json_errf(err, "field \"%s\": duration out of range", name);
            return CN_EMALFORMED;
        }
        *ns_out = (int64_t)d;
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (n == 0) {
            *ns_out = 0;
            return 0;
        }
        if (cn_duration_parse(s, n, ns_out) == 0)
            return 0;
        cn_json_errf(err, "field \"%s\": invalid duration \"%.40s\"", name, s);
        return CN_EMALFORMED;
    }
    cn_json_errf(err, "field \"%s\": expected a duration", name);
    return CN_EMALFORMED;
}

int cn_json_get_b64(const json_t *obj, const char *name, struct cn_arena *a,
                    uint8_t **out, size_t *len_out, char *err)
{
    const char *s;
    size_t n, dn;
    uint8_t *d;
    int rc = cn_json_get_str(obj, name, &s, &n, err);
    if (rc != 0)
        return rc;
    d = cn_arena_alloc(a, n / 4 * 3 + 1);
    if (!d) {
        cn_json_errf(err, "field \"%s\": value too large", name);
        return CN_ETOOBIG;
    }
    if (cn_base64_decode(s, n, d, &dn) < 0) {
        cn_json_errf(err, "field \"%s\": illegal base64 data", name);
        return CN_EMALFORMED;
    }
    d[dn] = 0;
    *out = d;
    *len_out = dn;
    return 0;
}
