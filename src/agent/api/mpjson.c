/* agent/api/mpjson.c - MessagePack <-> JSON for server replies.
 *
 * The state store's encoders already give rows Consul's field names and
 * order, so a reply turns into the response one to one: map -> object (in
 * order), array -> array, str -> string, bin -> base64 (Go's []byte), ints
 * -> numbers, nil -> null. The jansson form feeds ?filter= (which
 * evaluates jansson values); the reverse direction stores opaque JSON
 * (check Definition, service Proxy/Connect) as MessagePack maps.
 * Depth is bounded by CN_MP_DEPTH_MAX / CN_JSON_DEPTH_MAX.
 */
#include <errno.h>
#include <stdio.h>

#include "agent/agent_int.h"
#include "api_int.h"

int cn__mp_to_json(struct cn_mp_reader *r, struct cn_json_enc *e, int depth)
{
    struct cn_mp_obj o;
    if (depth > CN_MP_DEPTH_MAX || cn_mp_read(r, &o) < 0)
        return CN_EMALFORMED;
    switch (o.type) {
    case CN_MP_NIL: cn_json_null(e); return 0;
    case CN_MP_BOOL: cn_json_bool(e, o.v.b); return 0;
    case CN_MP_UINT: cn_json_u64(e, o.v.u); return 0;
    case CN_MP_INT: cn_json_i64(e, o.v.i); return 0;
    case CN_MP_FLOAT: cn_json_double(e, o.v.f); return 0;
    case CN_MP_STR: cn_json_str(e, o.v.s.p, o.v.s.len); return 0;
    case CN_MP_BIN: cn_json_b64(e, o.v.s.p, o.v.s.len, false); return 0;
    case CN_MP_EXT: cn_json_null(e); return 0;
    case CN_MP_ARRAY:
        cn_json_arr_begin(e);
        for (uint32_t i = 0; i < o.v.n; i++)
            if (cn__mp_to_json(r, e, depth + 1) < 0)
                return CN_EMALFORMED;
        cn_json_arr_end(e);
        return 0;
    case CN_MP_MAP:
        cn_json_obj_begin(e);
        for (uint32_t i = 0; i < o.v.n; i++) {
            const uint8_t *k;
            uint32_t kl;
            /* Keys are field names or map keys the state bounds by
             * CN_CATALOG_STR_BYTES_MAX. */
            if (cn_mp_read_str(r, &k, &kl) < 0 || kl > CN_CATALOG_STR_BYTES_MAX ||
                memchr(k, 0, kl))
                return CN_EMALFORMED;
            cn_json_keyn(e, (const char *)k, kl);
            if (cn__mp_to_json(r, e, depth + 1) < 0)
                return CN_EMALFORMED;
        }
        cn_json_obj_end(e);
        return 0;
    }
    return CN_EMALFORMED;
}

json_t *cn__mp_to_jansson(struct cn_mp_reader *r, int depth)
{
    struct cn_mp_obj o;
    json_t *v;
    if (depth > CN_MP_DEPTH_MAX || cn_mp_read(r, &o) < 0)
        return NULL;
    switch (o.type) {
    case CN_MP_NIL: return json_null();
    case CN_MP_BOOL: return json_boolean(o.v.b);
    case CN_MP_UINT: return json_integer((json_int_t)o.v.u);
    case CN_MP_INT: return json_integer(o.v.i);
    case CN_MP_FLOAT: return json_real(o.v.f);
    case CN_MP_STR:
    case CN_MP_BIN: return json_stringn_nocheck((const char *)o.v.s.p, o.v.s.len);
    case CN_MP_EXT: return json_null();
    case CN_MP_ARRAY:
        v = json_array();
        for (uint32_t i = 0; v && i < o.v.n; i++) {
            json_t *x = cn__mp_to_jansson(r, depth + 1);
            if (!x || json_array_append_new(v, x) < 0) {
                json_decref(v);
                return NULL;
            }
        }
        return v;
    case CN_MP_MAP:
        v = json_object();
        for (uint32_t i = 0; v && i < o.v.n; i++) {
            const uint8_t *k;
            uint32_t kl;
            json_t *x;
            if (cn_mp_read_str(r, &k, &kl) < 0 || !(x = cn__mp_to_jansson(r, depth + 1)) ||
                json_object_setn_new_nocheck(v, (const char *)k, kl, x) < 0) {
                json_decref(v);
                return NULL;
            }
        }
        return v;
    }
    return NULL;
}

int cn__json_to_mp(const json_t *v, struct cn_mp_writer *w, int depth)
{
    const char *k;
    size_t klen, i;
    json_t *x;
    if (depth > CN_JSON_DEPTH_MAX)
        return CN_EMALFORMED;
    switch (json_typeof(v)) {
    case JSON_NULL: cn_mp_put_nil(w); return 0;
    case JSON_TRUE: cn_mp_put_bool(w, true); return 0;
    case JSON_FALSE: cn_mp_put_bool(w, false); return 0;
    case JSON_INTEGER: cn_mp_put_int(w, json_integer_value(v)); return 0;
    case JSON_REAL: cn_mp_put_double(w, json_real_value(v)); return 0;
    case JSON_STRING: cn_mp_put_str(w, json_string_value(v), json_string_length(v)); return 0;
    case JSON_ARRAY:
        cn_mp_put_array(w, (uint32_t)json_array_size(v));
        json_array_foreach(v, i, x)
            if (cn__json_to_mp(x, w, depth + 1) < 0)
                return CN_EMALFORMED;
        return 0;
    case JSON_OBJECT:
        cn_mp_put_map(w, (uint32_t)json_object_size(v));
        json_object_keylen_foreach((json_t *)v, k, klen, x) {
            cn_mp_put_str(w, k, klen);
            if (cn__json_to_mp(x, w, depth + 1) < 0)
                return CN_EMALFORMED;
        }
        return 0;
    }
    return CN_EMALFORMED;
}
