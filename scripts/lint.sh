#!/usr/bin/env bash
# scripts/lint.sh - structural rules that a compiler does not check.
#  1. Pure cores (raft/gossip core, state, base's pure parts) use no libuv,
#     sockets, clocks, libc rand or raw malloc (STYLE.md 2.1, 2.7).
#  2. No unbounded string calls in src/ (STYLE.md 4).
#  3. No file over 1500 lines.
set -uo pipefail
cd "$(dirname "$0")/.."
fail=0
pure=$(ls src/raft/core*.c src/raft/codec*.c src/gossip/core*.c src/state/*.c 2>/dev/null | grep -v '_test\.c$')
for f in $pure; do
    if grep -nE '#include\s*[<"](uv\.h|sys/socket\.h|time\.h|unistd\.h|pthread\.h)' "$f"; then
        echo "lint: $f: pure file includes an I/O or clock header"; fail=1
    fi
    if grep -nE '(^|[^_a-z])(time|rand|srand|random|malloc|calloc|realloc|free|getenv|clock_gettime|gettimeofday)\s*\(' "$f" | grep -vE '^\S+:\s*(/\*|\*)'; then
        echo "lint: $f: pure file calls a clock, libc rand, getenv or raw allocator (use cn_alloc/cn_prng)"; fail=1
    fi
done
bad=$(grep -rnE '\b(sprintf|vsprintf|strcpy|strcat|gets|system|atoi|atol|strtok)\s*\(' src --include='*.c' --include='*.h' | grep -v 'snprintf\|vsnprintf')
if [ -n "$bad" ]; then echo "lint: unbounded or unchecked calls:"; echo "$bad"; fail=1; fi
big=$(find src -name '*.[ch]' -exec wc -l {} + | awk '$2!="total" && $1>1500 {print $2" ("$1" lines)"}')
if [ -n "$big" ]; then echo "lint: files over 1500 lines:"; echo "$big"; fail=1; fi
[ $fail = 0 ] && echo "lint: ok"
exit $fail
