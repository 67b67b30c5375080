"""ml/registry.py: MLflow failures become one line without the tracking URI's credentials."""

from __future__ import annotations

import pytest

from ml import registry


def test_mlflow_error_is_one_redacted_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://alice:s3cret@mlflow.example:5000")
    exc = RuntimeError(
        "API request to https://alice:s3cret@mlflow.example:5000/api failed\ntraceback line"
    )
    err = registry.mlflow_error(exc)
    assert isinstance(err, registry.RegistryError)
    assert "\n" not in str(err)
    assert "s3cret" not in str(err)
    assert str(err).startswith("MLflow (https://")
    assert "mlflow.example:5000" in str(err)
    assert "failed" in str(err)


def test_mlflow_error_names_the_exception_when_it_has_no_text() -> None:
    assert "TimeoutError" in str(registry.mlflow_error(TimeoutError()))
