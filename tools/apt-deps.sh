#!/usr/bin/env bash
# Install the Debian packages the make targets need; a no-op in a second when all are there.
set -euo pipefail

packages=(espeak-ng sox gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm
  shellcheck clang libclang-rt-14-dev cmake)
packages+=(libstdc++-arm-none-eabi-newlib)  # arm-none-eabi C++ headers (firmware/tflm on M4)

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
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "apt: installed ${missing[*]}"
