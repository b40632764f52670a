"""Small helpers shared by CLI verbs (no heavy imports)."""

from __future__ import annotations

import math
import os
import re
import tempfile
import time
from pathlib import Path

from gtlearn.core.errors import GtlearnError


def default_out(*parts: str) -> Path:
    """runs/<parts joined>_<timestamp>, with the game string made filesystem-safe."""
    stem = "_".join(re.sub(r"[^A-Za-z0-9+.-]+", "-", p).strip("-") for p in parts if p)
    return Path("runs") / f"{stem}_{time.strftime('%Y%m%d-%H%M%S')}"


def parse_params(items: list[str] | None) -> dict:
    """``["alpha=1.5", "order=discount_then_add"]`` -> {"alpha": 1.5, "order": "discount_then_add"}."""
    out: dict = {}
    for item in items or []:
        if "=" not in item:
            raise GtlearnError(f"parameter {item!r} must look like name=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key.isidentifier():
            raise GtlearnError(f"parameter name {key!r} is not a valid identifier")
        value: object = raw
        for cast in (int, float):
            try:
                value = cast(raw)
                break
            except ValueError:
                continue
        if raw.lower() in ("true", "false"):
            value = raw.lower() == "true"
        out[key] = value
    return out


MAX_COUNT = 10**9  # iterations, samples, rounds: anything larger is a typo, not a plan


def positive(name: str, value: int, allow_zero: bool = False, maximum: int = MAX_COUNT) -> int:
    """``value`` of option ``--name`` is a positive (or non-negative) count up to ``maximum``."""
    if value < 0 or (value == 0 and not allow_zero):
        raise GtlearnError(f"--{name} must be {'non-negative' if allow_zero else 'positive'}, got {value}")
    if value > maximum:
        raise GtlearnError(f"--{name} must be at most {maximum:,}, got {value:,}")
    return value


def check_writable(directory: Path) -> Path:
    """``directory`` exists (or can be created) and accepts files; else one-line GtlearnError."""
    directory = Path(directory)
    probe = directory
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise GtlearnError(f"cannot write to {directory}: {probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GtlearnError(f"cannot write to {directory}: {probe} is not writable")
    # os.access trusts the mode bits; /proc, /sys and read-only mounts refuse the file itself
    try:
        fd, name = tempfile.mkstemp(dir=probe, prefix=".gtlearn-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise GtlearnError(f"cannot write to {directory}: {exc.strerror or exc} in {probe}") from None
    return directory


def resumed_iteration(run, iterations: int) -> int:
    """The iteration a resumed run's checkpoint is at (0 for a new run); one-line error when it
    is already past ``iterations``."""
    done = int((run.load_checkpoint() or {}).get("iteration", 0))
    if done > iterations:
        raise GtlearnError(f"{run.dir} is already at iteration {done}; ask for more than that "
                           f"to continue it (-n {iterations} given)")
    return done


def positive_number(name: str, value: float, maximum: float = float("inf")) -> float:
    """``value`` of option ``--name`` is a finite number > 0 and at most ``maximum``."""
    if not (math.isfinite(value) and 0 < value <= maximum):
        bound = "" if maximum == float("inf") else f" and at most {maximum:g}"
        raise GtlearnError(f"--{name} must be a positive finite number{bound}, got {value}")
    return value


def check_resume_flags(resume: bool, overwrite: bool, out) -> None:
    """``--resume`` continues the run in ``--out``; it excludes ``--overwrite`` and needs ``--out``."""
    if resume and overwrite:
        raise GtlearnError("--resume and --overwrite exclude each other")
    if resume and out is None:
        raise GtlearnError("--resume needs --out, the run directory to continue")
