/* agent/api/rcache.c - the agent's cache of big list answers.
 *
 * Many readers poll the same big list (every sidecar asking for the
 * healthy instances of one service): encoding 1,000 instances is ~1.5 MB
 * of JSON and milliseconds of CPU each time, for an answer that changes
 * only when the service does. An entry keeps the final body (and, through
 * the blob, its gzip form) of one request, keyed by the method and the
 * request minus its blocking parameters, with the result index it was
 * built at. A repeated request sends that index along (if_index); a
 * server whose result index for the read is still the same answers
 * CN_ENOTMODIFIED with fresh meta and no body, and the blob is sent.
 *
 * Correctness rests on the per-read result index: the state bumps it for
 * every change to what the read returns (state/catalog.c bump_name and
 * bump_node), the same index blocking queries rely on. Everything that
 * shapes the body and is not in the state (?filter, ?pretty, the token,
 * ?dc, consistency) is in the key.
 *
 * Bounded: CN_RCACHE_ENTRIES_MAX entries and CN_RCACHE_BYTES_MAX bytes
 * (plain and gzip forms), least recently used first out; bodies under
 * CN_RCACHE_BODY_MIN are cheaper to rebuild than to keep.
 */
#include <errno.h>
#include <string.h>

#include "api_int.h"

struct rc_ent {
    struct cn_lru_node lru;
    uint64_t index;
    struct cn_http_blob *blob;
    size_t size;                       /* cn_http_blob_size when inserted. */
    size_t key_len;
    char key[];
};

struct cn__rcache {
    struct cn_map map;
    struct cn_lru lru;                 /* Head: the most recently used. */
    size_t n, bytes;
};

static struct rc_ent *lru_tail(const struct cn__rcache *c)
{
    return c->lru.tail ? CN_CONTAINER_OF(c->lru.tail, struct rc_ent, lru) : NULL;
}

static void ent_drop(struct cn__rcache *c, struct rc_ent *e)
{
    cn_lru_unlink(&c->lru, &e->lru);
    cn_map_del(&c->map, e->key, e->key_len);
    c->n--;
    c->bytes -= e->size;
    cn_http_blob_unref(e->blob);
    cn_free(e);
}

void cn__rcache_free(struct cn_agent *a)
{
    struct cn__rcache *c = a->rcache;
    if (!c)
        return;
    while (c->lru.tail)
        ent_drop(c, lru_tail(c));
    cn_map_close(&c->map);
    cn_free(c);
    a->rcache = NULL;
}

/* Query parameters that only say when to answer, not what. */
static bool timing_param(const char *p, size_t n)
{
    return (n >= 5 && memcmp(p, "index", 5) == 0 && (n == 5 || p[5] == '=')) ||
           (n >= 4 && memcmp(p, "wait", 4) == 0 && (n == 4 || p[4] == '='));
}

/* method, pretty, path, raw query without index/wait, token; arena
 * memory. false when it does not fit (such a request is not cached). */
static bool build_key(struct cn_http_req *req, enum cn_rpc_method m, const char **key,
                      size_t *len)
{
    struct cn_agent *a = req->app;
    size_t qlen = strlen(req->raw_query), tlen = strlen(req->token);
    /* method, pretty, path, NUL, kept parameters each with '&' (at most
     * qlen + 1 bytes), NUL, token. */
    size_t cap = 2 + req->path_len + 1 + (qlen + 1) + 1 + tlen, at = 0;
    char *k;
    if (cap > CN_RCACHE_KEY_BYTES_MAX || !(k = cn_arena_alloc(&req->arena, cap)))
        return false;
    k[at++] = (char)m;
    k[at++] = req->pretty || a->cfg.pretty_default ? 'p' : '-';
    memcpy(k + at, req->path, req->path_len);
    at += req->path_len;
    k[at++] = '\0';
    for (const char *p = req->raw_query; *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        if (n && !timing_param(p, n)) {
            memcpy(k + at, p, n);
            at += n;
            k[at++] = '&';
        }
        p += n + (amp ? 1 : 0);
    }
    k[at++] = '\0';
    memcpy(k + at, req->token, tlen);
    at += tlen;
    CN_ASSERT(at <= cap);
    *key = k;
    *len = at;
    return true;
}

struct cn_http_blob *cn__rcache_find(struct cn_agent *a, const char *key, size_t key_len,
                                     uint64_t *index)
{
    struct rc_ent *e = a->rcache ? cn_map_get(&a->rcache->map, key, key_len) : NULL;
    if (!e)
        return NULL;
    *index = e->index;
    return cn_http_blob_ref(e->blob);
}

bool cn__rcache_lookup(struct cn_http_req *req, enum cn_rpc_method m, const char **key,
                       size_t *key_len, struct cn_http_blob **hit, uint64_t *index)
{
    *hit = NULL;
    *index = 0;
    if (req->method != CN_HTTP_GET || !build_key(req, m, key, key_len))
        return false;
    *hit = cn__rcache_find(req->app, *key, *key_len, index);
    return true;
}

void cn__rcache_put(struct cn_agent *a, const char *key, size_t key_len, uint64_t index,
                    struct cn_http_blob *blob)
{
    struct cn__rcache *c = a->rcache;
    struct rc_ent *e, *old = NULL;
    size_t size = cn_http_blob_size(blob);
    if (size > CN_RCACHE_BYTES_MAX / 4)
        return; /* One answer must not flush everything else. */
    if (!c) {
        if (!(c = cn_calloc(1, sizeof *c)))
            return;
        cn_map_init(&c->map);
        a->rcache = c;
    }
    if ((old = cn_map_get(&c->map, key, key_len)))
        ent_drop(c, old);
    if (!(e = cn_alloc(sizeof *e + key_len)))
        return;
    memset(e, 0, sizeof *e);
    e->index = index;
    e->key_len = key_len;
    memcpy(e->key, key, key_len);
    if (cn_map_put(&c->map, e->key, key_len, e, NULL) < 0) {
        cn_free(e);
        return;
    }
    e->blob = cn_http_blob_ref(blob);
    e->size = size;
    cn_lru_push(&c->lru, &e->lru);
    c->n++;
    c->bytes += size;
    while (lru_tail(c) != e && (c->n > CN_RCACHE_ENTRIES_MAX || c->bytes > CN_RCACHE_BYTES_MAX))
        ent_drop(c, lru_tail(c));
}

void cn__rcache_touch(struct cn_agent *a, const char *key, size_t key_len)
{
    struct cn__rcache *c = a->rcache;
    struct rc_ent *e = c ? cn_map_get(&c->map, key, key_len) : NULL;
    if (!e)
        return;
    /* The gzip form may have been added since: count it. */
    c->bytes += cn_http_blob_size(e->blob) - e->size;
    e->size = cn_http_blob_size(e->blob);
    cn_lru_touch(&c->lru, &e->lru);
    while (lru_tail(c) != e && c->bytes > CN_RCACHE_BYTES_MAX)
        ent_drop(c, lru_tail(c));
}
