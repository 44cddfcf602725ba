/* raft/wal_open.c - WAL recovery: replay segments, cut a torn tail,
 * refuse corruption in the middle (see wal.h for the rules). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal_int.h"

struct mapped {
    uint64_t seq;
    int fd;
    const uint8_t *p;
    size_t size;
    size_t end;              /* Offset after the last good record. */
};

struct rec_entry {
    uint32_t seg;            /* Index into the mapped array. */
    struct cn_wal_entry e;
};

struct replay {
    struct rec_entry *v;
    size_t n, cap;
    uint64_t reset_pending;  /* After a reset, the next index is free. */
    bool after_reset;
};

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = ((const struct mapped *)a)->seq, y = ((const struct mapped *)b)->seq;
    return x < y ? -1 : x > y;
}

static int list_segments(const char *dir, struct mapped **out, size_t *n_out, char *errmsg)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct mapped *v = NULL;
    size_t n = 0, cap = 0;
    if (!d)
        return cn_errf_rc(errmsg, -errno, "open dir %s", dir);
    while ((de = readdir(d)) != NULL) {
        unsigned long long seq;
        char tail;
        if (sscanf(de->d_name, "wal-%16llx.lo%c", &seq, &tail) != 2 || tail != 'g' ||
            strlen(de->d_name) != 24)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct mapped *nv = cn_realloc(v, nc * sizeof *v);
            if (!nv) {
                closedir(d);
                cn_free(v);
                return cn_errf_rc(errmsg, -ENOMEM, "segment list");
            }
            v = nv;
            cap = nc;
        }
        v[n++] = (struct mapped){.seq = seq, .fd = -1};
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_seq);
    *out = v;
    *n_out = n;
    return 0;
}

static int map_segment(const char *dir, struct mapped *m, char *errmsg)
{
    char path[CN_PATH_BYTES_MAX + 64];
    struct stat st;
    snprintf(path, sizeof path, "%s/wal-%016llx.log", dir, (unsigned long long)m->seq);
    m->fd = open(path, O_RDWR | O_CLOEXEC);
    if (m->fd < 0 || fstat(m->fd, &st) != 0)
        return cn_errf_rc(errmsg, -errno, "open %s", path);
    m->size = (size_t)st.st_size;
    if (m->size == 0)
        return 0;
    m->p = mmap(NULL, m->size, PROT_READ, MAP_SHARED, m->fd, 0);
    if (m->p == MAP_FAILED) {
        m->p = NULL;
        return cn_errf_rc(errmsg, -errno, "mmap %s", path);
    }
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static int push(struct replay *r, uint32_t seg, const struct cn_wal_entry *e)
{
    if (r->n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 1024;
        struct rec_entry *nv = cn_realloc(r->v, nc * sizeof *nv);
        if (!nv)
            return -ENOMEM;
        r->v = nv;
        r->cap = nc;
    }
    r->v[r->n].seg = seg;
    r->v[r->n].e = *e;
    r->n++;
    return 0;
}

enum scan_result { SCAN_OK, SCAN_BAD };

/* Parses records of one segment; stops at the end-of-data marker (a zero
 * length) or the first bad record, whose offset is left in m->end. */
static int scan_segment(struct mapped *m, uint32_t seg_no, struct replay *r,
                        enum scan_result *res, char *why, size_t why_len)
{
    size_t off = 0;
    *res = SCAN_OK;
    while (off + 4 <= m->size) {
        uint32_t len = (uint32_t)cn__wal_get_le(m->p + off, 4);
        const uint8_t *b;
        if (len == 0)
            break; /* End of data: the preallocated zeroes start here. */
        if (len < 5 || len > m->size - off - 4 ||
            (uint32_t)cn__wal_get_le(m->p + off + 4, 4) !=
                cn_crc32c(0, m->p + off + 8, len - 4)) {
            snprintf(why, why_len, "bad record (length %u)", len);
            *res = SCAN_BAD;
            break;
        }
        b = m->p + off + 8;
        if (b[0] == CN__WAL_REC_ENTRY && len - 5 >= CN__WAL_ENTRY_HDR) {
            struct cn_wal_entry e = {
                .index = cn__wal_get_le(b + 1, 8), .term = cn__wal_get_le(b + 9, 8),
                .kind = b[17], .data = b + 18, .len = len - 5 - CN__WAL_ENTRY_HDR};
            uint64_t prev = r->n ? r->v[r->n - 1].e.index : 0;
            if (r->n && !r->after_reset && e.index != prev + 1) {
                snprintf(why, why_len, "entry index %llu after %llu",
                         (unsigned long long)e.index, (unsigned long long)prev);
                *res = SCAN_BAD;
                return CN_ECORRUPT; /* Checksums fine, order wrong: a bug. */
            }
            r->after_reset = false;
            if (push(r, seg_no, &e) < 0)
                return -ENOMEM;
        } else if (b[0] == CN__WAL_REC_TRUNCATE && len - 5 == CN__WAL_TRUNC_BYTES) {
            uint64_t after = cn__wal_get_le(b + 1, 8);
            bool reset = b[9] != 0;
            while (r->n && (reset || r->v[r->n - 1].e.index > after))
                r->n--;
            r->after_reset = reset || r->n == 0;
        } else {
            snprintf(why, why_len, "unknown record type %u", b[0]);
            *res = SCAN_BAD;
            break;
        }
        off += 4 + (size_t)len;
    }
    m->end = off;
    return 0;
}

/* Zeroes a torn tail so later appends never sit in front of stale bytes. */
static int scrub(struct mapped *m, char *errmsg, uint64_t *torn)
{
    static const uint8_t zeros[4096];
    size_t last = m->size;
    while (last > m->end && m->p[last - 1] == 0)
        last--;
    *torn += last - m->end;
    for (size_t off = m->end; off < last; off += sizeof zeros) {
        size_t n = CN_MIN(sizeof zeros, last - off);
        if (pwrite(m->fd, zeros, n, (off_t)off) != (ssize_t)n)
            return cn_errf_rc(errmsg, -errno, "scrub torn tail");
    }
    if (last > m->end && fsync(m->fd) != 0)
        return cn_errf_rc(errmsg, -errno, "sync scrubbed tail");
    return 0;
}

/* End of a bad record at m->end: its claimed length if that fits the
 * file, else just its header (a torn length field). */
static size_t bad_extent(const struct mapped *m)
{
    size_t left = m->size - m->end;
    uint32_t len = left >= 4 ? (uint32_t)cn__wal_get_le(m->p + m->end, 4) : 0;
    if (len >= 5 && len <= left - 4)
        return m->end + 4 + len;
    return m->end + CN_MIN(left, (size_t)CN__WAL_REC_HDR);
}

static bool segment_has_records(const struct mapped *m)
{
    return m->size >= 4 && cn__wal_get_le(m->p, 4) != 0;
}

static int replay_all(const char *dir, struct mapped *segs, size_t n, struct replay *r,
                      uint64_t *torn, char *errmsg)
{
    for (size_t i = 0; i < n; i++) {
        enum scan_result res;
        char why[96];
        int rc = scan_segment(&segs[i], (uint32_t)i, r, &res, why, sizeof why);
        if (rc == -ENOMEM)
            return cn_errf_rc(errmsg, rc, "wal replay");
        if (rc < 0)
            goto corrupt;
        if (res == SCAN_OK) {
            /* After the end marker only zeroes may follow. */
            if (!all_zero(segs[i].p + segs[i].end, segs[i].size - segs[i].end)) {
                bool later = false;
                for (size_t k = i + 1; k < n; k++)
                    later |= segment_has_records(&segs[k]);
                if (later) {
                    snprintf(why, sizeof why, "data after the end marker");
                    goto corrupt;
                }
                if ((rc = scrub(&segs[i], errmsg, torn)) < 0)
                    return rc;
            }
            continue;
        }
        /* A bad record is a torn tail only if nothing follows it: the
         * rest of this segment is zero past the record, and no later
         * segment holds records. */
        if (!all_zero(segs[i].p + bad_extent(&segs[i]),
                      segs[i].size - bad_extent(&segs[i])))
            goto corrupt;
        for (size_t k = i + 1; k < n; k++)
            if (segment_has_records(&segs[k]))
                goto corrupt;
        if ((rc = scrub(&segs[i], errmsg, torn)) < 0)
            return rc;
        continue;
    corrupt:
        return cn_errf_rc(errmsg, CN_ECORRUPT,
                          "%s/wal-%016llx.log: offset %zu: %s; refusing to start "
                          "(move the data directory aside or restore a snapshot)",
                          dir, (unsigned long long)segs[i].seq, segs[i].end, why);
    }
    return 0;
}

static void unmap_all(struct mapped *segs, size_t n, bool close_fds)
{
    for (size_t i = 0; i < n; i++) {
        if (segs[i].p)
            munmap((void *)segs[i].p, segs[i].size);
        if (close_fds && segs[i].fd >= 0)
            close(segs[i].fd);
    }
}

static int mkdir_p(const char *dir, char *errmsg)
{
    char tmp[CN_PATH_BYTES_MAX];
    size_t n = strlen(dir);
    if (n >= sizeof tmp)
        return cn_errf_rc(errmsg, -ENAMETOOLONG, "data dir");
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == 0) {
            char c = tmp[i];
            tmp[i] = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
                return cn_errf_rc(errmsg, -errno, "mkdir %s", tmp);
            tmp[i] = c;
        }
    }
    return 0;
}

int cn_wal_open(struct cn_wal **out, const char *dir, const struct cn_wal_config *cfg,
                cn_wal_entry_fn *fn, void *ctx, struct cn_wal_recovered *rec, char *errmsg)
{
    struct cn_wal *w;
    struct mapped *segs = NULL;
    struct replay r = {0};
    size_t n = 0;
    int rc;

    memset(rec, 0, sizeof *rec);
    if (strlen(dir) >= sizeof w->dir)
        return cn_errf_rc(errmsg, -ENAMETOOLONG, "data dir");
    if ((rc = mkdir_p(dir, errmsg)) < 0)
        return rc;
    w = cn_calloc(1, sizeof *w);
    if (!w)
        return cn_errf_rc(errmsg, -ENOMEM, "wal");
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    w->cfg = *cfg;
    cn_buf_init(&w->scratch, CN_WAL_ENTRY_BYTES_MAX + 64);
    if ((rc = cn__wal_meta_read(w, errmsg)) < 0 ||
        (rc = list_segments(dir, &segs, &n, errmsg)) < 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if ((rc = map_segment(dir, &segs[i], errmsg)) < 0)
            goto fail;
    if ((rc = replay_all(dir, segs, n, &r, &rec->torn_bytes, errmsg)) < 0)
        goto fail;
    w->segs = cn_calloc(n ? n : 1, sizeof *w->segs);
    if (!w->segs) {
        rc = cn_errf_rc(errmsg, -ENOMEM, "segment table");
        goto fail;
    }
    for (size_t i = 0; i < n; i++)
        w->segs[i] = (struct cn__wal_seg){.seq = segs[i].seq, .fd = segs[i].fd,
                                           .write_off = segs[i].end};
    w->n_segs = n;
    for (size_t i = 0; i < r.n; i++) {
        struct cn__wal_seg *s = &w->segs[r.v[i].seg];
        if (!s->first_index)
            s->first_index = r.v[i].e.index;
        s->last_index = r.v[i].e.index;
        if ((rc = fn(ctx, &r.v[i].e)) != 0) {
            cn_errf(errmsg, "wal replay stopped by the caller at entry %llu",
                    (unsigned long long)r.v[i].e.index);
            goto fail_owned;
        }
    }
    w->first_index = r.n ? r.v[0].e.index : 0;
    w->last_index = r.n ? r.v[r.n - 1].e.index : 0;
    rec->term = w->term;
    rec->vote = w->vote;
    rec->first_index = w->first_index;
    rec->last_index = w->last_index;
    unmap_all(segs, n, false); /* fds now belong to w. */
    cn_free(segs);
    cn_free(r.v);
    *out = w;
    return 0;

fail_owned:
    unmap_all(segs, n, false);
    cn_free(segs);
    cn_free(r.v);
    cn_wal_close(w);
    return rc < 0 ? rc : CN_ECANCELED;
fail:
    unmap_all(segs, n, true);
    cn_free(segs);
    cn_free(r.v);
    cn_buf_close(&w->scratch);
    cn_free(w->segs);
    cn_free(w);
    return rc;
}
