#!/usr/bin/env bash
# make retrain-pr: commit what `make retrain` changed (dvc.lock, metrics, reports, seed/, the
# telemetry record) to a new retrain/<date>-<run> branch, push that branch and open a pull
# request against main. It never pushes to main. Needs GH_TOKEN (the workflow's token) and gh.
#   tools/retrain_pr.sh <dir with pr.md>
set -euo pipefail
out=$1
branch="retrain/$(date -u +%Y%m%d)-${GITHUB_RUN_ID:-local}"
case "$branch" in
  main | master | refs/heads/*) echo "error: retrain-pr: refusing to push to $branch" >&2; exit 1 ;;
esac
if [[ ! -f $out/pr.md ]]; then
  echo "error: retrain-pr: $out/pr.md missing (run make retrain first)" >&2
  exit 1
fi
if [[ -z ${GH_TOKEN:-} ]]; then
  echo "error: retrain-pr: GH_TOKEN is not set (the retrain workflow passes github.token)" >&2
  exit 1
fi
git switch -q -c "$branch"
git add dvc.lock metrics reports seed  # seed/: the new model for fresh clones (make repro)
[[ -f telemetry.dvc ]] && git add telemetry.dvc
if git diff --cached --quiet; then
  echo "retrain-pr: the pipeline changed nothing; no pull request"
  exit 0
fi
git -c user.name="kws-retrain" -c user.email="kws-retrain@users.noreply.github.com" \
  commit -q -m "retrain: new model from $(git rev-parse --short HEAD) (${RETRAIN_EVENT:-manual})"
gh auth setup-git
git push -q origin "HEAD:refs/heads/$branch"
gh pr create --base main --head "$branch" --title "Retrain: new model (${RETRAIN_EVENT:-manual})" \
  --body-file "$out/pr.md"
