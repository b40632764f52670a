"""``gtlearn solve``: run one CFR-family algorithm on one game.

Exact rules (cfr, cfr+, dcfr, ...) run on the compiled tree; ``mccfr-es``, ``mccfr-os`` and
``deep-cfr`` sample pyspiel states and compile the tree only when it fits, to report the exact
exploitability (otherwise their stated approximation). All go through the one driver, with the
same run directory, progress, metrics and resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gtlearn.cli.common import check_writable, default_out, parse_params, positive, resumed_iteration


def solve(
    game: str = typer.Argument(..., help="OpenSpiel game string or alias (see `gtlearn games`)."),
    algo: str = typer.Option("cfr+", "--algo", "-a", help="Rule id (cfr, cfr+, lcfr, dcfr, ...) or mccfr-es, mccfr-os, deep-cfr."),
    rule: Optional[str] = typer.Option(None, "--rule", help="User rule: path/to/file.py:RuleName (overrides --algo)."),
    param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="Rule / algorithm parameter name=value (repeatable)."),
    iterations: int = typer.Option(1000, "--iterations", "-n", help="Number of iterations."),
    eval_every: int = typer.Option(10, "--eval-every", help="Measure the gap every K iterations."),
    seed: int = typer.Option(0, "--seed", help="Seed (the sampled algorithms' only source of randomness)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<game>_<algo>_<time>)."),
    device: str = typer.Option("cpu", "--device", help="cpu or cuda (exact rules)."),
    simultaneous: bool = typer.Option(False, "--simultaneous", help="Simultaneous instead of alternating updates."),
    max_nodes: Optional[int] = typer.Option(None, "--max-nodes", help="Refuse (exact) or skip (sampled) trees above this many nodes; default from free memory."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for the compiled kernels and PyTorch (default: all cores)."),
    workers: int = typer.Option(0, "--workers", help="Ray actors for the sampled algorithms' traversals (0: in process)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Solve GAME; writes metrics.jsonl, checkpoint, policies (when the tree is compiled) and plot.png."""
    import numpy as np
    from rich.console import Console

    from games.openspiel import resolve_game_string
    from gtlearn.core.backend import get_xp
    from solvers.cfr.factory import is_sampled, require_torch

    positive("iterations", iterations)
    positive("eval-every", eval_every)
    positive("workers", workers, allow_zero=True, maximum=100_000)
    get_xp(device)  # fail fast with one line when CUDA / CuPy is missing
    deep = rule is None and algo.strip().lower() in ("deep-cfr", "deepcfr")
    if deep:
        require_torch()  # before any work, not after the tree is compiled
    _set_threads(threads, torch_too=deep)
    np.random.seed(seed)
    game_string = resolve_game_string(game)
    params = parse_params(param)
    sampled = rule is None and is_sampled(algo)
    label = Path(rule.split(":")[0]).stem if rule else algo
    out = out or default_out(game_string, label)
    check_writable(out)
    console = Console(stderr=True)
    if sampled:
        solver, tree, config = _sampled(console, game_string, algo, params, seed, workers, max_nodes, quiet)
    else:
        solver, tree, config = _exact(game_string, rule or algo, label, params, device, simultaneous, max_nodes, quiet)
    config.update(command="solve", game=game_string, algo=label, iterations=iterations, eval_every=eval_every,
                  seed=seed, threads=threads)
    _run(console, solver, tree, config, game_string, label, out, iterations, eval_every, resume, overwrite, quiet)


def _set_threads(threads: int | None, torch_too: bool) -> None:
    if threads is not None:
        positive("threads", threads)
    from solvers.fast import available, set_threads

    if available():
        try:
            set_threads(threads)
        except Exception:  # more threads than Numba was started with: use what it has
            set_threads(None)
    if threads is not None and torch_too:
        import torch

        torch.set_num_threads(threads)


def _exact(game_string, rule_spec, label, params, device, simultaneous, max_nodes, quiet):
    from games.tree import compile_game
    from gtlearn.progress import compiling
    from solvers.cfr.factory import make_solver, solver_bytes_per_node

    with compiling(game_string, disable=quiet) as on_progress:
        tree = compile_game(game_string, max_nodes=max_nodes, progress=on_progress,
                            solver_bytes_per_node=solver_bytes_per_node(rule_spec))
    solver = make_solver(tree, rule_spec, alternating=not simultaneous, device=device, rule_kwargs=params)
    config = {"rule": rule_spec, "params": params, "device": device, "alternating": not simultaneous,
              "tree": {"nodes": tree.num_nodes, "infosets": tree.num_infosets}}
    return solver, tree, config


def _sampled(console, game_string, algo, params, seed, workers, max_nodes, quiet):
    """The sampled solver, with the compiled tree when it fits (exact gap) or without."""
    from games.tree import compile_game
    from gtlearn.core.errors import GameTooLargeError
    from gtlearn.progress import compiling
    from solvers.cfr.factory import make_sampled_solver, solver_bytes_per_node

    try:
        with compiling(game_string, disable=quiet) as on_progress:
            tree = compile_game(game_string, max_nodes=max_nodes, progress=on_progress,
                                solver_bytes_per_node=solver_bytes_per_node(algo))
    except GameTooLargeError as exc:
        console.print(f"no exact gap: {exc}; reporting the algorithm's stated approximation instead")
        tree = None
    solver = make_sampled_solver(algo, game_string, tree, seed=seed, workers=workers, **params)
    config = {"params": params, "workers": workers, "tree": None if tree is None else
              {"nodes": tree.num_nodes, "infosets": tree.num_infosets}}
    return solver, tree, config


def _run(console, solver, tree, config, game_string, label, out, iterations, eval_every, resume, overwrite, quiet):
    from gtlearn.cli.errors import resumable
    from gtlearn.core.driver import drive
    from gtlearn.core.run import Run
    from gtlearn.plots import plot_run
    from gtlearn.progress import progress
    from solvers.policy_io import save_policy

    run = Run(out, config, resume=resume, overwrite=overwrite)
    resumable(run.dir)
    size = f"{tree.num_nodes:,} nodes, {tree.num_infosets:,} infosets" if tree is not None else "tree not compiled"
    console.print(f"[bold]{game_string}[/]: {size}; {label}")
    start_iteration = resumed_iteration(run, iterations)
    gap_name = "exploitability" if tree is not None else "gap"
    with progress(iterations, label, gap_name=gap_name, disable=quiet) as update:
        update(advance=start_iteration)
        result = drive(solver, iterations, run=run, eval_every=eval_every,
                       on_step=lambda s, rec: update(1, None if rec is None else rec.gap))
    if tree is not None:
        save_policy(run.path("average_policy.npz"), tree, solver.average_policy(), iteration=solver.iteration)
        save_policy(run.path("current_policy.npz"), tree, solver.current_policy(), iteration=solver.iteration)
    plot = plot_run(run.dir, title=f"{label} on {game_string}")
    last = result.records[-1]
    nash = f" (NashConv {last.extra['nash_conv']:.6e})" if "nash_conv" in last.extra else ""
    console.print(f"{last.gap_name} after {solver.iteration} iterations: [bold]{last.gap:.6e}[/]{nash}")
    done = max(1, solver.iteration - start_iteration)
    console.print(
        f"time per iteration: {1e3 * result.seconds_stepping / done:.3f} ms "
        f"({result.seconds_stepping:.2f}s iterating, {result.seconds_evaluating:.2f}s evaluating)"
    )
    console.print(f"run: {run.dir}  (metrics.jsonl, checkpoint.npz, {plot.name})")
