#!/usr/bin/env bash
# Builds a board app: build_board.sh <esp32|nano33ble> <generated dir> <build dir>.
# Needs the board's toolchain (idf.py / arduino-cli); without it, exits 1 with one line
# naming the missing tool and how to install it.
set -euo pipefail

board=$1
generated=$2
out=$3
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

case $board in
  esp32 | nano33ble) ;;
  *)
    echo "error: unknown board '$board' (esp32, nano33ble)" >&2
    exit 2
    ;;
esac
repo=$(dirname "$here")
py=$repo/.venv/bin/python
[[ -x $py ]] || py=python3

# The board's budgets from hil/boards.yaml, compiled in for the boot-time budget check.
budget() {
  "$py" -c 'import sys, yaml; print(int(yaml.safe_load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]]))' \
    "$repo/hil/boards.yaml" "$board" "$1"
}
model_budget=$(budget model_budget_bytes)
arena_budget=$(budget arena_budget_bytes)

[[ -f $generated/model_settings.h ]] || {
  echo "error: $generated/model_settings.h missing: run 'make repro' (or 'make tiny')" >&2
  exit 1
}

case $board in
  esp32)
    command -v idf.py >/dev/null || {
      echo "error: idf.py not found: install ESP-IDF v5.x (docs.espressif.com/projects/esp-idf, 'Get Started') and run '. \$IDF_PATH/export.sh'" >&2
      exit 1
    }
    idf.py -C "$here/esp32" -B "$out" -DKWS_GENERATED_DIR="$generated" \
      -DKWS_MODEL_BUDGET_BYTES="$model_budget" -DKWS_ARENA_BUDGET_BYTES="$arena_budget" \
      set-target esp32 build
    echo "firmware: $out/kws_esp32.bin"
    ;;
  nano33ble)
    command -v arduino-cli >/dev/null || {
      echo "error: arduino-cli not found: install it (arduino.github.io/arduino-cli, 'Installation'), then 'arduino-cli core install arduino:mbed_nano' and 'arduino-cli lib install Arduino_TensorFlowLite'" >&2
      exit 1
    }
    # Arduino compiles only what is inside the sketch folder: stage the sketch with the core,
    # the TFLM glue and the generated model under src/. KWS_SENSE=1: the BLE Sense's microphone.
    sketch=$out/kws_nano33ble
    rm -rf "$sketch" && mkdir -p "$sketch/src/core" "$sketch/src/tflm" "$sketch/src/generated"
    cp "$here/nano33ble/nano33ble.ino" "$sketch/kws_nano33ble.ino"
    cp "$here"/nano33ble/board_adapters.* "$sketch/"
    cp "$here"/core/*.h "$here"/core/supported_ops.def "$sketch/src/core/"
    cp "$here"/tflm/*.h "$sketch/src/tflm/"
    cp "$generated"/model_settings.h "$generated"/model_data.h "$sketch/src/generated/"
    # The Arduino builder compiles .c/.cpp/.S sources, not .cc: copy them renamed.
    for f in "$here"/core/*.cc "$here"/tflm/*.cc "$generated"/model_data.cc; do
      case $f in
        "$here"/core/*) dest=$sketch/src/core ;;
        "$here"/tflm/*) dest=$sketch/src/tflm ;;
        *) dest=$sketch/src/generated ;;
      esac
      cp "$f" "$dest/$(basename "$f" .cc).cpp"
    done
    flags="-I$sketch/src/core -I$sketch/src/tflm -I$sketch/src/generated"
    flags+=" -DKWS_MODEL_BUDGET_BYTES=$model_budget -DKWS_ARENA_BUDGET_BYTES=$arena_budget"
    flags+=" -DKWS_NANO33BLE_SENSE=${KWS_SENSE:-0}"
    # Provenance in the reported firmware version (build_stamp.sh; no spaces in it)
    flags+=" -DKWS_BUILD_STAMP=\"$(bash "$here/build_stamp.sh")\""
    arduino-cli compile --fqbn arduino:mbed_nano:nano33ble --output-dir "$out" \
      --build-property "compiler.cpp.extra_flags=$flags" "$sketch"
    echo "firmware: $out/kws_nano33ble.ino.bin"
    ;;
esac
