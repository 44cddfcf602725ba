/* rpc/cat_args.c - arguments of the catalog, health and session reads. */
#include <errno.h>

#include "rpc.h"

int cn_rpc_cat_args_encode(struct cn_buf *out, const char *name,
                           const char *const *tags, size_t n_tags,
                           const char *const *meta_kv, size_t n_meta,
                           bool passing, const struct cn_query_opts *o)
{
    struct cn_mp_writer w;
    size_t start = out->len;
    if (n_tags > CN_RPC_CAT_TAGS_MAX || n_meta > CN_RPC_CAT_META_MAX)
        return CN_ETOOBIG;
    cn_mp_writer_init(&w, out);
    cn_mp_put_array(&w, 5);
    cn_mp_put_cstr(&w, name ? name : "");
    cn_mp_put_array(&w, (uint32_t)n_tags);
    for (size_t i = 0; i < n_tags; i++)
        cn_mp_put_cstr(&w, tags[i]);
    cn_mp_put_array(&w, (uint32_t)(2 * n_meta));
    for (size_t i = 0; i < 2 * n_meta; i++)
        cn_mp_put_cstr(&w, meta_kv[i]);
    cn_mp_put_bool(&w, passing);
    cn_rpc_opts_encode(&w, o);
    if (w.err)
        out->len = start;
    return w.err;
}

/* Copies one string into the block at *off. */
static int take(struct cn_mp_reader *r, char *block, size_t *off, const char **out)
{
    const uint8_t *p;
    uint32_t n;
    if (cn_mp_read_str(r, &p, &n) < 0)
        return CN_EMALFORMED;
    if (n > CN_CATALOG_STR_BYTES_MAX || memchr(p, 0, n))
        return n > CN_CATALOG_STR_BYTES_MAX ? CN_ETOOBIG : CN_EMALFORMED;
    memcpy(block + *off, p, n);
    block[*off + n] = '\0';
    *out = block + *off;
    *off += n + 1;
    return 0;
}

static int decode_into(struct cn_mp_reader *r, struct cn_rpc_cat_args *a, size_t *off)
{
    uint32_t n, nt, nm;
    int rc;
    if (cn_mp_read_array(r, &n) < 0 || n != 5)
        return CN_EMALFORMED;
    if ((rc = take(r, a->block, off, &a->name)) < 0)
        return rc;
    if (cn_mp_read_array(r, &nt) < 0)
        return CN_EMALFORMED;
    if (nt > CN_RPC_CAT_TAGS_MAX)
        return CN_ETOOBIG;
    for (uint32_t i = 0; i < nt; i++)
        if ((rc = take(r, a->block, off, &a->tags[i])) < 0)
            return rc;
    a->n_tags = nt;
    if (cn_mp_read_array(r, &nm) < 0 || nm % 2)
        return CN_EMALFORMED;
    if (nm > 2 * CN_RPC_CAT_META_MAX)
        return CN_ETOOBIG;
    for (uint32_t i = 0; i < nm; i++)
        if ((rc = take(r, a->block, off, &a->meta[i])) < 0)
            return rc;
    a->n_meta = nm / 2;
    if (cn_mp_read_bool(r, &a->passing) < 0 || cn_rpc_opts_decode(r, &a->q) < 0 ||
        cn_mp_left(r) != 0)
        return CN_EMALFORMED;
    return 0;
}

int cn_rpc_cat_args_decode(const uint8_t *p, size_t len, struct cn_rpc_cat_args *out)
{
    struct cn_mp_reader r;
    size_t off = 0;
    int rc;
    memset(out, 0, sizeof *out);
    /* Every string's bytes come from the input, plus one NUL each: the
     * input length bounds the block. */
    out->block = cn_alloc(len + 1);
    if (!out->block)
        return -ENOMEM;
    cn_mp_reader_init(&r, p, len);
    rc = decode_into(&r, out, &off);
    if (rc < 0) {
        cn_free(out->block);
        memset(out, 0, sizeof *out);
        return rc;
    }
    return 0;
}

void cn_rpc_cat_args_free(struct cn_rpc_cat_args *a)
{
    cn_free(a->block);
    a->block = NULL;
}
