/* raft/wal_int.h - shared by wal.c and wal_open.c only. */
#ifndef CN_RAFT_WAL_INT_H
#define CN_RAFT_WAL_INT_H

#include "wal.h"

enum { CN__WAL_REC_ENTRY = 1, CN__WAL_REC_TRUNCATE = 2 };
#define CN__WAL_REC_HDR 9        /* u32 len + u32 crc + u8 type */
#define CN__WAL_ENTRY_HDR 17     /* u64 index + u64 term + u8 kind */
#define CN__WAL_TRUNC_BYTES 9    /* u64 after + u8 reset */

struct cn__wal_seg {
    uint64_t seq;
    int fd;
    size_t write_off;
    uint64_t first_index;    /* Of live entries in this segment; 0 none. */
    uint64_t last_index;
    bool dirty;              /* Written since the last sync. */
};

struct cn_wal {
    char dir[CN_PATH_BYTES_MAX];
    struct cn_wal_config cfg;
    struct cn__wal_seg *segs;
    size_t n_segs;
    uint64_t term, vote;
    uint64_t first_index, last_index;
    struct cn_buf scratch;
};

static inline uint64_t cn__wal_get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int cn__wal_meta_read(struct cn_wal *w, char *errmsg);

#endif
