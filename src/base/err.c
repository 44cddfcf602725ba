/* base/err.c - assertion failure, error codes and their text. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base.h"

_Noreturn void cn__assert_fail(const char *expr, const char *file, int line)
{
    char msg[512];
    int n = snprintf(msg, sizeof msg, "cairn: assertion failed: %s:%d: %s\n",
                     file, line, expr);
    if (n > 0) {
        /* write(2), not stdio: the process may be in any state. */
        ssize_t w = write(STDERR_FILENO, msg,
                          (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
        (void)w;
    }
    fflush(NULL);
    abort();
}

const char *cn_strerror(int rc)
{
    switch (rc) {
#define CN__ERR_CASE(name, val, text) \
    case (val):                       \
        return (text);
        CN_ERR_MAP(CN__ERR_CASE)
#undef CN__ERR_CASE
    case 0:
        return "success";
    default:
        break;
    }
    if (rc < 0 && rc > -4096)
        return strerror(-rc);
    return "unknown error";
}

CN_PRINTF(2, 0) static void verrf(char *errmsg, const char *fmt, va_list ap)
{
    int n = vsnprintf(errmsg, CN_ERRMSG_MAX, fmt, ap);
    if (n >= CN_ERRMSG_MAX) /* Truncated: mark it so readers know. */
        memcpy(errmsg + CN_ERRMSG_MAX - 4, "...", 4);
}

void cn_errf(char *errmsg, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verrf(errmsg, fmt, ap);
    va_end(ap);
}

int cn_errf_rc(char *errmsg, int rc, const char *fmt, ...)
{
    char head[CN_ERRMSG_MAX];
    va_list ap;
    CN_ASSERT(rc < 0);
    va_start(ap, fmt);
    verrf(head, fmt, ap);
    va_end(ap);
    cn_errf(errmsg, "%s: %s", head, cn_strerror(rc));
    return rc;
}
