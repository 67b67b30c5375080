"""Atomic file output and strict JSON input, shared by every stage.

A stage that fails or is interrupted must leave no half-written output: files are written to
a temp file in the same directory and renamed into place; directories are built beside the
target and swapped in. Several directories that belong together (export's firmware/generated
and hil/vectors) are swapped under a journal (`replace_dirs`): once every new tree is
complete the journal is written, and a swap killed halfway is finished by `recover_dirs`, so
the set is never a mix of two exports. A full disk or a read-only directory is a `KwsError`
naming the path (`output_error`), with the previous outputs left as they were.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from ml.errors import KwsError


@contextmanager
def atomic_open(path: Path, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temp file beside `path`; rename it to `path` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise output_error(path, exc) from None
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise output_error(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def write_json_atomic(path: Path, data: Any) -> None:
    with atomic_open(path, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")


def replace_dir(new: Path, out: Path) -> None:
    """Swap the finished directory `new` in for `out`; readers never see a half tree."""
    old = out.parent / f".{out.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    new.rename(out)
    shutil.rmtree(old, ignore_errors=True)


class OutputError(KwsError):
    """An output could not be written (disk full, read-only, no permission)."""


def output_error(path: Path | str, exc: OSError, error: type[KwsError] = OutputError) -> KwsError:
    """One line for a failed write: disk full, read-only, no permission..."""
    reason = {
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.EROFS: "read-only file system",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return error(f"{path}: cannot write ({reason}); previous outputs left as they were")


def _rel(p: Path, base: Path) -> str:
    return os.path.relpath(p, base)


def replace_dirs(pairs: list[tuple[Path, Path]], journal: Path) -> None:
    """Swap each finished directory `new` in for its `out`, as one set even across a kill.

    Every `new` must be complete. The journal (written atomically) is the commit point: after
    it exists, `recover_dirs(journal)` finishes an interrupted swap. The outs are first all
    moved aside, then all the news moved in, so no reader ever sees one new and one old out.
    """
    journal = Path(journal)
    base = journal.parent
    entries = [
        {
            "new": _rel(Path(new), base),
            "out": _rel(Path(out), base),
            "old": _rel(Path(out).parent / f".{Path(out).name}.old", base),
        }
        for new, out in pairs
    ]
    write_json_atomic(journal, {"swap": entries})
    _roll_forward(entries, base)
    journal.unlink()
    for e in entries:
        shutil.rmtree(base / e["old"], ignore_errors=True)


def _roll_forward(entries: list[dict[str, str]], base: Path) -> None:
    paths = [{k: base / v for k, v in e.items()} for e in entries]
    for p in paths:  # 1. every out that is still the previous one moves aside
        if p["new"].exists() and p["out"].exists():
            shutil.rmtree(p["old"], ignore_errors=True)
            p["out"].rename(p["old"])
    for p in paths:  # 2. every new moves in
        if p["new"].exists():
            p["new"].rename(p["out"])


def recover_dirs(journal: Path) -> bool:
    """Finish a swap that `replace_dirs` began and was killed in; True if there was one."""
    journal = Path(journal)
    try:
        entries = json.loads(journal.read_text())["swap"]
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KwsError(f"{journal}: unreadable swap journal ({exc}); remove it") from None
    base = journal.parent
    _roll_forward(entries, base)
    journal.unlink()
    for e in entries:
        shutil.rmtree(base / e["old"], ignore_errors=True)
    return True


def read_json_object(
    path: Path, what: str, error: type[KwsError] = KwsError, missing_hint: str = ""
) -> dict[str, Any]:
    """A JSON object from `path`, or `error` with one line naming the file."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise error(f"{path}: {what} missing{missing_hint}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise error(f"{path}: unreadable {what} ({exc})") from None
    if not isinstance(data, dict):
        raise error(f"{path}: {what} must be a JSON object")
    return data
