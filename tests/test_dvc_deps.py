"""dvc.yaml's deps match the code: every ml/ module a stage imports, directly or not, is a dep.

A stage whose code changes must rerun. The walk follows every `import ml.x` / `from ml[.x]
import y` in the module source, including imports inside functions (ml's stages import heavy
modules lazily), so a lazy import cannot hide a dependency.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ML = REPO / "ml"
STAGE_CMD = re.compile(r"python -m (ml\.[A-Za-z_][A-Za-z0-9_]*)")


def direct_imports(module: str) -> set[str]:
    """ml.* modules that `module`'s source imports (anywhere in the file)."""
    path = REPO / (module.replace(".", "/") + ".py")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from ml import x` imports the module ml.x when it is one
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("ml.") and (REPO / (name.replace(".", "/") + ".py")).is_file():
                found.add(name)
    return found


def closure(module: str) -> set[str]:
    seen, todo = {module}, [module]
    while todo:
        for dep in direct_imports(todo.pop()) - seen:
            seen.add(dep)
            todo.append(dep)
    return seen


def needed_files(module: str) -> list[str]:
    """Source files a stage runs: its import closure plus the package's __init__.py."""
    files = {m.replace(".", "/") + ".py" for m in closure(module)}
    if (ML / "__init__.py").read_text().strip():
        files.add("ml/__init__.py")
    return sorted(files)


def stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_walk_sees_lazy_imports() -> None:
    """The walker itself: evaluate imports ml.fit only inside a function."""
    assert "ml.fit" in direct_imports("ml.evaluate")
    assert "ml.models" in closure("ml.evaluate")


def test_package_init_counts_as_imported() -> None:
    """Importing ml.x runs ml/__init__.py first (it sets TensorFlow's environment): a dep."""
    assert "ml/__init__.py" in needed_files("ml.train")


@pytest.mark.parametrize("stage", sorted(stages()))
def test_stage_deps_list_every_imported_module(stage: str) -> None:
    spec = stages()[stage]
    match = STAGE_CMD.search(spec["cmd"])
    assert match, f"dvc.yaml stage {stage}: cmd does not run `python -m ml.<module>`"
    deps = [d if isinstance(d, str) else next(iter(d)) for d in spec.get("deps", [])]

    def covered(path: str) -> bool:
        return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)

    needed = needed_files(match.group(1))
    missing = [p for p in needed if not covered(p)]
    assert not missing, f"dvc.yaml stage {stage}: deps lack {', '.join(missing)}"
