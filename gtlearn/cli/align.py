"""``gtlearn align``: preference-learning commands.

``gtlearn align tabular`` runs one tabular algorithm (exact or sampled) on a finite preference
game and logs the §1.2 measures of the alignment spec per iteration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from gtlearn.cli.common import default_out, parse_params, positive
from gtlearn.core.errors import GtlearnError

app = typer.Typer(help="Preference learning: Nash-MP, INPO, APO, f-DPG and baselines.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)

ALGOS = ("nash-mp", "inpo", "apo", "nash-md", "omd", "dpo", "ipo", "sppo", "fdpg")
# Algorithms whose update has no KL-to-reference term drive the unregularized gap e_0.
_UNREGULARIZED = ("sppo", "dpo", "apo")


def _config(cfg_cls, fields: dict):
    import dataclasses

    names = {f.name for f in dataclasses.fields(cfg_cls)}
    unknown = sorted(set(fields) - names)
    if unknown:
        raise GtlearnError(f"unknown parameter(s) {unknown} for {cfg_cls.__name__}; known: {sorted(names)}")
    return cfg_cls(**fields)


def fdpg_target(game, kind: str, beta: float):
    """The f-DPG target built from a preference game: base a = π_ref, reward r(y) = P(y ≻ π_ref).

    ``rlhf``: a·exp(r/β); ``pointwise``: a·1[r ≥ median r]; ``distributional``: a·exp(λr) with
    E_p[r] halfway between E_a[r] and max r.
    """
    import numpy as np

    from alignment.tabular.fdpg import distributional_target, pointwise_target, rlhf_target

    r = game.win_prob(game.ref)
    if kind == "rlhf":
        return rlhf_target(game.ref, r, beta)
    if kind == "pointwise":
        return pointwise_target(game.ref, r >= np.median(r, axis=1, keepdims=True))
    if kind == "distributional":
        mean_a = (game.ref * r).sum(axis=1)
        return distributional_target(game.ref, r, 0.5 * (mean_a + r.max(axis=1)))
    raise GtlearnError(f"unknown f-DPG target {kind!r}; use rlhf, pointwise or distributional")


@app.command("tabular")
def tabular(
    game: str = typer.Option("cyclic:5", "--game", "-g", help="Preference game: cyclic:N, random:N, tournament:N, "
                             "bt:N, mixture:N (options: ,contexts=X,seed=S,ref=CONC) or a saved .npz/.json."),
    algo: str = typer.Option("nash-mp", "--algo", "-a", help="|".join(ALGOS)),
    beta: float = typer.Option(0.1, "--beta", "-b", help="Regularization β (τ for INPO; the DPO β for dpo/apo)."),
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
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing run in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Run a tabular preference-learning algorithm; writes metrics.jsonl, policy.npz and plot.png."""
    import math

    from rich.console import Console

    from alignment.measures import measures
    from alignment.tabular import ALGORITHMS, FDPG, FDPGConfig
    from games.preference import make_game, regularized_nash
    from gtlearn.core.io import atomic_save_npz
    from gtlearn.core.metrics import Metrics
    from gtlearn.core.run import Run
    from gtlearn.plots import plot_run
    from gtlearn.progress import progress

    if algo not in ALGOS:
        raise GtlearnError(f"unknown algorithm {algo!r}; known: {', '.join(ALGOS)}")
    if not (math.isfinite(beta) and beta > 0):
        raise GtlearnError(f"--beta must be a positive finite number, got {beta}")
    positive("iterations", iterations)
    positive("samples", samples)
    if mode not in ("exact", "sampled"):
        raise GtlearnError(f"--mode must be exact or sampled, got {mode!r}")
    g = make_game(game)
    fields = parse_params(param)
    for key, value in (("eta", eta), ("schedule", schedule), ("alpha", alpha), ("inner", inner)):
        if value is not None:
            fields[key] = value

    if algo == "fdpg":
        fields.setdefault("divergence", divergence)
        if learning_rate is not None:
            fields["learning_rate"] = learning_rate
        cfg = _config(FDPGConfig, fields)
        tgt = fdpg_target(g, target, beta)
        method = FDPG(g.ref, tgt, cfg, mode=mode, samples=samples, seed=seed)
        gap_name, nash = f"D_{cfg.divergence}", None
    else:
        if learning_rate is not None:
            raise GtlearnError("--lr applies to --algo fdpg only")
        cls, cfg_cls = ALGORITHMS[algo]
        cfg = _config(cfg_cls, {"beta": beta, **fields})
        method = cls(g, cfg, mode=mode, samples=samples, seed=seed)
        nash = regularized_nash(g, beta)
        gap_name = "exploitability" if algo in _UNREGULARIZED else "exploitability_reg"

    out = out or default_out(g.name, algo)
    config = {"command": "align tabular", "game": g.name, "algo": algo, "beta": beta, "iterations": iterations,
              "mode": mode, "samples": samples, "seed": seed, "config": cfg.to_dict(),
              **({"target": target} if algo == "fdpg" else {})}
    run = Run(out, config, overwrite=overwrite)
    console = Console(stderr=True)
    console.print(f"[bold]{g.name}[/]: {g.num_contexts} context(s) x {g.num_responses} responses; {algo} ({mode})")

    def record(m) -> float:
        if algo == "fdpg":
            gap = m.gap()
            extra = {"queries": m.queries, **m.extra_metrics()}
        else:
            meas = measures(g, m.policy, beta, nash)
            avg = measures(g, m.average_policy, beta, nash)
            gap = meas[gap_name]
            extra = {"queries": m.queries, **meas, **{f"avg_{k}": v for k, v in avg.items()}, **m.extra_metrics()}
        run.log(Metrics(iteration=m.t, gap=float(gap), gap_name=gap_name, extra=extra))
        return float(gap)

    with progress(iterations, algo, gap_name=gap_name, disable=quiet) as update:
        update(0, record(method))
        method.run(iterations, callback=lambda m: update(1, record(m)))
    arrays = {"policy": method.policy}
    if nash is not None:
        arrays.update(average_policy=method.average_policy, nash=nash)
    atomic_save_npz(run.path("policy.npz"), **arrays)
    plot = plot_run(run.dir, title=f"{algo} on {g.name} (beta={beta}, {mode})")
    final = run.read_metrics()[-1]
    console.print(f"{gap_name} after {method.t} iterations: [bold]{final['gap']:.6e}[/]  (queries: {method.queries:,})")
    console.print(f"run: {run.dir}  (metrics.jsonl, policy.npz, {plot.name})")


from gtlearn.cli.align_train import train as _train  # noqa: E402  (LLM trainers; heavy imports stay inside)

app.command("train")(_train)
