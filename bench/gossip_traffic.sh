#!/usr/bin/env bash
# bench/gossip_traffic.sh - per-node gossip traffic (bytes/s) of N Debian
# serf agents vs N cairn gossip_node processes, all in ONE pool on
# 127.0.0.1, so both kinds see the same membership (2N nodes) and the
# same memberlist LAN parameters. Bytes are counted by one tcpdump on
# lo: every UDP datagram and TCP payload is attributed to its destination
# port, i.e. the traffic each node receives (a pool's receive total equals
# its send total); UDP is also attributed to its source port (sent per
# node; TCP ephemeral client ports are not). The join burst is excluded
# (10 s settle first).
#
# SEPARATE=1: two pools instead (N serf agents; N cairn nodes), so each
# side's received bytes come from its own kind only.
#
# Usage: [SEPARATE=1] bench/gossip_traffic.sh [N=10] [SECONDS=60] [BUILD=build]
# Needs: serf (apt-get install -y serf), tcpdump for the serf side.
set -euo pipefail
N=${1:-10}; SECS=${2:-60}; BUILD=${3:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODE="$ROOT/$BUILD/src/gossip/gossip_node"
command -v serf >/dev/null || { echo "serf not installed: apt-get install -y serf"; exit 0; }
command -v tcpdump >/dev/null || { echo "tcpdump not installed: apt-get install -y tcpdump"; exit 0; }
[ -x "$NODE" ] || { echo "build gossip_node first (ninja -C $BUILD)"; exit 1; }
TMP=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$TMP"; }
trap cleanup EXIT
[ -n "${KEEP:-}" ] && echo "logs: $TMP"
# Below the ephemeral range (32768-60999 here), as tests/ports.py.
BASE=$((20000 + RANDOM % 12000))
SERF_PORTS=(); CN_PORTS=()
for i in $(seq 0 $((N - 1))); do SERF_PORTS+=($((BASE + i))); CN_PORTS+=($((BASE + 100 + i))); done
ALL=("${SERF_PORTS[@]}" "${CN_PORTS[@]}")
filter=$(printf 'udp dst port %s or ' "${ALL[@]}"); filter="(${filter% or }) or (tcp and ($(printf 'dst port %s or ' "${ALL[@]}" | sed 's/ or $//')))"
tcpdump -i lo -n -q -w "$TMP/cap.pcap" "$filter" 2>"$TMP/tcpdump.log" & PIDS+=($!)
sleep 1
for i in $(seq 0 $((N - 1))); do
  join=(); [ "$i" -gt 0 ] && join=(-join=127.0.0.1:${SERF_PORTS[0]})
  serf agent -node=serf-$i -bind=127.0.0.1:${SERF_PORTS[$i]} -rpc-addr=127.0.0.1:$((BASE + 200 + i)) \
    -tag role=node -tag dc=dc1 "${join[@]}" >"$TMP/serf-$i.log" 2>&1 & PIDS+=($!)
done
sleep 2
for i in $(seq 0 $((N - 1))); do
  seed=${SERF_PORTS[0]}; [ -n "${SEPARATE:-}" ] && seed=${CN_PORTS[0]}
  join=(-join 127.0.0.1:$seed); [ -n "${SEPARATE:-}" ] && [ "$i" -eq 0 ] && join=()
  "$NODE" -name cn-$i -port ${CN_PORTS[$i]} "${join[@]}" -tag role=node -tag dc=dc1 \
    </dev/null >"$TMP/cn-$i.out" 2>"$TMP/cn-$i.err" & PIDS+=($!)
done
sleep 10   # converge; the join burst is excluded from the measurement
members=$(serf members -rpc-addr=127.0.0.1:$((BASE + 200)) | grep -c alive || true)
want=$((2 * N)); [ -n "${SEPARATE:-}" ] && want=$N
echo "serf's view: $members alive members (want $want)"
START=$(date +%s.%N); sleep "$SECS"; END=$(date +%s.%N)
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null || true
/usr/bin/python3 - "$TMP/cap.pcap" "$START" "$END" "$N" "${SERF_PORTS[*]}" "${CN_PORTS[*]}" <<'PY'
import struct, sys
path, t0, t1, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
serf = set(map(int, sys.argv[5].split())); cn = set(map(int, sys.argv[6].split()))
b = open(path, 'rb').read(); o = 24
rx = {}   # dst port -> [udp bytes, tcp bytes, udp pkts]
tx = {}   # src port -> the same, sent
while o + 16 <= len(b):
    ts, us, incl = struct.unpack_from('<IIi', b, o)[0:3]; f = b[o + 16:o + 16 + incl]; o += 16 + incl
    t = ts + us / 1e6
    if t < t0 or t > t1: continue
    ip = f[14:]; ihl = (ip[0] & 15) * 4; proto = ip[9]; l4 = ip[ihl:]
    sp, dp = struct.unpack_from('>HH', l4)
    pl = len(l4) - (8 if proto == 17 else (l4[12] >> 4) * 4)
    for tab, port in ((rx, dp), (tx, sp)):
        r = tab.setdefault(port, [0, 0, 0])
        if proto == 17: r[0] += pl; r[2] += 1
        else: r[1] += pl
secs = t1 - t0
def avg(tab, ports):
    u = sum(tab.get(p, [0, 0, 0])[0] for p in ports) / len(ports) / secs
    t = sum(tab.get(p, [0, 0, 0])[1] for p in ports) / len(ports) / secs
    k = sum(tab.get(p, [0, 0, 0])[2] for p in ports) / len(ports) / secs
    return u, t, k
for name, ports in (("serf", serf), ("cairn", cn)):
    u, t, k = avg(rx, ports)
    print("%-6s nodes=%d  received per node: udp %.0f B/s (%.1f pkt/s), tcp %.0f B/s, total %.0f B/s"
          % (name, len(ports), u, k, t, u + t))
    u, t, k = avg(tx, ports)
    print("%-6s nodes=%d  sent per node:     udp %.0f B/s (%.1f pkt/s), tcp %.0f B/s, total %.0f B/s"
          % (name, len(ports), u, k, t, u + t))
    silent = [p for p in sorted(ports) if p not in rx]
    if silent:
        print("  (ports that received nothing: %s)" % silent)
print("(%d serf + %d cairn nodes, %.0f s, payload bytes on loopback)" % (n, n, secs))
PY
