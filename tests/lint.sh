#!/usr/bin/env bash
# Static checks of the project's own C code (CI runs this from .ci/run):
#   clang-format   every .c/.h matches .clang-format
#   cppcheck       warning, style, performance, portability: no findings
#   clang-tidy     .clang-tidy's checks (analyzer + bugprone), as errors
#   layers         tests/check_layers.py: includes and calls inside each
#                  service run one way; no function over 60 lines
# Generated protobuf-c code (in the build tree) is not ours and not checked.
# Usage: tests/lint.sh [BUILD_DIR]   (needs compile_commands.json; default ./build-lint)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-lint}
cd "$ROOT"
mapfile -t SOURCES < <(git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus/')
mapfile -t UNITS < <(printf '%s\n' "${SOURCES[@]}" | grep '\.c$' | grep -v '^tests/')
failed=0 passed=0
step() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi; }

check_format() {
    echo "==> clang-format (${#SOURCES[@]} files)"
    clang-format --dry-run --Werror "${SOURCES[@]}"
}

check_cppcheck() {
    echo "==> cppcheck"
    cppcheck --enable=warning,style,performance,portability --std=c11 --inline-suppr \
        --suppress=missingIncludeSystem --suppress=missingInclude --error-exitcode=1 --quiet -j"$(nproc)" \
        -I common -I proto -I "$BUILD/gen" -I broker -I sale-worker -I persister \
        -I clients/libtix -I clients/cli -I clients/rush \
        common proto broker sale-worker persister clients tests
}

check_tidy() {
    echo "==> clang-tidy (${#UNITS[@]} files)"
    printf '%s\n' "${UNITS[@]}" | xargs -P"$(nproc)" -n4 clang-tidy -p "$BUILD" --quiet 2>/dev/null
}

cmake -S "$ROOT" -B "$BUILD" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
cmake --build "$BUILD" -j"$(nproc)" >/dev/null # generated headers; objects for check_layers
step check_format
step check_cppcheck
step check_tidy
step python3 "$ROOT/tests/check_layers.py" "$BUILD"
echo "lint: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
