#!/usr/bin/env bash
# bench/run.sh - cairn's benchmarks, side by side with etcd in the same run.
#
# usage: bench/run.sh [BUILD_DIR] [--quick] [--cluster | --cluster-only] [--no-etcd]
#   BUILD_DIR   holds cairn and bench/{kvload,kvprobe} (default build-release)
#   --quick     short runs (3 s, fewer trials): a smoke test, not numbers to quote
#   --cluster   also the 3-member section (etcd now; cairn needs the server issue)
#
# 1. Same workloads against etcd (v3 JSON gateway) and `cairn agent -dev`
#    (Consul KV API): 64 connections for throughput, 1 for latency.
# 2. cairn only: idle RSS, RSS after 100,000 x 256 B keys, exec-to-ready time,
#    blocking-query wake latency, RSS of 10,000 parked blocking queries.
# 2e. registry (cairn): /v1/health/service/web?passing over REG_INSTANCES=1000
#    instances at 16 clients; REG_SERVICES=10000 services x 1 TCP check on one
#    agent: RSS and check scheduling accuracy (bench/registry_bench.py).
#    REGISTRY=0 skips it.
# 3. --cluster: 3 members of etcd, then of cairn (when `cairn agent -server`
#    forms a cluster; else NOT MEASURED) on loopback: PUT at 64 clients, p50
#    at 1, linearizable read at 64, leader SIGKILL -> first acknowledged write,
#    leader RSS after RSS_KEYS keys, PUT at 1 against the floor (bench/floor).
#
# Knobs (environment): DURATION=10 WARMUP=2 CONNS=64 GET_KEYS=10000 REPEAT=1
# (REPEAT=3: each side-by-side workload 3 times, the table shows the median run)
# READY_RUNS=20 WATCH_TRIALS=200 PARK_N=10000 RSS_KEYS=100000
# FAILOVER_RUNS=5 RSS_SETTLE_S=35 ETCD_DATA=tmpfs|disk (disk: a directory under
# DISK_DIR=/var/tmp); CAIRN=path and ETCD=path override the binaries.
# Every process started here is stopped on exit. The last block of output is
# `key=value` lines between "=== summary" and "=== end".
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=build-release
QUICK=0 CLUSTER=0 MAIN=1 USE_ETCD=1
for a in "$@"; do
    case "$a" in
        --quick) QUICK=1 ;;
        --cluster) CLUSTER=1 ;;
        --cluster-only) CLUSTER=1 MAIN=0 ;;
        --no-etcd) USE_ETCD=0 ;;
        -h|--help) sed -n '2,/^set -uo/p' "$0" | grep '^#'; exit 0 ;;
        -*) echo "run.sh: unknown option $a" >&2; exit 2 ;;
        *) BUILD=$a ;;
    esac
done
if [ $QUICK = 1 ]; then
    : "${DURATION:=3}" "${WARMUP:=1}" "${READY_RUNS:=5}" "${WATCH_TRIALS:=50}"
    : "${PARK_N:=2000}" "${RSS_KEYS:=20000}" "${FAILOVER_RUNS:=2}"
fi
DURATION=${DURATION:-10} WARMUP=${WARMUP:-2} CONNS=${CONNS:-64}
GET_KEYS=${GET_KEYS:-10000} READY_RUNS=${READY_RUNS:-20} WATCH_TRIALS=${WATCH_TRIALS:-200} REPEAT=${REPEAT:-1}
PARK_N=${PARK_N:-10000} RSS_KEYS=${RSS_KEYS:-100000} FAILOVER_RUNS=${FAILOVER_RUNS:-5}
ETCD_DATA=${ETCD_DATA:-tmpfs}

KVLOAD=$BUILD/bench/kvload
KVPROBE=$BUILD/bench/kvprobe
FLOOR=$BUILD/bench/floor
CAIRN=${CAIRN:-$BUILD/cairn}
ETCD=${ETCD:-/usr/bin/etcd}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
for b in "$KVLOAD" "$KVPROBE"; do
    [ -x "$b" ] || { echo "run.sh: $b missing: build $BUILD first (make bench)" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/cairn-bench.XXXXXX)
# Data dirs (etcd members, cairn servers): tmpfs, or a real disk under
# DISK_DIR (/var/tmp: /tmp is tmpfs on many systems), so fsyncs cost what
# they cost. DATA_FS records the filesystem type they ended up on.
if [ "$ETCD_DATA" = tmpfs ] && [ -d /dev/shm ]; then
    ETCD_TMP=$(mktemp -d /dev/shm/cairn-bench-etcd.XXXXXX)
else
    ETCD_DATA=disk
    ETCD_TMP=$(mktemp -d "${DISK_DIR:-/var/tmp}/cairn-bench-data.XXXXXX")
fi
DATA_FS=$(df --output=fstype "$ETCD_TMP" 2>/dev/null | tail -n 1)
[ -n "$DATA_FS" ] || DATA_FS=$(stat -f -c %T "$ETCD_TMP" 2>/dev/null || echo unknown)
if [ "$ETCD_DATA" = disk ] && [ "$DATA_FS" = tmpfs ]; then
    echo "run.sh: ETCD_DATA=disk but $ETCD_TMP is on tmpfs; set DISK_DIR to a disk-backed directory" >&2
    exit 2
fi
PIDS=()
declare -A R=()  # results: R[name.key]=value

# Servers are started in the background and disowned (no job-status noise);
# bash still reaps them, so `kill -0` tells whether one is gone.
gone() { # pid: wait up to 5 s for it to disappear; 0 if it did
    local i
    for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}
stop_pid() { # pid: TERM, up to 5 s, then KILL; only our own children
    kill -0 "$1" 2>/dev/null || return 0
    kill -TERM "$1" 2>/dev/null
    gone "$1" || { kill -KILL "$1" 2>/dev/null; gone "$1"; }
    return 0
}
cleanup() {
    local p
    for p in "${PIDS[@]}"; do stop_pid "$p"; done
    rm -rf "$TMP" "$ETCD_TMP"
}
trap cleanup EXIT
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM

# ---- helpers ---------------------------------------------------------------

free_ports() { # n: prints n distinct free loopback TCP ports
    "$PY" - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

http() { # METHOD URL [BODY] -> prints "STATUS BODY"; timeout 2 s
    "$PY" - "$@" <<'EOF' 2>/dev/null || echo "000 "
import sys, urllib.request, urllib.error
m, url = sys.argv[1], sys.argv[2]
data = sys.argv[3].encode() if len(sys.argv) > 3 else None
req = urllib.request.Request(url, data=data, method=m)
try:
    with urllib.request.urlopen(req, timeout=2) as r:
        print(r.status, r.read().decode(errors="replace"))
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(errors="replace"))
EOF
}

wait_ready() { # URL EXPECT TIMEOUT_S PID: poll until the body contains EXPECT
    local url=$1 expect=$2 t=$3 pid=$4 i out
    for i in $(seq $((t * 10))); do
        kill -0 "$pid" 2>/dev/null || return 1
        out=$(http GET "$url")
        case "$out" in "200 "*"$expect"*) return 0 ;; esac
        sleep 0.1
    done
    return 1
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo -1; }
mib() { awk -v k="$1" 'BEGIN { if (k < 0) print "n/a"; else printf "%.1f", k / 1024 }'; }

# Parse the RESULT lines of a tool's output file into R[name.key].
collect() { # name file
    local name=$1 line kv
    while IFS= read -r line; do
        for kv in ${line#RESULT }; do R["$name.${kv%%=*}"]=${kv#*=}; done
    done < <(grep '^RESULT ' "$2")
}

get() { echo "${R[$1]:-n/a}"; }

# ---- servers ---------------------------------------------------------------

ETCD_PID="" ETCD_ADDR=""
start_etcd() { # name: single member with a fresh data dir
    local name=$1 ports cp pp
    ports=$(free_ports 2); cp=${ports% *}; pp=${ports#* }
    "$ETCD" --name "$name" --data-dir "$ETCD_TMP/$name" \
        --listen-client-urls "http://127.0.0.1:$cp" --advertise-client-urls "http://127.0.0.1:$cp" \
        --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
        --initial-cluster "$name=http://127.0.0.1:$pp" --logger zap --log-level error \
        > "$TMP/$name.log" 2>&1 &
    ETCD_PID=$!; disown "$ETCD_PID"; PIDS+=("$ETCD_PID"); ETCD_ADDR=127.0.0.1:$cp
    wait_ready "http://$ETCD_ADDR/health" '"health":"true"' 30 "$ETCD_PID" || {
        echo "run.sh: etcd did not become healthy; log:"; tail -5 "$TMP/$name.log"; return 1; }
}

CAIRN_PID="" CAIRN_ADDR="" CAIRN_WHY=""
cairn_cmd() { # http_port -> prints the agent command line
    local p
    p=$(free_ports 3)
    set -- $1 $p
    echo "$CAIRN agent -dev -http-port $1 -dns-port $2 -server-port $3 -serf-lan-port $4 -log-level warn"
}
start_cairn() { # name
    local name=$1 port out
    port=$(free_ports 1)
    # shellcheck disable=SC2046
    $(cairn_cmd "$port") > "$TMP/$name.log" 2>&1 &
    CAIRN_PID=$!; disown "$CAIRN_PID"; PIDS+=("$CAIRN_PID"); CAIRN_ADDR=127.0.0.1:$port
    if ! wait_ready "http://$CAIRN_ADDR/v1/status/leader" '"' 10 "$CAIRN_PID"; then
        CAIRN_WHY="agent -dev did not answer GET /v1/status/leader ($(tail -1 "$TMP/$name.log"))"
        return 1
    fi
    out=$(http PUT "http://$CAIRN_ADDR/v1/kv/bench-probe" hello)
    [ "${out%% *}" = 200 ] || { CAIRN_WHY="PUT /v1/kv answered '$out'"; return 1; }
    out=$(http GET "http://$CAIRN_ADDR/v1/kv/bench-probe")
    case "$out" in 200*aGVsbG8=*) ;; *) CAIRN_WHY="GET /v1/kv answered '$out'"; return 1 ;; esac
}

# ---- 1. side by side -------------------------------------------------------

# One kvload run; its output is shown indented and parsed into R[name.*].
load() { # name pid addr kvload-args...
    local name=$1 pid=$2 addr=$3; shift 3
    "$KVLOAD" -a "$addr" -S "$pid" "$@" > "$TMP/$name.out" 2>&1
    sed 's/^/    /' "$TMP/$name.out" | grep -v '^    RESULT '
    collect "$name" "$TMP/$name.out"
}

preload() { # name pid addr proto prefix n
    local out=$TMP/$1.preload
    "$KVLOAD" -a "$3" -P "$4" -w put -x "$5" -n "$6" -k "$6" -c "$CONNS" > "$out" 2>&1
    if ! grep -q ' errors=0 ' "$out"; then
        echo "run.sh: preload of $1 failed:"; cat "$out"; return 1
    fi
}

# name | description | conns | consul args | etcd args
# (Puts take no -k: every put writes a new key; gets read the preloaded set.)
G="-k $GET_KEYS -x bench-get/"
WORKLOADS=(
    "put64|PUT, distinct keys|$CONNS|-w put -x bench-put64/|-w put -x bench-put64/"
    "get64|GET default / serializable|$CONNS|-w get -m default $G|-w get -m stale $G"
    "cget64|GET ?consistent / linearizable|$CONNS|-w get -m consistent $G|-w get -m consistent $G"
    "put1|PUT, distinct keys|1|-w put -x bench-put1/|-w put -x bench-put1/"
    "get1|GET default / serializable|1|-w get -m default $G|-w get -m stale $G"
    "cget1|GET ?consistent / linearizable|1|-w get -m consistent $G|-w get -m consistent $G"
)

# With REPEAT > 1: copy the run with the median ops/s of NAME.r1..rN to NAME.
pick_median() { # name
    local r k mid
    mid=$(for r in $(seq "$REPEAT"); do echo "$(get "$1.r$r.ops_s") $r"; done |
          grep -v '^n/a' | sort -g | awk '{ v[NR] = $2 } END { if (NR) print v[int((NR + 1) / 2)] }')
    [ -n "$mid" ] || return 0
    for k in "${!R[@]}"; do
        case $k in "$1.r$mid."*) R["$1.${k#"$1.r$mid."}"]=${R[$k]} ;; esac
    done
    R["$1.median_of"]=$REPEAT
}

side_by_side() {
    local w name desc c cargs eargs common r sfx
    echo
    echo "=== 1. same workloads, etcd (v3 JSON gateway) vs cairn agent -dev (Consul KV API)"
    echo "    ${DURATION}s measured after ${WARMUP}s warmup; values 256 B; gets read $GET_KEYS preloaded keys"
    [ "$REPEAT" -gt 1 ] && echo "    each workload $REPEAT times, etcd and cairn alternating; the table shows the median run"
    if [ $USE_ETCD = 1 ]; then
        start_etcd etcd-main || USE_ETCD=0
        [ $USE_ETCD = 1 ] && { preload etcd-get "$ETCD_PID" "$ETCD_ADDR" etcd bench-get/ "$GET_KEYS" || USE_ETCD=0; }
    fi
    if [ $CAIRN_OK = 1 ]; then
        start_cairn cairn-main || { CAIRN_OK=0; echo "cairn: $CAIRN_WHY"; }
        [ $CAIRN_OK = 1 ] && { preload cairn-get "$CAIRN_PID" "$CAIRN_ADDR" consul bench-get/ "$GET_KEYS" || CAIRN_OK=0; }
    fi
    for w in "${WORKLOADS[@]}"; do
        IFS='|' read -r name desc c cargs eargs <<< "$w"
        for r in $(seq "$REPEAT"); do
            common="-c $c -d $DURATION -W $WARMUP"
            # Each repetition of a put writes its own new keys.
            case $name in put*) common+=" -x bench-$name-r$r/" ;; esac
            sfx=""; [ "$REPEAT" -gt 1 ] && sfx=".r$r"
            echo "--- $name: $desc, $c connection(s)${sfx:+, run $r of $REPEAT}"
            # shellcheck disable=SC2086
            [ $USE_ETCD = 1 ] && load "$name.etcd$sfx" "$ETCD_PID" "$ETCD_ADDR" -P etcd $eargs $common
            # shellcheck disable=SC2086
            [ $CAIRN_OK = 1 ] && load "$name.cairn$sfx" "$CAIRN_PID" "$CAIRN_ADDR" -P consul $cargs $common
        done
        if [ "$REPEAT" -gt 1 ]; then
            pick_median "$name.etcd"
            pick_median "$name.cairn"
        fi
    done
    [ -n "$ETCD_PID" ] && R[etcd.rss_after_bench_kb]=$(rss_kb "$ETCD_PID")
    [ -n "$CAIRN_PID" ] && R[cairn.rss_after_bench_kb]=$(rss_kb "$CAIRN_PID")
    [ -n "$ETCD_PID" ] && stop_pid "$ETCD_PID"
    [ -n "$CAIRN_PID" ] && stop_pid "$CAIRN_PID"
    ETCD_PID="" CAIRN_PID=""
    table
}

cpu_per_op() { # name -> server CPU microseconds per successful op
    awk -v c="$(get "$1.server_cpu_s")" -v n="$(get "$1.ok")" \
        'BEGIN { if (n != "n/a" && c != "n/a" && n > 0 && c >= 0) printf "%.0f", c * 1e6 / n; else print "n/a" }'
}
ms() { awk -v u="$1" 'BEGIN { if (u == "n/a") print "n/a"; else printf "%.2f", u / 1000 }'; }

table() {
    local w name desc c e k s ratio
    echo
    printf '%-38s %5s | %9s %7s %7s %6s | %9s %7s %7s %6s | %s\n' "workload" conns \
        "etcd op/s" "p50 ms" "p99 ms" "us/op" "cairn/s" "p50 ms" "p99 ms" "us/op" "cairn/etcd"
    for w in "${WORKLOADS[@]}"; do
        IFS='|' read -r name desc c _ _ <<< "$w"
        e=$(get "$name.etcd.ops_s"); k=$(get "$name.cairn.ops_s")
        ratio=$(awk -v e="$e" -v k="$k" 'BEGIN { if (e > 0 && k != "n/a") printf "%.2fx", k / e; else print "n/a" }')
        R["$name.ratio_ops"]=${ratio%x}
        printf '%-38s %5s | %9s %7s %7s %6s | %9s %7s %7s %6s | %s\n' "$name: $desc" "$c" \
            "$e" "$(ms "$(get "$name.etcd.p50_us")")" "$(ms "$(get "$name.etcd.p99_us")")" \
            "$(cpu_per_op "$name.etcd")" \
            "$k" "$(ms "$(get "$name.cairn.p50_us")")" "$(ms "$(get "$name.cairn.p99_us")")" \
            "$(cpu_per_op "$name.cairn")" "$ratio"
        for s in etcd cairn; do
            [ "$(get "$name.$s.errors")" = 0 ] || [ "$(get "$name.$s.errors")" = n/a ] ||
                echo "    WARNING: $name $s had $(get "$name.$s.errors") errors (see above)"
            [ "$(get "$name.$s.client_bound")" != 1 ] ||
                echo "    NOTE: $name $s: the load generator was CPU-bound; the rate is a lower bound"
        done
    done
    echo "us/op = server CPU time (user+sys, all threads) per successful request."
    echo "etcd rows: default = serializable range; ?consistent = linearizable range."
}

# ---- 2. cairn only (etcd as context where the measurement applies) ---------

rss_section() {
    local sys pid addr proto idle after
    echo
    echo "=== 2a. memory: VmRSS idle (1 s after ready) and after $RSS_KEYS keys x 256 B"
    for sys in etcd cairn; do
        if [ $sys = cairn ]; then
            [ $CAIRN_OK = 1 ] || continue
            start_cairn cairn-rss || { echo "cairn: $CAIRN_WHY"; continue; }
            pid=$CAIRN_PID addr=$CAIRN_ADDR proto=consul
        else
            [ $USE_ETCD = 1 ] || continue
            start_etcd etcd-rss || continue
            pid=$ETCD_PID addr=$ETCD_ADDR proto=etcd
        fi
        sleep 1
        idle=$(rss_kb "$pid")
        preload "$sys-rss" "$pid" "$addr" "$proto" bench-rss/ "$RSS_KEYS" || { stop_pid "$pid"; continue; }
        sleep 1
        after=$(rss_kb "$pid")
        R[$sys.rss_idle_kb]=$idle R[$sys.rss_keys_kb]=$after R[$sys.rss_keys_n]=$RSS_KEYS
        printf '    %-6s idle %7s MiB   after %d keys %7s MiB\n' $sys "$(mib "$idle")" "$RSS_KEYS" "$(mib "$after")"
        if [ $sys = cairn ]; then
            blocking_section
        fi
        stop_pid "$pid"
    done
}

blocking_section() { # on the running cairn agent (CAIRN_PID, CAIRN_ADDR)
    echo
    echo "=== 2b. blocking queries (cairn): wake latency over $WATCH_TRIALS trials"
    "$KVPROBE" watch -a "$CAIRN_ADDR" -n "$WATCH_TRIALS" > "$TMP/watch.out" 2>&1
    grep -v '^RESULT ' "$TMP/watch.out" | sed 's/^/    /'
    collect cairn "$TMP/watch.out"
    echo
    echo "=== 2c. $PARK_N parked blocking queries (cairn): RSS before/after, fan-out wake"
    "$KVPROBE" park -a "$CAIRN_ADDR" -c "$PARK_N" -S "$CAIRN_PID" -T 60 > "$TMP/park.out" 2>&1
    grep -v '^RESULT ' "$TMP/park.out" | sed 's/^/    /'
    collect cairn "$TMP/park.out"
}

ready_section() {
    local p ports
    echo
    echo "=== 2d. exec -> first successful readiness answer, $READY_RUNS runs each"
    if [ $CAIRN_OK = 1 ]; then
        p=$(free_ports 1)
        # shellcheck disable=SC2046
        "$KVPROBE" ready -a "127.0.0.1:$p" -n "$READY_RUNS" -T 10 -L "$TMP/ready-cairn.log" \
            -- $(cairn_cmd "$p") > "$TMP/ready-cairn.out" 2>&1
        grep -v '^RESULT ' "$TMP/ready-cairn.out" | sed 's/^/    cairn: /'
        collect cairn "$TMP/ready-cairn.out"
    fi
    if [ $USE_ETCD = 1 ]; then
        ports=$(free_ports 2)
        set -- $ports
        "$KVPROBE" ready -P etcd -a "127.0.0.1:$1" -n "$READY_RUNS" -T 20 -L "$TMP/ready-etcd.log" \
            -- "$ETCD" --name ready --data-dir "$ETCD_TMP/ready{RUN}" \
            --listen-client-urls "http://127.0.0.1:$1" --advertise-client-urls "http://127.0.0.1:$1" \
            --listen-peer-urls "http://127.0.0.1:$2" --initial-advertise-peer-urls "http://127.0.0.1:$2" \
            --initial-cluster "ready=http://127.0.0.1:$2" --logger zap --log-level error \
            > "$TMP/ready-etcd.out" 2>&1
        grep -v '^RESULT ' "$TMP/ready-etcd.out" | sed 's/^/    etcd (GET \/health, context): /'
        collect etcd "$TMP/ready-etcd.out"
    fi
}

# ---- 3. three members on loopback (--cluster): bench/cluster.sh ----------

. bench/cluster.sh

# ---- main ------------------------------------------------------------------

header() {
    local cpu mem load ver
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    mem=$(awk '/^MemTotal/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    ver=$(git describe --always --dirty 2>/dev/null || echo unknown)
    R[machine.cores]=$(nproc) R[machine.cpu]=${cpu// /_} R[machine.mem_gib]=$mem
    R[machine.loadavg_start]=${load%% *} R[cairn.commit]=$ver
    R[bench.duration_s]=$DURATION R[bench.warmup_s]=$WARMUP R[bench.conns]=$CONNS
    R[etcd.data]=$ETCD_DATA R[data.fs]=$DATA_FS
    echo "=== cairn benchmarks, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine: $cpu, $(nproc) cores, $mem GiB RAM, Linux $(uname -r); load average at start: $load"
    echo "NOTE: the load generator (kvload, one epoll thread) runs on the same machine and"
    echo "      shares its $(nproc) cores with the server under test; nothing is pinned."
    awk -v l="${load%% *}" 'BEGIN { exit !(l > 0.5) }' &&
        echo "WARNING: the machine was already busy (load ${load%% *}): expect noisy numbers"
    echo "cairn: $ver, $CAIRN"
    if [ $USE_ETCD = 1 ]; then
        R[etcd.version]=$("$ETCD" --version | awk '/^etcd Version/ { print $3 }')
        echo "etcd:  $("$ETCD" --version | head -1), data dir on $ETCD_DATA ($ETCD_TMP, $DATA_FS)$( [ "$ETCD_DATA" = tmpfs ] &&
            echo ' (fsync nearly free: the closest match to cairn -dev, which keeps state in memory)')"
        echo "       etcd's JSON gateway proxies each request to its own gRPC server over loopback;"
        echo "       its native gRPC API is faster than the numbers here."
    fi
    [ $QUICK = 1 ] && echo "QUICK mode: short runs for a smoke test; do not quote these numbers."
    return 0
}

registry_section() {
    local q=""
    [ $CAIRN_OK = 1 ] || return 0
    [ "${REGISTRY:-1}" = 1 ] || return 0
    echo
    echo "=== 2e. service registry (cairn): bench/registry_bench.py"
    [ $QUICK = 1 ] && q=--quick
    TMPDIR=$TMP "$PY" bench/registry_bench.py "$CAIRN" "$KVLOAD" $q \
        --instances "${REG_INSTANCES:-1000}" --services "${REG_SERVICES:-10000}" \
        --duration "$DURATION" --warmup "$WARMUP" > "$TMP/registry.out" 2>&1
    grep -v '^RESULT ' "$TMP/registry.out" | sed 's/^/    /'
    collect cairn "$TMP/registry.out"
}

summary() {
    local k
    echo
    echo "=== summary (key=value)"
    for k in $(printf '%s\n' "${!R[@]}" | sort); do echo "$k=${R[$k]}"; done
    echo "=== end"
}

[ -x "$ETCD" ] || { [ $USE_ETCD = 1 ] && echo "run.sh: $ETCD not found (apt-get install etcd-server); etcd side skipped"; USE_ETCD=0; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((PARK_N + 200)) ]; then
    echo "run.sh: open-file limit $(ulimit -n) < PARK_N+200; PARK_N lowered" >&2
    PARK_N=$(( $(ulimit -n) - 200 ))
fi
header
CAIRN_OK=0
if [ ! -x "$CAIRN" ]; then
    CAIRN_WHY="$CAIRN not built"
elif start_cairn cairn-check; then
    CAIRN_OK=1
fi
[ -n "$CAIRN_PID" ] && stop_pid "$CAIRN_PID"
CAIRN_PID=""
if [ $CAIRN_OK = 0 ]; then
    echo "cairn: NOT MEASURED: $CAIRN_WHY"
    R[cairn.status]="unavailable"
fi

if [ $MAIN = 1 ]; then
    side_by_side
    rss_section
    ready_section
    registry_section
fi
[ $CLUSTER = 1 ] && cluster_section
summary
