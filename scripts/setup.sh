#!/usr/bin/env bash
# Installs everything epochcache needs on a fresh Debian 12 machine and builds it.
# Idempotent: each step is skipped when its inputs have not changed since it last ran.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STAMPS="$ROOT/.cache/stamps"
mkdir -p "$STAMPS"

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# Runs "$@" only when the hash of the named inputs changed since it last succeeded.
# usage: once NAME "input files or strings" command...
once() {
  local name=$1 inputs=$2; shift 2
  local want
  want=$( (for f in $inputs; do if [ -f "$f" ]; then cat "$f"; else echo "$f"; fi; done) | sha256sum | cut -c1-64)
  if [ -f "$STAMPS/$name" ] && [ "$(cat "$STAMPS/$name")" = "$want" ]; then return 0; fi
  "$@"
  echo "$want" > "$STAMPS/$name"
}

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev libcurl4-openssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libssl-dev libcli11-dev libxxhash-dev libpugixml-dev libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev libtomlplusplus-dev
  nginx-light wrk
  clang-format clang-tidy clang-14 libclang-rt-14-dev etcd-server etcd-client python3-venv
)

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    local sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

install_python() {
  if [ ! -x .venv/bin/python ]; then
    log "creating .venv"
    python3 -m venv .venv
  fi
  log "installing Python packages (requirements-dev.txt)"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
}

build_package() {
  # Incremental: scikit-build-core reuses build/py, so unchanged sources are not recompiled.
  log "building and installing epochcache into .venv"
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
    .venv/bin/pip install -q --no-build-isolation --no-deps .
}

install_apt
once python "requirements-dev.txt $(python3 --version 2>&1)" install_python
build_package
scripts/install_test_servers.sh
log "ready"
