"""Reproduction of the CFR-discovery benchmark (arXiv:2602.16928; docs/cfr.md), over replicas.

Protocol: the 4 training games and 4 test games of the paper's v1 suite plus small Blotto and
Battleship variants of its v3 suite (``experiments/discovery_games.py``); 1000 iterations of
every rule (the paper's seven baselines plus VAD-CFR and AOD-CFR), alternating updates;
exploitability = exact NashConv / n of the average policy, evaluated on a log-spaced grid of
iterations (a per-iteration curve costs one best response per iteration, which 3-player Leduc
cannot afford on 2 CPU cores) and always at 1000.

Every (game, rule) cell runs once per replica (``experiments/replicas.py``): the engine
backend, relabelled trees and payoffs perturbed by 1e-12 -- things that must not matter. The
report gives the median and the min-max range per cell and a verdict per claim (holds / does
not hold / not decided; see ``experiments/cfr_discovery_report.py``).

The sweep runs through :func:`gtlearn.core.driver.drive`, measuring at the grid points. Each
finished (game, rule, replica) run is cached as JSON under ``runs/cfr_discovery/`` so an
interrupted sweep resumes where it stopped. ``--reference`` additionally runs
``vad-cfr-reference`` (the slow per-history driver, docs/cfr.md) and its switch variants on
small games, next to ``vad-cfr``.

Writes ``experiments/results/cfr_discovery.{json,md,png}``::

    python experiments/cfr_discovery.py                      # every replica (hours on 2 cores)
    python experiments/cfr_discovery.py --replicas base      # one replica
    python experiments/cfr_discovery.py --report-only        # rebuild json/md/png from the cache
    python experiments/cfr_discovery.py --report-only --stem cfr_discovery_replicas --scope "..."  # a partial sweep
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from discovery_games import ALL_GAMES, EXTRA_GAMES, TRAINING_GAMES, short, slug  # noqa: E402
from replicas import CFR_REPLICAS, Replica, replica_tree  # noqa: E402

CACHE = ROOT / "runs" / "cfr_discovery"
BASELINES = ["cfr", "cfr+", "lcfr", "dcfr", "pcfr+", "pdcfr+", "hs-pcfr+"]
ALGOS = BASELINES + ["vad-cfr", "aod-cfr"]
# Reference-driver comparisons (small games only: the reference is pure Python, per history).
REFERENCE_RUNS = [
    ("kuhn_poker(players=3)", 1000, {}),
    ("kuhn_poker(players=3)", 1000, {"policy_write": "immediate"}),
    ("kuhn_poker(players=3)", 1000, {"index_base": 1}),
    ("kuhn_poker", 1000, {}),
    ("leduc_poker", 1000, {}),
]
# The open readings of HS-PCFR+ (docs/cfr.md), run on the training games.
VARIANTS = [
    ("hs-pcfr+", {"form": "weight"}),
    ("hs-pcfr+", {"index": "t"}),
]
# DCFR's order="discount_then_add" is not listed: it gives the same policies as OpenSpiel's order
# (R_B^t is the pre-discount value of R_A^t, and RM only sees the positive entries, all scaled
# by the same d_alpha(t)), hence the same exploitability.
# Cheapest games first, 3-player Leduc (1.8M nodes) last, so partial results come early.
ORDER = ["kuhn_poker(players=3)", "kuhn_poker(players=4)", TRAINING_GAMES[2], *EXTRA_GAMES[:3], "leduc_poker",
         ALL_GAMES[6], "liars_dice(dice_sides=5)", EXTRA_GAMES[3], "liars_dice(dice_sides=6)", "leduc_poker(players=3)"]


def log_grid(iterations: int, points: int = 40) -> list[int]:
    grid = set(np.unique(np.round(np.logspace(0, math.log10(iterations), points)).astype(int)).tolist())
    grid |= {10, 100, 500, 501, iterations} & set(range(1, iterations + 1))
    return sorted(g for g in grid if 1 <= g <= iterations)


def cache_path(game: str, rule: str, iterations: int, replica: str) -> Path:
    return CACHE / f"{slug(game)}__{slug(rule)}__{iterations}__{replica}.json"


def run_one(tree, rule: str, grid: list[int], rule_kwargs: dict | None = None, replica: Replica | None = None) -> dict:
    from gtlearn.core.driver import drive
    from solvers.cfr.engine import CFRSolver

    replica = replica or CFR_REPLICAS[0]
    tree, _ = replica_tree(tree, replica)
    solver = CFRSolver(tree, rule=rule, rule_kwargs=rule_kwargs, backend=replica.backend)
    res = drive(solver, grid[-1], eval_at=grid)
    ys = res.gaps
    return {"rule": rule, "replica": replica.name, "iterations": res.iterations, "exploitability": ys, "final": ys[-1],
            "seconds_iterating": res.seconds_stepping, "seconds_evaluating": res.seconds_evaluating,
            "backend": solver.backend}


def sweep(games: list[str], algos: list[str], iterations: int, points: int, replicas: list[Replica]) -> None:
    from games.tree import compile_game

    CACHE.mkdir(parents=True, exist_ok=True)
    grid = log_grid(iterations, points)
    for replica in replicas:
        for game in games:
            todo = [a for a in algos if not cache_path(game, a, iterations, replica.name).exists()]
            todo.sort(key=lambda a: a != "vad-cfr")  # the rule under study first
            if not todo:
                continue
            t0 = time.perf_counter()
            tree = compile_game(game)
            compile_s = time.perf_counter() - t0
            print(f"[{replica.name}] {short(game)}: {tree.num_nodes:,} nodes, {tree.num_infosets:,} infosets", flush=True)
            for algo in todo:
                t0 = time.perf_counter()
                out = run_one(tree, algo, grid, replica=replica)
                out.update(game=game, wall_seconds=time.perf_counter() - t0, compile_seconds=compile_s,
                           nodes=tree.num_nodes, infosets=tree.num_infosets, finished_at=time.time())
                from gtlearn.core.io import atomic_write_json

                atomic_write_json(cache_path(game, algo, iterations, replica.name), out)
                print(f"  {algo:9s} final {out['final']:.3e}  {out['wall_seconds']:.1f}s", flush=True)


def reference_runs() -> None:
    from games.tree import compile_game
    from solvers.cfr.vad_cfr_reference import VADCFRReference

    CACHE.mkdir(parents=True, exist_ok=True)
    for game, iterations, switches in REFERENCE_RUNS:
        tag = ",".join(f"{k}={v}" for k, v in sorted(switches.items())) or "default"
        path = CACHE / f"reference__{slug(game)}__{slug(tag)}__{iterations}.json"
        if path.exists():
            continue
        tree = compile_game(game)
        grid = log_grid(iterations)
        t0 = time.perf_counter()
        ref = VADCFRReference(tree, **switches)
        xs, ys, cur, seconds = [], [], [], 0.0
        for point in grid:
            t1 = time.perf_counter()
            while ref.iteration < point:
                ref.step()
            seconds += time.perf_counter() - t1
            xs.append(point)
            ys.append(ref.exploitability())
            cur.append(ref.exploitability(average=False))
        out = {"game": game, "switches": switches, "tag": tag, "iterations": xs, "exploitability": ys,
               "current_exploitability": cur, "final": ys[-1], "seconds_iterating": seconds,
               "wall_seconds": time.perf_counter() - t0}
        path.write_text(json.dumps(out))
        print(f"reference {short(game)} [{tag}]: final {ys[-1]:.3e} ({out['wall_seconds']:.1f}s)", flush=True)


def _variant_tag(rule: str, kwargs: dict) -> str:
    return rule + "(" + ",".join(f"{k}={v}" for k, v in sorted(kwargs.items())) + ")"


def variant_runs(iterations: int) -> None:
    from games.tree import compile_game

    for game in TRAINING_GAMES:
        tree = None
        for rule, kwargs in VARIANTS:
            tag = _variant_tag(rule, kwargs)
            path = CACHE / f"variant__{slug(game)}__{slug(tag)}__{iterations}.json"
            if path.exists():
                continue
            tree = tree or compile_game(game)
            t0 = time.perf_counter()
            out = run_one(tree, rule, log_grid(iterations), kwargs)
            out.update(game=game, tag=tag, wall_seconds=time.perf_counter() - t0)
            path.write_text(json.dumps(out))
            print(f"variant {short(game)} {tag}: final {out['final']:.3e}", flush=True)


def load_variants(iterations: int) -> list[dict]:
    out = []
    for game in TRAINING_GAMES:
        for rule, kwargs in VARIANTS:
            path = CACHE / f"variant__{slug(game)}__{slug(_variant_tag(rule, kwargs))}__{iterations}.json"
            if path.exists():
                out.append(json.loads(path.read_text()))
    return out


def load_cache(iterations: int, games: list[str], algos: list[str], replicas: list[str]) -> dict:
    """table[game][algo][replica] = the cached run."""
    table: dict = {}
    for game in games:
        for algo in algos:
            for rep in replicas:
                path = cache_path(game, algo, iterations, rep)
                if path.exists():
                    table.setdefault(game, {}).setdefault(algo, {})[rep] = json.loads(path.read_text())
    return table


def load_reference() -> list[dict]:
    out = []
    for game, iterations, switches in REFERENCE_RUNS:
        tag = ",".join(f"{k}={v}" for k, v in sorted(switches.items())) or "default"
        path = CACHE / f"reference__{slug(game)}__{slug(tag)}__{iterations}.json"
        if path.exists():
            out.append(json.loads(path.read_text()))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=1000)
    ap.add_argument("--points", type=int, default=40, help="size of the log-spaced evaluation grid")
    ap.add_argument("--games", default="all", help="all | v1 | extra | ';'-separated game strings")
    ap.add_argument("--algos", default=",".join(ALGOS))
    ap.add_argument("--replicas", default=",".join(r.name for r in CFR_REPLICAS))
    ap.add_argument("--reference", action="store_true", help="also run vad-cfr-reference on small games")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--stem", default="cfr_discovery", help="report file names: experiments/results/STEM.{json,md,png}")
    ap.add_argument("--scope", default=None, help="one sentence saying what a partial sweep covers (top of the report)")
    args = ap.parse_args(argv)
    games = {"all": ALL_GAMES, "v1": ALL_GAMES[:8], "extra": EXTRA_GAMES}.get(
        args.games, [g for g in args.games.split(";") if g])
    games = sorted(games, key=lambda g: ORDER.index(g) if g in ORDER else -1)
    by_name = {r.name: r for r in CFR_REPLICAS}
    replicas = [by_name[n] for n in args.replicas.split(",") if n]
    algos = [a for a in args.algos.split(",") if a]
    if not args.report_only:
        t0 = time.perf_counter()
        sweep(games, algos, args.iterations, args.points, replicas)
        print(f"sweep invocation: {time.perf_counter() - t0:.0f}s", flush=True)
        if args.reference:
            reference_runs()
            variant_runs(args.iterations)
    from cfr_discovery_report import write_report

    table = load_cache(args.iterations, ALL_GAMES, ALGOS, [r.name for r in CFR_REPLICAS])
    write_report(table, load_reference(), args.iterations, load_variants(args.iterations), args.stem, args.scope)
    print(f"wrote experiments/results/{args.stem}.md")


if __name__ == "__main__":
    main()
