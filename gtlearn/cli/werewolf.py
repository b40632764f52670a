"""``gtlearn werewolf``: the LSPO Werewolf agent -- ``train``, ``eval``, ``play``, ``rpsls``.

Every option, the run directory and the optional packages a command needs are checked before
it starts working, so a bad value is one ``error:`` line and leaves nothing behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from gtlearn.cli.common import check_writable, positive
from gtlearn.core.errors import GtlearnError

app = typer.Typer(
    help="The LSPO Werewolf agent (latent strategy space + CFR + DPO; arXiv 2502.04686).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_AGENTS = "random, rule, iter0, or lspo:RUN[:ITERATION] (default: the last iteration)"
_BASELINES = ("random", "rule", "iter0")
MAX_SEED = 2**63 - 1  # play and eval seed Python's random.Random, which takes any integer


@app.command("train")
def train(
    iterations: int = typer.Option(3, "--iterations", "-n", help="LSPO iterations (at most 999)."),
    preset: str = typer.Option("cpu", "--preset", help="ci (40 games), cpu (200 games) or paper (1000 games)."),
    games: int | None = typer.Option(None, "--games", help="Self-play games per iteration (overrides the preset)."),
    traversals: int | None = typer.Option(None, "--traversals", help="MCCFR traversals per iteration."),
    embedder: str = typer.Option("hashing", "--embedder", help="auto, minilm, tfidf or hashing."),
    policy: str = typer.Option("template", "--policy", help="template (offline default) or hf."),
    model_path: str | None = typer.Option(None, "--model-path", help="Local causal LM directory (policy hf)."),
    lora: bool = typer.Option(False, "--lora", help="DPO through a LoRA adapter (policy hf)."),
    utility: str = typer.Option("shaped", "--utility", help="CFR utility: shaped or win."),
    seed: int = typer.Option(0, "--seed", help="Seed of every stage (at most 42948: k-means takes 32-bit seeds)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (default runs/lspo_werewolf_<time>)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out (same settings; --iterations may "
                                "grow): finished iterations are loaded, the rest are run."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace the run in --out."),
) -> None:
    """Run the LSPO loop: self-play, per-role k-means, MCCFR on the abstraction, DPO. The run
    directory holds config.json, metrics.jsonl (one record per iteration) and iter_<k>/."""
    import time

    from alignment.lspo.config import MAX_ITERATIONS, LSPOConfig
    from alignment.lspo.config import MAX_SEED as MAX_TRAIN_SEED
    from alignment.lspo.loop import LSPOTrainer
    from gtlearn.cli.common import default_out
    from gtlearn.cli.errors import resumable

    positive("iterations", iterations, maximum=MAX_ITERATIONS)
    for name, value in (("games", games), ("traversals", traversals)):
        if value is not None:
            positive(name, value)
    positive("seed", seed, allow_zero=True, maximum=MAX_TRAIN_SEED)
    if resume and overwrite:
        raise GtlearnError("--resume and --overwrite exclude each other")
    if resume and out is None:
        raise GtlearnError("--resume needs --out, the run directory to continue")
    cfg = LSPOConfig.preset(
        preset, iterations=iterations, games=games, traversals=traversals, embedder=embedder, policy=policy,
        model_path=model_path, lora=lora, utility=utility, seed=seed,
    )
    cfg.validate()
    out = check_writable(out or default_out("lspo_werewolf"))
    t0 = time.perf_counter()
    trainer = LSPOTrainer(cfg, out, resume=resume, overwrite=overwrite, log=lambda msg: typer.echo(msg, err=True))
    resumable(trainer.dir)
    summaries = trainer.train()
    typer.echo(json.dumps({"run": str(out), "iterations": len(summaries),
                           "seconds": round(time.perf_counter() - t0, 1)}))


def _agent_spec(spec: str) -> tuple[str, Path | None, int | None]:
    """``(name, run, iteration)`` of an agent spec, checked (the run's iteration finished and
    its packages installed) before any game is played."""
    from alignment.lspo.loop import check_iteration, finished_iterations, read_config

    if spec in _BASELINES:
        return spec, None, None
    if not spec.startswith("lspo:"):
        raise GtlearnError(f"unknown agent {spec!r}; use {_AGENTS}")
    run_part, _, it_part = spec[len("lspo:"):].partition(":")
    if not run_part:
        raise GtlearnError(f"agent {spec!r} names no run directory; use lspo:RUN[:ITERATION]")
    run = Path(run_part)
    read_config(run)
    if it_part:
        if not (it_part.isascii() and it_part.isdigit()):
            raise GtlearnError(f"agent {spec!r}: the iteration must be a non-negative integer, got {it_part!r}")
        it = int(it_part)
    else:
        done = finished_iterations(run)
        if not done:
            raise GtlearnError(f"{run} holds no finished LSPO iteration")
        it = done[-1]
    if it:
        check_iteration(run, it)
    return "lspo", run, it


def _make_agent(spec: tuple[str, Path | None, int | None]):
    from alignment.lspo.evaluate import baseline_agent, lspo_agent

    name, run, it = spec
    return baseline_agent(name) if run is None else lspo_agent(run, it)


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
    from alignment.lspo.loop import check_iteration, finished_iterations, read_config

    positive("games", games)
    positive("seed", seed, allow_zero=True, maximum=MAX_SEED)
    read_config(run)
    done = finished_iterations(run)
    if not done:
        raise GtlearnError(f"{run} holds no finished LSPO iteration")
    opps = _opponents(opponents)
    its = [0] + done if iterations == "all" else _iteration_list(iterations, done, run)
    for it in sorted({i for i in its if i} | {done[-1]}):
        check_iteration(run, it)
    if out is not None:
        if out.is_dir():
            raise GtlearnError(f"--out {out} is a directory; give a file name for the JSON results")
        check_writable(out.parent)
    results: dict = {}
    final = lspo_agent(run, done[-1])
    for it in its:
        agent = lspo_agent(run, it)
        for opp in opps:
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


def _opponents(text: str) -> list[str]:
    opps = [o.strip() for o in text.split(",") if o.strip()]
    if not opps:
        raise GtlearnError("--opponents is empty; give a comma list of random, rule, iter0, final")
    for opp in opps:
        if opp not in (*_BASELINES, "final"):
            raise GtlearnError(f"unknown opponent {opp!r}; use random, rule, iter0 or final")
    return opps


def _iteration_list(text: str, done: list[int], run: Path) -> list[int]:
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise GtlearnError(f"--iterations must be 'all' or a comma list of iteration numbers, got {text!r}")
    its = [int(p) for p in parts]
    missing = [i for i in its if i and i not in done]
    if missing:
        raise GtlearnError(f"iteration(s) {missing} of {run} are not finished (finished: {done}; 0 is the start)")
    return its


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

    positive("seed", seed, allow_zero=True, maximum=MAX_SEED)
    specs = [_agent_spec(agent if side is None else side) for side in (wolves, village)]
    wolf_agent, village_agent = (_make_agent(s) for s in specs)
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
    iterations: int = typer.Option(3, "--iterations", "-n", help="Iterations (at most 99)."),
    turns: int = typer.Option(200, "--turns", help="Candidate-generating turns per iteration."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """The RPSLS toy check: exploitability of LSPO's policy per iteration (k = 3, 4, 5)."""
    from alignment.lspo import rpsls as toy

    positive("iterations", iterations, maximum=toy.MAX_ITERATIONS)
    positive("turns", turns, maximum=toy.MAX_TURNS)
    positive("seed", seed, allow_zero=True, maximum=toy.MAX_SEED)
    cfg = toy.RPSLSConfig(iterations=iterations, turns=turns, embedder=embedder, seed=seed)
    cfg.validate()
    for r in toy.run_rpsls(cfg):
        typer.echo(f"iteration {r.iteration}: k={r.k} exploitability={r.exploitability:.4f} "
                   f"purity={r.purity:.3f} pairs={r.pairs}")
