#!/usr/bin/env bash
# tests/fuzz/run.sh - the fuzz smoke run (CI): builds the libFuzzer harnesses
# with clang under address+undefined sanitizers in build-fuzz/, then runs
# each for a bounded time on a copy of its seed corpus (plus its saved
# regressions), nproc at a time. One line per harness, then
#   fuzz: N passed, M failed
# and a non-zero exit on any crash, leak, sanitizer report, broken invariant
# or timeout. Logs and crashing inputs stay in build-fuzz/fuzz-run/<harness>/.
#
# Environment: TIX_FUZZ_SECONDS (per harness, default 20), TIX_FUZZ_JOBS
# (harnesses at once, default nproc), TIX_FUZZ_BUILD (default build-fuzz),
# TIX_FUZZ_ONLY (space-separated harness names, default all).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${TIX_FUZZ_SECONDS:-20}
JOBS=${TIX_FUZZ_JOBS:-$(nproc)}
BUILD=${TIX_FUZZ_BUILD:-$ROOT/build-fuzz}
RUN=$BUILD/fuzz-run
command -v clang >/dev/null || { echo "fuzz: clang is required" >&2; exit 2; }

echo "==> build $BUILD (clang, libFuzzer, address+undefined)"
CC=clang cmake -S "$ROOT" -B "$BUILD" -DTIX_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target tix_fuzzers >/dev/null

HARNESSES=${TIX_FUZZ_ONLY:-$(cd "$ROOT/tests/fuzz/corpus" && ls)}
rm -rf "$RUN"
mkdir -p "$RUN"

# Runs one harness; its exit status lands in $RUN/<h>/rc.
fuzz_one() {
    local h=$1 dir=$RUN/$1 extra=()
    mkdir -p "$dir/corpus"
    cp "$ROOT/tests/fuzz/corpus/$h/"* "$dir/corpus/"
    [ -d "$ROOT/tests/fuzz/regressions/$h" ] && extra+=("$ROOT/tests/fuzz/regressions/$h")
    local rc=0
    UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        "$BUILD/tests/fuzz/fuzz_$h" -max_total_time="$SECS" -timeout=10 -error_exitcode=77 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" "${extra[@]}" >"$dir/log" 2>&1 || rc=$?
    echo "$rc" >"$dir/rc"
}

for h in $HARNESSES; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
        wait -n || true
    done
    fuzz_one "$h" &
done
wait

passed=0
failed=0
for h in $HARNESSES; do
    dir=$RUN/$h
    rc=$(cat "$dir/rc" 2>/dev/null || echo 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1 || true)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1 || true)
    cov=$( (grep -o 'cov: [0-9]*' "$dir/log" || true) | tail -1 | cut -d' ' -f2)
    if [ "$rc" = 0 ]; then
        passed=$((passed + 1))
        printf 'fuzz_%-16s ok      %ss  %s execs  %s exec/s  cov %s\n' "$h" "$SECS" "${execs:-?}" "${rate:-?}" "${cov:-?}"
    else
        failed=$((failed + 1))
        what=$(grep -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|invariant broken' "$dir/log" |
            cut -c1-120 || true)
        artifact=$( (ls "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null || true) | head -1)
        printf 'fuzz_%-16s FAILED  rc=%s  %s  input=%s  log=%s\n' "$h" "$rc" "${what:-?}" "${artifact:-none}" "$dir/log"
    fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
