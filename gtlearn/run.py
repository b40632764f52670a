"""Run directories, metrics logging, atomic checkpoints, progress bars and plots.

A run lives in ``runs/<name>/``::

    config.json      what was asked for (written once, checked on resume)
    metrics.jsonl    one JSON object per logged iteration (see gtlearn.gaps.Metrics)
    checkpoint.npz   the latest resumable state, written atomically (temp file + rename)
    plot.png         the gap against the iteration, log scale
    ...              artifacts of the method (e.g. average_policy.npz)

Every method in gtlearn logs through :class:`Run`, so results are comparable across the
toolkit and every long run can be resumed without losing finished work.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from gtlearn.errors import GtlearnError
from gtlearn.gaps import Metrics


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old or the new file, never a
    partial one (temp file in the same directory, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n").encode())


def atomic_save_npz(path: Path, **arrays: Any) -> None:
    """``np.savez_compressed`` with the atomicity of :func:`atomic_write_bytes`."""
    import io

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


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
                if json.loads(json.dumps(value, default=_json_default)) != old.get(key):
                    raise GtlearnError(
                        f"cannot resume {self.dir}: config key {key!r} was {old.get(key)!r}, now {value!r}"
                    )
        else:
            if self.metrics_path.exists() and not overwrite:
                raise GtlearnError(
                    f"{self.dir} already holds a run; pass --resume to continue it or --overwrite to replace it"
                )
            self.dir.mkdir(parents=True, exist_ok=True)
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
            fh.write(json.dumps(metrics.to_dict(), default=_json_default) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read_metrics(self) -> list[dict[str, Any]]:
        return read_metrics(self.metrics_path)

    def truncate_metrics(self, last_iteration: int) -> None:
        """Drop records past ``last_iteration`` (they were logged after the last checkpoint)."""
        rows = [r for r in self.read_metrics() if r["iteration"] <= last_iteration]
        atomic_write_bytes(
            self.metrics_path,
            "".join(json.dumps(r, default=_json_default) + "\n" for r in rows).encode(),
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

    def plot(self, title: str | None = None, filename: str = "plot.png") -> Path:
        rows = self.read_metrics()
        label = self.config.get("algo") or self.config.get("rule") or "run"
        series = {str(label): ([r["iteration"] for r in rows], [r["gap"] for r in rows])}
        gap_name = rows[0].get("gap_name", "gap") if rows else "gap"
        return plot_curves(series, self.dir / filename, ylabel=gap_name, title=title)


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


def plot_curves(
    series: dict[str, tuple[list[float], list[float]]],
    path: str | Path,
    *,
    ylabel: str = "exploitability",
    xlabel: str = "iteration",
    title: str | None = None,
    logy: bool = True,
    logx: bool = False,
) -> Path:
    """Plot named curves (x, y) to a PNG; non-positive values are dropped on a log axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (xs, ys) in series.items():
        pts = [(x, y) for x, y in zip(xs, ys) if y is not None and math.isfinite(y) and (y > 0 or not logy)]
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=name, linewidth=1.4)
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    if series:
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


@contextmanager
def progress(total: int, description: str, *, gap_name: str = "gap", disable: bool = False) -> Iterator[Any]:
    """A rich progress bar that shows the live gap. Yields ``update(advance, gap=None)``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(f"{gap_name}: " + "{task.fields[gap]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, disable=disable, transient=False) as bar:
        task = bar.add_task(description, total=total, gap="-")

        def update(advance: int = 1, gap: float | None = None) -> None:
            fields = {} if gap is None else {"gap": f"{gap:.4e}"}
            bar.update(task, advance=advance, **fields)

        yield update
