"""DVC stage `register`: the int8 model as a `kws` version with the alias `candidate`.

    python -m ml.register --int8 build/model/model_int8.tflite --firmware firmware/generated \
        [--metrics metrics/evaluate.json] [--data-report metrics/data.json] \
        [--plots metrics/plots] [--params params.yaml] [--out registry.json]

Registration is keyed on the model's sha256: when a version with these model bytes exists,
it gets the alias and nothing new is logged, so rerunning the pipeline on the same commit
(or on another commit that gives the same model) never registers a model twice. Otherwise
a run (experiment `kws`) logs the flattened params, the numbers of evaluate.json and
data.json, and artefacts: the .tflite, the plots, the data report, a model card and the pip
freeze; the .tflite becomes a new version of registered model `kws`, tagged with git sha
(of the checkout that registered it), data hash, params hash and model sha256 (from the
export, so registry and firmware agree), and gets the alias `candidate` (aliases, never the
deprecated stages). Only models that passed evaluate's quality gates get here.

Tracking URI: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db; a user:password in it is
never printed or written (ml/redact.py). An HTTP server is probed first, so an unreachable
one is a one-line error within seconds. The stage has no DVC output (run ids and the
machine's paths stay out of dvc.lock and git): `make registry` prints what MLflow holds;
`--out` writes the same facts to a local JSON file for scripts.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ml import tflm
from ml.errors import KwsError, run_main
from ml.fsutil import read_json_object
from ml.fsutil import write_json_atomic as write_json
from ml.params import DEFAULT_PARAMS, load_params, params_hash
from ml.redact import redact, redact_uri

log = logging.getLogger(__name__)
MODEL_NAME = "kws"
EXPERIMENT = "kws"
ALIAS = "candidate"
DEFAULT_URI = "sqlite:///mlflow.db"
PROBE_TIMEOUT_S = 3.0
TAG_KEYS = ("git_sha", "data_hash", "params_hash", "model_sha256")


class RegisterError(KwsError):
    """The tracking server is unreachable or an input of the register stage is unusable."""


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _quiet_mlflow() -> None:
    """Fail fast rather than retry for minutes; no "View run at <uri>" lines (credentials)."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def _mlflow_error(uri: str, exc: BaseException) -> RegisterError:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RegisterError(redact(f"MLflow ({redact_uri(uri)}): {msg[:300]}", uri))


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
                raise RegisterError(
                    f"MLflow tracking server {shown}: /health answered {resp.status}"
                )
    except urllib.error.HTTPError as exc:
        raise RegisterError(
            f"MLflow tracking server {shown}: /health answered {exc.code}"
        ) from None
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        reason = redact(str(getattr(exc, "reason", exc)), uri)
        raise RegisterError(f"MLflow tracking server {shown} unreachable ({reason})") from None


def git_sha(repo: Path = Path(".")) -> str:
    """The checkout's commit (a registry tag; never written into DVC-tracked outputs)."""
    try:
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = res.stdout.strip()
    return sha if res.returncode == 0 and len(sha) == 40 else "unknown"


def find_version(client: Any, model_sha: str) -> Any | None:
    """The oldest `kws` version whose model_sha256 tag is `model_sha`, or None."""
    versions = client.search_model_versions(
        f"name='{MODEL_NAME}' and tag.model_sha256='{model_sha}'"
    )
    same = [v for v in versions if (v.tags or {}).get("model_sha256") == model_sha]
    return min(same, key=lambda v: int(v.version)) if same else None


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> {"a.b.c": leaf}."""
    if not isinstance(tree, dict):
        return {prefix.rstrip("."): tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(flatten(v, f"{prefix}{k}."))
    return out


def numbers(tree: Any, prefix: str = "") -> dict[str, float]:
    """The numeric leaves of a JSON tree (booleans as 0/1), flattened."""
    return {
        k: float(v) for k, v in flatten(tree, prefix).items() if isinstance(v, (int, float)) and k
    }


def pip_freeze() -> str:
    try:
        res = subprocess.run(
            [sys.executable, "-m", "pip", "freeze", "--disable-pip-version-check"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if res.returncode == 0 and res.stdout:
            return res.stdout
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib import metadata

    return "".join(sorted(f"{d.metadata['Name']}=={d.version}\n" for d in metadata.distributions()))


def model_card(
    settings: dict[str, Any], metrics: dict[str, Any], run_id: str, tags: dict[str, str]
) -> str:
    m, pv = settings["model"], tags
    boards = [k for k, v in metrics.items() if isinstance(v, dict) and "fits" in v]
    rows = "\n".join(
        f"| {b} | {metrics[b].get('est_latency_ms')} | {metrics[b].get('fits')} |" for b in boards
    )
    per_class = metrics.get("per_class", {})
    class_rows = "\n".join(
        f"| {label} | {v.get('precision')} | {v.get('recall')} |" for label, v in per_class.items()
    )
    return f"""# Model card: `{MODEL_NAME}` keyword spotter (int8)

MLflow run `{run_id}`. Generated by ml/register.py; do not edit.

## What it does
Classifies one second of 16 kHz audio, as {settings["input"]["shape"][1]} x
{settings["input"]["shape"][2]} int8 TFLM microfrontend features, into
{len(settings["labels"])} labels: {", ".join(f"`{x}`" for x in settings["labels"])}.
Intended for on-device keyword spotting with the recognizer in firmware/core (averaging
window {settings["recognizer"]["average_window_ms"]} ms, threshold
{settings["recognizer"]["detection_threshold"]}/255, suppression
{settings["recognizer"]["suppression_ms"]} ms).

## Figures (test split)
| figure | value |
|---|---|
| accuracy (float) | {metrics.get("accuracy_float")} |
| accuracy (int8, TFLM) | {metrics.get("accuracy_int8")} |
| TFLM/TFLite mismatches | {metrics.get("tflm_tflite_mismatches")} |
| false accepts per hour | {metrics.get("false_accepts_per_hour")} |
| model bytes | {m["bytes"]} |
| tensor arena bytes (measured / allocated) | {m["arena_bytes"]} / {m.get("tensor_arena_size")} |
| MACs per inference | {m["macs"]} |

| board | est. latency lower bound (ms) | fits |
|---|---|---|
{rows}

| label | precision | recall |
|---|---|---|
{class_rows}

## Provenance
- model sha256: `{m["sha256"]}`
- git sha: `{pv["git_sha"]}`
- data hash: `{pv["data_hash"]}`
- params hash: `{pv["params_hash"]}`
- ops: {", ".join(m["ops"])}

## Limits
Trained on the project's dataset (Speech Commands layout; the offline generator's synthetic
voices unless the real dataset was used): accuracy on real speakers, accents and rooms can be
lower. The latency figure is a lower bound from MACs, not a measurement.
"""


def register(
    params: dict[str, Any],
    *,
    int8_path: Path,
    firmware_dir: Path,
    metrics_path: Path,
    data_report: Path,
    plots_dir: Path,
    params_file: Path,
) -> dict[str, Any]:
    """Log the run, register the version, set the alias; return registry.json's content."""
    uri = tracking_uri()
    _quiet_mlflow()
    model_bytes = tflm.read_model(int8_path)  # verified flatbuffer, or a one-line error
    settings = read_json_object(
        Path(firmware_dir) / "model_settings.json", "exported model settings", RegisterError
    )
    metrics = read_json_object(metrics_path, "evaluate metrics", RegisterError)
    data = read_json_object(data_report, "data report", RegisterError)
    model_sha = hashlib.sha256(model_bytes).hexdigest()
    if settings.get("model", {}).get("sha256") != model_sha:
        raise RegisterError(
            f"{firmware_dir}/model_settings.json: model sha256 differs from {int8_path} "
            f"(run the export stage)"
        )
    provenance = settings.get("provenance")
    if not isinstance(provenance, dict) or not isinstance(provenance.get("data_hash"), str):
        raise RegisterError(f"{firmware_dir}/model_settings.json: provenance.data_hash missing")
    tags = {
        "git_sha": git_sha(),
        "data_hash": provenance["data_hash"],
        "params_hash": provenance.get("params_hash") or params_hash(params),
        "model_sha256": model_sha,
    }
    probe(uri)

    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        client = MlflowClient(uri)
        existing = find_version(client, model_sha)
        if existing is not None:
            client.set_registered_model_alias(MODEL_NAME, ALIAS, existing.version)
            log.info(
                "model sha256 %s is already version %s: alias %s moved, nothing new registered",
                model_sha[:12],
                existing.version,
                ALIAS,
            )
            return _info(uri, existing.run_id, existing.version, existing.source, existing.tags)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(EXPERIMENT)
        with mlflow.start_run(run_name=f"repro-{tags['git_sha'][:8]}", tags=tags) as run:
            run_id = run.info.run_id
            flat = {
                k: json.dumps(v) if isinstance(v, list) else v for k, v in flatten(params).items()
            }
            mlflow.log_params(flat)
            mlflow.log_metrics({**numbers(metrics), **numbers(data, "data.")})
            mlflow.log_artifact(str(int8_path), "model")
            mlflow.log_artifact(str(Path(firmware_dir) / "model_settings.json"), "model")
            mlflow.log_artifact(str(metrics_path), "metrics")
            mlflow.log_artifact(str(data_report), "metrics")
            if Path(params_file).is_file():
                mlflow.log_artifact(str(params_file), "params")
            if Path(plots_dir).is_dir():
                mlflow.log_artifacts(str(plots_dir), "plots")
            mlflow.log_text(model_card(settings, metrics, run_id, tags), "model_card.md")
            mlflow.log_text(pip_freeze(), "environment/pip-freeze.txt")
            source = f"{run.info.artifact_uri}/model"
        try:
            client.create_registered_model(
                MODEL_NAME, description="Keyword spotting int8 model for TFLM boards"
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = client.create_model_version(
            MODEL_NAME, source=source, run_id=run_id, tags=tags, await_creation_for=60
        )
        client.set_registered_model_alias(MODEL_NAME, ALIAS, version.version)
    except (MlflowException, OSError) as exc:  # requests' errors are OSErrors
        raise _mlflow_error(uri, exc) from None
    return _info(uri, run_id, version.version, source, tags)


def _info(
    uri: str, run_id: str, version: str | int, source: str, tags: dict[str, str]
) -> dict[str, Any]:
    """What register prints and --out writes (the URI without credentials)."""
    return {
        "tracking_uri": redact_uri(uri),
        "experiment": EXPERIMENT,
        "run_id": run_id,
        "model_name": MODEL_NAME,
        "version": int(version),
        "alias": ALIAS,
        "model_uri": f"models:/{MODEL_NAME}/{version}",
        "source": redact_uri(source),
        **{k: (tags or {}).get(k, "") for k in TAG_KEYS},
    }


def list_versions(limit: int = 5) -> str:
    """The latest `kws` versions with their aliases and tags (for `make registry`)."""
    uri = tracking_uri()
    _quiet_mlflow()
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
        raise _mlflow_error(uri, exc) from None
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


# -- aliases for releases (ml/release.py): candidate -> staging -> production


def _client() -> Any:
    uri = tracking_uri()
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    probe(uri)
    from mlflow import MlflowClient

    return MlflowClient(uri)


def _mlflow_error(exc: Exception) -> RegisterError:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return RegisterError(f"MLflow ({tracking_uri()}): {msg[:300]}")


def version_by_alias(alias: str) -> dict[str, Any] | None:
    """{"version", "run_id", "tags"} of the `kws` version carrying `alias`, or None."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        v = client.get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise _mlflow_error(exc) from None
    return {"version": int(v.version), "run_id": v.run_id, "tags": dict(v.tags or {})}


def versions_with_sha(model_sha256: str) -> list[dict[str, Any]]:
    """The `kws` versions whose model_sha256 tag is this digest, newest first."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        found = client.search_model_versions(
            f"name='{MODEL_NAME}' and tag.model_sha256='{model_sha256}'",
            order_by=["version_number DESC"],
        )
    except MlflowException as exc:
        raise _mlflow_error(exc) from None
    return [
        {"version": int(v.version), "run_id": v.run_id, "tags": dict(v.tags or {})} for v in found
    ]


def move_alias(alias: str, version: int, model_sha256: str) -> None:
    """Point `alias` at `version`, after checking that version holds this model."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        v = client.get_model_version(MODEL_NAME, str(version))
        if (v.tags or {}).get("model_sha256") != model_sha256:
            raise RegisterError(
                f"MLflow {MODEL_NAME} version {version}: model_sha256 "
                f"{(v.tags or {}).get('model_sha256', '-')[:12]} is not {model_sha256[:12]}"
            )
        client.set_registered_model_alias(MODEL_NAME, alias, str(version))
    except MlflowException as exc:
        raise _mlflow_error(exc) from None
    log.info("alias %s -> %s version %s", alias, MODEL_NAME, version)


def download_model_card(run_id: str, dest: Path) -> Path:
    """The run's model_card.md artefact, copied to `dest`."""
    from mlflow.exceptions import MlflowException

    client = _client()
    try:
        got = Path(client.download_artifacts(run_id, "model_card.md", str(dest.parent)))
    except (MlflowException, OSError) as exc:
        raise _mlflow_error(exc) from None
    if got != dest:
        got.replace(dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ml.register", description=__doc__.split("\n")[0])
    ap.add_argument("--list", action="store_true", help="only print the latest versions")
    ap.add_argument("--int8", type=Path, help="int8 .tflite")
    ap.add_argument("--firmware", type=Path, help="firmware/generated")
    ap.add_argument("--out", type=Path, help="also write the version's facts to this JSON")
    ap.add_argument("--metrics", type=Path, help="metrics/evaluate.json")
    ap.add_argument("--data-report", type=Path, help="reports/data.json")
    ap.add_argument("--plots", type=Path, help="metrics/plots")
    ap.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    args = ap.parse_args(argv)
    if args.list:
        print(list_versions())
        return 0
    needed = ("int8", "firmware", "metrics", "data_report", "plots")
    missing = [f"--{n.replace('_', '-')}" for n in needed if getattr(args, n) is None]
    if missing:
        raise RegisterError(f"python -m ml.register: missing {', '.join(missing)}")
    params = load_params(args.params)
    info = register(
        params,
        int8_path=args.int8,
        firmware_dir=args.firmware,
        metrics_path=args.metrics,
        data_report=args.data_report,
        plots_dir=args.plots,
        params_file=args.params,
    )
    if args.out:
        write_json(args.out, info)
    log.info(
        "registered %s version %s (alias %s), run %s",
        MODEL_NAME,
        info["version"],
        ALIAS,
        info["run_id"],
    )
    print(f"{MODEL_NAME} version {info['version']} ({ALIAS}) run {info['run_id']}")
    return 0


if __name__ == "__main__":
    run_main(main)
