#!/usr/bin/env bash
# scripts/fuzz.sh BUILD_DIR SECONDS - run every libFuzzer target for SECONDS,
# starting from its seed corpus; new interesting inputs go to a scratch
# corpus (build dir), crashes to BUILD_DIR/crashes/. Prints runs per target.
set -uo pipefail
build=$1; secs=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$build/crashes"
status=0
for exe in "$build"/fuzz/fuzz_*; do
    [ -f "$exe" ] && [ -x "$exe" ] || continue
    name=${exe##*/fuzz_}
    work="$build/corpus-work/$name"
    mkdir -p "$work"
    echo "== $name ($secs s)"
    if ! "$exe" -max_total_time="$secs" -artifact_prefix="$build/crashes/$name-" \
        -print_final_stats=1 "$work" "$root/fuzz/corpus/$name" 2>"$build/fuzz-$name.log"; then
        echo "   CRASH: see $build/fuzz-$name.log and $build/crashes/"; status=1
    fi
    grep -E 'stat::number_of_executed_units|stat::peak_rss' "$build/fuzz-$name.log" | sed 's/^/   /'
done
exit $status
