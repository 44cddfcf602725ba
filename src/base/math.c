/* base/math.c - logarithms without libm (see base.h). */
#include "base.h"

#define CN_LN2 0.69314718055994530942
#define CN_LN10 2.30258509299404568402

double cn_ln(double x)
{
    uint64_t bits;
    int e;
    double m, t, t2, term, sum = 0.0;
    if (!(x > 0.0) || x > 1.7976931348623157e308)
        return 0.0;
    memcpy(&bits, &x, sizeof bits);
    e = (int)((bits >> 52) & 0x7ff);
    if (e == 0) { /* Subnormal: scale into the normal range first. */
        x *= 18014398509481984.0; /* 2^54 */
        memcpy(&bits, &x, sizeof bits);
        e = (int)((bits >> 52) & 0x7ff) - 54;
    }
    e -= 1023;
    bits = (bits & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL;
    memcpy(&m, &bits, sizeof m); /* x = m * 2^e, m in [1, 2) */
    if (m > 1.41421356237309504880) {
        m *= 0.5;
        e++;
    }
    /* ln(m) = 2 atanh(t), t = (m-1)/(m+1), |t| < 0.172: the odd series
     * converges by a factor t^2 < 0.03 per term. */
    t = (m - 1.0) / (m + 1.0);
    t2 = t * t;
    term = t;
    for (int k = 1; k < 40; k += 2) {
        sum += term / k;
        term *= t2;
    }
    return 2.0 * sum + e * CN_LN2;
}

double cn_log10(double x)
{
    return cn_ln(x) / CN_LN10;
}

double cn_log2(double x)
{
    return cn_ln(x) / CN_LN2;
}

unsigned cn_ceil_log10(uint64_t v)
{
    unsigned k = 0;
    uint64_t p = 1;
    while (p < v && k < 20) {
        k++;
        if (p > UINT64_MAX / 10)
            break;
        p *= 10;
    }
    return k;
}

unsigned cn_ceil_log2(uint64_t v)
{
    unsigned k = 0;
    while (k < 64 && (UINT64_C(1) << k) < v)
        k++;
    return k;
}
