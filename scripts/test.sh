#!/usr/bin/env bash
# scripts/test.sh - the whole test run behind `make test` (and CI).
#
# 1. debug build with -Werror: unit, simulation, lint and fuzz-corpus suites
# 2. ASan+UBSan build: unit and fuzz-corpus suites, then the integration
#    suite against the sanitized binary (memory bugs in real request flows)
# 3. integration suite (pytest, /usr/bin/python3) against the debug binary
# Every step runs even if an earlier one failed; the last line is the total
# "N passed, M failed" over all of them.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
PY=/usr/bin/python3
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
step_fail=0

log() { printf '\n=== %s ===\n' "$*"; }

setup() { # dir, options...
    local dir=$1; shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null || return 1
    fi
    ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

run_meson() { # dir, tag, suites...
    local dir=$1 tag=$2; shift 2
    local args=()
    for s in "$@"; do args+=(--suite "$s"); done
    meson test -C "$dir" --print-errorlogs --num-processes 2 \
        --logbase "testlog-$tag" "${args[@]}"
    cp "$dir/meson-logs/testlog-$tag.json" "$results/$tag.json" 2>/dev/null || true
}

run_pytest() { # binary, tag, extra pytest args...
    local bin=$1 tag=$2; shift 2
    CAIRN_BIN="$PWD/$bin" timeout 1500 $PY -m pytest -q -p no:cacheprovider \
        --junitxml="$results/$tag.xml" "$@" tests/integration
}

log "debug build"
if setup "$BUILD"; then
    run_meson "$BUILD" debug unit sim lint fuzz-corpus integration
else
    echo "debug build FAILED"; step_fail=$((step_fail + 1))
fi

log "ASan+UBSan build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if setup "$ASAN_BUILD" -Db_sanitize=address,undefined -Db_lundef=false; then
    run_meson "$ASAN_BUILD" asan unit fuzz-corpus
    log "integration (ASan binary)"
    # The slow fault tests (kill -9 loops, partitions) run once, below.
    [ -x "$ASAN_BUILD/cairn" ] && run_pytest "$ASAN_BUILD/cairn" integ-asan -m "not slow"
else
    echo "ASan build FAILED"; step_fail=$((step_fail + 1))
fi

log "integration (debug binary)"
[ -x "$BUILD/cairn" ] && run_pytest "$BUILD/cairn" integ

log "gossip interoperability with HashiCorp serf"
GOSSIP_NODE="$PWD/$BUILD/src/gossip/gossip_node" timeout 600 $PY -m pytest -q \
    -p no:cacheprovider --junitxml="$results/gossip.xml" tests/gossip

$PY - "$results" "$step_fail" <<'PYEOF'
import json, os, sys, xml.etree.ElementTree as ET
d, step_fail = sys.argv[1], int(sys.argv[2])
passed = failed = skipped = 0
fails = []
for name in sorted(os.listdir(d)):
    path = os.path.join(d, name)
    if name.endswith('.json'):
        for line in open(path):
            t = json.loads(line)
            r = t.get('result')
            if r in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif r == 'SKIP':
                skipped += 1
            else:
                failed += 1
                fails.append('%s: %s (%s)' % (name[:-5], t.get('name'), r))
    elif name.endswith('.xml'):
        root = ET.parse(path).getroot()
        for tc in root.iter('testcase'):
            bad = tc.find('failure') is not None or tc.find('error') is not None
            if tc.find('skipped') is not None:
                skipped += 1
            elif bad:
                failed += 1
                fails.append('%s: %s::%s' % (name[:-4], tc.get('classname'), tc.get('name')))
            else:
                passed += 1
failed += step_fail
print()
for f in fails:
    print('FAILED', f)
if skipped:
    print('%d skipped' % skipped)
print('%d passed, %d failed' % (passed, failed))
sys.exit(1 if failed else 0)
PYEOF
