"""DVC stage `register`: the int8 model as a `kws` version with the alias `candidate`.

    python -m ml.register --int8 MODEL.tflite --firmware DIR --metrics EVALUATE.json \
        --data-report DATA.json --plots DIR [--params params.yaml] [--out registry.json]
    python -m ml.register --list

(dvc.yaml names the paths.)

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
import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from ml import tflm
from ml.errors import run_main
from ml.fsutil import read_json_object
from ml.fsutil import write_json_atomic as write_json
from ml.model_card import model_card
from ml.params import DEFAULT_PARAMS, load_params, params_hash
from ml.redact import redact_uri
from ml.registry import (
    EXPERIMENT,
    MODEL_NAME,
    find_version,
    list_versions,
    mlflow_error,
    probe,
    quiet_mlflow,
    tracking_uri,
)
from ml.registry import RegistryError as RegisterError

log = logging.getLogger(__name__)
ALIAS = "candidate"
TAG_KEYS = ("git_sha", "data_hash", "params_hash", "model_sha256")


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
    quiet_mlflow()
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
        raise mlflow_error(exc) from None
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
