/* base/crc32c.c - CRC-32C (Castagnoli, reflected poly 0x82F63B78), the
 * checksum of iSCSI/ext4 and of our WAL records and snapshots.
 * Uses the SSE4.2 crc32 instruction when the CPU has it, else a table
 * (slicing-by-1; the WAL path runs on machines with SSE4.2). */
#include "base.h"

#define POLY 0x82F63B78u

static uint32_t table[256];

__attribute__((constructor)) static void crc_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t n)
{
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc,
                                                        const uint8_t *p,
                                                        size_t n)
{
    uint64_t c = crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    crc = (uint32_t)c;
    while (n--)
        crc = __builtin_ia32_crc32qi(crc, *p++);
    return crc;
}
#endif

uint32_t cn_crc32c(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
#if defined(__x86_64__)
    if (__builtin_cpu_supports("sse4.2"))
        return ~crc_hw(crc, p, n);
#endif
    return ~crc_sw(crc, p, n);
}

/* CRC-32 IEEE (reflected poly 0xEDB88320): zlib/Go hash/crc32 default,
 * used by memberlist's hasCrc packets. Table-driven; gossip packets are
 * small. */
#define POLY_IEEE 0xEDB88320u

static uint32_t table_ieee[256];

__attribute__((constructor)) static void crc_ieee_table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY_IEEE : c >> 1;
        table_ieee[i] = c;
    }
}

uint32_t cn_crc32_ieee(uint32_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    crc = ~crc;
    while (n--)
        crc = table_ieee[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
