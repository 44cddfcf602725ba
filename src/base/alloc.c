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
