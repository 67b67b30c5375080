"""The pull request's sticky comment: one comment carrying MARKER, created on the first push
and updated on every later one (gh api)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ml.errors import KwsError

MARKER = "<!-- kws-pr-report -->"


class CommentError(KwsError):
    """The comment cannot be posted."""


def comment(pr: str, body_file: Path) -> None:
    """Create or update the one comment carrying MARKER on the PR (gh api)."""
    repo = os.environ.get("GITHUB_REPOSITORY")
    if not repo or not pr.isdigit():
        raise CommentError("report-comment: needs GITHUB_REPOSITORY and PR=<number>")
    if not body_file.is_file():
        raise CommentError(f"{body_file}: missing (run make report first)")
    find = subprocess.run(
        ["gh", "api", "--paginate", f"repos/{repo}/issues/{pr}/comments",
         "--jq", f'.[] | select(.body | startswith("{MARKER}")) | .id'],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if find.returncode != 0:
        raise CommentError(f"gh api: cannot list comments of PR {pr}")
    ids = find.stdout.split()
    target = (
        ["-X", "PATCH", f"repos/{repo}/issues/comments/{ids[0]}"]
        if ids
        else ["-X", "POST", f"repos/{repo}/issues/{pr}/comments"]
    )
    done = subprocess.run(["gh", "api", *target, "-F", f"body=@{body_file}"], check=False)
    if done.returncode != 0:
        raise CommentError(f"gh api: cannot post the report on PR {pr}")
