/* json/json.h - JSON for the HTTP API: a streaming encoder for responses
 * and validating decode helpers (on jansson) for request bodies.
 *
 * Encoder: writes straight into a cn_buf, compact like Go's json.Marshal
 * or indented like json.MarshalIndent(v, "", "    ") (Consul's ?pretty and
 * -dev output). Strings are escaped as Go does: <, >, & and U+2028/2029 as
 * \u escapes, invalid UTF-8 as U+FFFD, so byte-identical to Consul's output
 * for the same values. Errors latch in enc->err; check it once at the end.
 *
 * Decoder: cn_json_parse() refuses bodies nested deeper than
 * CN_JSON_DEPTH_MAX before jansson sees them. Field lookup is
 * case-insensitive and ignores '_' (Consul accepts "Name", "name" and
 * snake_case aliases like "enable_tag_override"). Getters write their out
 * parameter only on success and format a one-line error naming the field:
 * `Request decode failed: field "Flags": expected an unsigned integer`.
 */
#ifndef CN_JSON_H
#define CN_JSON_H

#include <jansson.h>

#include "base/base.h"

/* ---- encoder ---- */

#define CN_JSON_ENC_DEPTH_MAX 64

struct cn_json_enc {
    struct cn_buf *b;
    int err;              /* First error (-EMSGSIZE, -ENOMEM), else 0. */
    int depth;
    bool pretty;
    bool need_comma;      /* A value was written at this depth. */
    bool after_key;       /* The next value follows "key": directly. */
};

void cn_json_enc_init(struct cn_json_enc *e, struct cn_buf *b, bool pretty);
void cn_json_obj_begin(struct cn_json_enc *e);
void cn_json_obj_end(struct cn_json_enc *e);
void cn_json_arr_begin(struct cn_json_enc *e);
void cn_json_arr_end(struct cn_json_enc *e);
void cn_json_key(struct cn_json_enc *e, const char *key);  /* ASCII literal. */
void cn_json_keyn(struct cn_json_enc *e, const char *key, size_t len); /* Any bytes. */
void cn_json_str(struct cn_json_enc *e, const void *s, size_t len);
void cn_json_cstr(struct cn_json_enc *e, const char *s);   /* NULL -> "". */
void cn_json_u64(struct cn_json_enc *e, uint64_t v);
void cn_json_i64(struct cn_json_enc *e, int64_t v);
void cn_json_double(struct cn_json_enc *e, double v);
void cn_json_bool(struct cn_json_enc *e, bool v);
void cn_json_null(struct cn_json_enc *e);
/* Base64 string (Go's []byte encoding); null when len == 0 and
 * null_if_empty (Consul's KV Value). */
void cn_json_b64(struct cn_json_enc *e, const void *p, size_t len,
                 bool null_if_empty);
/* Emits already-encoded JSON text as one value. */
void cn_json_raw(struct cn_json_enc *e, const char *json, size_t len);
/* Emits a jansson value (objects in jansson's insertion order). */
void cn_json_value(struct cn_json_enc *e, const json_t *v);
/* Ends a document: "\n" when pretty (Consul's ?pretty adds one). */
void cn_json_finish(struct cn_json_enc *e);

/* Convenience key+value pairs. */
void cn_json_kv_str(struct cn_json_enc *e, const char *key, const char *s);
void cn_json_kv_u64(struct cn_json_enc *e, const char *key, uint64_t v);
void cn_json_kv_bool(struct cn_json_enc *e, const char *key, bool v);

/* ---- decoder ---- */

#define CN_JSON_ERR_BYTES 200

/* Parses len bytes; on error returns CN_EMALFORMED with a one-line reason
 * in err (CN_JSON_ERR_BYTES). The caller json_decref()s the result. */
int cn_json_parse(const void *data, size_t len, json_t **out, char *err);

/* Case- and underscore-insensitive member lookup; NULL if absent or if
 * obj is not an object. An exact-case match wins over a folded one. */
json_t *cn_json_get(const json_t *obj, const char *name);

/* Typed getters. Absent or JSON null: return 1 and leave *out alone.
 * Present and valid: 0. Wrong type/range: CN_EMALFORMED + err. */
int cn_json_get_str(const json_t *obj, const char *name, const char **out,
                    size_t *len_out, char *err);
int cn_json_get_u64(const json_t *obj, const char *name, uint64_t *out,
                    char *err);
int cn_json_get_i64(const json_t *obj, const char *name, int64_t *out,
                    char *err);
int cn_json_get_bool(const json_t *obj, const char *name, bool *out,
                     char *err);
/* A duration as a Go string ("15s", "0.001s") or a number of ns. */
int cn_json_get_duration(const json_t *obj, const char *name, int64_t *ns_out,
                         char *err);
/* Base64 text decoded into a, arena memory (NUL-terminated). */
int cn_json_get_b64(const json_t *obj, const char *name, struct cn_arena *a,
                    uint8_t **out, size_t *len_out, char *err);

/* Formats the standard decode error into err. */
void cn_json_errf(char *err, const char *fmt, ...) CN_PRINTF(2, 3);

#endif
