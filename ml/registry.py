"""The MLflow model registry of `kws` models: where it is, and what the stages and the release
ask of it (the version for a model's sha256, aliases, a run's model card).

Tracking URI: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db; a user:password in it is
never printed or written (ml/redact.py). An HTTP server is probed first, so an unreachable
one is a one-line error within seconds instead of minutes of retries.
"""

from __future__ import annotations

import base64
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ml.errors import KwsError
from ml.redact import redact, redact_uri

log = logging.getLogger(__name__)
MODEL_NAME = "kws"
EXPERIMENT = "kws"
DEFAULT_URI = "sqlite:///mlflow.db"
PROBE_TIMEOUT_S = 3.0


class RegistryError(KwsError):
    """The tracking server is unreachable or refused a request."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def quiet_mlflow() -> None:
    """Fail fast rather than retry for minutes; no "View run at <uri>" lines (credentials)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # no "Creating initial ... tables"


def mlflow_error(exc: BaseException) -> RegistryError:
    """One line naming the server (without credentials) and MLflow's first line."""
    uri = tracking_uri()
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RegistryError(redact(f"MLflow ({redact_uri(uri)}): {msg[:300]}", uri))


def _health_request(uri: str) -> urllib.request.Request:
    """GET <uri>/health; user:password in the URI become a basic-auth header, not the URL."""
    parts = urllib.parse.urlsplit(uri)
    netloc = parts.hostname or ""
    if ":" in netloc:  # IPv6 literal
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    url = urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path.rstrip("/") + "/health", "", "")
    )
    req = urllib.request.Request(url)
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    return req


def probe(uri: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail fast (one line) when an HTTP tracking server does not answer."""
    if not uri.startswith(("http://", "https://")):
        return
    shown = redact_uri(uri)
    try:
        with urllib.request.urlopen(_health_request(uri), timeout=timeout) as resp:
            if resp.status != 200:
                raise RegistryError(
                    f"MLflow tracking server {shown}: /health answered {resp.status}"
                )
    except urllib.error.HTTPError as exc:
        raise RegistryError(
            f"MLflow tracking server {shown}: /health answered {exc.code}"
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        reason = redact(str(getattr(exc, "reason", exc)), uri)
        raise RegistryError(f"MLflow tracking server {shown} unreachable ({reason})") from None


def client() -> Any:
    """An MlflowClient for the tracking URI, after the probe."""
    uri = tracking_uri()
    quiet_mlflow()
    probe(uri)
    from mlflow import MlflowClient

    return MlflowClient(uri)


def find_version(client: Any, model_sha: str) -> Any | None:
    """The oldest `kws` version whose model_sha256 tag is `model_sha`, or None."""
    versions = client.search_model_versions(
        f"name='{MODEL_NAME}' and tag.model_sha256='{model_sha}'"
    )
    same = [v for v in versions if (v.tags or {}).get("model_sha256") == model_sha]
    return min(same, key=lambda v: int(v.version)) if same else None


def list_versions(limit: int = 5) -> str:
    """The latest `kws` versions with their aliases and tags (for `make registry`)."""
    uri = tracking_uri()
    quiet_mlflow()
    probe(uri)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(uri)
        versions = client.search_model_versions(
            f"name='{MODEL_NAME}'", order_by=["version_number DESC"], max_results=limit
        )
        aliases: dict[str, list[str]] = {}
        if versions:
            for alias, v in client.get_registered_model(MODEL_NAME).aliases.items():
                aliases.setdefault(str(v), []).append(alias)
    except (MlflowException, OSError) as exc:
        raise mlflow_error(exc) from None
    shown = redact_uri(uri)
    if not versions:
        return f"no versions of '{MODEL_NAME}' at {shown} (run `make repro`)"
    lines = [f"registered model '{MODEL_NAME}' at {shown}"]
    lines.append(f"{'version':>7}  {'aliases':<22} {'model_sha256':<14} {'git_sha':<10} run_id")
    for v in versions:
        t = v.tags or {}
        lines.append(
            f"{v.version:>7}  {','.join(aliases.get(str(v.version), [])) or '-':<22} "
            f"{t.get('model_sha256', '')[:12]:<14} {t.get('git_sha', '')[:8]:<10} {v.run_id}"
        )
    return "\n".join(lines)


def version_by_alias(alias: str) -> dict[str, Any] | None:
    """{"version", "run_id", "tags"} of the `kws` version carrying `alias`, or None."""
    from mlflow.exceptions import MlflowException

    mlc = client()
    try:
        v = mlc.get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise mlflow_error(exc) from None
    return {"version": int(v.version), "run_id": v.run_id, "tags": dict(v.tags or {})}


def versions_with_sha(model_sha256: str) -> list[dict[str, Any]]:
    """The `kws` versions whose model_sha256 tag is this digest, newest first."""
    from mlflow.exceptions import MlflowException

    mlc = client()
    try:
        found = mlc.search_model_versions(
            f"name='{MODEL_NAME}' and tag.model_sha256='{model_sha256}'",
            order_by=["version_number DESC"],
        )
    except MlflowException as exc:
        raise mlflow_error(exc) from None
    return [
        {"version": int(v.version), "run_id": v.run_id, "tags": dict(v.tags or {})} for v in found
    ]


def move_alias(alias: str, version: int, model_sha256: str) -> None:
    """Point `alias` at `version`, after checking that version holds this model."""
    from mlflow.exceptions import MlflowException

    mlc = client()
    try:
        v = mlc.get_model_version(MODEL_NAME, str(version))
        if (v.tags or {}).get("model_sha256") != model_sha256:
            raise RegistryError(
                f"MLflow {MODEL_NAME} version {version}: model_sha256 "
                f"{(v.tags or {}).get('model_sha256', '-')[:12]} is not {model_sha256[:12]}"
            )
        mlc.set_registered_model_alias(MODEL_NAME, alias, str(version))
    except MlflowException as exc:
        raise mlflow_error(exc) from None
    log.info("alias %s -> %s version %s", alias, MODEL_NAME, version)


def download_model_card(run_id: str, dest: Path) -> Path:
    """The run's model_card.md artefact, copied to `dest`."""
    from mlflow.exceptions import MlflowException

    mlc = client()
    try:
        got = Path(mlc.download_artifacts(run_id, "model_card.md", str(dest.parent)))
    except (MlflowException, OSError) as exc:
        raise mlflow_error(exc) from None
    if got != dest:
        got.replace(dest)
    return dest
