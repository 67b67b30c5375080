#!/usr/bin/env bash
# Compile one C++ file for the host and one for Cortex-M4F, and run the host one: a missing
# toolchain package fails here in seconds with one line naming the package, instead of minutes
# later inside a CMake build.
set -euo pipefail
out=${1:-build/toolchain-check}
mkdir -p "$out"
src=$out/check.cc
cat > "$src" <<'CC'
#include <cstddef>
#include <cstdint>
#include <cstring>
int main() { std::size_t n = std::strlen("ok"); return static_cast<int>(n) - 2; }
CC

fail() { echo "error: toolchain-check: $1" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || fail "$1 not found (Debian package $2; run make apt)"; }

need g++ g++
need arm-none-eabi-g++ gcc-arm-none-eabi
need qemu-system-arm qemu-system-arm
need clang++ clang
need cmake cmake

g++ -std=c++17 -o "$out/host" "$src" 2>"$out/host.log" || fail "host g++ cannot compile C++17 (see $out/host.log)"
"$out/host" || fail "host program built by g++ does not run"

m4_flags=(-std=c++17 -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -fno-exceptions -fno-rtti)
if ! arm-none-eabi-g++ "${m4_flags[@]}" -c -o "$out/m4.o" "$src" 2>"$out/m4.log"; then
  grep -q 'cstddef' "$out/m4.log" && fail "arm-none-eabi-g++ has no C++ headers (Debian package libstdc++-arm-none-eabi-newlib)"
  fail "arm-none-eabi-g++ cannot compile for Cortex-M4 (see $out/m4.log)"
fi
if ! arm-none-eabi-g++ "${m4_flags[@]}" --specs=rdimon.specs -o "$out/m4.elf" "$out/m4.o" 2>"$out/m4-link.log"; then
  fail "arm-none-eabi-g++ cannot link with newlib's rdimon (Debian package libnewlib-arm-none-eabi; see $out/m4-link.log)"
fi
echo 'int main(){return 0;}' > "$out/fuzz.cc"
clang++ -fsanitize=fuzzer-no-link,address,undefined -c -o "$out/fuzz.o" "$out/fuzz.cc" 2>"$out/fuzz.log" ||
  fail "clang++ cannot build with sanitizers (Debian package libclang-rt-14-dev; see $out/fuzz.log)"
echo "toolchain-check: host g++, arm-none-eabi-g++ (Cortex-M4F, C++17 + newlib) and clang sanitizers work"
