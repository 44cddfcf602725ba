#!/usr/bin/env bash
# bench/selftest.sh BUILD_DIR - do the benchmark tools work end to end?
#
# Runs kvload and kvprobe against bench/consul_standin.py (and dnsprobe
# against the DNS module's test server) (a slow Python
# stand-in for the Consul KV API) and, if installed, a single etcd member.
# Checks exit codes and that errors are detected (a get of keys never
# written must fail). Numbers are ignored: this is a test, not a benchmark.
# Exit 77 (meson: skipped) without python3.
set -uo pipefail
BUILD=${1:?usage: selftest.sh BUILD_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
KVLOAD=$BUILD/bench/kvload
KVPROBE=$BUILD/bench/kvprobe
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "selftest: no $PY, skipped"; exit 77; }
TMP=$(mktemp -d /tmp/cairn-bench-selftest.XXXXXX)
PIDS=()
fail=0
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    sleep 0.2
    for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

ports() { "$PY" -c 'import socket,sys
s=[socket.socket() for _ in range(int(sys.argv[1]))]
[x.bind(("127.0.0.1",0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"; }

check() { # description, expected exit code, command...
    local what=$1 want=$2; shift 2
    "$@" > "$TMP/out" 2>&1
    local rc=$?
    if [ "$rc" != "$want" ] || ! grep -q '^RESULT ' "$TMP/out"; then
        echo "FAIL: $what (exit $rc, wanted $want)"; sed 's/^/    /' "$TMP/out"; fail=1
    else
        echo "ok:   $what"
    fi
}

wait_port() { # port: until something accepts on it (10 s)
    local i
    for i in $(seq 100); do
        "$PY" -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2)' \
            "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

set -- $(ports 4)
SP=$1 RP=$2 EC=$3 EP=$4
"$PY" "$HERE/consul_standin.py" "$SP" > "$TMP/standin.log" 2>&1 &
SPID=$!; PIDS+=("$SPID")
wait_port "$SP" || { echo "FAIL: stand-in did not start"; cat "$TMP/standin.log"; exit 1; }

A=127.0.0.1:$SP
check "consul put, count mode" 0 "$KVLOAD" -a "$A" -w put -n 500 -k 200 -c 8 -S "$SPID"
check "consul get, duration mode, 2 threads" 0 "$KVLOAD" -a "$A" -w get -k 200 -d 1 -c 8 -t 2
check "consul ?consistent get, pipelined" 0 "$KVLOAD" -a "$A" -w get -m consistent -k 200 -d 1 -c 4 -p 4
check "consul get of unwritten keys is an error" 1 "$KVLOAD" -a "$A" -w get -K 100000 -k 10 -d 1 -c 2 -e 5
check "watch (blocking-query wake)" 0 "$KVPROBE" watch -a "$A" -n 10
check "park 320 queries from 3 source addresses" 0 "$KVPROBE" park -a "$A" -c 320 -S "$SPID" -T 20
check "ready (fork/exec to leader answer)" 0 "$KVPROBE" ready -a "127.0.0.1:$RP" -n 2 -T 10 \
    -- "$PY" "$HERE/consul_standin.py" "$RP" 0.1
check "load against a closed port fails" 1 "$KVLOAD" -a 127.0.0.1:1 -w put -n 10 -c 1 -e 3

DNSTS=$BUILD/src/agent/dns/dns_testserver
if [ -x "$DNSTS" ]; then
    "$DNSTS" --instances 10 > "$TMP/dnsts.port" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 100); do grep -q '^PORT ' "$TMP/dnsts.port" && break; sleep 0.05; done
    DP=$(awk '/^PORT /{print $2}' "$TMP/dnsts.port")
    check "dnsprobe at a fixed rate" 0 "$BUILD/bench/dnsprobe" -a "127.0.0.1:$DP" -Q 2000 -d 0.5 -W 0
    if ! grep -q 'answered=1000 lost=0 bad=0' "$TMP/out"; then
        echo "FAIL: dnsprobe did not get its 1000 answers"; sed 's/^/    /' "$TMP/out"; fail=1
    fi
fi

if [ -x /usr/bin/etcd ]; then
    /usr/bin/etcd --name st --data-dir "$TMP/etcd" \
        --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
        --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
        --initial-cluster "st=http://127.0.0.1:$EP" --logger zap --log-level error \
        > "$TMP/etcd.log" 2>&1 &
    EPID=$!; PIDS+=("$EPID")
    if wait_port "$EC"; then
        sleep 1
        E=127.0.0.1:$EC
        check "etcd put" 0 "$KVLOAD" -a "$E" -P etcd -w put -n 300 -k 100 -c 8 -S "$EPID"
        check "etcd serializable range" 0 "$KVLOAD" -a "$E" -P etcd -w get -m stale -k 100 -d 1 -c 8
        check "etcd linearizable range" 0 "$KVLOAD" -a "$E" -P etcd -w get -m consistent -k 100 -d 1 -c 8
        check "etcd range of unwritten keys is an error" 1 "$KVLOAD" -a "$E" -P etcd -w get -K 5000 -k 10 -d 1 -c 2 -e 5
    else
        echo "FAIL: etcd did not start"; tail -5 "$TMP/etcd.log"; fail=1
    fi
else
    echo "skip: etcd not installed"
fi
exit $fail
