#!/usr/bin/env bash
# The retrain pull request's body (make retrain): the new model, its metrics and params diff
# against a base revision, and the drift report that may have triggered it.
#   tools/retrain_report.sh <base rev> <out dir>   -> <out dir>/pr.md, <out dir>/drift.png
set -euo pipefail
base=$1
out=$2
bin=${KWS_BIN:-.venv/bin}  # make passes its venv (VENV may be elsewhere, e.g. in the act jobs)
mkdir -p "$out"
model=build/model/model_int8.tflite
sha=$(sha256sum "$model" | cut -d' ' -f1)
# DVC's Markdown table, or `$2` when it has no rows (a header and a rule only)
table() {
  if [[ $(grep -c '^|' <<<"$1") -gt 2 ]]; then echo "$1"; else echo "$2"; fi
}
cp metrics/monitor/drift.png "$out/drift.png" 2>/dev/null || true
{
  echo "## Retrained model \`${sha:0:12}\`"
  echo
  echo "Trigger: \`${RETRAIN_EVENT:-manual}\`. Model sha256 \`$sha\` ($(stat -c %s "$model") bytes)."
  echo "Produced by \`make retrain\` (dvc repro); review, then merge: the release workflow takes it from there."
  echo
  echo "### Metrics against \`$base\`"
  table "$("$bin/dvc" metrics diff "$base" --md 2>/dev/null || true)" \
    "No metric changed: the same data, code and params give the same model."
  echo
  echo "### Params against \`$base\`"
  table "$("$bin/dvc" params diff "$base" --md 2>/dev/null || true)" "No param changed."
  echo
  echo "### Drift report (metrics/monitor.json, plot metrics/monitor/drift.png)"
  "$bin/python" -m ml.monitor --table metrics/monitor.json
} > "$out/pr.md"
echo "retrain: pull request body in $out/pr.md"
