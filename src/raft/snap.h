/* raft/snap.h - snapshot files (internal to src/raft, like wal.h).
 *
 * snap-<term>-<index>.snap:
 *   "CNSNAP01" | u64 index | u64 term | u32 conf_len | conf | u64 data_len
 *   | data | u32 crc32c(everything before)
 * all integers little-endian. Written to a .tmp name, fsynced, renamed
 * (the commit point), directory fsynced; then all but the newest `keep`
 * snapshots are deleted. Loading picks the newest file whose checksum is
 * right and falls back to the one before it (that is why two are kept).
 */
#ifndef CN_RAFT_SNAP_H
#define CN_RAFT_SNAP_H

#include "base/base.h"

#define CN_SNAP_KEEP 2
#define CN_SNAP_CONF_BYTES_MAX (1u << 20)

struct cn_snap_writer;

struct cn_snap_meta {
    uint64_t index, term;
    const uint8_t *conf;       /* Raft configuration, opaque here. */
    size_t conf_len;
    const uint8_t *data;       /* The state machine's bytes. */
    size_t data_len;
};

/* Streaming write: begin, any number of writes, then commit or abort.
 * The writer may be used from another thread or a forked child. */
int cn_snap_begin(struct cn_snap_writer **out, const char *dir, uint64_t index,
                  uint64_t term, const uint8_t *conf, size_t conf_len,
                  uint64_t data_len, char *errmsg);
int cn_snap_write(struct cn_snap_writer *w, const void *p, size_t n, char *errmsg);
int cn_snap_commit(struct cn_snap_writer *w, bool sync, char *errmsg);
void cn_snap_abort(struct cn_snap_writer *w);

/* Loads the newest valid snapshot. 0 and *out (mapped; free with
 * cn_snap_release), CN_ENOTFOUND when there is none, or an error when
 * every candidate is corrupt (named in errmsg). */
struct cn_snap_loaded;
int cn_snap_load_latest(const char *dir, struct cn_snap_loaded **out,
                        struct cn_snap_meta *meta, char *errmsg);
void cn_snap_release(struct cn_snap_loaded *l);

/* Validates a snapshot image held in memory (from `cairn snapshot save`
 * or InstallSnapshot) and fills meta with views into it. */
int cn_snap_parse(const uint8_t *p, size_t n, struct cn_snap_meta *meta);
/* Encodes the header for an image of the given sizes (for streaming an
 * image without a file); returns its length. hdr >= 32 + conf_len. */
size_t cn_snap_header(uint8_t *hdr, uint64_t index, uint64_t term,
                      const uint8_t *conf, size_t conf_len, uint64_t data_len);

#endif
