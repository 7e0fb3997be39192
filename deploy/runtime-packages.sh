#!/bin/sh
# Prints the Debian packages that hold the shared libraries an executable loads, one a line.
# The Dockerfile's runtime stage installs exactly these, so it follows the build's link line.
# usage: deploy/runtime-packages.sh BINARY
set -eu
binary=${1:?usage: runtime-packages.sh BINARY}
libs=$(ldd "$binary" | awk '$3 ~ /^\// {print $3}')
[ -n "$libs" ] || { echo "runtime-packages.sh: $binary loads no shared library" >&2; exit 1; }
# dpkg records a library under /lib or /usr/lib (merged /usr): ask for every spelling at once;
# the spellings it does not know are expected misses.
for lib in $libs; do printf '%s\n%s\n%s\n' "$lib" "/usr$lib" "$(readlink -f "$lib")"; done |
  sort -u | xargs dpkg -S 2>/dev/null | cut -d: -f1 | sort -u
