"""``gtlearn solve``: run one CFR rule on one game."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gtlearn.cli.common import check_writable, default_out, parse_params, positive, resumed_iteration


def solve(
    game: str = typer.Argument(..., help="OpenSpiel game string or alias (see `gtlearn games`)."),
    algo: str = typer.Option("cfr+", "--algo", "-a", help="Built-in rule id (cfr, cfr+, lcfr, dcfr, ...)."),
    rule: Optional[str] = typer.Option(None, "--rule", help="User rule: path/to/file.py:RuleName (overrides --algo)."),
    param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="Rule parameter name=value (repeatable)."),
    iterations: int = typer.Option(1000, "--iterations", "-n", help="Number of CFR iterations."),
    eval_every: int = typer.Option(10, "--eval-every", help="Evaluate exact exploitability every K iterations."),
    seed: int = typer.Option(0, "--seed", help="Seed (recorded; the exact CFR passes are deterministic)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<game>_<algo>_<time>)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda."),
    simultaneous: bool = typer.Option(False, "--simultaneous", help="Simultaneous instead of alternating updates."),
    max_nodes: Optional[int] = typer.Option(None, "--max-nodes", help="Refuse games with more nodes than this."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Solve GAME with a CFR rule; writes metrics.jsonl, average_policy.npz, plot.png to the run directory."""
    import numpy as np
    from rich.console import Console

    from games.openspiel import resolve_game_string
    from games.tree import compile_game
    from gtlearn.cli.errors import resumable
    from gtlearn.core.backend import get_xp
    from gtlearn.core.driver import drive
    from gtlearn.core.run import Run
    from gtlearn.plots import plot_run
    from gtlearn.progress import compiling, progress
    from solvers.cfr.factory import make_solver
    from solvers.policy_io import save_policy

    positive("iterations", iterations)
    positive("eval-every", eval_every)
    get_xp(device)  # fail fast with one line when CUDA / CuPy is missing
    np.random.seed(seed)
    game_string = resolve_game_string(game)
    rule_spec = rule or algo
    params = parse_params(param)
    label = Path(rule.split(":")[0]).stem if rule else algo
    out = out or default_out(game_string, label)
    check_writable(out)
    with compiling(game_string, disable=quiet) as on_progress:
        tree = compile_game(game_string, max_nodes=max_nodes, progress=on_progress)
    solver = make_solver(tree, rule_spec, alternating=not simultaneous, device=device, rule_kwargs=params)
    config = {
        "command": "solve", "game": game_string, "algo": label, "rule": rule_spec, "params": params,
        "iterations": iterations, "eval_every": eval_every, "seed": seed, "device": device,
        "alternating": not simultaneous, "tree": {"nodes": tree.num_nodes, "infosets": tree.num_infosets},
    }
    run = Run(out, config, resume=resume, overwrite=overwrite)
    resumable(run.dir)
    console = Console(stderr=True)
    console.print(f"[bold]{game_string}[/]: {tree.num_nodes:,} nodes, {tree.num_infosets:,} infosets; rule {solver.rule!r}")
    start_iteration = resumed_iteration(run, iterations)
    with progress(iterations, label, gap_name="exploitability", disable=quiet) as update:
        update(advance=start_iteration)
        result = drive(solver, iterations, run=run, eval_every=eval_every,
                       on_step=lambda s, rec: update(1, None if rec is None else rec.gap))
    save_policy(run.path("average_policy.npz"), tree, solver.average_policy(), iteration=solver.iteration)
    save_policy(run.path("current_policy.npz"), tree, solver.current_policy(), iteration=solver.iteration)
    plot = plot_run(run.dir, title=f"{label} on {game_string}")
    console.print(
        f"exploitability after {solver.iteration} iterations: [bold]{result.final_gap:.6e}[/] "
        f"(NashConv {result.final_gap * tree.num_players:.6e})"
    )
    done = max(1, solver.iteration - start_iteration)
    console.print(
        f"time per iteration: {1e3 * result.seconds_stepping / done:.3f} ms "
        f"({result.seconds_stepping:.2f}s iterating, {result.seconds_evaluating:.2f}s evaluating)"
    )
    console.print(f"run: {run.dir}  (metrics.jsonl, average_policy.npz, {plot.name})")
