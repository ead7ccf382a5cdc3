#!/usr/bin/env bash
# README command 2 (and CI): install what is needed, then build and run the
# whole suite twice: a -Werror build with gcc, and an address+undefined
# sanitizer build with clang (so both compilers must stay warning-free).
# Every integration test starts its own redis-server and tix processes on free
# ports and stops them; nothing needs to be running beforehand.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
JOBS=$(nproc)
"$ROOT/deploy/install-deps.sh"

run_suite() {
    local dir=$1; shift
    echo "==> build $dir ($*)"
    cmake -S "$ROOT" -B "$ROOT/$dir" -DTIX_WERROR=ON "$@" >/dev/null
    cmake --build "$ROOT/$dir" -j"$JOBS"
    echo "==> test $dir"
    ctest --test-dir "$ROOT/$dir" --output-on-failure
}

# A real MongoDB-wire server for the real-server tests: the MongoDB named by
# TIX_TEST_MONGO_URI, else FerretDB (deploy/ferretdb.sh, pinned, built once
# here; each test starts its own on a loopback port). Without Go or a
# MongoDB those tests report SKIPPED, never passed.
if [ -z "${TIX_TEST_MONGO_URI:-}" ]; then
    if command -v go >/dev/null; then
        t0=$SECONDS
        "$ROOT/deploy/ferretdb.sh" build >/dev/null
        echo "==> FerretDB $("$ROOT/deploy/ferretdb.sh" version) ready for the real-server tests ($((SECONDS - t0)) s)"
    else
        echo "==> no Go and no TIX_TEST_MONGO_URI: the real-server tests will report SKIPPED"
    fi
fi
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "==> bench smoke (the benchmark harness, tiny; targets are not judged here)"
"$ROOT/bench/run.sh" --smoke --no-perf --build "$ROOT/build" >/dev/null
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DTIX_SANITIZE=ON -DCMAKE_C_COMPILER=clang
