"""`make search-apply EXP=<name>`: a DVC experiment's model/frontend params into params.yaml.

The experiment's params.yaml is read from its git ref (refs/exps/.../<name>, where
`dvc exp run` keeps it). Only the leaves of the `model:` and `frontend:` sections (and
`features.warmup_ms`, which the search rounds to the front-end's stride) whose values differ
are written, each in place on its own line: comments, quoting, order and the
layout of every other line stay byte for byte (a YAML round-trip re-flows long flow lists,
so ruamel only locates the lines). The result is re-read and validated before it replaces
params.yaml.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq

from ml.errors import KwsError
from ml.fsutil import atomic_open
from ml.params import parse_yaml, validate_params

SECTIONS = ("model", "frontend")
EXTRA_KEYS = ("features.warmup_ms",)  # set by the search with a front-end (search_space.py)
_PLAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_MISSING = object()
_RESERVED = {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}


class ApplyError(KwsError):
    """The experiment cannot be found or its params cannot be written."""


def exp_params(root: Path, name: str) -> dict[str, Any]:
    """The params.yaml tree of DVC experiment `name` (newest if several baselines have it)."""
    res = subprocess.run(
        ["git", "for-each-ref", "--sort=-committerdate", "--format=%(refname)", "refs/exps/"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    refs = [r for r in res.stdout.split() if r.rsplit("/", 1)[-1] == name]
    if res.returncode != 0 or not refs:
        raise ApplyError(f"EXP={name}: no such DVC experiment (see `dvc exp show`)")
    show = subprocess.run(
        ["git", "show", f"{refs[0]}:params.yaml"], cwd=root, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    if show.returncode != 0:
        raise ApplyError(f"EXP={name}: experiment has no params.yaml")
    tree = parse_yaml(show.stdout, f"EXP={name}: params.yaml", ApplyError)
    if not isinstance(tree, dict):
        raise ApplyError(f"EXP={name}: its params.yaml is not a mapping")
    return tree


def _leaves(tree: Any, prefix: str) -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: tree}


def changed_keys(current: dict[str, Any], exp: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (current, experiment) for model/frontend leaves (and EXTRA_KEYS) that
    differ."""
    out = {}
    for section in SECTIONS:
        mine = _leaves(current.get(section, {}), section)
        theirs = _leaves(exp.get(section, {}), section)
        for key, value in theirs.items():
            if key not in mine:
                raise ApplyError(f"EXP: {key} is not in params.yaml's schema here")
            if mine[key] != value:
                out[key] = (mine[key], value)
    for key in EXTRA_KEYS:
        mine, theirs = _lookup(current, key), _lookup(exp, key)
        if mine is not _MISSING and theirs is not _MISSING and mine != theirs:
            out[key] = (mine, theirs)
    return out


def _lookup(tree: Any, key: str) -> Any:
    """The value at dotted `key`, or _MISSING."""
    for part in key.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree


def render(value: Any) -> str:
    """A one-line YAML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, str):  # plain when no YAML reader could take it for another type
        plain = _PLAIN.fullmatch(value) and value.lower() not in _RESERVED
        return value if plain else json.dumps(value)
    return repr(value) if isinstance(value, float) else str(value)


def _value_end(line: str, start: int) -> int:
    """Index just past the value that starts at `start` (a flow list or a plain scalar)."""
    if line[start] == "[":
        end = line.find("]", start)
        if end < 0:
            raise ApplyError("value spans several lines")
        return end + 1
    hash_at = line.find(" #", start)
    end = len(line) if hash_at < 0 else hash_at
    return len(line[:end].rstrip())


def set_lines(text: str, changes: dict[str, Any]) -> str:
    """`text` with each dotted key's value replaced on its own line, all else untouched."""
    rt = YAML(typ="rt")
    doc = rt.load(text)
    lines = text.splitlines(keepends=True)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        node = doc
        for key in parents:
            node = node[key]
        old = node[leaf]
        if isinstance(old, CommentedSeq) and not old.fa.flow_style():
            # a block list (`- 2` lines): replace the items in place, keep the style
            if not isinstance(value, list) or len(value) != len(old):
                raise ApplyError(f"params.yaml: {dotted}: cannot rewrite its block list in place")
            for i, item in enumerate(value):
                _replace(lines, old.lc.item(i), render(item), dotted)
        else:
            _replace(lines, node.lc.value(leaf), render(value), dotted)
    return "".join(lines)


def _replace(lines: list[str], at: tuple[int, int], new: str, dotted: str) -> None:
    """Replace the value starting at (row, col) with `new`, keeping a trailing comment."""
    row, col = at
    line = lines[row].rstrip("\n")
    try:
        end = _value_end(line, col)
    except ApplyError as exc:
        raise ApplyError(f"params.yaml line {row + 1}: {dotted}: {exc}") from None
    rest = line[end:]
    if rest.strip().startswith("#"):  # keep the comment's column when there is room
        pad = len(rest) - len(rest.lstrip()) + (end - col) - len(new)
        rest = " " * max(2, pad) + rest.lstrip()
    lines[row] = line[:col] + new + rest + "\n"


def apply_exp(root: Path, name: str, params_path: Path) -> dict[str, tuple[Any, Any]]:
    """Write experiment `name`'s changed model/frontend keys; return what changed."""
    path = root / params_path
    text = path.read_text()
    current = parse_yaml(text, str(params_path), ApplyError)
    changes = changed_keys(current, exp_params(root, name))
    if not changes:
        return {}
    new_text = set_lines(text, {k: new for k, (_, new) in changes.items()})
    expected = parse_yaml(text, str(params_path), ApplyError)
    for dotted, (_, new) in changes.items():
        *parents, leaf = dotted.split(".")
        node = expected
        for key in parents:
            node = node[key]
        node[leaf] = new
    if parse_yaml(new_text, str(params_path), ApplyError) != expected:
        raise ApplyError(f"{params_path}: could not rewrite only the changed keys; left unchanged")
    validate_params(parse_yaml(new_text, str(params_path), ApplyError), str(params_path))
    with atomic_open(path, "w") as f:
        f.write(new_text)
    return changes
