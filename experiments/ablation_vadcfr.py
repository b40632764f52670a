"""Ablation of VAD-CFR (arXiv:2602.16928; docs/cfr.md, VAD-CFR): which mechanism carries the gain.

The mechanisms are the constructor switches of ``solvers/cfr/rules/vad_cfr.py`` (defaults = the
published listing): volatility-adaptive discounting, the positive-regret boost, the asymmetric
(sign-dependent) discount, the -20 regret floor, the optimistic prediction term, the policy
exponent 1.5, the regret-magnitude weighting of the average and the hard warm start of the
average (no averaging before t = 501). Protocol of the CFR sweep: 1000 iterations, alternating
updates, exact exploitability of the average policy at t = 1000, numba backend. Fitness is
relative to CFR+ (the program search's baseline, docs/evolve.md). Training games: the paper's
four; held-out: its four test games. See ``experiments/ablation_common.py`` for the method.

Writes ``experiments/results/ablation_vadcfr.{json,md,png}``; runs are cached under
``runs/ablation_vadcfr/``::

    python experiments/ablation_vadcfr.py
    python experiments/ablation_vadcfr.py --held-out none      # training games only
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from ablation_common import Study, cost_line, games_text, plot, report_lines  # noqa: E402
from discovery_games import TEST_GAMES, TRAINING_GAMES, short  # noqa: E402

RESULTS = ROOT / "experiments" / "results"
CACHE = ROOT / "runs" / "ablation_vadcfr"
ITERATIONS = 1000
MECHANISMS = ["volatility", "boost", "asymmetric", "floor", "optimism", "power", "magnitude", "warm_start"]
DESCRIBE = {
    "volatility": "v = 0: fixed discounts alpha = 1.5, beta = -0.1, undamped optimism",
    "boost": "no 1.1 boost of positive instantaneous regrets",
    "asymmetric": "negative cumulative regrets discounted like positive ones (d- = d+)",
    "floor": "no -20 floor on cumulative regrets",
    "optimism": "no optimistic prediction term in the next policy",
    "power": "regret matching RM_1 instead of RM_1.5",
    "magnitude": "average weight t^2: no regret-magnitude terms",
    "warm_start": "average from t = 1 (no hard warm start)",
}
_TREES: dict = {}


def rule_kwargs(off) -> dict:
    kw = {m: False for m in off if m != "warm_start"}
    if "warm_start" in off:
        kw["warmup"] = 0
    return kw


def _tree(game: str):
    from games.tree import compile_game

    if game not in _TREES:
        _TREES[game] = compile_game(game)
    return _TREES[game]


def final(game: str, rule: str, kwargs: dict) -> dict:
    from gtlearn.core.driver import drive
    from solvers.cfr.engine import CFRSolver

    t0 = time.perf_counter()
    solver = CFRSolver(_tree(game), rule=rule, rule_kwargs=kwargs)
    res = drive(solver, ITERATIONS, eval_at=[ITERATIONS])
    return {"final": res.final_gap, "rule": repr(solver.rule), "seconds": time.perf_counter() - t0}


def main(argv=None) -> None:
    from gtlearn.core.io import atomic_write_bytes, atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--held-out", default="test", help="test | none | ';'-separated game strings (a subset, for cost)")
    args = ap.parse_args(argv)
    named = {"test": TEST_GAMES, "none": []}
    held = named[args.held_out] if args.held_out in named else [g for g in args.held_out.split(";") if g]
    # Cheap games first so the greedy study on the training games finishes early.
    training = sorted(TRAINING_GAMES, key=lambda g: "liars" in g)
    base_cache = CACHE / "baseline"

    def baseline(game):
        import json

        from discovery_games import slug

        path = base_cache / f"{slug(game)}.json"
        if not path.exists():
            base_cache.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(final(game, "cfr+", {})))
        return json.loads(path.read_text())["final"]

    study = Study(CACHE, MECHANISMS, lambda off, game: final(game, "vad-cfr", rule_kwargs(off)), baseline,
                  training, held)
    t0 = time.perf_counter()
    greedy = study.greedy()
    one_off = study.one_off() if held else []
    data = {"algorithm": "vad-cfr", "iterations": ITERATIONS, "baseline": "cfr+", "mechanisms": DESCRIBE,
            "training_games": training, "held_out_games": held, "one_off": one_off, "greedy": greedy,
            "wall_seconds_this_invocation": time.perf_counter() - t0,
            "runs": len(study.run_seconds), "wall_seconds_all_runs": sum(study.run_seconds.values())}
    atomic_write_json(RESULTS / "ablation_vadcfr.json", data)
    lines = ["# Ablation of VAD-CFR", "",
             f"{ITERATIONS} iterations, alternating updates, exact exploitability of the average policy at t = "
             f"{ITERATIONS}; fitness relative to CFR+. {games_text(training, held, TEST_GAMES, short)} Switches: "
             "constructor keywords of `solvers/cfr/rules/vad_cfr.py` (defaults = the published listing). Generated by "
             "`experiments/ablation_vadcfr.py`; method in `experiments/ablation_common.py`.", ""]
    lines += [cost_line(study), ""]
    if one_off:
        lines += report_lines("VAD-CFR", study, one_off, greedy, short, DESCRIBE, "VAD-core")
        plot(RESULTS / "ablation_vadcfr.png", "VAD-CFR", one_off, greedy)
    atomic_write_bytes(RESULTS / "ablation_vadcfr.md", ("\n".join(lines) + "\n").encode())
    print(f"wrote {RESULTS / 'ablation_vadcfr.md'}")


if __name__ == "__main__":
    main()
