#!/usr/bin/env bash
# nightly.sh run <pinned|latest>: the pipeline and the virtual HIL in a venv of their own,
# with constraints.txt (pinned) or with the newest releases (latest); writes
# build/nightly/<deps>/ (resolved versions, metrics, JUnit results, exit codes).
set -euo pipefail

deps=${2:-}
case $deps in
  pinned | latest) ;;
  *)
    echo "error: DEPS must be pinned or latest (got '$deps')" >&2
    exit 2
    ;;
esac
out=build/nightly/$deps
venv=build/nightly/venv-$deps
rm -rf "$out"
mkdir -p "$out"
python=${PYTHON_BOOT:-python3.11}
[[ -x $venv/bin/python ]] || "$python" -m venv "$venv"
constraints=()
[[ $deps == pinned ]] && constraints=(-c constraints.txt)
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "${constraints[@]}" -e '.[dev]'
"$venv/bin/python" -m pip freeze --exclude-editable >"$out/versions.txt"

status=0
# The Makefile's VENV is .venv: point it at this venv for the sub-makes.
run() {
  local name=$1
  shift
  if make VENV="$venv" VENV_STAMP="$venv/.nightly" "$@" >"$out/$name.log" 2>&1; then
    echo "$name 0" >>"$out/status.txt"
  else
    echo "$name $?" >>"$out/status.txt"
    status=1
  fi
}
touch "$venv/.nightly"
run pipeline ci-pipeline
run hil ci-hil-virtual HIL_RESULTS="$out/hil"
cp -r build/ci/model/metrics "$out/metrics" 2>/dev/null || true
echo "nightly: $deps done (status $status); see $out/"
exit "$status"
