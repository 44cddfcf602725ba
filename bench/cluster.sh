# bench/cluster.sh - sourced by bench/run.sh for --cluster: three members of
# etcd, then of cairn, on loopback; the same measurements on each:
#   cput64    PUT, distinct keys, 64 connections to the leader
#   cput1     PUT, 1 connection to the leader (p50 is the number)
#   crange64  linearizable read (etcd range serializable=false; cairn
#             GET ?consistent), 64 connections to the leader
#   failover  SIGKILL the leader; time to the first write acknowledged through
#             a survivor (kvprobe failover); restart it; median of FAILOVER_RUNS
#   crss      first, on the fresh cluster: VmRSS of the leader after
#             RSS_KEYS keys x 256 B written through the system's API
#             (bar: cairn <= 1/3 of etcd)
#   floor     bench/floor on the data dirs' filesystem, right before each
#             system's cput1 (this VM's fsync cost moves by 10x within
#             minutes): loopback round trip and one small append +
#             fdatasync; PUT-1 p50 is printed against 2 x rtt p50 + 1 x
#             fsync p10 (p10: the host throttles this VM's disk in bursts)
# Uses run.sh's helpers (http, free_ports, load, preload, collect, get, R).
# Data dirs of both (etcd members, cairn servers) are on ETCD_DATA (tmpfs by
# default; disk = a directory under DISK_DIR=/var/tmp), so WAL fsyncs cost
# the same for both.
# cairn's side runs only if three `cairn agent -server` agree on a leader;
# otherwise it prints NOT MEASURED and why. No number is ever made up.

# Second RSS reading, past cairn's 30 s snapshot check (0: skip).
if [ "$QUICK" = 1 ]; then RSS_SETTLE_S=${RSS_SETTLE_S:-0}; else RSS_SETTLE_S=${RSS_SETTLE_S:-35}; fi
declare -a M_PID=() M_HTTP=() M_A=() M_B=() M_C=()  # per member 1..3
M_SYS="" M_INIT=""

# ---- etcd members ----

etcd_member() { # i: start (or restart, same data dir) member i
    local i=$1
    "$ETCD" --name "m$i" --data-dir "$ETCD_TMP/m$i" \
        --listen-client-urls "http://127.0.0.1:${M_HTTP[$i]}" \
        --advertise-client-urls "http://127.0.0.1:${M_HTTP[$i]}" \
        --listen-peer-urls "http://127.0.0.1:${M_A[$i]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${M_A[$i]}" \
        --initial-cluster "$M_INIT" --initial-cluster-state new \
        --initial-cluster-token cairn-bench --logger zap --log-level error \
        >> "$TMP/etcd-m$i.log" 2>&1 &
    M_PID[$i]=$!; disown "$!"; PIDS+=("${M_PID[$i]}")
}

etcd_leader() { # prints the leader's member number (1-3), or 0
    "$PY" - "${M_HTTP[1]}" "${M_HTTP[2]}" "${M_HTTP[3]}" <<'EOF'
import json, sys, urllib.request
for i, port in enumerate(sys.argv[1:], 1):
    try:
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v3/maintenance/status",
                                     data=b"{}", method="POST")
        st = json.load(urllib.request.urlopen(req, timeout=2))
        if st["header"]["member_id"] == st["leader"]:
            print(i); sys.exit(0)
    except Exception:
        pass
print(0)
EOF
}

etcd_agreed() { # every live member is healthy (etcd: has a leader)
    local i
    for i in 1 2 3; do
        case "$(http GET "http://127.0.0.1:${M_HTTP[$i]}/health")" in
            "200 "*'"health":"true"'*) ;; *) return 1 ;;
        esac
    done
}

etcd_setup() {
    local p i
    p=($(free_ports 9))
    M_INIT=""
    for i in 1 2 3; do
        M_HTTP[$i]=${p[$((i - 1))]} M_A[$i]=${p[$((i + 2))]}
        M_INIT+="${M_INIT:+,}m$i=http://127.0.0.1:${M_A[$i]}"
    done
    for i in 1 2 3; do etcd_member "$i"; done
}

# ---- cairn servers ----
# The shape of tests/integration/cluster.py: -server -bootstrap-expect 3,
# -retry-join every server's RPC address, a node-id file in each data dir.

cairn_member() { # i: start (or restart, same data dir) server i
    local i=$1 j joins=()
    mkdir -p "$ETCD_TMP/cairn-s$i"
    [ -f "$ETCD_TMP/cairn-s$i/node-id" ] || cat /proc/sys/kernel/random/uuid > "$ETCD_TMP/cairn-s$i/node-id"
    for j in 1 2 3; do joins+=(-retry-join "127.0.0.1:${M_A[$j]}"); done
    "$CAIRN" agent -server -bootstrap-expect 3 -data-dir "$ETCD_TMP/cairn-s$i" -node "s$i" \
        -bind 127.0.0.1 -server-port "${M_A[$i]}" -http-port "${M_HTTP[$i]}" \
        -dns-port "${M_B[$i]}" -serf-lan-port "${M_C[$i]}" -serf-wan-port -1 -log-level warn \
        "${joins[@]}" \
        >> "$TMP/cairn-s$i.log" 2>&1 &
    M_PID[$i]=$!; disown "$!"; PIDS+=("${M_PID[$i]}")
}

cairn_leader() { # prints the member number whose RPC address is the leader, or 0
    local i j out
    for i in 1 2 3; do
        out=$(http GET "http://127.0.0.1:${M_HTTP[$i]}/v1/status/leader")
        for j in 1 2 3; do
            case "$out" in "200 \"127.0.0.1:${M_A[$j]}\""*) echo "$j"; return ;; esac
        done
    done
    echo 0
}

cairn_agreed() { # all three name the same non-empty leader
    local i out first=""
    for i in 1 2 3; do
        out=$(http GET "http://127.0.0.1:${M_HTTP[$i]}/v1/status/leader")
        case "$out" in '200 "127.0.0.1:'*) ;; *) return 1 ;; esac
        [ -z "$first" ] && first=$out
        [ "$out" = "$first" ] || return 1
    done
}

cairn_setup() {
    local p i
    p=($(free_ports 12))
    for i in 1 2 3; do
        M_HTTP[$i]=${p[$((i - 1))]} M_A[$i]=${p[$((i + 2))]}
        M_B[$i]=${p[$((i + 5))]} M_C[$i]=${p[$((i + 8))]}
    done
    for i in 1 2 3; do cairn_member "$i"; done
}

# ---- the same measurements on either ----

m_wait_agreed() { # up to 30 s
    local t
    for t in $(seq 300); do "${M_SYS}_agreed" && return 0; sleep 0.1; done
    return 1
}

m_stop_all() {
    local i
    for i in 1 2 3; do [ -n "${M_PID[$i]:-}" ] && stop_pid "${M_PID[$i]}"; done
    M_PID=()
}

m_failover() { # sys proto: FAILOVER_RUNS x (SIGKILL leader, time first write, restart)
    local sys=$1 proto=$2 r i L others ms vals=()
    for r in $(seq "$FAILOVER_RUNS"); do
        L=$("${sys}_leader")
        [ "$L" != 0 ] || { echo "    $sys: no leader before failover run $r"; break; }
        others=""
        for i in 1 2 3; do [ "$i" = "$L" ] || others+="${others:+,}127.0.0.1:${M_HTTP[$i]}"; done
        "$KVPROBE" failover -P "$proto" -S "${M_PID[$L]}" -E "$others" -T 30 > "$TMP/fo-$sys$r.out" 2>&1
        sed 's/^/    /' "$TMP/fo-$sys$r.out" | grep -v RESULT
        gone "${M_PID[$L]}"
        ms=$(sed -n 's/^RESULT failover_ms=\([-0-9.]*\).*/\1/p' "$TMP/fo-$sys$r.out")
        [ -n "$ms" ] && [ "$ms" != "-1.0" ] && vals+=("$ms")
        "${sys}_member" "$L"
        m_wait_agreed || { echo "    $sys: member $L did not rejoin"; break; }
        sleep 2
    done
    R[failover.$sys.runs]=${#vals[@]}
    R[failover.$sys.median_ms]=$(printf '%s\n' "${vals[@]}" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "n/a" }')
    R[failover.$sys.all_ms]=$(IFS=,; echo "${vals[*]}")
}

m_rss() { # sys proto leader: RSS of the leader before/after RSS_KEYS keys
    local sys=$1 proto=$2 L=$3 i idle after anon others=""
    idle=$(rss_kb "${M_PID[$L]}")
    echo "--- crss.$sys: $RSS_KEYS keys x 256 B through the leader, then VmRSS"
    preload "crss-$sys" "${M_PID[$L]}" "127.0.0.1:${M_HTTP[$L]}" "$proto" bench-rss/ "$RSS_KEYS" ||
        return 0
    sleep 1
    after=$(rss_kb "${M_PID[$L]}")
    anon=$(awk '/^RssAnon:/ {print $2}' "/proc/${M_PID[$L]}/status" 2>/dev/null || echo -1)
    for i in 1 2 3; do
        [ "$i" = "$L" ] || others+="${others:+, }$(mib "$(rss_kb "${M_PID[$i]}")")"
    done
    R[crss.$sys.idle_kb]=$idle R[crss.$sys.keys_kb]=$after R[crss.$sys.anon_kb]=$anon
    R[crss.$sys.keys_n]=$RSS_KEYS
    printf '    %s leader VmRSS: idle %s MiB, after %d keys %s MiB (RssAnon %s MiB); followers %s MiB\n' \
        "$sys" "$(mib "$idle")" "$RSS_KEYS" "$(mib "$after")" "$(mib "$anon")" "$others"
    # Both keep the whole Raft log in memory until a snapshot compacts it
    # (etcd 3.4: every 100,000 entries; cairn: checked every 30 s, 16,384).
    [ "$RSS_SETTLE_S" -gt 0 ] || return 0
    sleep "$RSS_SETTLE_S"
    R[crss.$sys.settled_kb]=$(rss_kb "${M_PID[$L]}")
    others=""
    for i in 1 2 3; do
        [ "$i" = "$L" ] || others+="${others:+, }$(mib "$(rss_kb "${M_PID[$i]}")")"
    done
    printf '    %s leader VmRSS %d s later, idle: %s MiB; followers %s MiB\n' "$sys" "$RSS_SETTLE_S" \
        "$(mib "$(get "crss.$sys.settled_kb")")" "$others"
}

m_measure() { # sys proto read-mode
    local sys=$1 proto=$2 mode=$3 L A P
    L=$("${sys}_leader")
    A=127.0.0.1:${M_HTTP[$L]} P=${M_PID[$L]}
    echo "    $sys: 3 members, leader m$L; clients talk to the leader; us/op counts the leader only"
    m_rss "$sys" "$proto" "$L"
    echo "--- cput64.$sys: PUT, $CONNS connections"
    load "cput64.$sys" "$P" "$A" -P "$proto" -w put -x bench-cput64/ -c "$CONNS" -d "$DURATION" -W "$WARMUP"
    cluster_floor "$sys"
    echo "--- cput1.$sys: PUT, 1 connection"
    load "cput1.$sys" "$P" "$A" -P "$proto" -w put -x bench-cput1/ -c 1 -d "$DURATION" -W "$WARMUP"
    if preload "cluster-get-$sys" "$P" "$A" "$proto" bench-get/ "$GET_KEYS"; then
        echo "--- crange64.$sys: linearizable read, $CONNS connections"
        load "crange64.$sys" "$P" "$A" -P "$proto" -w get -m "$mode" -x bench-get/ -k "$GET_KEYS" \
            -c "$CONNS" -d "$DURATION" -W "$WARMUP"
    fi
    m_failover "$sys" "$proto"
    echo "    $sys leader SIGKILL -> first acknowledged write: median $(get "failover.$sys.median_ms") ms" \
         "of $(get "failover.$sys.runs") runs ($(get "failover.$sys.all_ms"))"
}

cluster_table() {
    local name e k
    echo
    printf '%-40s | %9s %8s %8s | %9s %8s %8s | %s\n' "3 members, clients on the leader" \
        "etcd op/s" "p50 ms" "p99 ms" "cairn/s" "p50 ms" "p99 ms" "cairn/etcd"
    for name in "cput64:PUT, $CONNS conns" "cput1:PUT, 1 conn" "crange64:linearizable read, $CONNS conns"; do
        e=$(get "${name%%:*}.etcd.ops_s") k=$(get "${name%%:*}.cairn.ops_s")
        printf '%-40s | %9s %8s %8s | %9s %8s %8s | %s\n' "${name#*:}" \
            "$e" "$(ms "$(get "${name%%:*}.etcd.p50_us")")" "$(ms "$(get "${name%%:*}.etcd.p99_us")")" \
            "$k" "$(ms "$(get "${name%%:*}.cairn.p50_us")")" "$(ms "$(get "${name%%:*}.cairn.p99_us")")" \
            "$(awk -v e="$e" -v k="$k" 'BEGIN { if (e > 0 && k != "n/a") printf "%.2fx", k / e; else print "n/a" }')"
    done
    printf '%-40s | %26s | %26s |\n' "leader SIGKILL -> first write, median" \
        "$(get failover.etcd.median_ms) ms" "$(get failover.cairn.median_ms) ms"
    e=$(get crss.etcd.keys_kb) k=$(get crss.cairn.keys_kb)
    printf '%-40s | %26s | %26s | %s\n' "leader VmRSS after $RSS_KEYS keys x 256 B" \
        "$(mib "${e/n\/a/-1}") MiB" "$(mib "${k/n\/a/-1}") MiB" \
        "$(awk -v e="$e" -v k="$k" 'BEGIN { if (e > 0 && k > 0) printf "%.2fx (bar <= 0.33x)", k / e; else print "n/a" }')"
    R[crss.cairn_over_etcd]=$(awk -v e="$e" -v k="$k" 'BEGIN { if (e > 0 && k > 0) printf "%.3f", k / e; else print "n/a" }')
    if [ "$RSS_SETTLE_S" -gt 0 ]; then
        e=$(get crss.etcd.settled_kb) k=$(get crss.cairn.settled_kb)
        printf '%-40s | %26s | %26s | %s\n' "  the same, ${RSS_SETTLE_S} s later (idle)" \
            "$(mib "${e/n\/a/-1}") MiB" "$(mib "${k/n\/a/-1}") MiB" \
            "$(awk -v e="$e" -v k="$k" 'BEGIN { if (e > 0 && k > 0) printf "%.2fx", k / e; else print "n/a" }')"
    fi
    floor_verdict
}

cluster_floor() { # sys: the floor's parts on the data dirs' filesystem, now
    local f=floor.$1
    echo "--- $f: loopback round trip, small append + fdatasync in $ETCD_TMP ($DATA_FS)"
    if [ ! -x "$FLOOR" ] || ! "$FLOOR" -n 300 -s 300 "$ETCD_TMP" > "$TMP/$f.out" 2>&1; then
        echo "    floor: not measured ($FLOOR)"; cat "$TMP/$f.out" 2>/dev/null; return 0
    fi
    grep -v '^RESULT ' "$TMP/$f.out" | sed 's/^/    /'
    collect "$f" "$TMP/$f.out"
    # The cheapest of the three ways to make a small append durable, p10:
    # this VM's disk is throttled by the host in bursts (fdatasync ~4 ms
    # instead of ~0.07 ms), so the p50 depends on the moment.
    R[$f.fsync_us]=$(printf '%s\n' "$(get "$f.fsync_p10_us")" "$(get "$f.fsync_falloc_p10_us")" \
        "$(get "$f.fsync_extend_p10_us")" | sort -g | head -1)
    R[$f.put1_us]=$(awk -v r="$(get "$f.rtt_p50_us")" -v f="$(get "$f.fsync_us")" \
        'BEGIN { printf "%d", 2 * r + f }')
}

floor_verdict() { # PUT at 1 connection against the floor measured just before it
    local fl sys p
    echo
    echo "floor of a 3-member write on this machine ($DATA_FS): 2 x loopback rtt + 1 x fdatasync"
    echo "(rtt p50; fdatasync p10 of the cheapest of bench/floor's 3 ways), measured right before each cput1"
    for sys in etcd cairn; do
        p=$(get "cput1.$sys.p50_us") fl=$(get "floor.$sys.put1_us")
        [ "$p" != n/a ] && [ "$fl" != n/a ] || continue
        printf '    %-6s floor 2 x %s us + %s us = %s ms; PUT 1 conn p50 %s ms = %s x the floor\n' "$sys" \
            "$(get "floor.$sys.rtt_p50_us")" "$(get "floor.$sys.fsync_us")" "$(ms "$fl")" "$(ms "$p")" \
            "$(awk -v p="$p" -v f="$fl" 'BEGIN { if (f > 0) printf "%.1f", p / f; else print "n/a" }')"
        R[cput1.$sys.over_floor]=$(awk -v p="$p" -v f="$fl" 'BEGIN { if (f > 0) printf "%.2f", p / f; else print "n/a" }')
    done
}

cluster_section() {
    echo
    echo "=== 3. three members on loopback (--cluster); data dirs of both on $ETCD_DATA ($ETCD_TMP, $DATA_FS)"
    if [ $USE_ETCD = 1 ]; then
        M_SYS=etcd; etcd_setup
        if m_wait_agreed; then m_measure etcd etcd consistent
        else echo "    etcd: the cluster did not become healthy"; tail -3 "$TMP"/etcd-m?.log; fi
        m_stop_all
    fi
    R[cluster.cairn.status]=measured
    if [ ! -x "$CAIRN" ]; then
        R[cluster.cairn.status]=not-built
    else
        M_SYS=cairn; cairn_setup
        if m_wait_agreed; then
            m_measure cairn consul consistent
        else
            R[cluster.cairn.status]=no-cluster
            echo "    cairn: NOT MEASURED: three 'cairn agent -server -bootstrap-expect 3' did not agree"
            echo "           on a leader within 30 s (needs the replicated-server issue); last log lines:"
            tail -n 2 "$TMP"/cairn-s?.log 2>/dev/null | sed 's/^/           /'
        fi
        m_stop_all
    fi
    cluster_table
}
