"""Ablation of SHOR-PSRO (arXiv:2602.16928; docs/psro.md, SHOR-PSRO): which mechanism carries the gain.

Mechanisms are constructor switches of ``SHORTrain`` / ``SHOREval``
(``solvers/psro/meta_solvers/shor.py``; defaults = the published listing): the optimistic
extrapolation (mu), the softmax blend (lambda), the temperature's cooling, the whole annealing
schedule, the diversity bonus, the max-normalisation of the step, the time average of the
training solver, and the separate evaluation-time solver (replaced by the training solver's
annealed settings). Protocol of the PSRO sweep: K = 100, exact oracle and payoffs, e_K of the
evaluation profile; fitness relative to PSRO with the uniform meta-solver (fictitious play, the
paper's seed). Training games: the paper's four; held-out: its four test games (3-player Leduc's
dense meta-game makes each of its runs cost 12-22 min of wall time here, four jobs sharing 2 cores; ``--held-out`` takes a subset).
Method: ``experiments/ablation_common.py``.

Writes ``experiments/results/ablation_shor.{json,md,png}``; runs cached under ``runs/ablation_shor/``.
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
CACHE = ROOT / "runs" / "ablation_shor"
K = 100
HELD_OUT = list(TEST_GAMES)
ANNEALED_TRAIN = {"base": 1000, "slope": 20, "cap": 5000, "lam": 0.05, "tau": 0.01, "mu": 0.5, "c": 0.001, "avg": True}
# (train switches, eval switches) per mechanism; applied in this order so later ones win.
SWITCHES = {
    "annealing": ({"lam1": 0.30, "tau1": 0.50, "c1": 0.05}, {}),
    "temperature_cooling": ({"tau1": 0.50}, {}),
    "eval_solver": ({}, ANNEALED_TRAIN),
    "optimism": ({"mu": 0.0}, {"mu": 0.0}),
    "softmax_blend": ({"lam0": 0.0, "lam1": 0.0}, {"lam": 0.0}),
    "diversity": ({"c0": 0.0, "c1": 0.0}, {"c": 0.0}),
    "normalisation": ({"norm": False}, {"norm": False}),
    "time_average": ({"avg": False}, {}),
}
MECHANISMS = list(SWITCHES)
DESCRIBE = {
    "annealing": "training lambda, tau, c held at their initial values (no schedule)",
    "temperature_cooling": "training tau held at 0.5 (lambda and c still anneal)",
    "eval_solver": "evaluation by the training solver's annealed settings (L = 1000 + 20 n, lambda 0.05, tau 0.01, "
                   "mu 0.5, c 0.001, time average)",
    "optimism": "mu = 0 in both slots: plain RM+ on centred gains",
    "softmax_blend": "lambda = 0 in both slots: no softmax best-response blend",
    "diversity": "c = 0: no diversity bonus",
    "normalisation": "no max-normalisation of the step",
    "time_average": "training solver returns its last iterate",
}


def switches(off) -> tuple[dict, dict]:
    train, ev = {}, {}
    for m in MECHANISMS:
        if m in off:
            train.update(SWITCHES[m][0])
            ev.update(SWITCHES[m][1])
    return train, ev


def run(game: str, meta: str, train_kwargs: dict, eval_kwargs: dict) -> dict:
    from games.tree import compile_game
    from solvers.psro import PSROConfig, PSROSolver

    t0 = time.perf_counter()
    psro = PSROSolver(compile_game(game), PSROConfig(meta, train_kwargs=train_kwargs, eval_kwargs=eval_kwargs,
                                                      oracle_backend="numba", meta_form="auto"))
    while psro.iteration < K:
        psro.step()
    return {"final": psro.history[-1].exploitability, "curve": [r.exploitability for r in psro.history],
            "train": repr(psro.train_solver), "eval": repr(psro.eval_solver), "seconds": time.perf_counter() - t0}


def main(argv=None) -> None:
    import json

    from discovery_games import slug

    from gtlearn.core.io import atomic_write_bytes, atomic_write_json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--held-out", default="test", help="test | none | ';'-separated game strings (a subset, for cost)")
    args = ap.parse_args(argv)
    named = {"test": HELD_OUT, "none": []}
    held = named[args.held_out] if args.held_out in named else [g for g in args.held_out.split(";") if g]
    training = sorted(TRAINING_GAMES, key=lambda g: "liars" in g)

    def baseline(game):
        path = CACHE / "baseline" / f"{slug(game)}.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(path, run(game, "uniform", {}, {}))
        return json.loads(path.read_text())["final"]

    study = Study(CACHE, MECHANISMS, lambda off, game: run(game, "shor", *switches(off)), baseline, training, held)
    t0 = time.perf_counter()
    greedy = study.greedy()
    one_off = study.one_off() if held else []
    data = {"algorithm": "shor", "iterations": K, "baseline": "uniform", "mechanisms": DESCRIBE, "switches": SWITCHES,
            "training_games": training, "held_out_games": held, "one_off": one_off, "greedy": greedy,
            "wall_seconds_this_invocation": time.perf_counter() - t0,
            "runs": len(study.run_seconds), "wall_seconds_all_runs": sum(study.run_seconds.values())}
    atomic_write_json(RESULTS / "ablation_shor.json", data)
    lines = ["# Ablation of SHOR-PSRO", "",
             f"K = {K} PSRO iterations, exact oracle and payoffs, e_K of the evaluation profile; fitness relative to PSRO "
             f"with the uniform meta-solver. {games_text(training, held, TEST_GAMES, short)} Switches: constructor "
             "keywords of `SHORTrain` / `SHOREval` (defaults = the published listing). Generated by "
             "`experiments/ablation_shor.py`; method in `experiments/ablation_common.py`.", ""]
    lines += [cost_line(study), ""]
    if one_off:
        lines += report_lines("SHOR-PSRO", study, one_off, greedy, short, DESCRIBE, "SHOR-core")
        plot(RESULTS / "ablation_shor.png", "SHOR-PSRO", one_off, greedy)
    atomic_write_bytes(RESULTS / "ablation_shor.md", ("\n".join(lines) + "\n").encode())
    print(f"wrote {RESULTS / 'ablation_shor.md'}")


if __name__ == "__main__":
    main()
