"""ml/redact.py: a user or password in a URI is never printed, logged or written."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from ml.redact import RedactingFilter, redact, redact_uri

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("https://alice:s3cret@mlflow.example.com/", "https://***@mlflow.example.com/"),
        ("http://token@10.0.0.1:5000", "http://***@10.0.0.1:5000"),
        ("https://a:p%40ss@host/x?y=1", "https://***@host/x?y=1"),
        ("https://a:p@ss@host/x", "https://***@host/x"),  # an unencoded '@' in the password
        ("s3://key:secret@bucket/kws-dvc", "s3://***@bucket/kws-dvc"),
        ("ssh://git@example.com/repo", "ssh://***@example.com/repo"),
        ("https://host/x?token=abc&n=1", "https://host/x?token=***&n=1"),
        ("https://mlflow.example.com/", "https://mlflow.example.com/"),
        ("sqlite:////work/mlflow.db", "sqlite:////work/mlflow.db"),
        ("/home/u/.cache/dvc-remote", "/home/u/.cache/dvc-remote"),
    ],
)
def test_redact_uri(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown


def test_redact_text_and_bare_userinfo() -> None:
    uri = "http://alice:s3cret@127.0.0.1:5000"
    text = f"error: cannot reach {uri}/api (nonnumeric port: 's3cret@127.0.0.1:5000')"
    out = redact(text, uri)
    assert "s3cret" not in out
    assert "alice" not in out
    assert "http://***@127.0.0.1:5000/api" in out


def test_log_records_are_redacted() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("test_redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("tracking at %s", "https://bob:hunter2@example.com/mlflow")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "tracking at https://***@example.com/mlflow\n"


def test_cli_filters_stdin() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "ml.redact"],
        input="local\thttps://u:pw@dvc.example.com/store (default)\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    assert res.stdout == "local\thttps://***@dvc.example.com/store (default)\n"


def test_run_main_error_line_is_redacted() -> None:
    code = (
        "from ml.errors import KwsError, run_main\n"
        "def main(argv):\n"
        "    raise KwsError('MLflow (https://u:pw@h.example/): 401')\n"
        "run_main(main)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert res.returncode == 1
    assert res.stderr == "error: MLflow (https://***@h.example/): 401\n"
