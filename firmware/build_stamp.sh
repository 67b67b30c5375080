#!/usr/bin/env bash
# Prints the build's provenance as semver build metadata for the firmware version:
# "+g<git sha, 12>[.dirty].<UTC build time YYYYMMDDTHHMMSSZ>". The firmware build stamps it
# (-DKWS_BUILD_STAMP), never the pipeline's export, so an equal model gives an equal export.
# SOURCE_DATE_EPOCH, when set, is the build time (reproducible builds).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sha=$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null || echo nogit)
dirty=""
if [[ $sha != nogit ]] && [[ -n $(git -C "$here" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  dirty=".dirty"
fi
when=$(date -u ${SOURCE_DATE_EPOCH:+-d "@$SOURCE_DATE_EPOCH"} +%Y%m%dT%H%M%SZ)
echo "+g${sha}${dirty}.${when}"
