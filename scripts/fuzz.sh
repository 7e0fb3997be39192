#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) in build/fuzz with clang and runs each for
# FUZZ_SECONDS seconds on a copy of its seed corpus (the repo is never written to). Prints the
# executions per target; fails if any target crashes (artifacts in build/fuzz/artifacts).
#   FUZZ_SECONDS=60 scripts/fuzz.sh            all targets
#   scripts/fuzz.sh range_fuzz etcd_json_fuzz  some of them
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD="$ROOT/build/fuzz"
SECONDS_EACH=${FUZZ_SECONDS:-15}
JOBS=${JOBS:-2}
CXX_FUZZ=${CXX_FUZZ:-clang++-14}
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(request_target_fuzz range_fuzz s3_xml_fuzz etcd_json_fuzz page_header_fuzz azure_xml_fuzz local_wire_fuzz)
fi

log() { printf '\033[1m[fuzz]\033[0m %s\n' "$*"; }

command -v "$CXX_FUZZ" >/dev/null || { echo "[fuzz] $CXX_FUZZ not found (scripts/setup.sh installs clang-14)" >&2; exit 1; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$BUILD" -G Ninja -DEPOCHCACHE_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER="$CXX_FUZZ" "${launcher[@]}" >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"

ARTIFACTS="$BUILD/artifacts"
WORK="$BUILD/corpus"
mkdir -p "$ARTIFACTS"
failed=()
summary=()
for t in "${TARGETS[@]}"; do
  # A fresh copy each run: what libFuzzer adds stays in build/, and no run starts from
  # inputs a previous run found.
  rm -rf "${WORK:?}/$t"
  mkdir -p "$WORK/$t"
  cp "$ROOT/tests/fuzz/corpus/$t/"* "$WORK/$t/"
  out="$BUILD/$t.log"
  log "$t: ${SECONDS_EACH}s"
  set +e
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$BUILD/tests/fuzz/$t" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$ARTIFACTS/$t-" "$WORK/$t" >"$out" 2>&1
  rc=$?
  set -e
  # "Done N runs" ends a clean run; a crash leaves only the final stats.
  runs=$(grep -oE 'Done [0-9]+ runs' "$out" | tail -1 | grep -oE '[0-9]+' || true)
  [ -z "$runs" ] && runs=$(grep -oE 'number_of_executed_units: *[0-9]+' "$out" | grep -oE '[0-9]+$' || true)
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    summary+=("$(printf '%-22s CRASH (exit %d) after %s runs; see %s' "$t" "$rc" "${runs:-?}" "$out")")
    grep -E 'ERROR|runtime error|SUMMARY|invariant failed|Test unit written|^ +#[0-9]+ ' "$out" | head -30 >&2 || true
  else
    summary+=("$(printf '%-22s %12s runs, no crash' "$t" "$runs")")
  fi
done
log "executions per target (${SECONDS_EACH}s each):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "[fuzz] crashes in: ${failed[*]} (inputs in $ARTIFACTS)" >&2
  exit 1
fi
