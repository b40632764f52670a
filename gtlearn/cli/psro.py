"""``gtlearn psro``: PSRO with separate training and evaluation meta-solvers on one game."""

from __future__ import annotations

from pathlib import Path

import typer

from gtlearn.cli.common import check_resume_flags, check_writable, default_out, parse_params, positive, resumed_iteration


def psro(
    game: str = typer.Argument(..., help="OpenSpiel game string or alias (see `gtlearn games`)."),
    train_meta: str = typer.Option("shor", "--train-meta", help="Training meta-solver: shor, uniform, nash, prd, rm, alpharank, or path/to/file.py:Name."),
    eval_meta: str | None = typer.Option(None, "--eval-meta", help="Evaluation meta-solver (default: the training one; shor -> shor-eval)."),
    train_param: list[str] | None = typer.Option(None, "--train-param", help="Training meta-solver parameter name=value (repeatable)."),
    eval_param: list[str] | None = typer.Option(None, "--eval-param", help="Evaluation meta-solver parameter name=value (repeatable)."),
    iterations: int = typer.Option(100, "--iterations", "-n", help="Number of PSRO iterations."),
    initial_policy: str = typer.Option("uniform", "--initial-policy", help="uniform or best_response."),
    seed: int = typer.Option(0, "--seed", help="Seed (recorded; PSRO with the exact oracle is deterministic)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default runs/<game>_psro-<train>_<time>)."),
    device: str = typer.Option("cpu", "--device", help="Where meta-solvers run: cpu or cuda."),
    max_nodes: int | None = typer.Option(None, "--max-nodes", help="Refuse games with more nodes than this."),
    checkpoint_every: int = typer.Option(1, "--checkpoint-every", help="Checkpoint every K iterations (and at the last)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint (same config; -n may grow)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run PSRO on GAME (exact best responses, exact meta-game payoffs); writes metrics.jsonl,
    policy.npz (the evaluation meta-solver's profile), populations.npz, checkpoint.npz and plot.png.
    ``--resume`` continues a stopped run to the numbers a run done in one go gives."""
    import time

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
    from solvers.psro import PSROConfig, PSROSolver

    positive("iterations", iterations)
    positive("checkpoint-every", checkpoint_every)
    check_resume_flags(resume, overwrite, out)
    get_xp(device)
    np.random.seed(seed)
    game_string = resolve_game_string(game)
    label = f"psro-{Path(train_meta.split(':')[0]).stem if ':' in train_meta else train_meta}"
    out = out or default_out(game_string, label)
    check_writable(out)
    with compiling(game_string, disable=quiet) as on_progress:
        tree = compile_game(game_string, max_nodes=max_nodes, progress=on_progress)
    config = PSROConfig(train_meta=train_meta, eval_meta=eval_meta, train_kwargs=parse_params(train_param),
                        eval_kwargs=parse_params(eval_param), initial_policy=initial_policy, device=device)
    t0 = time.perf_counter()
    solver = PSROSolver(tree, config)
    run = Run(out, {
        "command": "psro", "game": game_string, "algo": label, "train_meta": train_meta,
        "eval_meta": eval_meta, "train_solver": repr(solver.train_solver), "eval_solver": repr(solver.eval_solver),
        "iterations": iterations, "initial_policy": initial_policy, "seed": seed, "device": device,
        "checkpoint_every": checkpoint_every, "tree": {"nodes": tree.num_nodes, "infosets": tree.num_infosets},
    }, resume=resume, overwrite=overwrite, resume_may_change=("iterations", "checkpoint_every"))
    resumable(run.dir)
    console = Console(stderr=True)
    console.print(f"[bold]{game_string}[/]: {tree.num_nodes:,} nodes, {tree.num_infosets:,} infosets; "
                  f"train {solver.train_solver!r}, eval {solver.eval_solver!r}")
    start = resumed_iteration(run, iterations)
    with progress(iterations, label, gap_name="exploitability (eval)", disable=quiet) as update:
        update(advance=min(start, iterations))
        drive(solver, iterations, run=run, log_initial=True, checkpoint_every=checkpoint_every,
              on_step=lambda s, rec: update(1, rec.gap))
    seconds = time.perf_counter() - t0
    _save_outputs(run, tree, solver)
    plot = plot_run(run.dir, title=f"{label} on {game_string}")
    console.print(f"exploitability after {solver.iteration} PSRO iterations: [bold]{solver.gap().gap:.6e}[/]  ({seconds:.2f}s)")
    console.print(f"run: {run.dir}  (metrics.jsonl, checkpoint.npz, policy.npz, populations.npz, {plot.name})")


def _save_outputs(run, tree, solver) -> None:
    """policy.npz (the evaluation profile) and populations.npz (populations, meta-game, profile)."""
    from gtlearn.core.io import atomic_save_npz
    from solvers.policy_io import save_policy

    save_policy(run.path("policy.npz"), tree, solver.average_policy(), iteration=solver.iteration)
    n = tree.num_players
    atomic_save_npz(run.path("populations.npz"),
                    **{f"policies_{p}": solver.policies[p] for p in range(n)},
                    **{f"meta_game_{p}": solver.meta_game.tensors[p] for p in range(n)},
                    **{f"eval_profile_{p}": solver.eval_profile[p] for p in range(n)})
