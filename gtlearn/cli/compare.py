"""``gtlearn compare``: several CFR rules on one game, one table and one plot."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import typer

from gtlearn.cli.common import check_resume_flags, check_writable, default_out, positive, resumed_iteration
from gtlearn.core.errors import GtlearnError

DEFAULT_ALGOS = "cfr,cfr+,lcfr,dcfr,pcfr+,pdcfr+,hs-pcfr+,vad-cfr,aod-cfr"


def eval_grid(iterations: int, points: int) -> list[int]:
    """``points`` log-spaced iterations in [1, iterations], always including the last."""
    import numpy as np

    if points <= 0 or points >= iterations:
        return list(range(1, iterations + 1))
    grid = np.unique(np.round(np.logspace(0, np.log10(iterations), points)).astype(int))
    return sorted(set(grid.tolist()) | {iterations})


def _slug(rule: str) -> str:
    """A directory name for a rule id or a ``file.py:Name`` spec."""
    return re.sub(r"[^A-Za-z0-9+.-]+", "_", Path(rule).name if ":" in rule else rule).strip("_") or "rule"


def parse_algos(algos: str) -> list[str]:
    """Comma-separated rule ids or ``file.py:Name`` specs; checked before anything runs."""
    from solvers.cfr.loading import make_rule
    from solvers.cfr.vad_cfr_reference import REFERENCE_RULES

    names = [a.strip() for a in algos.split(",")]
    if not any(names):
        raise GtlearnError("--algos is empty; give comma-separated rule ids, e.g. cfr,cfr+,vad-cfr")
    if not all(names):
        raise GtlearnError(f"--algos has an empty entry: {algos!r}")
    if len(set(names)) != len(names):
        raise GtlearnError(f"--algos lists a rule twice: {algos}")
    for name in names:
        if name.lower() not in REFERENCE_RULES:
            make_rule(name)  # raises a one-line GtlearnError for unknown ids / bad files
    return names


def compare(
    game: str = typer.Argument(..., help="OpenSpiel game string or alias (see `gtlearn games`)."),
    algos: str = typer.Option(DEFAULT_ALGOS, "--algos", "-a", help="Comma-separated rule ids (incl. vad-cfr-reference) or file.py:Name."),
    iterations: int = typer.Option(1000, "--iterations", "-n", help="CFR iterations per rule."),
    points: int = typer.Option(50, "--points", help="Log-spaced evaluation points per curve (0: every iteration)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output directory (default runs/compare_<game>_<time>)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    max_nodes: Optional[int] = typer.Option(None, "--max-nodes", help="Refuse games with more nodes than this."),
    resume: bool = typer.Option(False, "--resume", help="Continue the comparison in --out (each rule from its checkpoint)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing comparison in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run each rule on GAME; print a table of final exploitability, write results.json and a log-scale plot.

    Each rule runs in its own run directory ``OUT/runs/<rule>/`` (metrics, checkpoints), so an
    interrupted comparison continues with ``--resume`` to the numbers of an uninterrupted one."""
    from rich.console import Console

    from games.openspiel import resolve_game_string
    from games.tree import compile_game
    from gtlearn.cli.errors import resumable
    from gtlearn.core.backend import get_xp
    from gtlearn.core.io import atomic_write_json
    from gtlearn.core.run import Run
    from gtlearn.plots import plot_curves
    from gtlearn.progress import compiling
    from solvers.cfr.factory import make_solver

    positive("iterations", iterations)
    positive("points", points, allow_zero=True)
    check_resume_flags(resume, overwrite, out)
    get_xp(device)
    names = parse_algos(algos)
    game_string = resolve_game_string(game)
    out = out or default_out("compare", game_string)
    check_writable(out)
    with compiling(game_string, disable=quiet) as on_progress:
        tree = compile_game(game_string, max_nodes=max_nodes, progress=on_progress)
    console = Console(stderr=True)
    console.print(f"[bold]{game_string}[/]: {tree.num_nodes:,} nodes, {tree.num_infosets:,} infosets; "
                  f"{len(names)} rules x {iterations} iterations")
    grid = eval_grid(iterations, points)
    solvers = {name: make_solver(tree, name, device=device) for name in names}
    runs = {name: Run(out / "runs" / _slug(name), {"command": "compare", "game": game_string, "rule": name,
                                                   "iterations": iterations, "points": points, "device": device},
                      resume=resume and (out / "runs" / _slug(name) / "config.json").exists(), overwrite=overwrite)
            for name in names}
    resumable(out)
    results = {name: _run_rule(solver, runs[name], iterations, grid, quiet) for name, solver in solvers.items()}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "results.json", {"game": game_string, "algos": names, "iterations": iterations, "grid": grid,
                                             "metric": "exploitability = NashConv / num_players (average policy)",
                                             "results": results})
    # Exact exploitability can come out as -1e-16 at an equilibrium; the log plot floors it at 1e-16.
    plot = plot_curves({n: (r["iterations"], [max(y, 1e-16) for y in r["exploitability"]]) for n, r in results.items()},
                       out / "plot.png", ylabel="exploitability", title=game_string, logx=True)
    _print_ranking(game_string, iterations, results)
    console.print(f"wrote {out / 'results.json'} and {plot}")


def _run_rule(solver, run, iterations: int, grid: list[int], quiet: bool) -> dict:
    """One rule through the driver in its own run directory (continuing its checkpoint)."""
    import time

    from gtlearn.core.driver import drive
    from gtlearn.progress import progress

    t0 = time.perf_counter()
    name = run.config["rule"]
    with progress(iterations, name, gap_name="exploitability", disable=quiet) as update:
        update(advance=resumed_iteration(run, iterations))
        res = drive(solver, iterations, eval_at=grid, run=run, checkpoint_every=max(1, iterations // 50),
                    on_step=lambda s, rec: update(1, None if rec is None else rec.gap))
    return {"iterations": res.iterations, "exploitability": res.gaps, "final": res.gaps[-1],
            "seconds_iterating": res.seconds_stepping, "seconds_total": time.perf_counter() - t0,
            "rule": repr(solver.rule)}


def _print_ranking(game_string: str, iterations: int, results: dict[str, dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{game_string}: exploitability after {iterations} iterations")
    for column, justify in (("rank", "right"), ("rule", "left"), ("exploitability", "right"), ("seconds", "right")):
        table.add_column(column, justify=justify)
    for rank, (name, r) in enumerate(sorted(results.items(), key=lambda kv: kv[1]["final"]), 1):
        table.add_row(str(rank), name, f"{r['final']:.4e}", f"{r['seconds_total']:.2f}")
    Console().print(table)
