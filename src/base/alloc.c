/* base/alloc.c - allocation with failure injection for tests.
 *
 * Policy (STYLE.md 2.4): NULL comes back on failure and every caller turns
 * it into -ENOMEM. Tests call cn_alloc_fail_after(n) to make the n+1-th
 * allocation fail and check that nothing leaks or half-writes.
 */
#include <stdlib.h>

#include "base.h"

static long fail_after = -1; /* Test hook only; -1 = off. */

void cn_alloc_fail_after(long n) { fail_after = n; }

static bool should_fail(void)
{
    if (fail_after < 0)
        return false;
    if (fail_after == 0)
        return true; /* Stays failing until the test resets it. */
    fail_after--;
    return false;
}

void *cn_alloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size ? size : 1);
}

void *cn_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    if (should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *cn_realloc(void *p, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(p, size ? size : 1);
}

void cn_free(void *p) { free(p); }

char *cn_strndup(const char *s, size_t n)
{
    char *d = cn_alloc(n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

void *cn_memdup(const void *p, size_t n)
{
    void *d = cn_alloc(n);
    if (d && n)
        memcpy(d, p, n);
    return d;
}

/* ---- FIFO pool ---- */

#define FIFO_CHUNK ((size_t)256 << 10)
#define FIFO_BIG (FIFO_CHUNK / 8)     /* Larger: a plain allocation. */
#define FIFO_HDR 16                   /* Keeps payloads 16-byte aligned. */

struct fifo_chunk {
    uint32_t live;                    /* Allocations + 1 while current. */
};
struct fifo_hdr {
    uint32_t big;
    uint32_t len;
};

static void chunk_release(struct fifo_chunk *c)
{
    if (--c->live == 0)
        free(c);
}

void *cn_fifo_alloc(struct cn_fifo *f, size_t n)
{
    struct fifo_hdr *h;
    size_t need = FIFO_HDR + ((n + 15) & ~(size_t)15);
    if (n >= FIFO_BIG) {
        h = cn_alloc(FIFO_HDR + n);
        if (!h)
            return NULL;
        h->big = 1;
        h->len = (uint32_t)n;
        return (uint8_t *)h + FIFO_HDR;
    }
    if (!f->chunk || f->used + need > FIFO_CHUNK) {
        void *c = NULL;
        if (should_fail() || posix_memalign(&c, FIFO_CHUNK, FIFO_CHUNK) != 0)
            return NULL;
        if (f->chunk)
            chunk_release((struct fifo_chunk *)f->chunk);
        f->chunk = c;
        ((struct fifo_chunk *)c)->live = 1;
        f->used = FIFO_HDR; /* The chunk header's slot. */
    }
    h = (struct fifo_hdr *)(f->chunk + f->used);
    h->big = 0;
    h->len = (uint32_t)n;
    f->used += need;
    ((struct fifo_chunk *)f->chunk)->live++;
    return (uint8_t *)h + FIFO_HDR;
}

void cn_fifo_free(void *p)
{
    struct fifo_hdr *h;
    if (!p)
        return;
    h = (struct fifo_hdr *)((uint8_t *)p - FIFO_HDR);
    if (h->big) {
        cn_free(h);
        return;
    }
    chunk_release((struct fifo_chunk *)((uintptr_t)h & ~(uintptr_t)(FIFO_CHUNK - 1)));
}

void cn_fifo_close(struct cn_fifo *f)
{
    if (f->chunk)
        chunk_release((struct fifo_chunk *)f->chunk);
    f->chunk = NULL;
    f->used = 0;
}
