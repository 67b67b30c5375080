#!/usr/bin/env bash
# Configures a Cortex-M4 build directory: the one place for its toolchain and build type.
# Called by make (firmware-m4, m4-board: mk/firmware.mk) and by the search's per-candidate
# image (ml/search_emulate.py), so the two cannot drift apart.
# usage: configure.sh BUILD_DIR GENERATED_DIR PYTHON [-DVAR=value...]
set -euo pipefail
if (( $# < 3 )); then
  echo "usage: $0 BUILD_DIR GENERATED_DIR PYTHON [-DVAR=value...]" >&2
  exit 2
fi
m4=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$m4/.." && pwd)
build=$1 generated=$2 python=$3
shift 3
exec cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=MinSizeRel \
  -DCMAKE_TOOLCHAIN_FILE="$m4/arm-none-eabi.cmake" \
  -DKWS_GENERATED_DIR="$generated" -DKWS_PYTHON="$python" "$@"
