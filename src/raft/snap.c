/* raft/snap.c - snapshot files (see snap.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snap.h"
#include "wal.h"

#define MAGIC "CNSNAP01"
#define FIXED_HDR 28   /* magic 8 + index 8 + term 8 + conf_len 4 */

struct cn_snap_writer {
    int fd;
    uint32_t crc;
    uint64_t data_len, written;
    char dir[CN_PATH_BYTES_MAX];
    char tmp[CN_PATH_BYTES_MAX + 64];
    char final[CN_PATH_BYTES_MAX + 64];
};

struct cn_snap_loaded {
    void *map;
    size_t size;
};

static void put_le(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

size_t cn_snap_header(uint8_t *hdr, uint64_t index, uint64_t term,
                      const uint8_t *conf, size_t conf_len, uint64_t data_len)
{
    memcpy(hdr, MAGIC, 8);
    put_le(hdr + 8, index, 8);
    put_le(hdr + 16, term, 8);
    put_le(hdr + 24, conf_len, 4);
    if (conf_len)
        memcpy(hdr + FIXED_HDR, conf, conf_len);
    put_le(hdr + FIXED_HDR + conf_len, data_len, 8);
    return FIXED_HDR + conf_len + 8;
}

int cn_snap_begin(struct cn_snap_writer **out, const char *dir, uint64_t index,
                  uint64_t term, const uint8_t *conf, size_t conf_len,
                  uint64_t data_len, char *errmsg)
{
    struct cn_snap_writer *w;
    uint8_t *hdr;
    size_t n;
    int rc;

    if (conf_len > CN_SNAP_CONF_BYTES_MAX || strlen(dir) >= CN_PATH_BYTES_MAX)
        return cn_errf_rc(errmsg, -EINVAL, "snapshot header too large");
    w = cn_calloc(1, sizeof *w);
    hdr = cn_alloc(FIXED_HDR + conf_len + 8);
    if (!w || !hdr) {
        cn_free(w);
        cn_free(hdr);
        return cn_errf_rc(errmsg, -ENOMEM, "snapshot");
    }
    snprintf(w->dir, sizeof w->dir, "%s", dir);
    snprintf(w->tmp, sizeof w->tmp, "%s/snap-%016llx-%016llx.tmp", dir,
             (unsigned long long)term, (unsigned long long)index);
    snprintf(w->final, sizeof w->final, "%s/snap-%016llx-%016llx.snap", dir,
             (unsigned long long)term, (unsigned long long)index);
    w->data_len = data_len;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        rc = cn_errf_rc(errmsg, -errno, "create %s", w->tmp);
        cn_free(hdr);
        cn_free(w);
        return rc;
    }
    n = cn_snap_header(hdr, index, term, conf, conf_len, data_len);
    w->crc = cn_crc32c(0, hdr, n);
    rc = cn__wal_write_all(w->fd, hdr, n);
    cn_free(hdr);
    if (rc < 0) {
        cn_snap_abort(w);
        return cn_errf_rc(errmsg, rc, "write snapshot header");
    }
    *out = w;
    return 0;
}

int cn_snap_write(struct cn_snap_writer *w, const void *p, size_t n, char *errmsg)
{
    int rc;
    if (n > w->data_len - w->written)
        return cn_errf_rc(errmsg, -EMSGSIZE, "snapshot data longer than declared");
    rc = cn__wal_write_all(w->fd, p, n);
    if (rc < 0)
        return cn_errf_rc(errmsg, rc, "write %s", w->tmp);
    w->crc = cn_crc32c(w->crc, p, n);
    w->written += n;
    return 0;
}

void cn_snap_abort(struct cn_snap_writer *w)
{
    if (!w)
        return;
    close(w->fd);
    unlink(w->tmp);
    cn_free(w);
}

struct snap_name {
    uint64_t term, index;
    char name[64];
};

static int name_cmp(const void *a, const void *b)
{
    const struct snap_name *x = a, *y = b;
    if (x->index != y->index)
        return x->index < y->index ? -1 : 1;
    return x->term < y->term ? -1 : (x->term > y->term);
}

/* Snapshots in dir, oldest first. */
static int list_snaps(const char *dir, struct snap_name **out, size_t *n_out)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct snap_name *v = NULL;
    size_t n = 0, cap = 0;
    if (!d)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        unsigned long long term, index;
        char dot;
        if (strlen(de->d_name) != 43 ||
            sscanf(de->d_name, "snap-%16llx-%16llx%c", &term, &index, &dot) != 3 ||
            strcmp(de->d_name + 38, ".snap") != 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 8;
            struct snap_name *nv = cn_realloc(v, nc * sizeof *nv);
            if (!nv) {
                closedir(d);
                cn_free(v);
                return -ENOMEM;
            }
            v = nv;
            cap = nc;
        }
        v[n].term = term;
        v[n].index = index;
        snprintf(v[n].name, sizeof v[n].name, "%s", de->d_name);
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, name_cmp);
    *out = v;
    *n_out = n;
    return 0;
}

int cn_snap_commit(struct cn_snap_writer *w, bool sync, char *errmsg)
{
    uint8_t crc[4];
    struct snap_name *v;
    size_t n;
    int rc;

    if (w->written != w->data_len) {
        cn_snap_abort(w);
        return cn_errf_rc(errmsg, -EINVAL, "snapshot data shorter than declared");
    }
    put_le(crc, w->crc, 4);
    rc = cn__wal_write_all(w->fd, crc, 4);
    if (rc == 0 && sync && fsync(w->fd) != 0)
        rc = -errno;
    if (close(w->fd) != 0 && rc == 0)
        rc = -errno;
    w->fd = -1;
    if (rc == 0 && rename(w->tmp, w->final) != 0)
        rc = -errno;
    if (rc < 0) {
        unlink(w->tmp);
        rc = cn_errf_rc(errmsg, rc, "commit %s", w->final);
        cn_free(w);
        return rc;
    }
    if (sync && (rc = cn__wal_fsync_dir(w->dir, errmsg)) < 0) {
        cn_free(w);
        return rc;
    }
    /* Keep the newest CN_SNAP_KEEP. */
    if (list_snaps(w->dir, &v, &n) == 0) {
        for (size_t i = 0; i + CN_SNAP_KEEP < n; i++) {
            char p[CN_PATH_BYTES_MAX + 80];
            snprintf(p, sizeof p, "%s/%s", w->dir, v[i].name);
            unlink(p);
        }
        cn_free(v);
    }
    cn_free(w);
    return 0;
}

int cn_snap_parse(const uint8_t *p, size_t n, struct cn_snap_meta *m)
{
    uint64_t conf_len, data_len;
    if (n < FIXED_HDR + 8 + 4 || memcmp(p, MAGIC, 8) != 0)
        return CN_ECORRUPT;
    conf_len = get_le(p + 24, 4);
    if (conf_len > CN_SNAP_CONF_BYTES_MAX || conf_len > n - FIXED_HDR - 12)
        return CN_ECORRUPT;
    data_len = get_le(p + FIXED_HDR + conf_len, 8);
    if (data_len != n - FIXED_HDR - conf_len - 12)
        return CN_ECORRUPT;
    if ((uint32_t)get_le(p + n - 4, 4) != cn_crc32c(0, p, n - 4))
        return CN_ECORRUPT;
    m->index = get_le(p + 8, 8);
    m->term = get_le(p + 16, 8);
    m->conf = p + FIXED_HDR;
    m->conf_len = conf_len;
    m->data = p + FIXED_HDR + conf_len + 8;
    m->data_len = data_len;
    return 0;
}

static int load_one(const char *path, struct cn_snap_loaded **out, struct cn_snap_meta *m)
{
    struct cn_snap_loaded *l;
    struct stat st;
    void *map;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) != 0 || st.st_size == 0) {
        close(fd);
        return CN_ECORRUPT;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return -errno;
    rc = cn_snap_parse(map, (size_t)st.st_size, m);
    l = rc == 0 ? cn_alloc(sizeof *l) : NULL;
    if (!l) {
        munmap(map, (size_t)st.st_size);
        return rc < 0 ? rc : -ENOMEM;
    }
    /* The CRC pass faulted in every page. They belong to the page cache:
     * drop them from our RSS until a follower needs the snapshot sent. */
    (void)madvise(map, (size_t)st.st_size, MADV_DONTNEED);
    l->map = map;
    l->size = (size_t)st.st_size;
    *out = l;
    return 0;
}

int cn_snap_load_latest(const char *dir, struct cn_snap_loaded **out,
                        struct cn_snap_meta *meta, char *errmsg)
{
    struct snap_name *v;
    size_t n;
    int rc = list_snaps(dir, &v, &n);
    if (rc == -ENOENT)
        return CN_ENOTFOUND;
    if (rc < 0)
        return cn_errf_rc(errmsg, rc, "list snapshots in %s", dir);
    if (n == 0) {
        cn_free(v);
        return CN_ENOTFOUND;
    }
    for (size_t i = n; i-- > 0;) {
        char p[CN_PATH_BYTES_MAX + 80];
        snprintf(p, sizeof p, "%s/%s", dir, v[i].name);
        rc = load_one(p, out, meta);
        if (rc == 0) {
            cn_free(v);
            return 0;
        }
        CN_WARN("raft: snapshot %s unusable (%s); trying an older one", p, cn_strerror(rc));
        cn_errf(errmsg, "snapshot %s: %s", p, cn_strerror(rc));
    }
    cn_free(v);
    return CN_ECORRUPT;
}

void cn_snap_release(struct cn_snap_loaded *l)
{
    if (!l)
        return;
    munmap(l->map, l->size);
    cn_free(l);
}
