/* raft/fuzz_wal.c - libFuzzer target: WAL recovery over arbitrary bytes.
 * The input becomes the directory's segments (split at 0xFE 0xFE 0xFE 0xFE
 * markers into up to 4 files) plus an optional meta file; recovery must
 * either succeed with a contiguous log or fail cleanly, never crash, and
 * a successful open must accept appends and reopen to the same log. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static int check(void *ctx, const struct cn_wal_entry *e)
{
    uint64_t *prev = ctx;
    CN_ASSERT(*prev == 0 || e->index == *prev + 1);
    *prev = e->index;
    return 0;
}

static void put_file(const char *name, const uint8_t *p, size_t n)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        abort();
    if (n && write(fd, p, n) != (ssize_t)n)
        abort();
    close(fd);
}


/* Empties and removes a flat directory (ours only holds files). */
static void rm_flat_dir(const char *d)
{
    DIR *dd = opendir(d);
    struct dirent *de;
    char p[512];
    if (!dd)
        return;
    while ((de = readdir(dd)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof p, "%s/%s", d, de->d_name);
        unlink(p);
    }
    closedir(dd);
    rmdir(d);
}

static void clean(void)
{
    rm_flat_dir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cn_wal_config cfg = {.segment_bytes = 4096, .no_sync = true};
    struct cn_wal_recovered rec;
    struct cn_wal *w;
    char err[CN_ERRMSG_MAX];
    uint64_t prev = 0;
    size_t start = 0, seg = 1;

    if (!dir[0])
        snprintf(dir, sizeof dir, "/tmp/cairn-fuzz-wal-%d", getpid());
    clean();
    if (mkdir(dir, 0700) != 0)
        abort();
    for (size_t i = 0; i + 4 <= size && seg < 4; i++) {
        if (memcmp(data + i, "\xfe\xfe\xfe\xfe", 4) == 0) {
            char name[40];
            snprintf(name, sizeof name, "wal-%016zx.log", seg++);
            put_file(name, data + start, i - start);
            start = i + 4;
            i += 3; /* Markers do not overlap. */
        }
    }
    {
        char name[40];
        snprintf(name, sizeof name, "wal-%016zx.log", seg);
        put_file(name, data + start, size - start);
    }
    if (size > 0 && data[0] == 'M' && size >= 25)
        put_file("meta", data + 1, 24);
    if (cn_wal_open(&w, dir, &cfg, check, &prev, &rec, err) == 0) {
        struct cn_wal_entry e = {.index = rec.last_index + 1, .term = 1,
                                 .data = (const uint8_t *)"x", .len = 1};
        uint64_t last = rec.last_index;
        if (cn_wal_append(w, &e, 1, err) == 0) {
            cn_wal_close(w);
            prev = 0;
            CN_ASSERT(cn_wal_open(&w, dir, &cfg, check, &prev, &rec, err) == 0);
            CN_ASSERT(rec.last_index == last + 1);
        }
        cn_wal_close(w);
    }
    clean();
    return 0;
}
