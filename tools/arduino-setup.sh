#!/usr/bin/env bash
# arduino-setup.sh <cli version> <core@version> <dir>: arduino-cli from its GitHub release
# (sha256 checked against the release's checksums file) and the board core, into <dir>.
# Prints the PATH entry to use. Needs network: CI runners only.
set -euo pipefail

version=$1
core=$2
dir=$3
base="https://github.com/arduino/arduino-cli/releases/download/v${version}"
tarball="arduino-cli_${version}_Linux_64bit.tar.gz"
mkdir -p "$dir"
cd "$dir"
curl -fsSL --retry 3 -o "$tarball" "$base/$tarball"
curl -fsSL --retry 3 -o checksums.txt "$base/${version}-checksums.txt"
grep " ${tarball}\$" checksums.txt | sha256sum -c -
tar -xzf "$tarball" arduino-cli
./arduino-cli core update-index
./arduino-cli core install "$core"
if [[ -n ${GITHUB_PATH:-} ]]; then
  pwd >>"$GITHUB_PATH"
fi
echo "arduino-setup: $(./arduino-cli version) with $core in $(pwd)"
