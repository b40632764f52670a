"""Run directories: config, metrics stream, atomic checkpoint and artifacts.

A run lives in ``runs/<name>/``::

    config.json      what was asked for (written once, checked on resume)
    metrics.jsonl    one JSON object per logged iteration (see gtlearn.core.metrics.Metrics)
    checkpoint.npz   the latest resumable state, written atomically (temp file + rename)
    plot.png         the gap against the iteration, log scale (drawn by the interface)
    ...              artifacts of the method (e.g. average_policy.npz)

Every method in gtlearn logs through :class:`Run` (driven by :func:`gtlearn.core.driver.drive`),
so results are comparable across the toolkit and every long run can be resumed without losing
finished work.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from gtlearn.core.errors import GtlearnError
from gtlearn.core.io import atomic_save_npz, atomic_write_bytes, atomic_write_json, json_default
from gtlearn.core.metrics import Metrics


class Run:
    """A run directory: config, metrics stream, checkpoint, artifacts and plot.

    ``resume=True`` reopens an existing run: the stored config must match the new one on every
    key in ``config`` except those listed in ``resume_may_change`` (e.g. the iteration count),
    metrics logged after the checkpoint are dropped so that the resumed run rewrites them, and
    :meth:`load_checkpoint` returns the saved state.
    """

    def __init__(
        self,
        out: str | Path,
        config: dict[str, Any],
        *,
        resume: bool = False,
        overwrite: bool = False,
        resume_may_change: tuple[str, ...] = ("iterations",),
    ) -> None:
        self.dir = Path(out)
        self.config = dict(config)
        self.metrics_path = self.dir / "metrics.jsonl"
        self.checkpoint_path = self.dir / "checkpoint.npz"
        self.config_path = self.dir / "config.json"
        self._start = time.perf_counter()
        if resume:
            if not self.config_path.exists():
                raise GtlearnError(f"cannot resume: {self.dir} holds no run (no config.json)")
            old = json.loads(self.config_path.read_text())
            for key, value in self.config.items():
                if key in resume_may_change:
                    continue
                if json.loads(json.dumps(value, default=json_default)) != old.get(key):
                    raise GtlearnError(
                        f"cannot resume {self.dir}: config key {key!r} was {old.get(key)!r}, now {value!r}; "
                        "resume with the run's own settings, or pass --overwrite to start over"
                    )
            for stale in self.dir.glob(".*.tmp"):  # an atomic write cut short by a kill
                stale.unlink(missing_ok=True)
        else:
            if self.metrics_path.exists() and not overwrite:
                raise GtlearnError(
                    f"{self.dir} already holds a run; pass --resume to continue it or --overwrite to replace it"
                )
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise GtlearnError(f"cannot create the run directory {self.dir}: {exc.strerror or exc}") from exc
            if self.metrics_path.exists():
                self.metrics_path.unlink()
            if self.checkpoint_path.exists():
                self.checkpoint_path.unlink()
        atomic_write_json(self.config_path, self.config)

    # -- metrics -------------------------------------------------------------------------
    def log(self, metrics: Metrics) -> None:
        """Append one metrics record (flushed at once, so a crash loses nothing logged)."""
        if not metrics.wall_time:
            metrics.wall_time = time.perf_counter() - self._start
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(metrics.to_dict(), default=json_default) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.metrics_path)

    def truncate_metrics(self, last_iteration: int) -> None:
        """Drop records past ``last_iteration`` (they were logged after the last checkpoint)."""
        rows = [r for r in self.read_metrics() if r["iteration"] <= last_iteration]
        atomic_write_bytes(
            self.metrics_path,
            "".join(json.dumps(r, default=json_default) + "\n" for r in rows).encode(),
        )

    # -- checkpoints and artifacts -------------------------------------------------------
    def save_checkpoint(self, **arrays: Any) -> None:
        atomic_save_npz(self.checkpoint_path, **arrays)

    def load_checkpoint(self) -> dict[str, np.ndarray] | None:
        if not self.checkpoint_path.exists():
            return None
        with np.load(self.checkpoint_path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def path(self, name: str) -> Path:
        return self.dir / name



def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                # A torn last line from a crash mid-write: everything before it is intact.
                break
    return rows


