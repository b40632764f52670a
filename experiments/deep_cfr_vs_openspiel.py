"""Deep CFR against OpenSpiel's PyTorch Deep CFR, same traversal and training budget.

For Kuhn and Leduc poker, 3 seeds each: our :class:`DeepCFRSolver` and OpenSpiel's
``open_spiel.python.pytorch.deep_cfr.DeepCFRSolver`` with the same iterations, traversals per
iteration, network sizes, learning rate, batch sizes, memory and gradient steps. Both final
average-policy networks are evaluated the same way: the network's probabilities on the legal
actions of every infoset, renormalized (OpenSpiel's ``action_probabilities`` leaves them
unnormalized), exact exploitability on the compiled tree. Wall and CPU time of both (PyTorch
on one thread for both by default: with networks this small, more threads only wait on each
other).
Writes experiments/results/deep_cfr_vs_openspiel.{json,md}.

    python experiments/deep_cfr_vs_openspiel.py [--seeds 3] [--quick] [--games leduc_poker]

``--games`` measures only those games and keeps the other games' rows of the saved results.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from games.openspiel import load_game
from games.tree import compile_game
from solvers.best_response import exploitability
from solvers.deep_cfr import DeepCFRConfig
from solvers.deep_cfr.solver import DeepCFRSolver, infoset_tensors

RESULTS = Path(__file__).resolve().parent / "results"
BUDGETS = {
    "kuhn_poker": dict(iterations=40, traversals=40, advantage_layers=[16, 16], policy_layers=[32, 32],
                       learning_rate=1e-3, batch_size_advantage=256, batch_size_strategy=512, memory_capacity=100_000,
                       advantage_train_steps=60, policy_train_steps=600),
    "leduc_poker": dict(iterations=20, traversals=100, advantage_layers=[64, 64], policy_layers=[64, 64],
                        learning_rate=1e-3, batch_size_advantage=512, batch_size_strategy=1024, memory_capacity=400_000,
                        advantage_train_steps=120, policy_train_steps=1500),
}


def on_tree(tree, probs: np.ndarray) -> np.ndarray:
    rows = np.where(tree.legal, np.take_along_axis(probs, np.maximum(tree.actions, 0).astype(np.int64), axis=1), 0.0)
    total = rows.sum(axis=1, keepdims=True)
    return np.where(total > 0, rows / np.where(total > 0, total, 1.0), tree.legal / tree.legal.sum(axis=1, keepdims=True))


def run_ours(game_string: str, tree, budget: dict, seed: int) -> dict:
    cfg = DeepCFRConfig(**{k: v for k, v in budget.items() if k != "iterations"}, seed=seed)
    w, c = time.perf_counter(), time.process_time()
    solver = DeepCFRSolver(game_string, cfg, tree=tree)
    for _ in range(budget["iterations"]):
        solver.step()
    policy = solver.average_policy()  # trains the average-policy network
    return {"exploitability": exploitability(tree, policy), "wall_s": time.perf_counter() - w,
            "cpu_s": time.process_time() - c}


def run_openspiel(game_string: str, tree, budget: dict, seed: int) -> dict:
    from open_spiel.python.pytorch import deep_cfr

    game = load_game(game_string)
    w, c = time.perf_counter(), time.process_time()
    solver = deep_cfr.DeepCFRSolver(
        game, policy_network_layers=tuple(budget["policy_layers"]),
        advantage_network_layers=tuple(budget["advantage_layers"]), num_iterations=budget["iterations"],
        num_traversals=budget["traversals"], learning_rate=budget["learning_rate"],
        batch_size_advantage=budget["batch_size_advantage"], batch_size_strategy=budget["batch_size_strategy"],
        memory_capacity=budget["memory_capacity"], policy_network_train_steps=budget["policy_train_steps"],
        advantage_network_train_steps=budget["advantage_train_steps"], seed=seed)
    solver.solve()
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    with torch.no_grad():
        probs = solver._policy_network(torch.from_numpy(infoset_tensors(game, tree))).numpy()
    return {"exploitability": exploitability(tree, on_tree(tree, probs)), "wall_s": wall, "cpu_s": cpu}


def back_to_back(games: list[str]) -> None:
    saved = RESULTS / "deep_cfr_vs_openspiel.json"
    out = json.loads(saved.read_text())
    for game in games:
        tree = compile_game(game)
        row = {"load_start": os.getloadavg()[0]}
        for name, fn in (("ours", run_ours), ("openspiel", run_openspiel)):
            r = fn(game, tree, BUDGETS[game], 0)
            row[name] = {"wall_s": r["wall_s"], "cpu_s": r["cpu_s"], "exploitability": r["exploitability"]}
            print(game, name, row[name], flush=True)
        row["load_end"] = os.getloadavg()[0]
        out["games"][game]["back_to_back_seed0"] = row
    saved.write_text(json.dumps(out, indent=1))
    write_md(out)


def write_md(out: dict) -> None:
    lines = [f"# Deep CFR vs OpenSpiel's PyTorch Deep CFR ({out['machine']['cpus']} cores, shared; PyTorch on "
             f"{out['machine']['torch_threads']} thread(s) for both)", "",
             "Wall and CPU seconds are per seed (mean). Load = 1-minute load average at the start / end of the game's runs.",
             ""]
    for game in sorted(out["games"]):
        rows = out["games"][game]
        b = rows.get("budget", BUDGETS[game])
        load = f", load {rows['load_start']:.1f}-{rows['load_end']:.1f}" if "load_start" in rows else ""
        lines += [f"## {game}: {b['iterations']} iterations x {b['traversals']} traversals per player, "
                  f"{b['advantage_train_steps']} / {b['policy_train_steps']} advantage / policy steps "
                  f"({rows.get('seeds', len(rows['ours']['exploitability']))} seeds{load})", "",
                  "| solver | exploitability (mean ± sd) | per seed | wall s | CPU s |", "|---|---|---|---|---|"]
        for name in ("ours", "openspiel"):
            r = rows[name]
            lines.append(f"| {name} | {r['mean']:.4f} ± {r['sd']:.4f} | {', '.join(f'{g:.4f}' for g in r['exploitability'])} "
                         f"| {r['wall_s']:.1f} | {r['cpu_s']:.1f} |")
        bb = rows.get("back_to_back_seed0")
        if bb:
            lines += ["", f"Seed 0 again, ours then OpenSpiel's right after (load {bb['load_start']:.1f}-{bb['load_end']:.1f}): "
                      f"ours {bb['ours']['wall_s']:.1f} s wall / {bb['ours']['cpu_s']:.1f} s CPU, OpenSpiel "
                      f"{bb['openspiel']['wall_s']:.1f} s wall / {bb['openspiel']['cpu_s']:.1f} s CPU "
                      f"(exploitability {bb['ours']['exploitability']:.4f} / {bb['openspiel']['exploitability']:.4f})."]
        lines.append("")
    (RESULTS / "deep_cfr_vs_openspiel.md").write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="a fifth of the iterations (smoke run)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="PyTorch threads for both solvers (their networks are tiny: one thread is fastest)")
    parser.add_argument("--games", nargs="+", choices=sorted(BUDGETS), default=sorted(BUDGETS))
    parser.add_argument("--back-to-back", action="store_true",
                        help="only time seed 0 of ours and OpenSpiel's one right after the other per game (the wall "
                             "times of the seed runs above drift with the machine's load) and add it to the results")
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    if args.back_to_back:
        back_to_back(args.games)
        return
    saved = RESULTS / "deep_cfr_vs_openspiel.json"
    out = {"machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                       "load_start": os.getloadavg()[0]}, "games": {}}
    if saved.exists() and set(args.games) != set(BUDGETS):
        out["games"] = {g: r for g, r in json.loads(saved.read_text())["games"].items() if g not in args.games}
    for game in args.games:
        budget = BUDGETS[game]
        budget = dict(budget, iterations=max(2, budget["iterations"] // 5)) if args.quick else budget
        tree = compile_game(game)
        rows = {"budget": budget, "seeds": args.seeds, "load_start": os.getloadavg()[0]}
        for name, fn in (("ours", run_ours), ("openspiel", run_openspiel)):
            runs = [fn(game, tree, budget, s) for s in range(args.seeds)]
            gaps = [r["exploitability"] for r in runs]
            rows[name] = {"exploitability": gaps, "mean": float(np.mean(gaps)), "sd": float(np.std(gaps, ddof=1)),
                          "wall_s": float(np.mean([r["wall_s"] for r in runs])),
                          "cpu_s": float(np.mean([r["cpu_s"] for r in runs]))}
            print(game, name, rows[name], flush=True)
        rows["load_end"] = os.getloadavg()[0]
        out["games"][game] = rows
    out["machine"]["load_end"] = os.getloadavg()[0]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "deep_cfr_vs_openspiel.json").write_text(json.dumps(out, indent=1))
    write_md(out)


if __name__ == "__main__":
    main()
