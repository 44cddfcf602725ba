/* base/buf.c - bounded byte buffers and request arenas. */
#include <errno.h>
#include <stdio.h>

#include "base.h"

void cn_buf_init(struct cn_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void cn_buf_close(struct cn_buf *b)
{
    cn_free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void cn_buf_reset(struct cn_buf *b) { b->len = 0; }

int cn_buf_reserve(struct cn_buf *b, size_t n)
{
    size_t want, cap;
    uint8_t *p;

    CN_ASSERT(b->len <= b->cap);
    if (n > b->max - b->len) /* Never len + n > max: it can wrap. */
        return -EMSGSIZE;
    want = b->len + n + 1;   /* +1 keeps room for a NUL terminator. */
    if (want <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    if (cap > b->max + 1)
        cap = b->max + 1;
    p = cn_realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cn_buf_append(struct cn_buf *b, const void *p, size_t n)
{
    int rc = cn_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int cn_buf_putc(struct cn_buf *b, uint8_t c)
{
    if (b->len + 1 < b->cap && b->len < b->max) {
        b->data[b->len++] = c;
        return 0;
    }
    return cn_buf_append(b, &c, 1);
}

int cn_buf_puts(struct cn_buf *b, const char *s)
{
    return cn_buf_append(b, s, strlen(s));
}

int cn_buf_printf(struct cn_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;
    size_t room = b->cap > b->len ? b->cap - b->len : 0;

    va_start(ap, fmt);
    n = vsnprintf(room ? (char *)b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    if ((size_t)n < room) {
        if ((size_t)n > b->max - b->len)
            return -EMSGSIZE;
        b->len += (size_t)n;
        return 0;
    }
    rc = cn_buf_reserve(b, (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

size_t cn_u64_to_str(uint64_t v, char *out)
{
    char tmp[21];
    size_t n = 0, i;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

int cn_buf_put_u64(struct cn_buf *b, uint64_t v)
{
    char tmp[21];
    size_t n = cn_u64_to_str(v, tmp);
    return cn_buf_append(b, tmp, n);
}

int cn_buf_put_i64(struct cn_buf *b, int64_t v)
{
    int rc;
    if (v >= 0)
        return cn_buf_put_u64(b, (uint64_t)v);
    rc = cn_buf_putc(b, '-');
    if (rc < 0)
        return rc;
    return cn_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
}

uint8_t *cn_buf_steal(struct cn_buf *b, size_t *len_out)
{
    uint8_t *p;
    if (cn_buf_reserve(b, 0) < 0)
        return NULL;
    p = b->data;
    p[b->len] = '\0';
    *len_out = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}

/* ---- arena ---- */

struct cn_arena_chunk {
    struct cn_arena_chunk *next;
    size_t used;
    size_t cap;
    _Alignas(16) uint8_t data[];
};

/* Under ASan every block is followed by a poisoned redzone, so that a
 * write past an arena block is caught like one past a malloc'd block. */
#if defined(__SANITIZE_ADDRESS__)
#define ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_ASAN 1
#endif
#endif
#ifdef ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define ARENA_REDZONE 16
#define ARENA_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define ARENA_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define ARENA_REDZONE 0
#define ARENA_POISON(p, n) ((void)(p), (void)(n))
#define ARENA_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ARENA_CHUNK_BYTES 1024 /* A typical request head fits one chunk; 10k parked requests hold one each. */

void cn_arena_init(struct cn_arena *a, size_t max_bytes)
{
    a->head = NULL;
    a->used_bytes = 0;
    a->max_bytes = max_bytes;
}

void cn_arena_close(struct cn_arena *a)
{
    struct cn_arena_chunk *c = a->head, *n;
    while (c) {
        n = c->next;
        ARENA_UNPOISON(c->data, c->cap);
        cn_free(c);
        c = n;
    }
    a->head = NULL;
    a->used_bytes = 0;
}

void cn_arena_reset(struct cn_arena *a)
{
    struct cn_arena_chunk *c = a->head, *n;
    if (!c)
        return;
    /* Keep the oldest (last) chunk if it is the standard size; free rest. */
    while (c->next) {
        n = c->next;
        ARENA_UNPOISON(c->data, c->cap);
        cn_free(c);
        c = n;
    }
    if (c->cap != ARENA_CHUNK_BYTES) {
        ARENA_UNPOISON(c->data, c->cap);
        cn_free(c);
        a->head = NULL;
    } else {
        ARENA_UNPOISON(c->data, c->cap);
        c->used = 0;
        a->head = c;
    }
    a->used_bytes = 0;
}

void *cn_arena_alloc(struct cn_arena *a, size_t size)
{
    struct cn_arena_chunk *c = a->head;
    size_t need = ((size + 15) & ~(size_t)15) + ARENA_REDZONE, cap;

    if (need < size || need > a->max_bytes - a->used_bytes ||
        a->used_bytes > a->max_bytes)
        return NULL;
    if (!c || c->cap - c->used < need) {
        cap = need > ARENA_CHUNK_BYTES ? need : ARENA_CHUNK_BYTES;
        c = cn_alloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    CN_ASSERT(c->cap - c->used >= need);
    c->used += need;
    a->used_bytes += need;
    ARENA_POISON(c->data + c->used - need + size, need - size);
    return c->data + c->used - need;
}

char *cn_arena_strndup(struct cn_arena *a, const char *s, size_t n)
{
    char *d;
    if (n == SIZE_MAX)
        return NULL;
    d = cn_arena_alloc(a, n + 1);
    if (!d)
        return NULL;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
