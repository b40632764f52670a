"""``gtlearn align``: preference-learning commands.

``gtlearn align tabular`` runs one tabular algorithm (exact or sampled) on a finite preference
game through the one driver and logs the measures of docs/preference_games.md per iteration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gtlearn.cli.common import (
    check_writable,
    default_out,
    parse_params,
    positive,
    positive_number,
    resumed_iteration,
)
from gtlearn.core.errors import GtlearnError

app = typer.Typer(help="Preference learning: Nash-MP, INPO, APO, f-DPG and baselines.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)

_ALGOS_HELP = "nash-mp | inpo | apo | nash-md | omd | dpo | ipo | sppo | fdpg"
# The exact π*_β every measure needs takes ~log(1e12)/log(1+2β) Nash-MP passes (minutes below
# β = 1e-3); far above 1e4 the regularized measures are rounding noise.
BETA_RANGE = (1e-3, 1e4)
MAX_SEED = 2**63 - 1


@app.command("tabular")
def tabular(
    game: str = typer.Option("cyclic:5", "--game", "-g", help="Preference game: cyclic:N, random:N, tournament:N, "
                             "bt:N, mixture:N (options: ,contexts=X,seed=S,ref=CONC) or a saved .npz/.json."),
    algo: str = typer.Option("nash-mp", "--algo", "-a", help=_ALGOS_HELP),
    beta: float = typer.Option(0.1, "--beta", "-b", help="Regularization β in [0.001, 10000] (τ for INPO; the DPO β "
                               "for dpo/apo; the rlhf target's β for fdpg)."),
    iterations: int = typer.Option(200, "--iterations", "-n", help="Number of iterations (rounds)."),
    mode: str = typer.Option("exact", "--mode", help="exact (expected preferences) or sampled (Bernoulli labels)."),
    samples: int = typer.Option(64, "--samples", help="Sampled mode: labels per estimate (per response / pair)."),
    eta: Optional[float] = typer.Option(None, "--eta", help="Step: learning rate (omd, nash-md, sppo) or inverse "
                                        "learning rate (inpo, with --schedule constant)."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="constant | decreasing (inpo, omd, nash-md)."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="APO momentum α in [0, 1)."),
    inner: Optional[str] = typer.Option(None, "--inner", help="APO inner step: dpo | sppo."),
    divergence: Optional[str] = typer.Option(None, "--divergence", help="f-DPG: kl | rkl | tv | js (default) | chi2 "
                                             "| rchi2."),
    target: Optional[str] = typer.Option(None, "--target", help="f-DPG target: rlhf (default) | pointwise | "
                                         "distributional."),
    learning_rate: Optional[float] = typer.Option(None, "--lr", help="f-DPG learning rate on the logits."),
    param: Optional[list[str]] = typer.Option(None, "--param", "-p", help="Any other config field name=value."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampled preferences."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<game>_<algo>_<time>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint "
                                "(same settings; --iterations may grow)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run a tabular preference-learning algorithm; writes metrics.jsonl, policy.npz and plot.png."""
    positive_number("beta", beta)
    positive("iterations", iterations)
    positive("samples", samples)
    positive("seed", seed, allow_zero=True, maximum=MAX_SEED)
    if mode not in ("exact", "sampled"):
        raise GtlearnError(f"--mode must be exact or sampled, got {mode!r}")
    options = {"eta": eta, "schedule": schedule, "alpha": alpha, "inner": inner, "divergence": divergence,
               "target": target, "learning_rate": learning_rate}
    solver, g, algo = _solver(game, algo, beta, options, parse_params(param), mode=mode, samples=samples, seed=seed)
    out = _run_dir(out, default_out(g.name, algo), resume=resume, overwrite=overwrite)
    config = {"command": "align tabular", "game": g.name, "algo": algo, "beta": beta, "iterations": iterations,
              "mode": mode, "samples": samples, "seed": seed, "config": solver.config.to_dict(),
              **({"target": solver.config.target} if algo == "fdpg" else {})}
    _run(solver, g, config, out, resume=resume, overwrite=overwrite, quiet=quiet)


def _solver(game: str, algo: str, beta: float, options: dict, fields: dict, **source):
    """The game and the solver of ``algo`` built (and so validated) from the options; options
    that ``algo`` does not take are one-line errors, not silently ignored."""
    from alignment.tabular import TABULAR_ALGORITHMS
    from games.preference import make_game

    algo = TABULAR_ALGORITHMS.resolve(algo)
    flags = {"learning_rate": "--lr"}
    for key, value in options.items():
        if value is None:
            continue
        flag = flags.get(key, "--" + key)
        if algo != "fdpg" and key in ("divergence", "target", "learning_rate"):
            raise GtlearnError(f"{flag} applies to --algo fdpg only")
        if key in fields:
            raise GtlearnError(f"{flag} and --param {key}=... both given; keep one")
        fields[key] = value
    cfg = TABULAR_ALGORITHMS.make_config(algo, **{"beta": beta, **fields})
    if isinstance(cfg.beta, (int, float)) and not BETA_RANGE[0] <= cfg.beta <= BETA_RANGE[1]:
        raise GtlearnError(f"--beta must be in [{BETA_RANGE[0]:g}, {BETA_RANGE[1]:g}], got {cfg.beta:g}")
    g = make_game(game)
    return TABULAR_ALGORITHMS[algo].cls(g, cfg, **source), g, algo


def _run_dir(out: Path | None, default: Path, *, resume: bool, overwrite: bool) -> Path:
    """``out`` (or ``default``) can hold the run: writable, and holding a run when resuming."""
    if resume and overwrite:
        raise GtlearnError("--resume and --overwrite exclude each other")
    if resume and out is None:
        raise GtlearnError("--resume needs --out, the run directory to continue")
    out = out or default
    if resume and not (out / "config.json").is_file():
        raise GtlearnError(f"cannot resume: {out} holds no run; run the same command without --resume to start it")
    return check_writable(out)


def _run(solver, game, config: dict, out: Path, *, resume: bool, overwrite: bool, quiet: bool) -> None:
    """Drive ``solver`` in the run directory ``out``; then the policies, the plot and a summary."""
    from rich.console import Console

    from gtlearn.cli.errors import resumable
    from gtlearn.core.driver import drive
    from gtlearn.core.io import atomic_save_npz
    from gtlearn.core.run import Run
    from gtlearn.plots import plot_run
    from gtlearn.progress import progress

    algo, iterations, mode = config["algo"], config["iterations"], config["mode"]
    run = Run(out, config, resume=resume, overwrite=overwrite)
    resumable(run.dir)
    start = resumed_iteration(run, iterations)
    console = Console(stderr=True)
    console.print(f"[bold]{game.name}[/]: {game.num_contexts} context(s) x {game.num_responses} responses; "
                  f"{algo} ({mode})")
    with progress(iterations, algo, gap_name=solver.gap_name, disable=quiet) as update:
        update(advance=start)
        drive(solver, iterations, run=run, eval_every=1, log_initial=True,
              on_step=lambda s, record: update(1, None if record is None else record.gap))
    atomic_save_npz(run.path("policy.npz"), **solver.artifacts())
    plot = plot_run(run.dir, title=f"{algo} on {game.name} (beta={config['beta']}, {mode})")
    final = run.read_metrics()[-1]
    console.print(f"{solver.gap_name} after {solver.iteration} iterations: [bold]{final['gap']:.6e}[/]  "
                  f"(queries: {solver.queries:,})")
    console.print(f"run: {run.dir}  (metrics.jsonl, policy.npz, {plot.name})")


from gtlearn.cli.align_train import train as _train  # noqa: E402  (LLM trainers; heavy imports stay inside)

app.command("train")(_train)
