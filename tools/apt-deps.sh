#!/usr/bin/env bash
# Install the Debian packages the make targets need; a no-op in a second when all are there.
# Every package any target uses is listed here: CI runs on a fresh machine, so a package that
# was installed by hand makes CI green on one machine and red on the next.
set -euo pipefail

packages=(
  espeak-ng sox                                 # ml.synth: offline speech, resampling
  cmake                                         # firmware builds
  gcc-arm-none-eabi libnewlib-arm-none-eabi     # Cortex-M4 build (C, newlib + rdimon)
  libstdc++-arm-none-eabi-newlib                # Cortex-M4 C++ headers (<cstddef>): not pulled in by gcc-arm-none-eabi
  qemu-system-arm                               # emulated Cortex-M4 (mps2-an386)
  clang libclang-rt-14-dev                      # libFuzzer + sanitizers
  shellcheck                                    # make lint
  flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts  # ml.synth engines
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "apt: installing ${missing[*]}"
sudo=()
[[ $(id -u) -ne 0 ]] && sudo=(sudo -n)
if ! "${sudo[@]}" true 2>/dev/null; then
  echo "error: need root or passwordless sudo to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
# Keep-Downloaded-Packages=false: the .deb files (~340 MB for the full list) are deleted once
# installed; a CI machine's disk is small, and nothing here installs them twice.
"${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  -o APT::Keep-Downloaded-Packages=false "${missing[@]}" >/dev/null
echo "apt: installed ${missing[*]}"
