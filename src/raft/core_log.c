/* raft/core_log.c - the in-memory log: an array of owned entries after a
 * (prev_index, prev_term) marker. Pure.
 *
 * The array is a window ents[head .. head+n): compaction advances head and
 * slides the window down only when more than half of it is dead, so both
 * append and compaction are amortized O(1) per entry, and a run of entries
 * stays contiguous (AppendEntries and ready batches point straight into it).
 */
#include <errno.h>

#include "raft_int.h"

uint64_t cn__log_term(const struct cn__raft_log *l, uint64_t index)
{
    if (index == l->prev_index)
        return l->prev_term;
    if (index < l->prev_index || index > cn__log_last(l))
        return 0;
    return cn__log_at(l, index)->term;
}

uint64_t cn__log_last_term(const struct cn__raft_log *l)
{
    return cn__log_term(l, cn__log_last(l));
}

static int reserve_one(struct cn__raft_log *l)
{
    struct cn_raft_entry *p;
    size_t cap;

    if (l->head + l->n < l->cap)
        return 0;
    if (l->head > 0 && l->head >= l->n) {
        /* Half or more of the window is dead: slide instead of growing. */
        memmove(l->ents, l->ents + l->head, l->n * sizeof *l->ents);
        l->head = 0;
        return 0;
    }
    cap = l->cap ? l->cap * 2 : 64;
    p = cn_realloc(l->ents, cap * sizeof *p);
    if (!p)
        return -ENOMEM;
    l->ents = p;
    l->cap = cap;
    return 0;
}

uint8_t *cn__log_dup(struct cn__raft_log *l, const void *p, size_t n)
{
    uint8_t *d = cn_fifo_alloc(&l->payloads, n);
    if (d)
        memcpy(d, p, n);
    return d;
}

int cn__log_append_owned(struct cn__raft_log *l, uint64_t term, uint8_t kind,
                         uint8_t *data, uint32_t len, uint64_t cookie)
{
    struct cn_raft_entry *e;

    CN_ASSERT(term >= cn__log_last_term(l) || l->n == 0);
    CN_ASSERT(len == 0 || data != NULL);
    if (reserve_one(l) < 0) {
        cn_fifo_free(data);
        return -ENOMEM;
    }
    e = &l->ents[l->head + l->n];
    e->index = cn__log_last(l) + 1;
    e->term = term;
    e->cookie = cookie;
    e->kind = kind;
    e->len = len;
    e->data = data;
    l->n++;
    return 0;
}

int cn__log_append(struct cn__raft_log *l, const struct cn_raft_entry *e)
{
    uint8_t *data = NULL;

    CN_ASSERT(e->index == cn__log_last(l) + 1);
    if (e->len > 0) {
        data = cn__log_dup(l, e->data, e->len);
        if (!data)
            return -ENOMEM;
    }
    return cn__log_append_owned(l, e->term, e->kind, data, e->len, 0);
}

void cn__log_truncate_after(struct cn__raft_log *l, uint64_t index)
{
    CN_ASSERT(index >= l->prev_index);
    while (cn__log_last(l) > index) {
        struct cn_raft_entry *e = cn__log_at(l, cn__log_last(l));
        cn_fifo_free(e->data);
        e->data = NULL;
        l->n--;
    }
    CN_ASSERT(cn__log_last(l) == CN_MIN(index, cn__log_last(l)));
}

void cn__log_compact(struct cn__raft_log *l, uint64_t index)
{
    uint64_t term;

    CN_ASSERT(index >= l->prev_index);
    CN_ASSERT(index <= cn__log_last(l));
    term = cn__log_term(l, index);
    while (l->prev_index < index) {
        struct cn_raft_entry *e = &l->ents[l->head];
        cn_fifo_free(e->data);
        e->data = NULL;
        l->head++;
        l->n--;
        l->prev_index++;
    }
    l->prev_term = term;
    if (l->n == 0)
        l->head = 0;
}

void cn__log_reset(struct cn__raft_log *l, uint64_t index, uint64_t term)
{
    cn__log_truncate_after(l, l->prev_index);
    l->head = 0;
    l->prev_index = index;
    l->prev_term = term;
    CN_ASSERT(l->n == 0);
}

void cn__log_close(struct cn__raft_log *l)
{
    cn__log_truncate_after(l, l->prev_index);
    cn_fifo_close(&l->payloads);
    cn_free(l->ents);
    memset(l, 0, sizeof *l);
}
