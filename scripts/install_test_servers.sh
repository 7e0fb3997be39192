#!/usr/bin/env bash
# Builds the servers the tests, demo and benchmarks run on loopback into tools/bin, with the Go
# toolchain from the Go module proxy. Pinned, so every machine builds the same servers.
# Skips a server whose binary was already built at the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$PWD/tools/bin"
mkdir -p "$BIN"

# MinIO: the S3-compatible server (see docs/testing.md for why this one).
MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

# toxiproxy: a TCP proxy that adds latency and bandwidth limits in front of MinIO, so benchmarks
# see remote-storage-like costs (see docs/benchmarks.md). v2.5.0 is the newest version the Go
# module proxy lists for the v2 module (`go list -m -versions github.com/Shopify/toxiproxy/v2`).
# In v2.5.0 the server's package is cmd/server, so `go install` names the binary "server"; it is
# installed as tools/bin/toxiproxy-server.
TOXIPROXY_MODULE=github.com/Shopify/toxiproxy/v2/cmd/server
TOXIPROXY_VERSION=v2.5.0

# Builds `module@version` with go install into tools/bin/<name>. go install names a binary after
# its package directory, so it is built into a temporary dir and moved to the name we use.
build() {  # name module version
  local name=$1 module=$2 version=$3
  if [ -x "$BIN/$name" ] && [ "$(cat "$BIN/.$name.version" 2>/dev/null)" = "$version" ]; then
    return 0
  fi
  if ! command -v go >/dev/null; then
    echo "[servers] go is needed to build $name; install Go 1.24 or newer" >&2
    exit 1
  fi
  echo "[servers] building $name $version with go install (first time only; takes minutes)"
  local tmp
  tmp=$(mktemp -d)
  GOBIN="$tmp" GOFLAGS=-mod=mod nice go install "$module@$version"
  mv "$tmp/${module##*/}" "$BIN/$name"
  rmdir "$tmp"
  echo "$version" > "$BIN/.$name.version"
}

# Azurite: Microsoft's Azure Storage emulator (the blob service is what the az:// store's tests
# use). An npm package, installed under tools/azurite with its own node_modules. 3.35.0 is the
# newest release that runs on Node 20 (3.36 needs Node 21, 3.37 Node 22).
AZURITE_VERSION=3.35.0

install_azurite() {
  local dir="$PWD/tools/azurite"
  if [ -x "$dir/node_modules/.bin/azurite-blob" ] &&
    [ "$(cat "$dir/.version" 2>/dev/null)" = "$AZURITE_VERSION" ]; then
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "[servers] npm is needed to install azurite; install Node.js 18 or newer" >&2
    exit 1
  fi
  echo "[servers] installing azurite $AZURITE_VERSION with npm (first time only)"
  mkdir -p "$dir"
  nice npm install --no-audit --no-fund --prefix "$dir" "azurite@$AZURITE_VERSION"
  ln -sf ../azurite/node_modules/.bin/azurite-blob "$BIN/azurite-blob"
  echo "$AZURITE_VERSION" > "$dir/.version"
}

build minio "$MINIO_MODULE" "$MINIO_VERSION"
build toxiproxy-server "$TOXIPROXY_MODULE" "$TOXIPROXY_VERSION"
install_azurite
echo "[servers] ready in $BIN"
