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
# src/arrow and src/python are built only with the Python module, never in the sanitizer
# builds: they are checked with the compile commands of the package build (`pip install .`).
PY_BUILD=${PY_BUILD:-build/py}
if [ -f "$PY_BUILD/compile_commands.json" ]; then
  if ! run-clang-tidy -quiet -p "$PY_BUILD" -j "$JOBS" -extra-arg=-Wno-unknown-warning-option \
      "$PWD/src/(arrow|python)/.*\.cc$" >"$out" 2>&1; then
    grep -E "(warning|error):" "$out" | sort -u | head -50
    echo "[tidy] clang-tidy found problems in the Python modules" >&2
    rm -f "$out"
    exit 1
  fi
else
  echo "[tidy] $PY_BUILD has no compile commands: src/arrow and src/python not checked" >&2
fi
rm -f "$out"
echo "[tidy] clang-tidy clean"
