#!/usr/bin/env bash
# clang-tidy on every C++ source file, warnings as errors (.clang-tidy). Uses the compile
# commands of a configured build dir (default build/asan).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/asan}
JOBS=${JOBS:-2}
out=$(mktemp)
if ! run-clang-tidy -quiet -p "$BUILD" -j "$JOBS" -extra-arg=-Wno-unknown-warning-option "$PWD/(src|tests|bench)/.*\.cc$" >"$out" 2>&1; then
  grep -E "(warning|error):" "$out" | sort -u | head -50
  echo "[tidy] clang-tidy found problems" >&2
  rm -f "$out"
  exit 1
fi
rm -f "$out"
echo "[tidy] clang-tidy clean"
