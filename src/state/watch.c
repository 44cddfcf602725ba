/* state/watch.c - watch registry for blocking queries.
 *
 * A watch hangs in a list: a table list, or a bucket found by hashing
 * (kind, key bytes) into an open-addressing table. Lists keep arming order.
 *
 * The cost that matters is a write: with 10,000 parked watchers a write to
 * key K must not look at all of them. A write probes
 *   - the KEY bucket of K (one hash of K), and
 *   - the PREFIX bucket of K[0..l) for each prefix length l that has at
 *     least one prefix bucket (a sorted list of lengths in use).
 * The hash is FNV-1a run once over K: the state after l bytes, finished
 * with a mixer, is the hash of K[0..l). So a write costs O(len(K) + lengths
 * in use + watchers fired), however many watches are parked elsewhere.
 *
 * Touched watches move to the firing list; cn__watch_fire() sorts it by
 * arming sequence and calls them one at a time, taking the head each time,
 * so a callback may cancel (unlink) a watch that is still waiting, or arm
 * watches (they go to buckets and wait for the next change).
 */
#include <errno.h>

#include "state_int.h"

struct cn__wbucket {
    struct cn__wlist list;   /* First: watches point at it. */
    uint64_t hash;
    uint32_t key_len;
    uint8_t key[];
};

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t finish(uint64_t h, size_t len, unsigned kind)
{
    h ^= (uint64_t)len * 0x9e3779b97f4a7c15ull ^ (uint64_t)kind << 56;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

static uint64_t hash_bytes(const uint8_t *p, size_t n, unsigned kind)
{
    uint64_t h = FNV_OFFSET;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * FNV_PRIME;
    return finish(h, n, kind);
}

void cn__watch_init(struct cn__watch_reg *reg)
{
    memset(reg, 0, sizeof *reg);
}

/* ---- intrusive list ---- */

static void list_append(struct cn__wlist *l, struct cn_watch *w)
{
    w->bucket = l;
    w->next = NULL;
    w->prev = l->tail;
    if (l->tail)
        l->tail->next = w;
    else
        l->head = w;
    l->tail = w;
}

static void list_remove(struct cn__wlist *l, struct cn_watch *w)
{
    CN_ASSERT(w->bucket == l);
    if (w->prev)
        w->prev->next = w->next;
    else
        l->head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else
        l->tail = w->prev;
    w->next = w->prev = NULL;
    w->bucket = NULL;
}

/* Moves every watch of src to the end of dst. */
static void list_splice(struct cn__wlist *dst, struct cn__wlist *src)
{
    if (!src->head)
        return;
    for (struct cn_watch *w = src->head; w; w = w->next)
        w->bucket = dst;
    src->head->prev = dst->tail;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    src->head = src->tail = NULL;
}

/* ---- prefix lengths in use ---- */

static uint32_t plen_lower_bound(const struct cn__watch_reg *reg, uint32_t len)
{
    uint32_t lo = 0, hi = reg->n_plens;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (reg->plens[mid].len < len)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int plen_add(struct cn__watch_reg *reg, uint32_t len)
{
    uint32_t i = plen_lower_bound(reg, len);
    if (i < reg->n_plens && reg->plens[i].len == len) {
        reg->plens[i].n++;
        return 0;
    }
    if (reg->n_plens == reg->cap_plens) {
        uint32_t cap = reg->cap_plens ? reg->cap_plens * 2 : 8;
        struct cn__plen *p = cn_realloc(reg->plens, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        reg->plens = p;
        reg->cap_plens = cap;
    }
    memmove(&reg->plens[i + 1], &reg->plens[i],
            (reg->n_plens - i) * sizeof reg->plens[0]);
    reg->plens[i].len = len;
    reg->plens[i].n = 1;
    reg->n_plens++;
    return 0;
}

static void plen_del(struct cn__watch_reg *reg, uint32_t len)
{
    uint32_t i = plen_lower_bound(reg, len);
    CN_ASSERT(i < reg->n_plens && reg->plens[i].len == len);
    CN_ASSERT(reg->plens[i].n > 0);
    if (--reg->plens[i].n == 0) {
        memmove(&reg->plens[i], &reg->plens[i + 1],
                (reg->n_plens - i - 1) * sizeof reg->plens[0]);
        reg->n_plens--;
    }
}

/* ---- bucket table ---- */

static struct cn__wbucket **slot_find(const struct cn__watch_reg *reg,
                                      uint64_t h, unsigned kind,
                                      const uint8_t *key, size_t key_len)
{
    uint32_t mask, i;
    if (!reg->cap)
        return NULL;
    mask = reg->cap - 1;
    for (i = (uint32_t)h & mask; reg->slots[i]; i = (i + 1) & mask) {
        struct cn__wbucket *b = reg->slots[i];
        if (b->hash == h && b->list.kind == kind && b->key_len == key_len &&
            (key_len == 0 || memcmp(b->key, key, key_len) == 0))
            return &reg->slots[i];
    }
    return NULL;
}

static void slot_put(struct cn__wbucket **slots, uint32_t cap,
                     struct cn__wbucket *b)
{
    uint32_t mask = cap - 1, i;
    for (i = (uint32_t)b->hash & mask; slots[i]; i = (i + 1) & mask)
        ;
    slots[i] = b;
}

static int table_grow(struct cn__watch_reg *reg)
{
    uint32_t cap = reg->cap ? reg->cap * 2 : 16;
    struct cn__wbucket **slots;
    if (reg->cap >= CN_MAP_ENTRIES_MAX)
        return -ENOMEM;
    slots = cn_calloc(cap, sizeof *slots);
    if (!slots)
        return -ENOMEM;
    for (uint32_t i = 0; i < reg->cap; i++)
        if (reg->slots[i])
            slot_put(slots, cap, reg->slots[i]);
    cn_free(reg->slots);
    reg->slots = slots;
    reg->cap = cap;
    return 0;
}

/* Backward-shift deletion (no tombstones in the table). */
static void slot_del(struct cn__watch_reg *reg, struct cn__wbucket **s)
{
    uint32_t mask = reg->cap - 1, i = (uint32_t)(s - reg->slots), j;
    for (j = (i + 1) & mask; reg->slots[j]; j = (j + 1) & mask) {
        uint32_t home = (uint32_t)reg->slots[j]->hash & mask;
        bool in_range = (i <= j) ? (i < home && home <= j)
                                 : (i < home || home <= j);
        if (!in_range) {
            reg->slots[i] = reg->slots[j];
            i = j;
        }
    }
    reg->slots[i] = NULL;
    reg->count--;
}

static void bucket_drop(struct cn__watch_reg *reg, struct cn__wbucket *b)
{
    struct cn__wbucket **s = slot_find(reg, b->hash, b->list.kind, b->key,
                                       b->key_len);
    CN_ASSERT(s != NULL && *s == b);
    CN_ASSERT(b->list.head == NULL);
    slot_del(reg, s);
    if (b->list.kind == CN_WATCH_KV_PREFIX)
        plen_del(reg, b->key_len);
    else if (b->list.kind == CN_WATCH_KV_KEY)
        reg->n_key_buckets--;
    cn_free(b);
}

static int bucket_get(struct cn__watch_reg *reg, unsigned kind,
                      const uint8_t *key, size_t key_len,
                      struct cn__wbucket **out)
{
    uint64_t h = hash_bytes(key, key_len, kind);
    struct cn__wbucket **s = slot_find(reg, h, kind, key, key_len), *b;
    int rc;
    if (s) {
        *out = *s;
        return 0;
    }
    if ((uint64_t)(reg->count + 1) * 4 > (uint64_t)reg->cap * 3 &&
        (rc = table_grow(reg)) < 0)
        return rc;
    b = cn_alloc(sizeof *b + key_len);
    if (!b)
        return -ENOMEM;
    if (kind == CN_WATCH_KV_PREFIX && plen_add(reg, (uint32_t)key_len) < 0) {
        cn_free(b);
        return -ENOMEM;
    }
    if (kind == CN_WATCH_KV_KEY)
        reg->n_key_buckets++;
    memset(&b->list, 0, sizeof b->list);
    b->list.kind = (uint8_t)kind;
    b->hash = h;
    b->key_len = (uint32_t)key_len;
    if (key_len)
        memcpy(b->key, key, key_len);
    slot_put(reg->slots, reg->cap, b);
    reg->count++;
    *out = b;
    return 0;
}

/* ---- public API ---- */

static void arm(struct cn__watch_reg *reg, struct cn__wlist *l,
                struct cn_watch *w)
{
    list_append(l, w);
    w->seq = ++reg->seq;
    w->armed = true;
    reg->armed++;
}

int cn_state_watch_kv(struct cn_state *st, struct cn_watch *w,
                      enum cn_watch_kind kind, const uint8_t *key,
                      size_t key_len)
{
    struct cn__watch_reg *reg = &st->watches;
    struct cn__wbucket *b;
    int rc;
    CN_ASSERT(w != NULL && w->fn != NULL);
    if (kind != CN_WATCH_KV_KEY && kind != CN_WATCH_KV_PREFIX)
        return -EINVAL;
    if (key_len > CN_KV_KEY_BYTES_MAX)
        return -EINVAL;
    cn_state_watch_cancel(st, w); /* Re-arming moves the watch. */
    rc = bucket_get(reg, kind, key, key_len, &b);
    if (rc < 0)
        return rc;
    arm(reg, &b->list, w);
    return 0;
}

int cn_state_watch_name(struct cn_state *st, struct cn_watch *w,
                        enum cn_watch_kind kind, const char *name,
                        size_t name_len)
{
    struct cn__watch_reg *reg = &st->watches;
    struct cn__wbucket *b;
    uint8_t lc[CN_CATALOG_STR_BYTES_MAX];
    int rc;
    CN_ASSERT(w != NULL && w->fn != NULL);
    if ((kind != CN_WATCH_SERVICE && kind != CN_WATCH_NODE) ||
        name_len > sizeof lc)
        return -EINVAL;
    for (size_t i = 0; i < name_len; i++) /* Names are case-insensitive. */
        lc[i] = name[i] >= 'A' && name[i] <= 'Z' ? (uint8_t)(name[i] + 32)
                                                 : (uint8_t)name[i];
    cn_state_watch_cancel(st, w);
    rc = bucket_get(reg, kind, lc, name_len, &b);
    if (rc < 0)
        return rc;
    arm(reg, &b->list, w);
    return 0;
}

int cn_state_watch_table(struct cn_state *st, struct cn_watch *w,
                         enum cn_state_table table)
{
    CN_ASSERT(w != NULL && w->fn != NULL);
    if ((unsigned)table == 0 || (unsigned)table >= CN__TABLES_MAX)
        return -EINVAL;
    cn_state_watch_cancel(st, w);
    arm(&st->watches, &st->watches.tables[table], w);
    return 0;
}

void cn_state_watch_cancel(struct cn_state *st, struct cn_watch *w)
{
    struct cn__watch_reg *reg = &st->watches;
    struct cn__wlist *l;
    if (!w->armed)
        return;
    l = w->bucket;
    CN_ASSERT(l != NULL);
    list_remove(l, w);
    w->armed = false;
    CN_ASSERT(reg->armed > 0);
    reg->armed--;
    if (l->kind != 0 && l->head == NULL)
        bucket_drop(reg, (struct cn__wbucket *)(void *)l);
}

size_t cn_state_watch_count(const struct cn_state *st)
{
    return st->watches.armed;
}

/* ---- touching ---- */

static void touch_slot(struct cn__watch_reg *reg, uint64_t h, unsigned kind,
                       const uint8_t *key, size_t len)
{
    struct cn__wbucket **s = slot_find(reg, h, kind, key, len);
    if (s) {
        struct cn__wbucket *b = *s;
        list_splice(&reg->firing, &b->list);
        bucket_drop(reg, b);
    }
}

void cn__watch_touch_kv(struct cn__watch_reg *reg, const uint8_t *key,
                        size_t key_len)
{
    uint64_t h = FNV_OFFSET;
    uint32_t j = 0;
    size_t l;
    if (reg->count == 0)
        return;
    for (l = 0;; l++) {
        /* Buckets can vanish as we go; re-check bounds every time. */
        while (j < reg->n_plens && reg->plens[j].len < l)
            j++;
        if (j < reg->n_plens && reg->plens[j].len == l)
            touch_slot(reg, finish(h, l, CN_WATCH_KV_PREFIX),
                       CN_WATCH_KV_PREFIX, key, l);
        if (l == key_len)
            break;
        if (j >= reg->n_plens && reg->n_key_buckets == 0)
            return;
        h = (h ^ key[l]) * FNV_PRIME;
    }
    if (reg->n_key_buckets)
        touch_slot(reg, finish(h, key_len, CN_WATCH_KV_KEY), CN_WATCH_KV_KEY,
                   key, key_len);
}

void cn__watch_touch_name(struct cn__watch_reg *reg, unsigned kind,
                          const uint8_t *name_lc, size_t len)
{
    if (reg->count)
        touch_slot(reg, hash_bytes(name_lc, len, kind), kind, name_lc, len);
}

void cn__watch_touch_table(struct cn__watch_reg *reg, unsigned table)
{
    CN_ASSERT(table > 0 && table < CN__TABLES_MAX);
    list_splice(&reg->firing, &reg->tables[table]);
}

void cn__watch_touch_all(struct cn__watch_reg *reg)
{
    for (unsigned t = 1; t < CN__TABLES_MAX; t++)
        list_splice(&reg->firing, &reg->tables[t]);
    for (uint32_t i = 0; i < reg->cap; i++) {
        while (reg->slots[i]) { /* Deletion shifts entries into slot i. */
            struct cn__wbucket *b = reg->slots[i];
            list_splice(&reg->firing, &b->list);
            bucket_drop(reg, b);
        }
    }
}

/* Bottom-up merge sort of the firing list by seq: lists from several
 * buckets interleave, and callbacks must run in arming order. */
static struct cn_watch *merge(struct cn_watch *a, struct cn_watch *b)
{
    struct cn_watch head, *t = &head;
    while (a && b) {
        if (a->seq < b->seq) {
            t->next = a;
            a = a->next;
        } else {
            t->next = b;
            b = b->next;
        }
        t = t->next;
    }
    t->next = a ? a : b;
    return head.next;
}

static void sort_firing(struct cn__wlist *l)
{
    struct cn_watch *parts[64] = {0}, *w = l->head, *res = NULL, *prev = NULL;
    while (w) {
        struct cn_watch *next = w->next;
        int i;
        w->next = NULL;
        for (i = 0; i < 64 && parts[i]; i++) {
            w = merge(parts[i], w);
            parts[i] = NULL;
        }
        parts[i == 64 ? 63 : i] = w;
        w = next;
    }
    for (int i = 0; i < 64; i++)
        if (parts[i])
            res = res ? merge(parts[i], res) : parts[i];
    l->head = res;
    for (w = res; w; w = w->next) { /* Rebuild back links. */
        w->prev = prev;
        prev = w;
    }
    l->tail = prev;
}

void cn__watch_fire(struct cn__watch_reg *reg)
{
    struct cn_watch *w;
    if (!reg->firing.head)
        return;
    sort_firing(&reg->firing);
    while ((w = reg->firing.head) != NULL) {
        list_remove(&reg->firing, w);
        w->armed = false;
        CN_ASSERT(reg->armed > 0);
        reg->armed--;
        w->fn(w);
    }
}

void cn__watch_close(struct cn__watch_reg *reg)
{
    /* Dropped without firing; leave every watch unarmed so a later cancel
     * by its owner is a harmless no-op. */
    cn__watch_touch_all(reg);
    for (struct cn_watch *w = reg->firing.head, *n; w; w = n) {
        n = w->next;
        w->next = w->prev = NULL;
        w->bucket = NULL;
        w->armed = false;
    }
    cn_free(reg->slots);
    cn_free(reg->plens);
    memset(reg, 0, sizeof *reg);
}
