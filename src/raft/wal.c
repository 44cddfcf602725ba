/* raft/wal.c - append-only segmented Raft log (see wal.h).
 *
 * Nothing is ever rewritten in place: a follower's truncation and an
 * InstallSnapshot reset are themselves records (TRUNCATE), appended like
 * entries, so a crash at any moment leaves a prefix of the record stream.
 * Recovery replays the stream in order (entries, then truncations cut the
 * list), and only the last segment's tail may be torn. Segments are
 * preallocated so appends do not extend the file (fdatasync then has no
 * size metadata to flush) and so a torn tail is followed by zeroes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "wal_int.h"

#define REC_ENTRY CN__WAL_REC_ENTRY
#define REC_TRUNCATE CN__WAL_REC_TRUNCATE
#define REC_HDR CN__WAL_REC_HDR
#define ENTRY_HDR CN__WAL_ENTRY_HDR
#define TRUNC_BYTES CN__WAL_TRUNC_BYTES

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

int cn__wal_write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int pwrite_all(int fd, const void *p, size_t n, off_t off)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = pwrite(fd, b, n, off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += w;
        n -= (size_t)w;
        off += w;
    }
    return 0;
}

int cn__wal_fsync_dir(const char *dir, char *errmsg)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0)
        return cn_errf_rc(errmsg, -errno, "open dir %s", dir);
    if (fsync(fd) != 0)
        rc = cn_errf_rc(errmsg, -errno, "fsync dir %s", dir);
    close(fd);
    return rc;
}

static int seg_path(const struct cn_wal *w, uint64_t seq, char *out, size_t n)
{
    int k = snprintf(out, n, "%s/wal-%016llx.log", w->dir, (unsigned long long)seq);
    return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

static size_t seg_bytes(const struct cn_wal *w)
{
    return w->cfg.segment_bytes ? w->cfg.segment_bytes : CN_WAL_SEGMENT_BYTES_DEFAULT;
}

/* ---- meta ---- */

int cn__wal_meta_read(struct cn_wal *w, char *errmsg)
{
    char path[CN_PATH_BYTES_MAX + 64];
    uint8_t b[24];
    ssize_t n;
    int fd;
    snprintf(path, sizeof path, "%s/meta", w->dir);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        return cn_errf_rc(errmsg, -errno, "open %s", path);
    }
    n = read(fd, b, sizeof b);
    close(fd);
    /* meta is only ever renamed into place whole, so a bad one is real
     * corruption: refuse rather than forget a vote. */
    if (n != (ssize_t)sizeof b || (uint32_t)cn__wal_get_le(b + 16, 4) != cn_crc32c(0, b, 16) ||
        cn__wal_get_le(b + 20, 4) != 0x4d455441u)
        return cn_errf_rc(errmsg, CN_ECORRUPT, "%s: corrupt term/vote file", path);
    w->term = cn__wal_get_le(b, 8);
    w->vote = cn__wal_get_le(b + 8, 8);
    return 0;
}

int cn_wal_set_meta(struct cn_wal *w, uint64_t term, uint64_t vote, char *errmsg)
{
    char tmp[CN_PATH_BYTES_MAX + 64], path[CN_PATH_BYTES_MAX + 64];
    uint8_t b[24];
    int fd, rc;

    put_le(b, term, 8);
    put_le(b + 8, vote, 8);
    put_le(b + 16, cn_crc32c(0, b, 16), 4);
    put_le(b + 20, 0x4d455441u, 4); /* "META" */
    snprintf(tmp, sizeof tmp, "%s/meta.tmp", w->dir);
    snprintf(path, sizeof path, "%s/meta", w->dir);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return cn_errf_rc(errmsg, -errno, "open %s", tmp);
    rc = cn__wal_write_all(fd, b, sizeof b);
    if (rc == 0 && !w->cfg.no_sync && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0) /* The commit point. */
        rc = -errno;
    if (rc < 0) {
        unlink(tmp);
        return cn_errf_rc(errmsg, rc, "write %s", path);
    }
    if (!w->cfg.no_sync && (rc = cn__wal_fsync_dir(w->dir, errmsg)) < 0)
        return rc;
    w->term = term;
    w->vote = vote;
    return 0;
}

/* ---- segments ---- */

static int seg_create(struct cn_wal *w, uint64_t seq, char *errmsg)
{
    char path[CN_PATH_BYTES_MAX + 64];
    struct cn__wal_seg *segs;
    int fd, rc;

    if (seg_path(w, seq, path, sizeof path) < 0)
        return cn_errf_rc(errmsg, -ENAMETOOLONG, "segment path");
    segs = cn_realloc(w->segs, (w->n_segs + 1) * sizeof *segs);
    if (!segs)
        return cn_errf_rc(errmsg, -ENOMEM, "segment table");
    w->segs = segs;
    fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return cn_errf_rc(errmsg, -errno, "create %s", path);
    rc = posix_fallocate(fd, 0, (off_t)seg_bytes(w));
    if (rc != 0 && rc != EOPNOTSUPP) { /* ENOSPC: fail now, not mid-batch. */
        close(fd);
        unlink(path);
        return cn_errf_rc(errmsg, -rc, "preallocate %s", path);
    }
    if (!w->cfg.no_sync && (fsync(fd) != 0 || cn__wal_fsync_dir(w->dir, errmsg) < 0)) {
        rc = -errno;
        close(fd);
        return cn_errf_rc(errmsg, rc ? rc : -EIO, "sync new segment %s", path);
    }
    segs[w->n_segs++] = (struct cn__wal_seg){.seq = seq, .fd = fd};
    return 0;
}

static struct cn__wal_seg *tail(struct cn_wal *w)
{
    return w->n_segs ? &w->segs[w->n_segs - 1] : NULL;
}

/* Writes one record buffer into the tail, rolling to a new segment if it
 * does not fit. */
static int write_record(struct cn_wal *w, const uint8_t *rec, size_t len, char *errmsg)
{
    struct cn__wal_seg *s = tail(w);
    int rc;
    if (len > seg_bytes(w) - 1)
        return cn_errf_rc(errmsg, -EMSGSIZE, "record of %zu bytes exceeds a segment", len);
    /* Keep a zero word after the last record so recovery sees the end. */
    if (!s || s->write_off + len + 4 > seg_bytes(w)) {
        rc = seg_create(w, s ? s->seq + 1 : 1, errmsg);
        if (rc < 0)
            return rc;
        s = tail(w);
    }
    rc = pwrite_all(s->fd, rec, len, (off_t)s->write_off);
    if (rc < 0)
        return cn_errf_rc(errmsg, rc, "write segment %llu", (unsigned long long)s->seq);
    s->write_off += len;
    s->dirty = true;
    return 0;
}

static void frame(uint8_t *rec, uint8_t type, size_t payload_len)
{
    put_le(rec, REC_HDR - 4 + payload_len, 4);  /* len = crc + type + payload */
    rec[8] = type;
    put_le(rec + 4, cn_crc32c(0, rec + 8, 1 + payload_len), 4);
}

int cn_wal_append(struct cn_wal *w, const struct cn_wal_entry *e, size_t n, char *errmsg)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = REC_HDR + ENTRY_HDR + e[i].len;
        uint8_t *rec;
        int rc;
        CN_ASSERT(w->last_index == 0 || e[i].index == w->last_index + 1);
        if (e[i].len > CN_WAL_ENTRY_BYTES_MAX)
            return cn_errf_rc(errmsg, -EMSGSIZE, "entry %llu too large",
                              (unsigned long long)e[i].index);
        cn_buf_reset(&w->scratch);
        if (cn_buf_reserve(&w->scratch, len) < 0)
            return cn_errf_rc(errmsg, -ENOMEM, "wal buffer");
        rec = w->scratch.data;
        put_le(rec + REC_HDR, e[i].index, 8);
        put_le(rec + REC_HDR + 8, e[i].term, 8);
        rec[REC_HDR + 16] = e[i].kind;
        if (e[i].len)
            memcpy(rec + REC_HDR + ENTRY_HDR, e[i].data, e[i].len);
        frame(rec, REC_ENTRY, ENTRY_HDR + e[i].len);
        rc = write_record(w, rec, len, errmsg);
        if (rc < 0)
            return rc;
        struct cn__wal_seg *s = tail(w);
        if (!s->first_index)
            s->first_index = e[i].index;
        s->last_index = e[i].index;
        if (!w->first_index)
            w->first_index = e[i].index;
        w->last_index = e[i].index;
    }
    return 0;
}

static int write_truncate(struct cn_wal *w, uint64_t after, bool reset, char *errmsg)
{
    uint8_t rec[REC_HDR + TRUNC_BYTES];
    put_le(rec + REC_HDR, after, 8);
    rec[REC_HDR + 8] = reset;
    frame(rec, REC_TRUNCATE, TRUNC_BYTES);
    return write_record(w, rec, sizeof rec, errmsg);
}

int cn_wal_truncate_after(struct cn_wal *w, uint64_t after, char *errmsg)
{
    int rc;
    if (w->last_index <= after)
        return 0;
    if (after < w->first_index)
        return cn_wal_reset(w, errmsg);
    rc = write_truncate(w, after, false, errmsg);
    if (rc < 0)
        return rc;
    w->last_index = after;
    for (size_t i = 0; i < w->n_segs; i++) {
        struct cn__wal_seg *s = &w->segs[i];
        if (s->first_index > after)
            s->first_index = s->last_index = 0;
        else if (s->last_index > after)
            s->last_index = after;
    }
    return 0;
}

int cn_wal_reset(struct cn_wal *w, char *errmsg)
{
    int rc = write_truncate(w, 0, true, errmsg);
    if (rc < 0)
        return rc;
    w->first_index = w->last_index = 0;
    for (size_t i = 0; i < w->n_segs; i++)
        w->segs[i].first_index = w->segs[i].last_index = 0;
    return 0;
}

int cn_wal_sync(struct cn_wal *w, char *errmsg)
{
    if (w->cfg.no_sync)
        return 0;
    /* Usually only the tail is dirty; a batch that rolled over leaves the
     * previous segment dirty too. */
    for (size_t i = 0; i < w->n_segs; i++) {
        struct cn__wal_seg *s = &w->segs[i];
        if (!s->dirty)
            continue;
        if (fdatasync(s->fd) != 0)
            return cn_errf_rc(errmsg, -errno, "fdatasync segment %llu",
                              (unsigned long long)s->seq);
        s->dirty = false;
    }
    return 0;
}

int cn_wal_compact(struct cn_wal *w, uint64_t up_to, char *errmsg)
{
    size_t drop = 0;
    char path[CN_PATH_BYTES_MAX + 64];
    /* A segment may go if it holds no live entry above up_to; empty
     * segments (only truncations) go too. Never the tail. */
    while (drop + 1 < w->n_segs && w->segs[drop].last_index <= up_to)
        drop++;
    if (!drop)
        return 0;
    for (size_t i = 0; i < drop; i++) {
        close(w->segs[i].fd);
        if (seg_path(w, w->segs[i].seq, path, sizeof path) == 0 && unlink(path) != 0 &&
            errno != ENOENT)
            return cn_errf_rc(errmsg, -errno, "unlink %s", path);
    }
    memmove(w->segs, w->segs + drop, (w->n_segs - drop) * sizeof *w->segs);
    w->n_segs -= drop;
    w->first_index = 0;
    for (size_t i = 0; i < w->n_segs && !w->first_index; i++)
        w->first_index = w->segs[i].first_index;
    if (!w->first_index)
        w->first_index = w->last_index ? w->last_index : 0;
    return w->cfg.no_sync ? 0 : cn__wal_fsync_dir(w->dir, errmsg);
}

uint64_t cn_wal_first_index(const struct cn_wal *w) { return w->first_index; }
uint64_t cn_wal_last_index(const struct cn_wal *w) { return w->last_index; }

void cn_wal_close(struct cn_wal *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n_segs; i++)
        close(w->segs[i].fd);
    cn_free(w->segs);
    cn_buf_close(&w->scratch);
    cn_free(w);
}
