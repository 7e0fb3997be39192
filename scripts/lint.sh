#!/usr/bin/env bash
# Formatting is checked on every C++ file; warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cc' '*.h')
clang-format --dry-run -Werror "${files[@]}"
echo "[lint] clang-format: ${#files[@]} files clean"
python3 scripts/check_layers.py
