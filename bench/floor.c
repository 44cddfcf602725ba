/* bench/floor.c - the parts of a replicated write's latency floor on this
 * machine (bench/cluster.sh prints cairn's PUT-1 p50 against them):
 *
 *   rtt    loopback TCP round trip: 64 bytes ping-pong between two
 *          processes, TCP_NODELAY, both sides blocking in read() the way a
 *          client and a server wake for each request;
 *   fsync  one small append + fdatasync in DIR, three ways:
 *          zeroed:   into a file whose blocks were written (zeroes) and
 *                    synced before: data only, no metadata: the floor;
 *          fallocate: into a file preallocated with posix_fallocate() (as
 *                    cairn's WAL segments are): on ext4/xfs the first write
 *                    to an unwritten extent converts it, a journal commit;
 *          extend:   appending past the end (the file grows each time).
 *
 * usage: floor [-n N] [-s BYTES] DIR
 * Last line: RESULT rtt_p50_us= rtt_p99_us= fsync_p10_us= fsync_p50_us=
 *            fsync_p99_us= (zeroed), the same as fsync_falloc_* and
 *            fsync_extend_*.
 * On a VM whose block device is rate-limited by the host (this one's
 * fdatasync is ~70 us, or exactly ~4 ms while other work has drained the
 * device's budget) the p50 depends on the moment; the p10 is the device's
 * own cost as long as it was unthrottled for a tenth of the samples.
 * A floor for a 3-member write acknowledged by the leader is about
 * 2 x rtt + 1 x fsync (client -> leader -> follower -> leader -> client,
 * the leader's and the follower's syncs overlapping).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define MSG_BYTES 64
#define N_MAX 100000

static int die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void full_io(int fd, uint8_t *buf, size_t n, bool wr)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = wr ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            die(wr ? "write" : "read");
        }
        done += (size_t)r;
    }
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Round trips over loopback TCP; the echo side is a child process. */
static void measure_rtt(int n, int64_t *us)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    uint8_t buf[MSG_BYTES];
    int ls = socket(AF_INET, SOCK_STREAM, 0), fd;
    pid_t child;

    if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 1) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
        die("listen");
    child = fork();
    if (child < 0)
        die("fork");
    if (child == 0) {
        int c = accept(ls, NULL, NULL);
        if (c < 0)
            die("accept");
        nodelay(c);
        for (int i = 0; i < n + 100; i++) {
            full_io(c, buf, sizeof buf, false);
            full_io(c, buf, sizeof buf, true);
        }
        _exit(0);
    }
    close(ls);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    nodelay(fd);
    memset(buf, 'r', sizeof buf);
    for (int i = 0; i < n + 100; i++) { /* The first 100 warm up. */
        uint64_t t0 = b_now_ns();
        full_io(fd, buf, sizeof buf, true);
        full_io(fd, buf, sizeof buf, false);
        if (i >= 100)
            us[i - 100] = (int64_t)((b_now_ns() - t0) / 1000);
    }
    close(fd);
    waitpid(child, NULL, 0);
}

enum mode { ZEROED, FALLOC, EXTEND };

/* n appends of `size` bytes, each followed by fdatasync. */
static void measure_fsync(const char *dir, int n, size_t size, enum mode mode, int64_t *us)
{
    char path[4096];
    uint8_t *buf = malloc(size);
    int fd;
    if (!buf)
        die("malloc");
    memset(buf, 'w', size);
    snprintf(path, sizeof path, "%s/floor-%d.tmp", dir, (int)getpid());
    fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
    if (fd < 0)
        die(path);
    if (mode == FALLOC) {
        int rc = posix_fallocate(fd, 0, (off_t)(size * (size_t)(n + 10)));
        if (rc != 0) {
            errno = rc;
            die("fallocate");
        }
    } else if (mode == ZEROED) {
        memset(buf, 0, size);
        for (int i = 0; i < n + 10; i++)
            if (write(fd, buf, size) != (ssize_t)size)
                die("write");
        memset(buf, 'w', size);
    }
    if (fsync(fd) != 0)
        die("fsync");
    for (int i = 0; i < n + 10; i++) { /* The first 10 warm up. */
        uint64_t t0 = b_now_ns();
        if (pwrite(fd, buf, size, (off_t)(size * (size_t)i)) != (ssize_t)size)
            die("pwrite");
        if (fdatasync(fd) != 0)
            die("fdatasync");
        if (i >= 10)
            us[i - 10] = (int64_t)((b_now_ns() - t0) / 1000);
    }
    close(fd);
    unlink(path);
    free(buf);
}

static void report(const char *name, int64_t *us, int n)
{
    b_sort_i64(us, (size_t)n);
    printf("%-30s p10 %6lld   p50 %6lld   p99 %6lld   min %6lld us  (%d samples)\n", name,
           (long long)b_pct_i64(us, (size_t)n, 0.1), (long long)b_pct_i64(us, (size_t)n, 0.5),
           (long long)b_pct_i64(us, (size_t)n, 0.99), (long long)us[0], n);
}

static void result(const char *key, const int64_t *sorted, int n)
{
    printf(" %s_p10_us=%lld %s_p50_us=%lld %s_p99_us=%lld", key,
           (long long)b_pct_i64(sorted, (size_t)n, 0.1), key,
           (long long)b_pct_i64(sorted, (size_t)n, 0.5), key,
           (long long)b_pct_i64(sorted, (size_t)n, 0.99));
}

int main(int argc, char **argv)
{
    int n = 2000, nf = 200, opt;
    size_t size = 300;
    int64_t *rtt, *fs, *fa, *fe;
    while ((opt = getopt(argc, argv, "n:s:")) != -1) {
        if (opt == 'n')
            nf = atoi(optarg);
        else if (opt == 's')
            size = (size_t)atol(optarg);
        else
            return 2;
    }
    if (optind != argc - 1 || nf <= 0 || nf > N_MAX || size == 0 || size > (1u << 20)) {
        fprintf(stderr, "usage: floor [-n FSYNCS<=%d] [-s BYTES] DIR\n", N_MAX);
        return 2;
    }
    rtt = calloc((size_t)n, sizeof *rtt);
    fs = calloc((size_t)nf, sizeof *fs);
    fa = calloc((size_t)nf, sizeof *fa);
    fe = calloc((size_t)nf, sizeof *fe);
    if (!rtt || !fs || !fa || !fe)
        die("calloc");
    measure_rtt(n, rtt);
    measure_fsync(argv[optind], nf, size, ZEROED, fs);
    measure_fsync(argv[optind], nf, size, FALLOC, fa);
    measure_fsync(argv[optind], nf, size, EXTEND, fe);
    report("loopback TCP round trip", rtt, n);
    char name[64];
    snprintf(name, sizeof name, "%zu B append + fdatasync", size);
    report(name, fs, nf);
    report("  same, into fallocate()d file", fa, nf);
    report("  same, file growing", fe, nf);
    printf("RESULT");
    result("rtt", rtt, n);
    result("fsync", fs, nf);
    result("fsync_falloc", fa, nf);
    result("fsync_extend", fe, nf);
    printf("\n");
    free(rtt);
    free(fs);
    free(fa);
    free(fe);
    return 0;
}
