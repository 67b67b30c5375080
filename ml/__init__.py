"""The ML pipeline: one module per DVC stage (python -m ml.<stage>) plus shared libraries.

TensorFlow reads its logging and device settings from the environment once, when it is first
imported, so the defaults are set here, before any stage can import it: no CUDA probing (an
error-level `cuInit` line) on machines without an NVIDIA GPU. TensorFlow 2.19+ also writes
absl start-up lines from C++ while it loads, whatever TF_CPP_MIN_LOG_LEVEL says
(tensorflow/tensorflow#100442); the loader below silences file descriptor 2 for the duration
of that one import only, so every later warning or error still reaches stderr. Values already
in the environment win; KWS_TF_IMPORT_LOGS=1 shows the import lines.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os as _os
import sys as _sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # tfmot's QAT needs tf-keras
_os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
if not _os.path.exists("/dev/nvidia0"):
    _os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


@contextmanager
def quiet_c_stderr() -> Iterator[None]:
    """File descriptor 2 to /dev/null for a block: C++ lines no log level controls."""
    _sys.stderr.flush()
    saved = _os.dup(2)
    devnull = _os.open(_os.devnull, _os.O_WRONLY)
    try:
        _os.dup2(devnull, 2)
        yield
    finally:
        _os.dup2(saved, 2)
        _os.close(saved)
        _os.close(devnull)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        with quiet_c_stderr():
            self._loader.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):  # type: ignore[no-untyped-def]
        if name != "tensorflow":
            return None
        _sys.meta_path.remove(self)  # once: later imports are cached
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


if "tensorflow" not in _sys.modules and not _os.environ.get("KWS_TF_IMPORT_LOGS"):
    _sys.meta_path.insert(0, _QuietTensorFlowFinder())
