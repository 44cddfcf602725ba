/* base/rand.c - seeded PRNG (pure), getrandom (IMPURE), UUIDv4.
 *
 * xoshiro256** (Blackman & Vigna 2018): fast, 256-bit state, good enough
 * for election timeouts, probe order and simulation; seeded through
 * splitmix64 so that nearby seeds give unrelated streams.
 */
#include <errno.h>
#include <sys/random.h>

#include "base.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void cn_prng_seed(struct cn_prng *p, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        p->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cn_prng_next(struct cn_prng *p)
{
    uint64_t *s = p->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t cn_prng_below(struct cn_prng *p, uint64_t n)
{
    uint64_t x, limit;
    CN_ASSERT(n > 0);
    /* Reject the top partial block to avoid modulo bias. */
    limit = UINT64_MAX - (UINT64_MAX % n);
    do {
        x = cn_prng_next(p);
    } while (x >= limit);
    return x % n;
}

bool cn_prng_chance(struct cn_prng *p, uint64_t num, uint64_t den)
{
    CN_ASSERT(den > 0);
    if (num == 0)
        return false;
    return cn_prng_below(p, den) < num;
}

int cn_rand_bytes(void *out, size_t n)
{
    uint8_t *o = out;
    while (n > 0) {
        ssize_t r = getrandom(o, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        o += r;
        n -= (size_t)r;
    }
    return 0;
}

uint64_t cn_rand_u64(void)
{
    uint64_t v;
    CN_ASSERT(cn_rand_bytes(&v, sizeof v) == 0);
    return v;
}

static void uuid_format(uint8_t b[16], char out[CN_UUID_STR_BYTES])
{
    static const char hex[] = "0123456789abcdef";
    int o = 0;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* Version 4 (RFC 4122 4.4). */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* Variant 10. */
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

void cn_uuid_v4(char out[CN_UUID_STR_BYTES])
{
    uint8_t b[16];
    CN_ASSERT(cn_rand_bytes(b, sizeof b) == 0);
    uuid_format(b, out);
}

void cn_uuid_v4_prng(struct cn_prng *p, char out[CN_UUID_STR_BYTES])
{
    uint8_t b[16];
    uint64_t a = cn_prng_next(p), c = cn_prng_next(p);
    memcpy(b, &a, 8);
    memcpy(b + 8, &c, 8);
    uuid_format(b, out);
}

bool cn_uuid_valid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                     (c >= 'A' && c <= 'F'))) {
            return false;
        }
    }
    return true;
}
