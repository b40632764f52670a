"""Plots of gaps against iterations (matplotlib, Agg backend): interface layer only."""

from __future__ import annotations

import math
from pathlib import Path

from gtlearn.core.run import read_metrics


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
    if ax.get_legend_handles_labels()[1]:  # series with no points draw nothing to label
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path




def plot_run(run_dir: str | Path, label: str | None = None, title: str | None = None,
             filename: str = "plot.png") -> Path:
    """The gap of a run directory's ``metrics.jsonl`` against the iteration, log scale."""
    import json

    run_dir = Path(run_dir)
    rows = read_metrics(run_dir / "metrics.jsonl")
    if label is None:
        config_path = run_dir / "config.json"
        config = json.loads(config_path.read_text()) if config_path.exists() else {}
        label = config.get("algo") or config.get("rule") or "run"
    series = {str(label): ([r["iteration"] for r in rows], [r["gap"] for r in rows])}
    gap_name = rows[0].get("gap_name", "gap") if rows else "gap"
    return plot_curves(series, run_dir / filename, ylabel=gap_name, title=title)
