/* raft/wal_test.c - WAL append/recover, truncation, rolls, torn tails,
 * corruption refusal, meta. */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include <cmocka.h>

#include "snap.h"
#include "wal.h"

static char dir[256];

struct seen {
    uint64_t index[4096], term[4096];
    char data[4096][16];
    size_t n;
};

static int collect(void *ctx, const struct cn_wal_entry *e)
{
    struct seen *s = ctx;
    if (s->n < 4096) {
        s->index[s->n] = e->index;
        s->term[s->n] = e->term;
        snprintf(s->data[s->n], 16, "%.*s", (int)e->len, (const char *)e->data);
        s->n++;
    }
    return 0;
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

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/cairn-wal-test-%d", getpid());
    rm_flat_dir(dir);
    return 0;
}

static struct cn_wal *open_wal(struct seen *s, struct cn_wal_recovered *rec, size_t seg)
{
    struct cn_wal_config cfg = {.segment_bytes = seg, .no_sync = false};
    struct cn_wal *w = NULL;
    char err[CN_ERRMSG_MAX];
    memset(s, 0, sizeof *s);
    int rc = cn_wal_open(&w, dir, &cfg, collect, s, rec, err);
    if (rc != 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    return w;
}

static void append_range(struct cn_wal *w, uint64_t from, uint64_t to, uint64_t term)
{
    char err[CN_ERRMSG_MAX], data[16];
    for (uint64_t i = from; i <= to; i++) {
        int n = snprintf(data, sizeof data, "v%llu.%llu", (unsigned long long)i,
                         (unsigned long long)term);
        struct cn_wal_entry e = {.index = i, .term = term, .kind = 1,
                                 .data = (uint8_t *)data, .len = (size_t)n};
        assert_int_equal(cn_wal_append(w, &e, 1, err), 0);
    }
    assert_int_equal(cn_wal_sync(w, err), 0);
}

static void test_append_reopen(void **state)
{
    struct seen s;
    struct cn_wal_recovered rec;
    (void)state;
    setup(NULL);
    struct cn_wal *w = open_wal(&s, &rec, 0);
    assert_int_equal(s.n, 0);
    assert_int_equal(rec.last_index, 0);
    append_range(w, 1, 100, 1);
    cn_wal_close(w);
    w = open_wal(&s, &rec, 0);
    assert_int_equal(s.n, 100);
    assert_int_equal(rec.first_index, 1);
    assert_int_equal(rec.last_index, 100);
    assert_string_equal(s.data[99], "v100.1");
    cn_wal_close(w);
}

static void test_truncate_and_overwrite(void **state)
{
    struct seen s;
    struct cn_wal_recovered rec;
    char err[CN_ERRMSG_MAX];
    (void)state;
    setup(NULL);
    struct cn_wal *w = open_wal(&s, &rec, 0);
    append_range(w, 1, 100, 1);
    assert_int_equal(cn_wal_truncate_after(w, 50, err), 0);
    assert_int_equal(cn_wal_last_index(w), 50);
    append_range(w, 51, 60, 2);
    cn_wal_close(w);
    w = open_wal(&s, &rec, 0);
    assert_int_equal(s.n, 60);
    assert_int_equal(s.term[49], 1);
    assert_int_equal(s.term[50], 2);
    assert_string_equal(s.data[59], "v60.2");
    cn_wal_close(w);
}

static int count_segments(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "wal-", 4) == 0;
    closedir(d);
    return n;
}

static void test_roll_and_compact(void **state)
{
    struct seen s;
    struct cn_wal_recovered rec;
    char err[CN_ERRMSG_MAX];
    (void)state;
    setup(NULL);
    struct cn_wal *w = open_wal(&s, &rec, 1024); /* ~25 entries a segment */
    append_range(w, 1, 500, 3);
    int before = count_segments();
    assert_true(before > 10);
    assert_int_equal(cn_wal_compact(w, 400, err), 0);
    int after = count_segments();
    assert_true(after < before);
    assert_true(cn_wal_first_index(w) > 300 && cn_wal_first_index(w) <= 401);
    cn_wal_close(w);
    w = open_wal(&s, &rec, 1024);
    assert_int_equal(rec.last_index, 500);
    assert_true(rec.first_index <= 401);
    assert_int_equal(s.index[s.n - 1], 500);
    /* Entries remain contiguous after compaction. */
    for (size_t i = 1; i < s.n; i++)
        assert_int_equal(s.index[i], s.index[i - 1] + 1);
    cn_wal_close(w);
}

static char *last_segment(char *out, size_t n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char best[300] = "";
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, "wal-", 4) == 0 && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", de->d_name);
    closedir(d);
    snprintf(out, n, "%s/%s", dir, best);
    return out;
}

static off_t data_end(const char *path)
{
    /* End of the non-zero prefix (records are contiguous from 0). */
    int fd = open(path, O_RDONLY);
    uint8_t buf[4096];
    off_t off = 0, last = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < r; i++)
            if (buf[i])
                last = off + i + 1;
        off += r;
    }
    close(fd);
    return last;
}

static void test_torn_tail_is_cut(void **state)
{
    struct seen s;
    struct cn_wal_recovered rec;
    char path[512];
    (void)state;
    setup(NULL);
    struct cn_wal *w = open_wal(&s, &rec, 0);
    append_range(w, 1, 20, 1);
    cn_wal_close(w);
    /* A half-written record after the last good one: a length and a
     * few payload bytes, the checksum wrong. */
    last_segment(path, sizeof path);
    off_t end = data_end(path);
    int fd = open(path, O_WRONLY);
    uint8_t torn[12] = {40, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 21, 0, 0};
    assert_int_equal(pwrite(fd, torn, sizeof torn, end), (ssize_t)sizeof torn);
    close(fd);
    w = open_wal(&s, &rec, 0);
    assert_int_equal(s.n, 20);
    assert_true(rec.torn_bytes > 0);
    append_range(w, 21, 25, 1); /* Appends go where the torn record was. */
    cn_wal_close(w);
    w = open_wal(&s, &rec, 0);
    assert_int_equal(s.n, 25);
    assert_int_equal(rec.torn_bytes, 0);
    cn_wal_close(w);
}

static void test_corrupt_middle_is_refused(void **state)
{
    struct seen s;
    struct cn_wal_recovered rec;
    struct cn_wal_config cfg = {0};
    struct cn_wal *w2;
    char path[512], err[CN_ERRMSG_MAX];
    (void)state;
    setup(NULL);
    struct cn_wal *w = open_wal(&s, &rec, 0);
    append_range(w, 1, 20, 1);
    cn_wal_close(w);
    last_segment(path, sizeof path);
    int fd = open(path, O_RDWR);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 40), 1); /* Inside an early record. */
    b ^= 0xff;
    assert_int_equal(pwrite(fd, &b, 1, 40), 1);
    close(fd);
    memset(&s, 0, sizeof s);
    assert_int_equal(cn_wal_open(&w2, dir, &cfg, collect, &s, &rec, err), CN_ECORRUPT);
    assert_non_null(strstr(err, "wal-"));
    assert_non_null(strstr(err, "offset"));
}

static void test_meta_and_reset(void **state)
{
    struct seen s;
    struct cn_wal_recovered rec;
    char err[CN_ERRMSG_MAX];
    (void)state;
    setup(NULL);
    struct cn_wal *w = open_wal(&s, &rec, 0);
    assert_int_equal(cn_wal_set_meta(w, 7, 3, err), 0);
    append_range(w, 1, 10, 7);
    assert_int_equal(cn_wal_reset(w, err), 0); /* InstallSnapshot at 999. */
    append_range(w, 1000, 1004, 8);
    cn_wal_close(w);
    w = open_wal(&s, &rec, 0);
    assert_int_equal(rec.term, 7);
    assert_int_equal(rec.vote, 3);
    assert_int_equal(s.n, 5);
    assert_int_equal(rec.first_index, 1000);
    assert_int_equal(rec.last_index, 1004);
    cn_wal_close(w);
    /* A corrupt meta file is refused, not silently reset. */
    char mp[400];
    snprintf(mp, sizeof mp, "%s/meta", dir);
    int fd = open(mp, O_WRONLY | O_TRUNC);
    assert_int_equal(write(fd, "junk", 4), 4);
    close(fd);
    struct cn_wal_config cfg = {0};
    assert_int_equal(cn_wal_open(&w, dir, &cfg, collect, &s, &rec, err), CN_ECORRUPT);
}


static void write_snap(uint64_t index, const char *data)
{
    struct cn_snap_writer *sw;
    char err[CN_ERRMSG_MAX];
    size_t n = strlen(data);
    assert_int_equal(cn_snap_begin(&sw, dir, index, 2, (const uint8_t *)"conf", 4, n, err), 0);
    assert_int_equal(cn_snap_write(sw, data, n / 2, err), 0);
    assert_int_equal(cn_snap_write(sw, data + n / 2, n - n / 2, err), 0);
    assert_int_equal(cn_snap_commit(sw, true, err), 0);
}

static int count_snaps(void)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, "snap-", 5) == 0;
    closedir(d);
    return n;
}

static void test_snapshots(void **state)
{
    struct cn_snap_loaded *l;
    struct cn_snap_meta m;
    char err[CN_ERRMSG_MAX], path[512];
    (void)state;
    setup(NULL);
    mkdir(dir, 0700);
    assert_int_equal(cn_snap_load_latest(dir, &l, &m, err), CN_ENOTFOUND);
    write_snap(100, "state at one hundred");
    write_snap(200, "state at two hundred");
    write_snap(300, "state at three hundred");
    assert_int_equal(count_snaps(), 2); /* Keeps the newest two. */
    assert_int_equal(cn_snap_load_latest(dir, &l, &m, err), 0);
    assert_int_equal(m.index, 300);
    assert_int_equal(m.term, 2);
    assert_int_equal(m.conf_len, 4);
    assert_memory_equal(m.data, "state at three hundred", m.data_len);
    cn_snap_release(l);
    /* A damaged newest snapshot falls back to the one before. */
    snprintf(path, sizeof path, "%s/snap-%016x-%016x.snap", dir, 2, 300);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 50), 1);
    close(fd);
    assert_int_equal(cn_snap_load_latest(dir, &l, &m, err), 0);
    assert_int_equal(m.index, 200);
    cn_snap_release(l);
    /* Declared and written sizes must agree. */
    struct cn_snap_writer *sw;
    assert_int_equal(cn_snap_begin(&sw, dir, 400, 2, NULL, 0, 10, err), 0);
    assert_int_equal(cn_snap_write(sw, "12345678901", 11, err), -EMSGSIZE);
    assert_int_equal(cn_snap_commit(sw, true, err), -EINVAL);
    /* Parsing garbage never reads out of bounds. */
    uint8_t junk[64] = "CNSNAP01";
    junk[24] = 0xff;
    assert_int_equal(cn_snap_parse(junk, sizeof junk, &m), CN_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_reopen),
        cmocka_unit_test(test_truncate_and_overwrite),
        cmocka_unit_test(test_roll_and_compact),
        cmocka_unit_test(test_torn_tail_is_cut),
        cmocka_unit_test(test_corrupt_middle_is_refused),
        cmocka_unit_test(test_meta_and_reset),
        cmocka_unit_test(test_snapshots),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    setup(NULL); /* rm -rf */
    return rc;
}
