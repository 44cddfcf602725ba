#!/usr/bin/env bash
# bench/dns_bench.sh [BUILD_DIR] [SECONDS] [RATES] [TARGET] - DNS SRV lookups
# of a 10-instance service, measured with dnsperf on loopback.
#
# TARGET (default "testserver"):
#   testserver  BUILD_DIR/src/agent/dns/dns_testserver: the DNS module over
#               its fake backend ("web" has 10 passing instances).
#   agent       the real agent: BUILD_DIR/cairn agent -dev, with "web"
#               registered through /v1/catalog/register on 10 nodes, each
#               with a passing service check. Lookups go through the agent's
#               backend (a direct stale read of the server's state store,
#               memoised per service index) and the module's answer cache.
# Either way answers come from the compiled-answer cache, shuffled per
# query. Four runs:
#   1. UDP throughput, closed loop (dnsperf keeps 256 queries in flight),
#      plain queries: 3 SRV answers + glue (udp_answer_limit).
#   2. Same with EDNS (dnsperf -e): all 10 SRV answers + A + TXT glue.
#   3. UDP latency at fixed offered rates (RATES, comma-separated, default
#      "25000,50000,100000" qps) from bench/dnsprobe: p50 / p99 / p99.9 /
#      max; again pinned (server CPU 0, probe CPU 1); and dnsperf -v at the
#      top rate, whose own cost dominates its tail on two cores.
#   4. TCP throughput (dnsperf -m tcp), for reference.
# Each throughput line also gives the server's CPU time per query (user +
# system, from /proc), which does not depend on what else runs on the
# machine: 1e6 / that sum is what one dedicated core could serve.
# Target (issue 5): >= 100k qps, p99 < 1 ms. Needs dnsperf
# (scripts/deps.sh bench) and, for the agent, curl. Prints one summary
# block; exit 0 unless a run could not be made. The numbers depend on what
# else runs on the machine.
set -euo pipefail

build=${1:-build-release}
secs=${2:-10}
rate=${3:-25000,50000,100000}
target=${4:-testserver}
command -v dnsperf >/dev/null || { echo "dns_bench: dnsperf missing (scripts/deps.sh bench)" >&2; exit 2; }

tmp=$(mktemp -d)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

start_testserver() {
    local bin="$build/src/agent/dns/dns_testserver"
    [ -x "$bin" ] || { echo "dns_bench: $bin not built" >&2; exit 2; }
    "$bin" --instances 10 >"$tmp/port" 2>"$tmp/server.err" &
    pid=$!
    for _ in $(seq 100); do
        grep -q '^PORT ' "$tmp/port" 2>/dev/null && break
        sleep 0.05
    done
    port=$(awk '/^PORT /{print $2}' "$tmp/port")
}

# Ports for the agent: below the ephemeral range, from the pid.
pick_port() { echo $(( 20000 + ($$ * 7 + $1) % 12000 )); }

start_agent() {
    local bin="$build/cairn" http
    [ -x "$bin" ] || { echo "dns_bench: $bin not built" >&2; exit 2; }
    command -v curl >/dev/null || { echo "dns_bench: curl missing" >&2; exit 2; }
    http=$(pick_port 0); port=$(pick_port 1)
    "$bin" agent -dev -node bench -log-level warn -http-port "$http" -dns-port "$port" \
        >"$tmp/server.err" 2>&1 &
    pid=$!
    for _ in $(seq 200); do
        curl -sf "http://127.0.0.1:$http/v1/status/leader" 2>/dev/null | grep -q : && break
        sleep 0.05
    done
    for i in $(seq 1 10); do
        curl -sf -X PUT "http://127.0.0.1:$http/v1/catalog/register" -d "{
            \"Node\": \"web-$i\", \"Address\": \"10.0.0.$i\", \"NodeMeta\": {\"rack\": \"r$i\"},
            \"Service\": {\"Service\": \"web\", \"Port\": $((8000 + i)), \"Tags\": [\"http\"]},
            \"Check\": {\"CheckID\": \"web\", \"Name\": \"web\", \"Status\": \"passing\",
                        \"ServiceID\": \"web\"}}" >/dev/null ||
            { echo "dns_bench: register failed" >&2; cat "$tmp/server.err" >&2; exit 1; }
    done
    [ "$(dig +short +tcp -p "$port" @127.0.0.1 web.service.consul SRV 2>/dev/null | wc -l)" = 10 ] ||
        { echo "dns_bench: agent does not answer 10 SRV records" >&2; exit 1; }
}

case $target in
testserver) start_testserver ;;
agent) start_agent ;;
*) echo "dns_bench: TARGET is testserver or agent" >&2; exit 2 ;;
esac
[ -n "${port:-}" ] || { echo "dns_bench: server did not start" >&2; cat "$tmp/server.err" >&2; exit 1; }
echo "web.service.consul SRV" >"$tmp/q"

# Server CPU (user, system) in clock ticks, to report the server's own cost
# per query: the one number that does not depend on what else runs here.
hz=$(getconf CLK_TCK)
cpu() { awk '{print $14, $15}' "/proc/$pid/stat"; }
cpu_per_query() { # before-ticks (u s), after-ticks, queries -> "u_us+s_us"
    awk -v hz="$hz" -v n="$5" -v u0="$1" -v s0="$2" -v u1="$3" -v s1="$4" \
        'BEGIN { if (n > 0) printf "%.2f+%.2f", (u1-u0)*1e6/hz/n, (s1-s0)*1e6/hz/n; else print "-" }'
}

field() { # file, label -> value
    awk -v l="$2" 'index($0, l) { sub(/.*: */, ""); print; exit }' "$1"
}

run_tput() { # name, extra dnsperf args...
    local name=$1; shift
    local c0; c0=$(cpu)
    dnsperf -s 127.0.0.1 -p "$port" -d "$tmp/q" -l "$secs" -c 4 -q 256 -b 4096 "$@" \
        >"$tmp/$name" 2>&1 || true
    local c1; c1=$(cpu)
    local done_q; done_q=$(field "$tmp/$name" 'Queries completed' | awk '{print $1}')
    printf '%-18s qps=%-8s lost=%-12s avg_latency_s=%-9s size=%-26s server_cpu_us_per_q(user+sys)=%s\n' "$name" \
        "$(field "$tmp/$name" 'Queries per second' | awk '{printf "%.0f", $1}')" \
        "$(field "$tmp/$name" 'Queries lost' | awk '{print $1}')" \
        "$(field "$tmp/$name" 'Average Latency' | awk '{print $1}')" \
        "$(field "$tmp/$name" 'Average packet size' | tr -d ' ')" \
        "$(cpu_per_query $c0 $c1 "${done_q:-0}")"
}

echo "== DNS SRV via $target, 10 instances, dnsperf on loopback, ${secs}s per run ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
run_tput udp-srv
run_tput udp-srv-edns -e
# Latency at fixed offered rates, measured by bench/dnsprobe (one thread,
# open loop, an in-memory histogram): unpinned, then with the server on CPU
# 0 and the probe on CPU 1 when taskset is here, so that the probe does not
# take the server's core. dnsperf -v at the top rate for comparison: it
# prints a line per query, and on two cores its own CPU is the tail it sees.
probe="$build/bench/dnsprobe"
[ -x "$probe" ] || { echo "dns_bench: $probe not built" >&2; exit 2; }
pin_server() { # cpu list
    for t in /proc/$pid/task/*; do taskset -pc "$1" "${t##*/}" >/dev/null; done
}
probe_line() { # label, probe prefix...
    local label=$1 r out; shift
    for r in ${rate//,/ }; do
        out=$("$@" "$probe" -a "127.0.0.1:$port" -Q "$r" -d "$secs" | awk '/^RESULT /')
        printf '%-24s offered=%s %s\n' "$label" "$r" "${out#RESULT offered=$r }"
    done
}
probe_line udp-srv-latency
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin_server 0
    probe_line udp-srv-latency-pinned taskset -c 1
    pin_server "0-$(( $(nproc) - 1 ))"
fi
top=${rate##*,}
dnsperf -s 127.0.0.1 -p "$port" -d "$tmp/q" -l "$secs" -c 4 -q 1000 -b 4096 -Q "$top" -v \
    >"$tmp/lat" 2>&1 || true
awk '/^> /{print $NF * 1000000}' "$tmp/lat" | sort -n >"$tmp/lat.us"
n=$(wc -l <"$tmp/lat.us")
pct() { [ "$n" -gt 0 ] && sed -n "$(( ($1 * n + 999) / 1000 ))p" "$tmp/lat.us" || echo -; }
printf '%-24s offered=%s achieved_qps=%s answered=%s p50_us=%s p99_us=%s p99.9_us=%s max_us=%s lost=%s\n' \
    "dnsperf-v-latency" "$top" \
    "$(field "$tmp/lat" 'Queries per second' | awk '{printf "%.0f", $1}')" "$n" \
    "$(pct 500)" "$(pct 990)" "$(pct 999)" "$(tail -1 "$tmp/lat.us")" \
    "$(field "$tmp/lat" 'Queries lost' | awk '{print $1}')"
run_tput tcp-srv -m tcp

kill -INT "$pid"; wait "$pid" 2>/dev/null || true
pid=""
echo "server: $(cat "$tmp/server.err")"
