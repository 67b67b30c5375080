#!/usr/bin/env bash
# Linker launcher of the emulated Cortex-M4 board image (CMake CXX_LINKER_LAUNCHER): runs the
# link; when the image does not fit a budget region of firmware/m4/board.ld (generated from
# hil/boards.yaml), prints ONE line naming the region and the overflow instead of ld's
# several, and fails. Any other link error is passed through unchanged.
#
#   link_check.sh <image name> <link command...>
set -uo pipefail
name=${1:?usage: link_check.sh <image name> <link command...>}
shift
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if "$@" >"$log" 2>&1; then
  cat "$log"
  exit 0
fi
over=$(grep -o "region \`[A-Za-z0-9_]*' overflowed by [0-9]* bytes" "$log" | sort -u | paste -sd ';' -)
if [ -n "$over" ]; then
  # nano33ble_ram_budget -> board nano33ble, field ram_budget_bytes of hil/boards.yaml
  echo "error: $name does not fit its board's budget (hil/boards.yaml): $(echo "$over" | sed -E "s/region \`([a-z0-9_]+)_(flash|ram)_budget'/\1 \2_budget_bytes (region \`\1_\2_budget')/g; s/;/; /g")" >&2
  exit 1
fi
cat "$log" >&2
exit 1
