"""Loading a user's Python object from ``path/to/file.py:Name`` (rules, meta-solvers)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from gtlearn.core.errors import GtlearnError


def load_object(spec: str, kind: str = "rule"):
    """Import ``NAME`` from the Python file in ``"path/to/file.py:NAME"``."""
    if ":" not in spec:
        raise GtlearnError(f"{kind} file must be given as path/to/file.py:Name, got {spec!r}")
    path_str, name = spec.rsplit(":", 1)
    path = Path(path_str)
    if not path.is_file():
        raise GtlearnError(f"{kind} file {path} does not exist")
    module_name = f"gtlearn_user_{kind}_{abs(hash(path.resolve()))}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise GtlearnError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        raise GtlearnError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    if not hasattr(module, name):
        raise GtlearnError(f"{path} defines no {name!r}")
    return getattr(module, name), module
