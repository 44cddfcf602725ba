/* server/ttl.c - the leader's session TTL table (pure bookkeeping).
 *
 * Consul's leader keeps one timer per TTL session (agent/consul/
 * session_ttl.go): created or renewed, a session expires TTL x
 * SessionTTLMultiplier (2) later; a new leader starts every timer over.
 * Renewals are not Raft writes, so this table lives only on the leader.
 * Here: a map by ID, and a tree by (deadline, ID) so the next expiry is
 * the first node. No clock: the caller passes now_ms.
 */
#include <errno.h>

#include "server_int.h"

struct cn__ttl_entry {
    struct cn_rb_node node;        /* by_deadline */
    uint8_t key[8 + CN_SESSION_ID_BYTES];
    size_t key_len;
    char id[CN_SESSION_ID_BYTES + 1];
    uint64_t deadline_ms;
    uint64_t gen;                  /* Mark for cn__ttl_sweep. */
};

static void entry_key(const struct cn_rb_node *n, const uint8_t **key, size_t *len)
{
    const struct cn__ttl_entry *e = CN_CONTAINER_OF(n, const struct cn__ttl_entry, node);
    *key = e->key;
    *len = e->key_len;
}

void cn__ttl_init(struct cn__ttl_table *t)
{
    memset(t, 0, sizeof *t);
    cn_map_init(&t->by_id);
    cn_rb_init(&t->by_deadline, entry_key);
}

void cn__ttl_close(struct cn__ttl_table *t)
{
    struct cn_rb_node *n = cn_rb_first(&t->by_deadline), *next;
    for (; n; n = next) {
        next = cn_rb_next(n);
        cn_free(CN_CONTAINER_OF(n, struct cn__ttl_entry, node));
    }
    cn_map_close(&t->by_id);
    cn__ttl_init(t);
}

static void set_key(struct cn__ttl_entry *e)
{
    size_t idl = strlen(e->id);
    for (int i = 0; i < 8; i++)
        e->key[i] = (uint8_t)(e->deadline_ms >> (56 - 8 * i));
    memcpy(e->key + 8, e->id, idl);
    e->key_len = 8 + idl;
}

int cn__ttl_set(struct cn__ttl_table *t, const char *id, uint64_t deadline_ms)
{
    size_t idl = strlen(id);
    struct cn__ttl_entry *e;
    if (idl == 0 || idl > CN_SESSION_ID_BYTES)
        return -EINVAL;
    e = cn_map_get(&t->by_id, id, idl);
    if (e) {
        cn_rb_remove(&t->by_deadline, &e->node);
    } else {
        e = cn_calloc(1, sizeof *e);
        if (!e)
            return -ENOMEM;
        memcpy(e->id, id, idl);
        if (cn_map_put(&t->by_id, e->id, idl, e, NULL) < 0) {
            cn_free(e);
            return -ENOMEM;
        }
    }
    e->deadline_ms = deadline_ms;
    e->gen = t->gen;
    set_key(e);
    CN_ASSERT(cn_rb_insert(&t->by_deadline, &e->node) == NULL); /* IDs are unique. */
    return 0;
}

static void drop(struct cn__ttl_table *t, struct cn__ttl_entry *e)
{
    cn_rb_remove(&t->by_deadline, &e->node);
    CN_ASSERT(cn_map_del(&t->by_id, e->id, strlen(e->id)) == e);
    cn_free(e);
}

bool cn__ttl_remove(struct cn__ttl_table *t, const char *id)
{
    struct cn__ttl_entry *e = cn_map_get(&t->by_id, id, strlen(id));
    if (!e)
        return false;
    drop(t, e);
    return true;
}

bool cn__ttl_has(const struct cn__ttl_table *t, const char *id)
{
    return cn_map_get(&t->by_id, id, strlen(id)) != NULL;
}

void cn__ttl_mark(struct cn__ttl_table *t, const char *id)
{
    struct cn__ttl_entry *e = cn_map_get(&t->by_id, id, strlen(id));
    if (e)
        e->gen = t->gen;
}

uint64_t cn__ttl_next(const struct cn__ttl_table *t)
{
    struct cn_rb_node *n = cn_rb_first(&t->by_deadline);
    return n ? CN_CONTAINER_OF(n, struct cn__ttl_entry, node)->deadline_ms : 0;
}

bool cn__ttl_pop_expired(struct cn__ttl_table *t, uint64_t now_ms,
                         char id_out[CN_SESSION_ID_BYTES + 1])
{
    struct cn_rb_node *n = cn_rb_first(&t->by_deadline);
    struct cn__ttl_entry *e;
    if (!n)
        return false;
    e = CN_CONTAINER_OF(n, struct cn__ttl_entry, node);
    if (e->deadline_ms > now_ms)
        return false;
    memcpy(id_out, e->id, strlen(e->id) + 1);
    drop(t, e);
    return true;
}

size_t cn__ttl_count(const struct cn__ttl_table *t)
{
    return t->by_id.count;
}

void cn__ttl_begin_mark(struct cn__ttl_table *t)
{
    t->gen++;
}

size_t cn__ttl_sweep(struct cn__ttl_table *t)
{
    struct cn_rb_node *n = cn_rb_first(&t->by_deadline), *next;
    size_t dropped = 0;
    for (; n; n = next) {
        struct cn__ttl_entry *e = CN_CONTAINER_OF(n, struct cn__ttl_entry, node);
        next = cn_rb_next(n);
        if (e->gen != t->gen) {
            drop(t, e);
            dropped++;
        }
    }
    return dropped;
}

int cn__ttl_ms(const char *ttl, uint64_t *out_ms)
{
    int64_t ns;
    if (!ttl || !*ttl)
        return CN_ENOTFOUND;
    if (cn_duration_parse(ttl, strlen(ttl), &ns) < 0 || ns < 0)
        return CN_EMALFORMED;
    if (ns == 0)
        return CN_ENOTFOUND;
    *out_ms = (uint64_t)ns / 1000000u;
    return 0;
}
