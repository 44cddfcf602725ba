#!/usr/bin/env bash
# scripts/deps.sh - install the Debian 12 packages cairn needs, only those missing.
# Idempotent: a second run installs nothing and prints nothing but a summary.
# Usage: scripts/deps.sh [build|test|bench]   (default: test, which implies build)
set -euo pipefail

want=${1:-test}
build_pkgs=(gcc make pkg-config meson ninja-build
            libuv1-dev libhttp-parser-dev libjansson-dev libmsgpack-dev
            libssl-dev libldns-dev zlib1g-dev)
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev
           python3 python3-pytest python3-requests python3-consul python3-dnspython
           iproute2 nftables procps iputils-ping serf)
bench_pkgs=(etcd-server dnsperf tcpdump)

pkgs=("${build_pkgs[@]}")
case "$want" in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "deps.sh: unknown set '$want' (build|test|bench)" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "deps.sh: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
