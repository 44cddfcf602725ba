/* raft/wal.h - the Raft log on disk (internal to src/raft: the libuv shell
 * node.c drives it from its writer thread; nothing else includes this).
 *
 * Layout of a data directory:
 *   meta            term and vote, replaced atomically (write meta.tmp,
 *                   fsync, rename, fsync dir): the rename is the commit
 *                   point, a crash leaves the old or the new, never half.
 *   wal-<seq>.log   segments, preallocated to segment_bytes, filled with
 *                   records [u32 len][u32 crc32c(type..payload)][u8 type]
 *                   [payload]; an ENTRY payload is [u64 index][u64 term]
 *                   [u8 kind][data]. Zeroes after the last record.
 *   snap-<term>-<index>.snap   see snap.c.
 *
 * Recovery reads every segment in order. A bad record whose rest of file
 * is zero is a torn tail (a write the crash cut short, never fsynced, so
 * never acknowledged): it is cut off. A bad record followed by anything
 * else, or a bad record in any segment but the last, is corruption in the
 * middle: opening fails with a message naming the file and offset, and
 * nothing is repaired behind the operator's back.
 *
 * Not thread-safe: one thread at a time (node.c's writer thread).
 * Durability: append/truncate write but do not sync; cn_wal_sync makes
 * everything written so far durable (one fdatasync for the batch).
 */
#ifndef CN_RAFT_WAL_H
#define CN_RAFT_WAL_H

#include "base/base.h"

#define CN_WAL_SEGMENT_BYTES_DEFAULT (64u << 20)
/* One entry's data; a txn command is at most ~1 MiB. */
#define CN_WAL_ENTRY_BYTES_MAX (4u << 20)

struct cn_wal;

struct cn_wal_entry {
    uint64_t index;
    uint64_t term;
    uint8_t kind;            /* Opaque to the WAL (normal/config/no-op). */
    const uint8_t *data;     /* Borrowed. */
    size_t len;
};

struct cn_wal_config {
    size_t segment_bytes;    /* 0: default. Entries never span segments. */
    bool no_sync;            /* Tests and -dev only: skip fsync calls. */
};

/* Called once per recovered entry, in index order; data is borrowed for
 * the call. Return 0 to go on. */
typedef int cn_wal_entry_fn(void *ctx, const struct cn_wal_entry *e);

struct cn_wal_recovered {
    uint64_t term, vote;         /* 0/0 when no meta exists yet. */
    uint64_t first_index;        /* 0 when the log is empty. */
    uint64_t last_index;
    uint64_t torn_bytes;         /* Bytes cut from a torn tail. */
};

/* Opens (creating the directory if needed) and recovers. 0, or a negative
 * code with errmsg naming the file and offset of any corruption. */
int cn_wal_open(struct cn_wal **out, const char *dir,
                const struct cn_wal_config *cfg, cn_wal_entry_fn *fn,
                void *ctx, struct cn_wal_recovered *rec, char *errmsg);
void cn_wal_close(struct cn_wal *w);

/* Appends entries; entries[0].index must be last_index + 1 (or anything
 * when the log is empty, e.g. after a snapshot). Not durable until sync. */
int cn_wal_append(struct cn_wal *w, const struct cn_wal_entry *entries,
                  size_t n, char *errmsg);
/* Drops every entry with index > after (a follower's conflicting suffix). */
int cn_wal_truncate_after(struct cn_wal *w, uint64_t after, char *errmsg);
/* Makes every write so far durable. */
int cn_wal_sync(struct cn_wal *w, char *errmsg);
/* Replaces term/vote atomically and durably. */
int cn_wal_set_meta(struct cn_wal *w, uint64_t term, uint64_t vote,
                    char *errmsg);
/* Deletes whole segments whose entries are all <= up_to (after a
 * snapshot at up_to); the newest segment is always kept. */
int cn_wal_compact(struct cn_wal *w, uint64_t up_to, char *errmsg);
/* Forgets every entry (InstallSnapshot beyond our log): the next append
 * may start at any index. */
int cn_wal_reset(struct cn_wal *w, char *errmsg);

uint64_t cn_wal_first_index(const struct cn_wal *w);
uint64_t cn_wal_last_index(const struct cn_wal *w);

/* Path helpers shared with snap.c. */
int cn__wal_fsync_dir(const char *dir, char *errmsg);
int cn__wal_write_all(int fd, const void *p, size_t n);

#endif
