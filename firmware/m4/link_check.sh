#!/usr/bin/env bash
# Linker launcher of the emulated Cortex-M4 board image (CMake CXX_LINKER_LAUNCHER): runs the
# link; when the image does not fit a budget region of firmware/m4/board.ld (generated from
# the board facts file, hil/boards.yaml unless CMake's KWS_BOARDS_FILE says otherwise),
# prints ONE line naming the file, the board's field and the overflow instead of ld's
# several, and fails. Any other link error is passed through unchanged.
#
#   link_check.sh <image name> <board facts file> <link command...>
set -uo pipefail
usage="usage: link_check.sh <image name> <board facts file> <link command...>"
name=${1:?$usage}
boards=${2:?$usage}
shift 2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if "$@" >"$log" 2>&1; then
  cat "$log"
  exit 0
fi
over=$(grep -o "region \`[A-Za-z0-9_]*' overflowed by [0-9]* bytes" "$log" | sort -u | paste -sd ';' -)
if [ -n "$over" ]; then
  # nano33ble_ram_budget -> board nano33ble, field ram_budget_bytes of the board facts file
  echo "error: $name does not fit its board's budget ($boards): $(echo "$over" | sed -E "s/region \`([a-z0-9_]+)_(flash|ram)_budget'/\1 \2_budget_bytes (region \`\1_\2_budget')/g; s/;/; /g")" >&2
  exit 1
fi
cat "$log" >&2
exit 1
