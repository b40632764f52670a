"""The ablation method shared by ``ablation_vadcfr.py`` and ``ablation_shor.py``.

An algorithm is a set of named mechanisms, each with an "off" setting (constructor switches of
the rule or meta-solver; defaults = the published algorithm). Fitness on a game is
-log10(max(e, 1e-12) / max(e_baseline, 1e-12)) -- 0 = the baseline, +1 = ten times lower
exploitability -- and the fitness of a configuration on a set of games is the mean. Two studies:

* **one-off**: each mechanism switched off alone, scored on the training and the held-out games;
* **greedy**: starting from the full algorithm, repeatedly switch off the mechanism whose removal
  keeps the highest *training* fitness, as long as it stays >= ``keep`` (95%) of the full
  algorithm's; the mechanisms still on form the minimal core, then scored on the held-out games.

Every (configuration, game) result is cached as JSON, so an interrupted study resumes.

Why not ``gtlearn evolve distill``: that verb ablates an *evolved program* syntactically (delete a
statement, drop an operand, zero a constant; ``evolve/distill.py``) and is what distils a search
champion (``experiments/results/evolve_distill.md``). VAD-CFR and SHOR-PSRO are built-in published
algorithms whose mechanisms are named constructor switches, so they are ablated by mechanism here,
which keeps the rows of the tables meaningful ("no optimism", not "deleted line 14"); the greedy
rule differs too (distill gates on held-out fitness, this study on training fitness so that the
held-out games stay a test).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path

FLOOR = 1e-12


def fitness(expl: float, baseline: float) -> float:
    return -math.log10(max(expl, FLOOR) / max(baseline, FLOOR))


class Study:
    """Runs and caches configurations. ``run(off: frozenset, game) -> dict`` with at least
    ``final`` (the exploitability); ``baseline(game) -> float``."""

    def __init__(self, cache: Path, mechanisms: list[str], run: Callable, baseline: Callable,
                 training: list[str], held_out: list[str], keep: float = 0.95) -> None:
        self.cache, self.mechanisms, self._run, self._baseline = cache, mechanisms, run, baseline
        self.training, self.held_out, self.keep = training, held_out, keep
        cache.mkdir(parents=True, exist_ok=True)
        self._baselines: dict[str, float] = {}
        self.run_seconds: dict[str, float] = {}  # wall seconds of every run the study used (cached or new)

    @staticmethod
    def tag(off) -> str:
        return "full" if not off else "no-" + "+no-".join(sorted(off))

    def result(self, off, game: str) -> dict:
        from discovery_games import slug

        from gtlearn.core.io import atomic_write_json

        name = f"{slug(game)}__{self.tag(off)}"
        if len(name) > 180:  # file-name limit: long switch lists go by their hash
            name = f"{slug(game)[:80]}__{hashlib.sha1(self.tag(off).encode()).hexdigest()[:16]}"
        path = self.cache / f"{name}.json"
        if path.exists():
            out = json.loads(path.read_text())
            self.run_seconds[name] = float(out.get("seconds", 0.0))
            return out
        out = self._run(frozenset(off), game)
        out.update(game=game, off=sorted(off))
        atomic_write_json(path, out)
        self.run_seconds[name] = float(out.get("seconds", 0.0))
        print(f"  {self.tag(off):50s} {game[:40]:40s} e={out['final']:.3e}", flush=True)
        return out

    def baseline(self, game: str) -> float:
        if game not in self._baselines:
            self._baselines[game] = self._baseline(game)
        return self._baselines[game]

    def score(self, off, games: list[str]) -> dict:
        per_game = {g: fitness(self.result(off, g)["final"], self.baseline(g)) for g in games}
        return {"mean": sum(per_game.values()) / len(per_game), "per_game": per_game}

    def one_off(self) -> list[dict]:
        rows = []
        for off in [frozenset()] + [frozenset([m]) for m in self.mechanisms]:
            rows.append({"off": sorted(off), "training": self.score(off, self.training),
                         "held_out": self.score(off, self.held_out)})
        return rows

    def greedy(self) -> dict:
        full = self.score(frozenset(), self.training)["mean"]
        off: frozenset = frozenset()
        path = [{"off": [], "training": full, "candidates": {}}]
        while len(off) < len(self.mechanisms):
            candidates = {m: self.score(off | {m}, self.training)["mean"] for m in self.mechanisms if m not in off}
            best = max(candidates, key=candidates.get)
            path[-1]["candidates"] = candidates
            if candidates[best] < self.keep * full:
                break
            off = off | {best}
            path.append({"off": sorted(off), "removed": best, "training": candidates[best], "candidates": {}})
        core = [m for m in self.mechanisms if m not in off]
        return {"full_training_fitness": full, "threshold": self.keep * full, "path": path, "core": core,
                "off": sorted(off), "core_training": self.score(off, self.training),
                "core_held_out": self.score(off, self.held_out), "full_held_out": self.score(frozenset(), self.held_out)}


def games_text(training: list[str], held: list[str], test_games: list[str], short: Callable) -> str:
    """The report's sentence on the games, naming any test game left out of the held-out set."""
    rest = [short(g) for g in test_games if g not in held]
    left = f" (left out for cost on 2 shared CPU cores: {', '.join(rest)})" if rest else ""
    return (f"Training games: {', '.join(short(g) for g in training)}; held-out: "
            f"{', '.join(short(g) for g in held) or 'none'}{left}.")


def cost_line(study: Study) -> str:
    return (f"Cost: {len(study.run_seconds)} runs, {sum(study.run_seconds.values()) / 60:.1f} min of summed wall time "
            "(2 CPU cores shared with other jobs; runs cached under `runs/`, so this is the cost of the whole study, not "
            "of the last invocation).")


def report_lines(name: str, study: Study, one_off: list[dict], greedy: dict, short: Callable,
                 describe: dict[str, str], core_name: str) -> list[str]:
    lines = [f"## One-off ablations: each mechanism of {name} switched off alone", "",
             "Fitness = mean over games of -log10(e / e_baseline) (0 = the baseline, +1 = ten times lower exploitability; "
             "e floored at 1e-12). Drop = full minus ablated (positive = the mechanism helps).", "",
             "| switched off | what changes | training fitness | drop | held-out fitness | drop |", "|---|---|---|---|---|---|"]
    full = one_off[0]
    for row in one_off:
        what = "nothing (the full algorithm)" if not row["off"] else describe[row["off"][0]]
        label = "—" if not row["off"] else row["off"][0]
        lines.append(f"| {label} | {what} | {row['training']['mean']:+.3f} | "
                     f"{full['training']['mean'] - row['training']['mean']:+.3f} | {row['held_out']['mean']:+.3f} | "
                     f"{full['held_out']['mean'] - row['held_out']['mean']:+.3f} |")
    drops = {split: {row["off"][0]: full[split]["mean"] - row[split]["mean"] for row in one_off[1:]}
             for split in ("training", "held_out")}
    carriers = {split: max(d, key=d.get) for split, d in drops.items() if d}
    if carriers:
        lines += ["", "**Which mechanism carries the gain** (largest one-off drop): on the training games "
                  f"`{carriers['training']}` ({drops['training'][carriers['training']]:+.3f}); on the held-out games "
                  f"`{carriers['held_out']}` ({drops['held_out'][carriers['held_out']]:+.3f}). Mechanisms whose removal "
                  "raises the fitness (negative drop) hurt on these games: training "
                  + (", ".join(f"`{m}`" for m, d in drops["training"].items() if d < 0) or "none") + "; held-out "
                  + (", ".join(f"`{m}`" for m, d in drops["held_out"].items() if d < 0) or "none") + "."]
    games = list(full["training"]["per_game"]) + list(full["held_out"]["per_game"])
    lines += ["", "Per game (fitness; training games first):", "",
              "| switched off | " + " | ".join(short(g) for g in games) + " |", "|---|" + "---|" * len(games)]
    for row in one_off:
        per = {**row["training"]["per_game"], **row["held_out"]["per_game"]}
        lines.append(f"| {row['off'][0] if row['off'] else 'full'} | " + " | ".join(f"{per[g]:+.2f}" for g in games) + " |")
    lines += ["", f"## Greedy ablation to a minimal core (keep >= {study.keep:.0%} of the full training fitness)", "",
              f"Full training fitness {greedy['full_training_fitness']:+.3f}; threshold {greedy['threshold']:+.3f}.", "",
              "| step | switched off so far | training fitness | best next removal (fitness) |", "|---|---|---|---|"]
    for i, step in enumerate(greedy["path"]):
        cands = step["candidates"]
        nxt = max(cands, key=cands.get) if cands else None
        lines.append(f"| {i} | {', '.join(step['off']) or '—'} | {step['training']:+.3f} | "
                     + (f"{nxt} ({cands[nxt]:+.3f})" if nxt else "—") + " |")
    lines += ["", f"**{core_name}** (our name for the minimal core found here): mechanisms kept = "
              f"{', '.join(greedy['core']) or 'none'}; switched off = {', '.join(greedy['off']) or 'none'}.",
              f"Training fitness {greedy['core_training']['mean']:+.3f} (full {greedy['full_training_fitness']:+.3f}); "
              f"held-out fitness {greedy['core_held_out']['mean']:+.3f} (full {greedy['full_held_out']['mean']:+.3f}).", ""]
    return lines


def plot(path: Path, title: str, one_off: list[dict], greedy: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.2))
    labels = ["full"] + [f"no {r['off'][0]}" for r in one_off[1:]]
    x = np.arange(len(labels))
    ax1.bar(x - 0.2, [r["training"]["mean"] for r in one_off], 0.4, label="training games")
    ax1.bar(x + 0.2, [r["held_out"]["mean"] for r in one_off], 0.4, label="held-out games")
    ax1.set_xticks(x, labels, rotation=35, ha="right", fontsize=8)
    ax1.set_ylabel("fitness (mean -log10 e / e_baseline)")
    ax1.set_title(f"{title}: one-off ablations")
    ax1.axhline(0, color="k", linewidth=0.6)
    ax1.legend(fontsize=8)
    steps = greedy["path"]
    ax2.plot(range(len(steps)), [s["training"] for s in steps], "o-")
    ax2.axhline(greedy["threshold"], color="r", linestyle="--", linewidth=0.8, label="95% of full")
    ax2.set_xticks(range(len(steps)), ["full"] + [f"-{s['removed']}" for s in steps[1:]], rotation=35, ha="right",
                   fontsize=8)
    ax2.set_ylabel("training fitness")
    ax2.set_title(f"{title}: greedy path to the minimal core")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
