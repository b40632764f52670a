"""``gtlearn werewolf``: the LSPO Werewolf agent -- ``train``, ``eval``, ``play``, ``rpsls``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gtlearn.core.errors import GtlearnError

app = typer.Typer(
    help="The LSPO Werewolf agent (latent strategy space + CFR + DPO; arXiv 2502.04686).",
    no_args_is_help=True,
)

_AGENTS = "random, rule, iter0, or lspo:RUN[:ITERATION] (default: the last iteration)"


@app.command("train")
def train(
    iterations: int = typer.Option(3, "--iterations", "-n", help="LSPO iterations."),
    preset: str = typer.Option("cpu", "--preset", help="ci (40 games), cpu (200 games) or paper (1000 games)."),
    games: int | None = typer.Option(None, "--games", help="Self-play games per iteration (overrides the preset)."),
    traversals: int | None = typer.Option(None, "--traversals", help="MCCFR traversals per iteration."),
    embedder: str = typer.Option("hashing", "--embedder", help="auto, minilm, tfidf or hashing."),
    policy: str = typer.Option("template", "--policy", help="template (offline default) or hf."),
    model_path: str | None = typer.Option(None, "--model-path", help="Local causal LM directory (policy hf)."),
    lora: bool = typer.Option(False, "--lora", help="DPO through a LoRA adapter (policy hf)."),
    utility: str = typer.Option("shaped", "--utility", help="CFR utility: shaped or win."),
    seed: int = typer.Option(0, "--seed"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default runs/lspo_werewolf_<time>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (same settings; --iterations may "
                                "grow): finished iterations are loaded, the rest are run."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run in --out."),
) -> None:
    """Run the LSPO loop: self-play, per-role k-means, MCCFR on the abstraction, DPO. The run
    directory holds config.json, metrics.jsonl (one record per iteration) and iter_<k>/."""
    import time

    from alignment.lspo.loop import LSPOConfig, LSPOTrainer
    from gtlearn.cli.common import default_out

    if resume and overwrite:
        raise GtlearnError("--resume and --overwrite exclude each other")
    if resume and out is None:
        raise GtlearnError("--resume needs --out, the run directory to continue")
    cfg = LSPOConfig.preset(
        preset, iterations=iterations, games=games, traversals=traversals, embedder=embedder, policy=policy,
        model_path=model_path, lora=lora, utility=utility, seed=seed,
    )
    out = out or default_out("lspo_werewolf")
    t0 = time.perf_counter()
    summaries = LSPOTrainer(cfg, out, resume=resume, overwrite=overwrite,
                            log=lambda msg: typer.echo(msg, err=True)).train()
    typer.echo(json.dumps({"run": str(out), "iterations": len(summaries),
                           "seconds": round(time.perf_counter() - t0, 1)}))


def _agent(spec: str):
    from alignment.lspo.evaluate import baseline_agent, lspo_agent

    if spec.startswith("lspo:"):
        parts = spec.split(":")
        run = Path(parts[1])
        if len(parts) > 2:
            it = int(parts[2])
        else:
            done = sorted(int(p.name.split("_")[1]) for p in run.glob("iter_*") if (p / "done.json").exists())
            if not done:
                raise GtlearnError(f"{run} holds no finished LSPO iteration")
            it = done[-1]
        return lspo_agent(run, it)
    return baseline_agent(spec)


@app.command("eval")
def evaluate(
    run: Path = typer.Argument(..., help="An LSPO run directory (from `gtlearn werewolf train`)."),
    opponents: str = typer.Option("random,rule,iter0", "--opponents", help="Comma list of random, rule, iter0, final."),
    games: int = typer.Option(200, "--games", help="Games per (iteration, opponent, side)."),
    iterations: str = typer.Option("all", "--iterations", help="'all' (0..last) or a comma list, e.g. 1,3."),
    seed: int = typer.Option(1, "--seed"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Write the results as JSON here."),
) -> None:
    """Win rates by side, with 95% Wilson intervals, of each iteration's agent against opponents."""
    from alignment.lspo.evaluate import baseline_agent, head_to_head, lspo_agent

    if games < 1:
        raise GtlearnError("--games must be positive")
    done = sorted(int(p.name.split("_")[1]) for p in run.glob("iter_*") if (p / "done.json").exists())
    if not done:
        raise GtlearnError(f"{run} holds no finished LSPO iteration")
    its = [0] + done if iterations == "all" else [int(x) for x in iterations.split(",")]
    results: dict = {}
    final = lspo_agent(run, done[-1])
    for it in its:
        agent = lspo_agent(run, it)
        for opp in [o.strip() for o in opponents.split(",") if o.strip()]:
            opponent = final if opp == "final" else baseline_agent(opp)
            r = head_to_head(agent, opponent, games, seed)
            results.setdefault(str(it), {})[opp] = r
            cells = "  ".join(
                f"{side}: {v['win_rate']:.3f} [{v['ci95'][0]:.3f}, {v['ci95'][1]:.3f}]" for side, v in r.items()
            )
            typer.echo(f"iteration {it} vs {opp:6s} {cells}")
    if out:
        from gtlearn.core.io import atomic_write_json

        atomic_write_json(out, {"run": str(run), "games": games, "seed": seed, "results": results})


@app.command("play")
def play(
    seed: int = typer.Option(0, "--seed"),
    agent: str = typer.Option("rule", "--agent", help=f"Agent for every seat: {_AGENTS}."),
    wolves: str | None = typer.Option(None, "--wolves", help="Agent for the werewolf side (overrides --agent)."),
    village: str | None = typer.Option(None, "--village", help="Agent for the village side (overrides --agent)."),
) -> None:
    """Play one game and print its full log (roles, night actions, statements, votes)."""
    import random

    from games.werewolf.engine import WEREWOLF, WerewolfEngine
    from games.werewolf.observations import info_state
    from games.werewolf.render import spectator_log

    wolf_agent = _agent(wolves or agent)
    village_agent = _agent(village or agent)
    eng = WerewolfEngine()
    eng.reset(seed)
    rng = random.Random(seed + 1)
    while not eng.done:
        joint = {}
        for p in eng.actors():
            seat = wolf_agent if eng.roles[p] == WEREWOLF else village_agent
            state = info_state(eng, p)
            joint[p] = seat.speak(state, rng) if eng.phase == "discussion" else seat.act(state, rng)
        eng.step(joint)
    typer.echo(spectator_log(eng))


@app.command("rpsls")
def rpsls(
    embedder: str = typer.Option("hashing", "--embedder", help="hashing, tfidf, minilm or auto."),
    iterations: int = typer.Option(3, "--iterations", "-n"),
    turns: int = typer.Option(200, "--turns", help="Candidate-generating turns per iteration."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """The RPSLS toy check: exploitability of LSPO's policy per iteration (k = 3, 4, 5)."""
    from alignment.lspo.rpsls import RPSLSConfig, run_rpsls

    if iterations < 1 or turns < 1:
        raise GtlearnError("--iterations and --turns must be positive")
    for r in run_rpsls(RPSLSConfig(iterations=iterations, turns=turns, embedder=embedder, seed=seed)):
        typer.echo(f"iteration {r.iteration}: k={r.k} exploitability={r.exploitability:.4f} "
                   f"purity={r.purity:.3f} pairs={r.pairs}")
