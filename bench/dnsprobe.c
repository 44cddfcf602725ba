/* bench/dnsprobe.c - DNS latency at a fixed offered rate, open loop.
 *
 * dnsperf -v prints a line per answered query; at 100k q/s that printing
 * and dnsperf's own threads cost more CPU than the server being measured,
 * and on a two-core machine the tail it reports is mostly its own. This
 * probe is one thread: queries go out on a schedule (rate, not answers,
 * decides when), batched with sendmmsg; answers come back with recvmmsg;
 * each latency lands in bench_util's in-memory histogram. The query
 * ID indexes the send time, so an answer older than 65,536 queries counts
 * as lost. It polls without sleeping while the schedule is dense (a run
 * owns one core: pin it, e.g. taskset -c 1).
 *
 * usage: dnsprobe -a HOST:PORT [-Q qps] [-d sec] [-W warmup_sec] [-n NAME]
 *                 [-t SRV|A] [-e]   (-e: EDNS0 with a 4096-byte buffer)
 * Prints a human line and `RESULT key=value ...`. Exit 0 unless the run
 * could not be made; no number is asserted.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench_util.h"

#define BATCH 64

static uint64_t sent_ns[65536];
static bool outstanding[65536];
static struct b_hist hist;

/* A query for name/type in wire form into q; its length. */
static size_t build_query(uint8_t *q, size_t cap, const char *name, uint16_t type, bool edns)
{
    size_t n = 12;
    memset(q, 0, 12);
    q[2] = 0x01;              /* RD */
    q[5] = 1;                 /* QDCOUNT */
    q[11] = edns ? 1 : 0;     /* ARCOUNT */
    for (const char *p = name; *p;) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (l == 0 || l > 63 || n + l + 2 > cap - 16)
            return 0;
        q[n++] = (uint8_t)l;
        memcpy(q + n, p, l);
        n += l;
        p += l + (dot ? 1 : 0);
    }
    q[n++] = 0;
    q[n++] = (uint8_t)(type >> 8);
    q[n++] = (uint8_t)type;
    q[n++] = 0;
    q[n++] = 1;               /* IN */
    if (edns) {               /* OPT: root, type 41, payload 4096. */
        static const uint8_t opt[11] = {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0};
        memcpy(q + n, opt, sizeof opt);
        n += sizeof opt;
    }
    return n;
}

static double pct_us(double q)
{
    return (double)b_hist_quantile(&hist, q) / 1000.0;
}

int main(int argc, char **argv)
{
    const char *addr = NULL, *name = "web.service.consul";
    double rate = 100000, secs = 10, warm = 1;
    uint16_t qtype = 33;
    bool edns = false;
    struct sockaddr_in sa;
    uint8_t tmpl[512], out[BATCH][512], in[BATCH][4096];
    struct mmsghdr smsg[BATCH], rmsg[BATCH];
    struct iovec siov[BATCH], riov[BATCH];
    uint64_t bad = 0;
    size_t qlen;
    int ch, fd, buf = 8 << 20;

    while ((ch = getopt(argc, argv, "a:Q:d:W:n:t:eh")) != -1) {
        switch (ch) {
        case 'a': addr = optarg; break;
        case 'Q': rate = atof(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'W': warm = atof(optarg); break;
        case 'n': name = optarg; break;
        case 't': qtype = strcmp(optarg, "A") == 0 ? 1 : 33; break;
        case 'e': edns = true; break;
        default:
            fprintf(stderr, "usage: dnsprobe -a HOST:PORT [-Q qps] [-d sec] [-W sec] "
                            "[-n NAME] [-t SRV|A] [-e]\n");
            return 2;
        }
    }
    if (!addr || b_parse_addr(addr, &sa) != 0 || rate < 1 || rate > 5e6 || secs <= 0 ||
        warm < 0 || !(qlen = build_query(tmpl, sizeof tmpl, name, qtype, edns))) {
        fprintf(stderr, "dnsprobe: bad arguments (-a HOST:PORT is required)\n");
        return 2;
    }
    b_hist_init(&hist);
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("dnsprobe: socket");
        return 2;
    }
    for (int i = 0; i < BATCH; i++) {
        memcpy(out[i], tmpl, qlen);
        siov[i] = (struct iovec){out[i], qlen};
        riov[i] = (struct iovec){in[i], sizeof in[i]};
        smsg[i].msg_hdr = (struct msghdr){.msg_iov = &siov[i], .msg_iovlen = 1};
        rmsg[i].msg_hdr = (struct msghdr){.msg_iov = &riov[i], .msg_iovlen = 1};
    }

    const uint64_t gap = (uint64_t)(1e9 / rate);
    const uint64_t start = b_now_ns(), measure_from = start + (uint64_t)(warm * 1e9);
    const uint64_t stop_send = measure_from + (uint64_t)(secs * 1e9);
    const uint64_t stop_all = stop_send + 1000000000u; /* 1 s for stragglers. */
    uint64_t next = start, measured_sent = 0;
    uint16_t id = 0;

    for (;;) {
        uint64_t now = b_now_ns();
        int n = 0;
        if (now >= stop_all)
            break;
        /* Everything due, in batches; IDs carry the send time. */
        while (now < stop_send && next <= now && n < BATCH) {
            id++;
            out[n][0] = (uint8_t)(id >> 8);
            out[n][1] = (uint8_t)id;
            sent_ns[id] = now;
            outstanding[id] = true;
            if (now >= measure_from)
                measured_sent++;
            next += gap;
            n++;
        }
        if (n > 0) {
            int done = 0;
            while (done < n) {
                int r = sendmmsg(fd, smsg + done, (unsigned)(n - done), 0);
                if (r < 0 && errno != EAGAIN && errno != EINTR) {
                    perror("dnsprobe: sendmmsg");
                    return 1;
                }
                done += r > 0 ? r : 0;
                if (r <= 0)
                    break; /* Socket full: those count as lost. */
            }
        }
        int r = recvmmsg(fd, rmsg, BATCH, MSG_DONTWAIT, NULL);
        uint64_t t = b_now_ns();
        for (int i = 0; i < r; i++) {
            const uint8_t *p = in[i];
            uint16_t rid;
            if (rmsg[i].msg_len < 12) {
                bad++;
                continue;
            }
            rid = (uint16_t)(p[0] << 8 | p[1]);
            /* QR set, RCODE 0, at least one answer. */
            if (!(p[2] & 0x80) || (p[3] & 0x0f) || (p[6] << 8 | p[7]) == 0) {
                bad++;
                continue;
            }
            if (!outstanding[rid])
                continue; /* Duplicate, or an ID that wrapped. */
            outstanding[rid] = false;
            if (sent_ns[rid] >= measure_from)
                b_hist_record(&hist, t - sent_ns[rid]);
        }
        /* Sparse schedule and nothing arrived: wait in poll, not a spin. */
        if (r <= 0 && next > t + 200000) {
            struct pollfd pf = {fd, POLLIN, 0};
            poll(&pf, 1, (int)((next - t) / 1000000));
        }
    }
    double achieved = (double)measured_sent / secs;
    uint64_t measured = hist.n, lost = measured_sent - measured;
    printf("dnsprobe %s %s%s offered=%.0f q/s achieved=%.0f sent=%llu answered=%llu "
           "lost=%llu bad=%llu: latency us p50=%.0f p90=%.0f p99=%.0f p99.9=%.0f max=%.0f\n",
           addr, qtype == 33 ? "SRV" : "A", edns ? "+edns" : "", rate, achieved,
           (unsigned long long)measured_sent, (unsigned long long)measured,
           (unsigned long long)lost, (unsigned long long)bad, pct_us(0.5), pct_us(0.9),
           pct_us(0.99), pct_us(0.999), (double)hist.max / 1000.0);
    printf("RESULT offered=%.0f achieved=%.0f answered=%llu lost=%llu bad=%llu p50_us=%.0f "
           "p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f\n",
           rate, achieved, (unsigned long long)measured, (unsigned long long)lost,
           (unsigned long long)bad, pct_us(0.5), pct_us(0.9), pct_us(0.99), pct_us(0.999),
           (double)hist.max / 1000.0);
    close(fd);
    return 0;
}
