"""``gtlearn align``: preference-learning commands.

``gtlearn align tabular`` runs one tabular algorithm (exact or sampled) on a finite preference
game through the one driver and logs the measures of docs/preference_games.md per iteration.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer

from gtlearn.cli.common import default_out, parse_params, positive
from gtlearn.core.errors import GtlearnError

app = typer.Typer(help="Preference learning: Nash-MP, INPO, APO, f-DPG and baselines.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)

_ALGOS_HELP = "nash-mp | inpo | apo | nash-md | omd | dpo | ipo | sppo | fdpg"


@app.command("tabular")
def tabular(
    game: str = typer.Option("cyclic:5", "--game", "-g", help="Preference game: cyclic:N, random:N, tournament:N, "
                             "bt:N, mixture:N (options: ,contexts=X,seed=S,ref=CONC) or a saved .npz/.json."),
    algo: str = typer.Option("nash-mp", "--algo", "-a", help=_ALGOS_HELP),
    beta: float = typer.Option(0.1, "--beta", "-b", help="Regularization β (τ for INPO; the DPO β for dpo/apo; "
                               "the rlhf target's β for fdpg)."),
    iterations: int = typer.Option(200, "--iterations", "-n", help="Number of iterations (rounds)."),
    mode: str = typer.Option("exact", "--mode", help="exact (expected preferences) or sampled (Bernoulli labels)."),
    samples: int = typer.Option(64, "--samples", help="Sampled mode: labels per estimate (per response / pair)."),
    eta: Optional[float] = typer.Option(None, "--eta", help="Step: learning rate (omd, nash-md, sppo) or inverse "
                                        "learning rate (inpo, with --schedule constant)."),
    schedule: Optional[str] = typer.Option(None, "--schedule", help="constant | decreasing (inpo, omd, nash-md)."),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="APO momentum α in [0, 1)."),
    inner: Optional[str] = typer.Option(None, "--inner", help="APO inner step: dpo | sppo."),
    divergence: str = typer.Option("js", "--divergence", help="f-DPG: kl | rkl | tv | js | chi2 | rchi2."),
    target: str = typer.Option("rlhf", "--target", help="f-DPG target: rlhf | pointwise | distributional."),
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
    from alignment.tabular import TABULAR_ALGORITHMS
    from games.preference import make_game

    algo = TABULAR_ALGORITHMS.resolve(algo)
    if not (math.isfinite(beta) and beta > 0):
        raise GtlearnError(f"--beta must be a positive finite number, got {beta}")
    positive("iterations", iterations)
    positive("samples", samples)
    if mode not in ("exact", "sampled"):
        raise GtlearnError(f"--mode must be exact or sampled, got {mode!r}")
    if resume and overwrite:
        raise GtlearnError("--resume and --overwrite exclude each other")
    if resume and out is None:
        raise GtlearnError("--resume needs --out, the run directory to continue")
    g = make_game(game)
    fields = parse_params(param)
    for key, value in (("eta", eta), ("schedule", schedule), ("alpha", alpha), ("inner", inner)):
        if value is not None:
            fields[key] = value
    if algo == "fdpg":
        fields = {"beta": beta, "target": target, **fields}
        fields.setdefault("divergence", divergence)
        if learning_rate is not None:
            fields["learning_rate"] = learning_rate
    elif learning_rate is not None:
        raise GtlearnError("--lr applies to --algo fdpg only")
    else:
        fields = {"beta": beta, **fields}
    cfg = TABULAR_ALGORITHMS.make_config(algo, **fields)
    solver = TABULAR_ALGORITHMS[algo].cls(g, cfg, mode=mode, samples=samples, seed=seed)
    config = {"command": "align tabular", "game": g.name, "algo": algo, "beta": beta, "iterations": iterations,
              "mode": mode, "samples": samples, "seed": seed, "config": cfg.to_dict(),
              **({"target": target} if algo == "fdpg" else {})}
    _run(solver, g, config, out or default_out(g.name, algo), resume=resume, overwrite=overwrite, quiet=quiet)


def _run(solver, game, config: dict, out: Path, *, resume: bool, overwrite: bool, quiet: bool) -> None:
    """Drive ``solver`` in the run directory ``out``; then the policies, the plot and a summary."""
    from rich.console import Console

    from gtlearn.core.driver import drive
    from gtlearn.core.io import atomic_save_npz
    from gtlearn.core.run import Run
    from gtlearn.plots import plot_run
    from gtlearn.progress import progress

    algo, iterations, mode = config["algo"], config["iterations"], config["mode"]
    run = Run(out, config, resume=resume, overwrite=overwrite)
    console = Console(stderr=True)
    console.print(f"[bold]{game.name}[/]: {game.num_contexts} context(s) x {game.num_responses} responses; "
                  f"{algo} ({mode})")
    shown = [0]

    def on_step(s, record) -> None:  # after a resume the bar jumps to the solver's iteration
        update(s.iteration - shown[0], None if record is None else record.gap)
        shown[0] = s.iteration

    with progress(iterations, algo, gap_name=solver.gap_name, disable=quiet) as update:
        drive(solver, iterations, run=run, eval_every=1, log_initial=True, on_step=on_step)
    atomic_save_npz(run.path("policy.npz"), **solver.artifacts())
    plot = plot_run(run.dir, title=f"{algo} on {game.name} (beta={config['beta']}, {mode})")
    final = run.read_metrics()[-1]
    console.print(f"{solver.gap_name} after {solver.iteration} iterations: [bold]{final['gap']:.6e}[/]  "
                  f"(queries: {solver.queries:,})")
    console.print(f"run: {run.dir}  (metrics.jsonl, policy.npz, {plot.name})")


from gtlearn.cli.align_train import train as _train  # noqa: E402  (LLM trainers; heavy imports stay inside)

app.command("train")(_train)
