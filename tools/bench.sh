#!/usr/bin/env bash
# Speed and determinism figures of the data and ML pipeline (make bench-data / bench-pipeline).
# Prints `bench: <name> = <value> <unit>` lines; the README quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
out=build/bench
mkdir -p "$out"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
fig() { printf 'bench: %-34s = %s %s\n' "$1" "$2" "$3"; }

data() {
  rm -rf "$out/sc"
  local t0; t0=$(now)
  "$PY" -m ml.synth --out "$out/sc"
  fig "synth default dataset" "$(secs "$t0" "$(now)")" s
  fig "synth clips" "$(find "$out/sc" -name '*.wav' | wc -l)" files
  if [[ -d data/speech_commands ]]; then
    if diff -rq "$out/sc" data/speech_commands >/dev/null; then
      fig "identical to data/speech_commands" yes ""
    else
      fig "identical to data/speech_commands" NO ""
    fi
  fi
  rm -rf "$out/sc"
}

pipeline() {
  [[ -f data.dvc ]] || { echo "error: data.dvc missing: run make data first" >&2; exit 1; }
  local before t0 t1
  before=$(sha256sum build/model/model_int8.tflite 2>/dev/null | cut -c1-64 || echo none)
  t0=$(now)
  .venv/bin/dvc repro --force --downstream features >"$out/repro.log" 2>&1 \
    || { tail -5 "$out/repro.log" >&2; exit 1; }
  t1=$(now)
  fig "dvc repro features..register (cold)" "$(secs "$t0" "$t1")" s
  t0=$(now)
  .venv/bin/dvc repro >/dev/null
  fig "dvc repro (nothing to do)" "$(secs "$t0" "$(now)")" s
  local after; after=$(sha256sum build/model/model_int8.tflite | cut -c1-64)
  fig "model_int8.tflite sha256" "$after" ""
  if [[ "$before" != none ]]; then
    if [[ "$before" == "$after" ]]; then
      fig "same sha256 as the previous cold run" yes ""
    else
      fig "same sha256 as the previous cold run" "NO (was $before)" ""
    fi
  fi
  "$PY" -m ml.evaluate --show metrics/evaluate.json 2>/dev/null || true
}

"$@"
