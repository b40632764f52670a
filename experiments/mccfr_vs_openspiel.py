"""MCCFR (external and outcome sampling) against OpenSpiel's C++ solvers, same traversals.

For Kuhn and Leduc poker and both samplers, 5 seeds each: our :class:`MCCFRSolver` (rule
``cfr``, the MCCFR of the papers, and ``lcfr``, Linear MCCFR) and OpenSpiel's C++
``ExternalSamplingMCCFRSolver`` / ``OutcomeSamplingMCCFRSolver`` run the same number of
iterations (one traversal per player each); the exact exploitability of each average policy is
measured at log-spaced points (ours on the compiled tree, OpenSpiel's with
``pyspiel.exploitability``). Traversals per second (wall and CPU, measurement excluded) of both
come from the same run. Writes experiments/results/mccfr_vs_openspiel.{json,md,png}.

    python experiments/mccfr_vs_openspiel.py [--seeds 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pyspiel

from games.tree import compile_game
from solvers.best_response import exploitability
from solvers.mccfr import MCCFRConfig, MCCFRSolver

RESULTS = Path(__file__).resolve().parent / "results"
BUDGET = {"kuhn_poker": 20_000, "leduc_poker": 10_000}
POINTS = 8


def checkpoints(total: int) -> list[int]:
    return sorted({int(round(x)) for x in np.geomspace(100, total, POINTS)})


def run_ours(game: str, sampler: str, rule: str, seed: int, total: int, tree) -> dict:
    solver = MCCFRSolver(game, MCCFRConfig(sampler=sampler, rule=rule, seed=seed), tree=tree)
    gaps, wall, cpu = [], 0.0, 0.0
    for point in checkpoints(total):
        w, c = time.perf_counter(), time.process_time()
        while solver.iteration < point:
            solver.step()
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
        gaps.append(exploitability(tree, solver.average_policy()))
    return {"gaps": gaps, "wall_s": wall, "cpu_s": cpu}


def run_openspiel(game: str, sampler: str, seed: int, total: int) -> dict:
    os_game = pyspiel.load_game(game)
    solver = (pyspiel.ExternalSamplingMCCFRSolver(os_game, seed) if sampler == "external"
              else pyspiel.OutcomeSamplingMCCFRSolver(os_game, 0.6, seed))
    gaps, wall, cpu, done = [], 0.0, 0.0, 0
    for point in checkpoints(total):
        w, c = time.perf_counter(), time.process_time()
        for _ in range(point - done):
            solver.run_iteration()
        wall += time.perf_counter() - w
        cpu += time.process_time() - c
        done = point
        gaps.append(pyspiel.exploitability(os_game, solver.average_policy()))
    return {"gaps": gaps, "wall_s": wall, "cpu_s": cpu}


def summarize(runs: list[dict], total: int, n_players: int) -> dict:
    gaps = np.array([r["gaps"] for r in runs])
    traversals = total * n_players * len(runs)
    return {"mean": gaps.mean(axis=0).tolist(), "sd": gaps.std(axis=0, ddof=1).tolist() if len(runs) > 1 else [0.0] * gaps.shape[1],
            "final": [float(g) for g in gaps[:, -1]],
            "traversals_per_s": traversals / sum(r["wall_s"] for r in runs),
            "traversals_per_cpu_s": traversals / sum(r["cpu_s"] for r in runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of the budget (smoke run)")
    args = parser.parse_args()
    out = {"machine": {"cpus": os.cpu_count(), "load_start": os.getloadavg()[0]}, "games": {}}
    for game, total in BUDGET.items():
        total = total // 10 if args.quick else total
        tree = compile_game(game)
        rows = {"iterations": checkpoints(total)}
        for sampler in ("external", "outcome"):
            for rule in ("cfr", "lcfr"):
                runs = [run_ours(game, sampler, rule, s, total, tree) for s in range(args.seeds)]
                rows[f"ours-{sampler}-{rule}"] = summarize(runs, total, tree.num_players)
                print(game, sampler, rule, rows[f"ours-{sampler}-{rule}"]["mean"][-1], flush=True)
            runs = [run_openspiel(game, sampler, s, total) for s in range(args.seeds)]
            rows[f"openspiel-{sampler}"] = summarize(runs, total, tree.num_players)
            print(game, sampler, "openspiel", rows[f"openspiel-{sampler}"]["mean"][-1], flush=True)
        out["games"][game] = rows
    out["machine"]["load_end"] = os.getloadavg()[0]
    write(out, args.seeds)


def write(out: dict, seeds: int) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mccfr_vs_openspiel.json").write_text(json.dumps(out, indent=1))
    lines = [f"# MCCFR vs OpenSpiel C++ ({seeds} seeds, mean ± sd of the exact exploitability; "
             f"load {out['machine']['load_start']:.1f}-{out['machine']['load_end']:.1f} on {out['machine']['cpus']} cores)", ""]
    for game, rows in out["games"].items():
        its = rows["iterations"]
        lines += [f"## {game} ({its[-1]:,} iterations = {its[-1]:,} traversals per player)", "",
                  "| solver | exploitability at the end | traversals/s (wall) | traversals/CPU-s |", "|---|---|---|---|"]
        for name, r in rows.items():
            if name == "iterations":
                continue
            lines.append(f"| {name} | {r['mean'][-1]:.4f} ± {r['sd'][-1]:.4f} | {r['traversals_per_s']:,.0f} | "
                         f"{r['traversals_per_cpu_s']:,.0f} |")
        lines.append("")
    (RESULTS / "mccfr_vs_openspiel.md").write_text("\n".join(lines))
    plot(out)


def plot(out: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    games = list(out["games"])
    fig, axes = plt.subplots(1, len(games), figsize=(6 * len(games), 4.5))
    for ax, game in zip(np.atleast_1d(axes), games):
        rows = out["games"][game]
        its = np.array(rows["iterations"])
        for name, r in rows.items():
            if name == "iterations":
                continue
            mean, sd = np.array(r["mean"]), np.array(r["sd"])
            ax.loglog(its, mean, label=name, ls="--" if name.startswith("openspiel") else "-")
            ax.fill_between(its, np.maximum(mean - sd, 1e-6), mean + sd, alpha=0.15)
        ax.set_title(game)
        ax.set_xlabel("iterations (one traversal per player)")
        ax.set_ylabel("exploitability")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "mccfr_vs_openspiel.png", dpi=120)


if __name__ == "__main__":
    main()
