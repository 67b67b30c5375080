"""Model search: candidates, shape-only budget check, report, apply, and one real search on
DVC experiments over the tiny dataset (the `make search` / `make search-apply` path)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ml import budget
from ml.params import ParamsError, load_params, validate_params
from ml.search_apply import ApplyError, changed_keys, set_lines
from ml.search_exp import run_group
from ml.search_report import pareto, transfer_accuracy
from ml.search_shape import Limits, check
from ml.search_space import GRID, align_warmup, apply_overrides, candidates, exp_name, set_args
from ml.workspace import copy_pipeline, stage_sources

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_candidates_are_seeded_unique_and_take_architectures_in_turn() -> None:
    a, b = candidates(0), candidates(0)
    assert a == b and a != candidates(1)
    assert len({exp_name(c) for c in a}) == len(a)
    assert [c["model.architecture"] for c in a[:3]] == list(GRID)


def test_align_warmup_rounds_to_the_candidates_stride() -> None:
    params = load_params(REPO / "params.yaml")
    assert params["features"]["warmup_ms"] == 1000
    c20 = {"model.architecture": "ds_cnn", "frontend.window_stride_ms": 20}
    assert align_warmup(params, c20) == c20  # 1000 ms is 50 strides: nothing to add
    c30 = {"model.architecture": "ds_cnn", "frontend.window_stride_ms": 30}
    aligned = align_warmup(params, c30)
    assert aligned == {**c30, "features.warmup_ms": 990}
    validate_params(apply_overrides(params, aligned), "candidate")  # the check accepts it
    with pytest.raises(ParamsError, match=r"features\.warmup_ms \(1000\)"):
        validate_params(apply_overrides(params, c30), "candidate")


def test_set_args_use_dvc_override_syntax() -> None:
    c = {"model.architecture": "ds_cnn", "model.ds_cnn.first_stride": [2, 4]}
    assert set_args(c) == [
        "-S", "model.architecture=ds_cnn", "-S", "model.ds_cnn.first_stride=[2,4]",
    ]  # fmt: skip


def test_pareto_keeps_only_undominated_points() -> None:
    # (latency, accuracy): the second is slower and worse than the first
    assert pareto([(10, 0.9), (20, 0.8), (30, 0.95), (5, 0.5)]) == [0, 2, 3]


def test_transfer_accuracy_is_read_when_present() -> None:
    assert transfer_accuracy({"accuracy_int8": 0.9}) is None
    assert transfer_accuracy({"accuracy_int8": 0.9, "accuracy_heldout_engine": 0.7}) == 0.7


FACTS = {
    "model_bytes": 30000, "tensor_arena_size": 30000, "ram_extra_bytes": 34000,
    "macs": 2_000_000, "ops": ["CONV_2D", "SOFTMAX"],
}  # fmt: skip


def test_check_uses_board_budgets_and_extra_limits() -> None:
    boards = budget.load_boards(REPO / "hil/boards.yaml")
    ops = budget.supported_ops(REPO / "firmware/core/supported_ops.def")
    assert check(FACTS, Limits(boards=boards), ops) == []
    tight = Limits(boards=boards, max_model_bytes=20000, max_latency_ms={"esp32": 15.0})
    fails = check(FACTS, tight, ops)
    assert len(fails) == 2
    assert "esp32" in fails[0] and "16.7 ms exceeds 15 ms" in fails[0]
    assert "--max-model-bytes 20000" in fails[1]
    big = {**FACTS, "tensor_arena_size": 200_000}
    assert any("arena_budget_bytes" in f for f in check(big, Limits(boards=boards), ops))


def test_set_lines_changes_only_the_given_lines() -> None:
    text = (REPO / "params.yaml").read_text()
    changes = {"model.architecture": "tc_resnet", "model.ds_cnn.first_stride": [3, 1],
               "frontend.num_channels": 7}  # fmt: skip
    base = yaml.safe_load(text)
    differ = sum(apply_overrides(base, {k: v}) != base for k, v in changes.items())
    new = set_lines(text, changes)
    old_lines, new_lines = text.splitlines(), new.splitlines()
    assert len(old_lines) == len(new_lines)
    diff = [(o, n) for o, n in zip(old_lines, new_lines, strict=True) if o != n]
    # one line per scalar, one per item of a block list (DVC writes lists that way)
    assert len(diff) >= differ >= 2
    leaves = ("architecture:", "first_stride:", "num_channels:")
    assert all(n.lstrip().startswith(("- ", *leaves)) for _, n in diff)
    for old, line in diff:  # the comment stays where it was
        if "#" in old:
            assert line.index("#") == old.index("#")
    p = yaml.safe_load(new)
    assert p["model"]["architecture"] == "tc_resnet"
    assert p["model"]["ds_cnn"]["first_stride"] == [3, 1]
    assert p["frontend"]["num_channels"] == 7
    assert p["dataset"] == yaml.safe_load(text)["dataset"]


def test_set_lines_keeps_block_lists_block() -> None:
    text = "# top\nmodel:\n  ds_cnn:\n    first_stride:\n    - 2\n    - 2\n    filters: 64  # f\n"
    new = set_lines(text, {"model.ds_cnn.first_stride": [2, 4], "model.ds_cnn.filters": 8})
    assert (
        new
        == "# top\nmodel:\n  ds_cnn:\n    first_stride:\n    - 2\n    - 4\n    filters: 8   # f\n"
    )


def test_changed_keys_compares_model_and_frontend_only() -> None:
    cur = load_params(REPO / "params.yaml")
    exp = apply_overrides(cur, {"model.tc_resnet.width": 8, "train.epochs": 1})
    assert changed_keys(cur, exp) == {"model.tc_resnet.width": (16, 8)}
    # the search rounds the warm-up to the candidate's stride: it goes with the front-end
    exp = apply_overrides(exp, {"frontend.window_stride_ms": 30, "features.warmup_ms": 990})
    assert changed_keys(cur, exp) == {
        "model.tc_resnet.width": (16, 8),
        "frontend.window_stride_ms": (20, 30),
        "features.warmup_ms": (1000, 990),
    }
    exp["model"]["bogus"] = 1
    with pytest.raises(ApplyError, match=r"model\.bogus"):
        changed_keys(cur, exp)


@pytest.mark.slow
def test_tc_resnet_converts_to_firmware_ops_only() -> None:
    from ml.search_shape import quick_facts, shape_facts

    p = load_params(REPO / "params.yaml")
    p["model"]["architecture"] = "tc_resnet"
    facts = shape_facts(p)
    ops = budget.supported_ops(REPO / "firmware/core/supported_ops.def")
    assert set(facts["ops"]) <= set(ops)
    assert "ADD" in facts["ops"]
    assert 0 < facts["macs"] < 2_000_000  # TC-ResNet8 size: under 1 M MACs
    quick = quick_facts(p)  # the pre-conversion estimate counts the same MACs
    assert quick["macs"] == facts["macs"]
    assert quick["kernel_weights"] < facts["model_bytes"]


def test_workspace_puts_back_params_lock_metrics_and_reports(tmp_path: Path) -> None:
    from ml.search_exp import Workspace

    root, out = tmp_path / "repo", tmp_path / "repo/build/search"
    files = {
        "params.yaml": "a: 1\n",
        "dvc.lock": "lock\n",
        "metrics/train/metrics.json": "{}",
        "metrics/train/plots/metrics/loss.tsv": "step\tloss\n",
        "reports/data.json": "[]",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    ws = Workspace(root, out)
    ws.save()
    for name in files:  # what an experiment does: rewrite them all, add new ones
        (root / name).write_text("changed")
    (root / "metrics/plots").mkdir()
    (root / "metrics/plots/confusion.json").write_text("new")
    ws.save()  # an interrupted search: the first copy wins, then a fresh one is taken
    (root / "dvc.lock").unlink()
    ws.restore()
    now = {str(f.relative_to(root)): f.read_text() for f in root.rglob("*") if f.is_file()}
    assert now == files
    assert not (out / "workspace").exists()


def test_workspace_reattaches_the_branch_an_interrupted_experiment_detached(
    tmp_path: Path,
) -> None:
    from ml.search_exp import Workspace

    root, out = tmp_path / "repo", tmp_path / "repo/build/search"
    root.mkdir()

    def git(*args: str) -> str:
        res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
        return res.stdout.strip()

    git("init", "-q", "-b", "work")
    (root / "params.yaml").write_text("a: 1\n")
    git("add", "params.yaml")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    ws = Workspace(root, out)
    ws.save()
    git("checkout", "-q", "--detach")  # what a killed `dvc exp run` leaves
    (root / "params.yaml").write_text("a: 2\n")
    git("add", "params.yaml")  # ... with the experiment's params staged
    Workspace(root, out).restore()  # the next run of the search
    assert git("symbolic-ref", "HEAD") == "refs/heads/work"
    assert git("status", "--porcelain") == ""
    assert (root / "params.yaml").read_text() == "a: 1\n"
    assert not (out / "workspace.branch").exists()


def test_default_model_is_the_one_dvc_lock_recorded() -> None:
    """Adding architectures must not change the default: the model params.yaml builds has
    the parameter count of the model dvc.lock's train stage recorded (metrics/train.json)."""
    from ml.models import build_model, keras
    from ml.params import frames_per_clip, parse_yaml

    lock = parse_yaml((REPO / "dvc.lock").read_text(), "dvc.lock")  # YAML 1.2, as DVC writes
    recorded = lock["stages"]["train"]["params"]["params.yaml"]
    p = load_params(REPO / "params.yaml")
    if recorded["model"] != p["model"] or recorded["dataset.labels"] != p["dataset"]["labels"]:
        pytest.skip("params.yaml's model differs from dvc.lock's train stage (retrain pending)")
    report = json.loads((REPO / "metrics/train.json").read_text())
    shape = (frames_per_clip(p), p["frontend"]["num_channels"])
    keras.backend.clear_session()
    model = build_model(p["model"], shape, len(p["dataset"]["labels"]))
    assert model.count_params() == report["params"]


def test_report_sorts_by_objective_and_lists_failures(tmp_path: Path) -> None:
    from ml.search_exp import failure_summary
    from ml.search_report import write_report

    boards = budget.load_boards(REPO / "hil/boards.yaml")
    chosen = candidates(0)[:3]
    figures = {"model_bytes": 20000, "tensor_arena_size": 30000, "macs": 1_000_000}
    output = "I stage: ok\nERROR: failed to reproduce 'evaluate': a|b\nlast line\n"
    results = {
        exp_name(chosen[0]): {"exp": exp_name(chosen[0]), "run_s": 1.0,
                              "metrics": {**figures, "accuracy_int8": 0.80,
                                          "streaming_recall": 0.125}},
        exp_name(chosen[1]): {"exp": exp_name(chosen[1]), "run_s": 2.0,
                              "error": failure_summary(output, 255)},
        exp_name(chosen[2]): {"exp": exp_name(chosen[2]), "run_s": 3.0,
                              "metrics": {**figures, "accuracy_int8": 0.90, "macs": 900_000}},
    }  # fmt: skip
    assert results[exp_name(chosen[1])]["error"] == "ERROR: failed to reproduce 'evaluate': a|b"
    assert failure_summary("\n\nonly this\n", 2) == "only this"
    text = write_report(tmp_path, ["nano33ble"], boards, chosen=chosen, rejected=[],
                        results=results)  # fmt: skip
    body = text.splitlines()[2:]
    assert all(exp_name(chosen[i]) in ln for i, ln in zip((2, 0, 1), body, strict=True))
    assert "failed: ERROR: failed to reproduce 'evaluate': a\\|b" in body[2]
    assert len({ln.replace("\\|", "").count("|") for ln in text.splitlines()}) == 1
    assert body[0].endswith("| * |") and not body[1].endswith("| * |")  # 0.80 is dominated
    assert "| 12.5% |" in body[1] and "| - |" in body[0]  # streaming recall, when reported
    assert (tmp_path / "pareto-nano33ble.png").is_file()

    # today's model as the `base` row above the candidates (and a line on the plot)
    from ml.search import baseline_row

    (tmp_path / "metrics").mkdir()
    metrics = {**figures, "accuracy_int8": 0.95, "macs": 9_000_000, "streaming_recall": 0.25}
    (tmp_path / "metrics/evaluate.json").write_text(json.dumps(metrics))
    params = load_params(REPO / "params.yaml")
    base = baseline_row(tmp_path, params, boards)
    assert base is not None and base["exp"] == "params.yaml"
    assert base["label"].startswith(params["model"]["architecture"])
    text = write_report(tmp_path, ["nano33ble"], boards, chosen=chosen, rejected=[],
                        results=results, baseline=base)  # fmt: skip
    lines = text.splitlines()
    assert lines[2].startswith("| base | params.yaml |") and "| 95.00% |" in lines[2]
    assert "| 25.0% |" in lines[2] and exp_name(chosen[2]) in lines[3]
    assert len({ln.replace("\\|", "").count("|") for ln in lines}) == 1
    # emulated instructions: a column once a record has them ("-" for the others)
    results[exp_name(chosen[2])]["emulated"] = {"instructions_per_inference": 1_234_567}
    text = write_report(tmp_path, ["nano33ble"], boards, chosen=chosen, rejected=[],
                        results=results, baseline=base)  # fmt: skip
    lines = text.splitlines()
    assert "| emu. instr nano33ble |" in lines[0]
    assert "| 1.23 M |" in lines[3] and "| - |" in lines[2]
    assert len({ln.replace("\\|", "").count("|") for ln in lines}) == 1
    (tmp_path / "metrics/evaluate.json").write_text("{")  # unreadable: no row, no crash
    assert baseline_row(tmp_path, params, boards) is None


# ------------------------------------------------------------------ end to end on DVC


def sh(cmd: list[str], cwd: Path, timeout: float = 1500) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONHASHSEED": "0",
        "DVC_NO_ANALYTICS": "1",
        "PYTHONPATH": str(cwd),
    }
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


# The stages `ml.search` runs (up to its TARGET_STAGE, evaluate).
SEARCH_STAGES = ("validate", "features", "train", "quantize", "evaluate")


def test_stage_sources_cover_what_evaluate_imports() -> None:
    files = stage_sources(REPO / "dvc.yaml", SEARCH_STAGES)
    assert {"hil/boards.yaml", "hil/boards.py", "hil/__init__.py"} <= set(files)
    assert "firmware/core/supported_ops.def" in files
    assert not any(f.startswith(("data/", "build/", "reports/", "metrics/")) for f in files)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A git + DVC copy of the pipeline with the tiny dataset (ml.tiny's) and fast params."""
    from ml import synth
    from ml.tiny import resolved_params

    root = tmp_path_factory.mktemp("searchrepo")
    copy_pipeline(root, SEARCH_STAGES)
    params = resolved_params(REPO / "params.yaml")
    synth.synthesize(root / "data/speech_commands", params, workers=1, progress=False)
    params["train"]["epochs"] = 1  # the search's wiring is under test, not accuracy
    params["evaluate"].update(
        stream_minutes=0.2, min_accuracy_int8=0.0, max_int8_drop=1.0,
        max_false_accepts_per_hour=100000.0,
    )  # fmt: skip
    (root / "params.yaml").write_text(
        "# comment kept by search-apply\n" + yaml.safe_dump(params, sort_keys=False)
    )
    (root / ".gitignore").write_text("/data/\n/build/\n__pycache__/\n")
    assert sh(["git", "init", "-q"], root).returncode == 0
    assert sh([str(BIN / "dvc"), "init", "-q"], root).returncode == 0
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]
    assert sh([*git, "add", "-A"], root).returncode == 0
    res = sh([*git, "commit", "-q", "-m", "pipeline sources"], root)
    assert res.returncode == 0, res.stderr
    yield root


def search(root: Path) -> subprocess.CompletedProcess:
    # what `make search BOARD=nano33ble SEARCH_BUDGET=1` runs (mk/search.mk); one candidate
    # keeps the test near 3 minutes (the table's order is test_report_sorts_by_objective...)
    cmd = [sys.executable, "-m", "ml.search", "run", "--board", "nano33ble", "--budget", "1"]
    cmd += ["--max-latency-ms", "nano33ble=15"]  # small candidates: quick to train
    return sh(cmd, root)


@pytest.mark.slow
@pytest.mark.timeout(1500)  # one DVC experiment + a resume; minutes on a shared machine
def test_search_runs_dvc_experiments_resumes_and_applies(repo: Path) -> None:
    before = {n: (repo / n).read_text() for n in ("params.yaml",)}
    res = search(repo)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = repo / "build/search"
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 1
    assert all("error" not in r for r in records), records
    assert all(0.0 <= r["metrics"]["accuracy_int8"] <= 1.0 for r in records)
    assert (out / "search-nano33ble.md").is_file() and (out / "pareto-nano33ble.png").is_file()
    assert "est ms nano33ble" in res.stdout and "est ms esp32" in res.stdout
    assert "ETA" in res.stderr
    md = (out / "search-nano33ble.md").read_text()
    assert "exceeds 15 ms" in md  # rejected before training, and listed
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len({line.count("|") for line in rows}) == 1  # one column count: a valid table
    # the workspace is back to the baseline; the experiments live in DVC
    assert (repo / "params.yaml").read_text() == before["params.yaml"]
    assert not (repo / "dvc.lock").exists()
    assert not [f for f in (repo / "metrics").rglob("*") if f.is_file()]
    shown = sh([str(BIN / "dvc"), "exp", "show", "--json"], repo)
    assert shown.returncode == 0, shown.stderr
    for r in records:
        assert r["exp"] in shown.stdout
    # a second run resumes: nothing left to train
    again = search(repo)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 of 1 done, 0 to run" in again.stderr
    assert len((out / "results.jsonl").read_text().splitlines()) == 1
    # search-apply writes exactly the keys the experiment changed
    best = records[0]
    res = sh([sys.executable, "-m", "ml.search", "apply", "--exp", best["exp"]], repo)
    assert res.returncode == 0, res.stderr
    old, new = before["params.yaml"].splitlines(), (repo / "params.yaml").read_text().splitlines()
    assert len(old) == len(new) and new[0] == "# comment kept by search-apply"
    changed = [n for o, n in zip(old, new, strict=True) if o != n]
    base = yaml.safe_load(before["params.yaml"])
    expected = {k: v for k, v in best["candidate"].items() if apply_overrides(base, {k: v}) != base}
    assert len(changed) == len(expected) > 0
    p = yaml.safe_load((repo / "params.yaml").read_text())
    assert apply_overrides(base, best["candidate"]) == p
    diff = sh([str(BIN / "dvc"), "params", "diff"], repo)
    assert diff.returncode == 0, diff.stderr
    assert any(key in diff.stdout for key in expected)
    bad = sh([sys.executable, "-m", "ml.search", "apply", "--exp", "no-such-exp"], repo)
    assert bad.returncode == 1 and bad.stderr.strip().startswith("error: EXP=no-such-exp")


class _Interrupted(Exception):
    pass


def _interrupt(signum: int, frame: object) -> None:
    raise _Interrupted


def test_interrupted_run_kills_the_stage_dvc_started(tmp_path: Path) -> None:
    # as `dvc exp run` runs a stage: a child that starts its own long-running child
    pid_file = tmp_path / "stage.pid"
    cmd = ["bash", "-c", f"sleep 300 & echo $! > {pid_file}; wait"]
    old = signal.signal(signal.SIGALRM, _interrupt)
    signal.alarm(2)  # the search interrupted mid-run (SIGTERM and Ctrl-C raise the same way)
    try:
        with pytest.raises(_Interrupted):
            run_group(cmd, tmp_path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    stage = Path(f"/proc/{int(pid_file.read_text())}/stat")

    def stopped() -> bool:  # gone, or a zombie waiting for init to reap it
        try:
            return stage.read_text().split(") ")[1][0] == "Z"
        except (FileNotFoundError, ProcessLookupError):
            return True

    # the group was signalled before run_group returned; a killed process takes a moment to
    # exit (a fresh-clone CI run once read it still "R"), not 300 s
    deadline = time.monotonic() + 5
    while not stopped() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stopped()


def test_run_group_returns_both_streams_and_the_exit_code(tmp_path: Path) -> None:
    res = run_group(["bash", "-c", "echo out; echo err >&2; exit 3"], tmp_path)
    assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err\n")
