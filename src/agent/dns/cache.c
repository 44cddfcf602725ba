/* agent/dns/cache.c - compiled service answers, per question and index.
 *
 * Building an answer with ldns costs ~10 us for ten SRV records; sending
 * a compiled one costs a shuffle and a few memcpys. A compiled set holds
 * every instance that survived the health filter (not a shuffled subset),
 * so reusing it and permuting its groups per query gives the same answers
 * as compiling afresh, as long as the backend data is the same: entries
 * are keyed by (qtype, lower-cased question name) and valid only for the
 * backend index they were compiled at (dns.h, cn_dns_service_result).
 * The question name fixes everything else a set depends on (service, tag,
 * datacenter, response domain, TTL, owner compression offsets); the
 * configuration is fixed for the server's life.
 *
 * Bounded by CN_DNS_CACHE_ENTRIES_MAX and CN_DNS_CACHE_BYTES_MAX; least
 * recently used entries go first.
 */
#include <errno.h>
#include <string.h>

#include "dns_int.h"

struct cn__dns_cache_ent {
    struct cn_lru_node lru;
    uint64_t index;
    size_t bytes;
    struct cn__dns_set set;
    size_t key_len;
    uint8_t key[2 + DNS_NAME_BYTES_MAX];
};

static size_t make_key(const struct cn__dns_req *req, uint8_t *key)
{
    cn__dns_put16(key, req->qtype);
    memcpy(key + 2, req->qname_lc, req->qname_len);
    return 2u + req->qname_len;
}

void cn__dns_cache_init(struct cn__dns_cache *c)
{
    memset(c, 0, sizeof *c);
    cn_map_init(&c->map);
}

static struct cn__dns_cache_ent *lru_tail(const struct cn__dns_cache *c)
{
    return c->lru.tail ? CN_CONTAINER_OF(c->lru.tail, struct cn__dns_cache_ent, lru) : NULL;
}

static void ent_free(struct cn__dns_cache_ent *e)
{
    cn__dns_set_close(&e->set);
    cn_free(e);
}

void cn__dns_cache_close(struct cn__dns_cache *c)
{
    struct cn__dns_cache_ent *e;
    while ((e = lru_tail(c))) {
        cn_lru_unlink(&c->lru, &e->lru);
        ent_free(e);
    }
    cn_map_close(&c->map);
    memset(c, 0, sizeof *c);
}

static void remove_ent(struct cn__dns_cache *c, struct cn__dns_cache_ent *e)
{
    void *gone = cn_map_del(&c->map, e->key, e->key_len);
    CN_ASSERT(gone == e);
    cn_lru_unlink(&c->lru, &e->lru);
    CN_ASSERT(c->n > 0 && c->bytes >= e->bytes);
    c->n--;
    c->bytes -= e->bytes;
    ent_free(e);
}

const struct cn__dns_set *cn__dns_cache_get(struct cn__dns_cache *c,
                                            const struct cn__dns_req *req,
                                            uint64_t index)
{
    uint8_t key[2 + DNS_NAME_BYTES_MAX];
    size_t kl = make_key(req, key);
    struct cn__dns_cache_ent *e = cn_map_get(&c->map, key, kl);
    if (!e || e->index != index)
        return NULL;
    cn_lru_touch(&c->lru, &e->lru);
    return &e->set;
}

int cn__dns_cache_put(struct cn__dns_cache *c, const struct cn__dns_req *req,
                      uint64_t index, const struct cn__dns_set *set)
{
    struct cn__dns_cache_ent *e, *old;
    int rc;

    CN_ASSERT(index != 0);
    e = cn_calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->key_len = make_key(req, e->key);
    e->index = index;
    if ((rc = cn__dns_set_copy(&e->set, set)) < 0) {
        cn_free(e);
        return rc;
    }
    e->bytes = sizeof *e + cn__dns_set_bytes(&e->set);
    if (e->bytes > CN_DNS_CACHE_BYTES_MAX / 4) {   /* one answer can't */
        ent_free(e);                               /* crowd out the rest */
        return -EMSGSIZE;
    }
    old = cn_map_get(&c->map, e->key, e->key_len);
    if (old)
        remove_ent(c, old);
    if (cn_map_put(&c->map, e->key, e->key_len, e, NULL) < 0) {
        ent_free(e);
        return -ENOMEM;
    }
    cn_lru_push(&c->lru, &e->lru);
    c->n++;
    c->bytes += e->bytes;
    while (c->n > CN_DNS_CACHE_ENTRIES_MAX || c->bytes > CN_DNS_CACHE_BYTES_MAX)
        remove_ent(c, lru_tail(c));
    return 0;
}
