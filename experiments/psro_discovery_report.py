"""Report of the PSRO-discovery sweep over replicas: medians, ranges, claims and verdicts.

``cells[game][solver][replica]`` holds the cached summaries of ``experiments/psro_discovery.py``.
The paper's claim "SHOR matches or beats the best baseline" becomes a margin per replica in
decades, log10(1.1 best baseline e_K / SHOR e_K) with exploitabilities floored at 1e-12
(machine-precision zeros); :func:`replicas.verdict` decides as for the CFR sweep. Only cells that
reached the same K are compared.
"""

from __future__ import annotations

import math
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

from discovery_games import ALL_GAMES, short, split  # noqa: E402
from replicas import FACTOR, FLOOR, MIN_REPLICAS, PSRO_REPLICAS, log_summary, verdict  # noqa: E402

RESULTS = ROOT / "experiments" / "results"
NAME = "psro_discovery"
SOLVERS = ["uniform", "nash", "prd", "rm", "alpharank", "shor"]
BASELINES = [s for s in SOLVERS if s != "shor"]
COLORS = dict(zip(SOLVERS, ["tab:gray", "tab:orange", "tab:green", "tab:blue", "tab:purple", "tab:red"]))
REPLICAS = [r.name for r in PSRO_REPLICAS]
MATCH = 1.10


def _log(x: float) -> float:
    return math.log10(max(x, FLOOR))


def reached(cells: dict, game: str) -> int:
    """The K every cell of the game is compared at: the largest K reached."""
    return max(run["iterations"] for by_rep in cells[game].values() for run in by_rep.values())


def full(cells: dict, game: str, solver: str) -> dict[str, dict]:
    k = reached(cells, game)
    return {rep: run for rep, run in cells[game].get(solver, {}).items() if run["iterations"] == k}


def shor_claim(cells: dict, game: str) -> dict:
    shor = full(cells, game, "shor")
    base = {s: full(cells, game, s) for s in BASELINES}
    reps = [r for r in REPLICAS if r in shor and any(r in b for b in base.values())]
    margins, ev = {}, ""
    for rep in reps:
        best, name = min((b[rep]["final"], s) for s, b in base.items() if rep in b)
        margins[rep] = math.log10(MATCH) + _log(best) - _log(shor[rep]["final"])
        if rep == "base":
            ev = f"base: shor {shor[rep]['final']:.3e} vs {name} {best:.3e}"
    missing = [s for s in BASELINES if not base[s] and not (s == "nash" and "nash" not in cells[game])]
    if missing:
        ev += f" (baselines not at full K: {', '.join(missing)})"
    text = f"{short(game)}: SHOR matches or beats the best baseline"
    if split(game) == "v3 extra":
        text += " (v3 extra game: reported)"
    if not margins:
        return {"game": game, "claim": text, "verdict": "not run", "margins": {}, "evidence": ev}
    m = list(margins.values())
    if len(m) < MIN_REPLICAS:
        ev = f"{ev}; only {len(m)} replica(s) ran".lstrip("; ")
    return {"game": game, "claim": text, "verdict": verdict(m), "margins": margins, "median_margin": float(np.median(m)),
            "spread": float(max(m) - min(m)), "replicas": len(m), "evidence": ev}


def sensitivity(cells: dict) -> dict:
    out = {}
    for rep in REPLICAS[1:]:
        moves = []
        for game, by_solver in cells.items():
            for solver, by_rep in by_solver.items():
                a, b = by_rep.get(rep), by_rep.get("base")
                if a and b and a["iterations"] == b["iterations"]:
                    moves.append((abs(_log(a["final"]) - _log(b["final"])), game, solver))
        if moves:
            d = np.array([m[0] for m in moves])
            top = max(moves)
            out[rep] = {"factor": FACTOR[rep], "cells": len(moves), "median_decades": float(np.median(d)),
                        "mean_decades": float(d.mean()),
                        "max_decades": float(d.max()), "cells_over_0.1_decade": int((d > 0.1).sum()),
                        "cells_identical": int((d == 0).sum()), "worst": f"{short(top[1])} / {top[2]}"}
    return out


def table_lines(cells: dict, games: list[str]) -> list[str]:
    lines = ["| game | K | " + " | ".join(SOLVERS) + " | replicas |", "|---|---|" + "---|" * len(SOLVERS) + "---|"]
    for game in games:
        k = reached(cells, game)
        row = []
        for s in SOLVERS:
            by_rep = cells[game].get(s, {})
            if not by_rep:
                row.append("n/a" if s == "nash" and game_players(cells, game) > 2 else "—")
                continue
            at_k = [r["final"] for r in by_rep.values() if r["iterations"] == k]
            early = [r for r in by_rep.values() if r["iterations"] != k]
            text = ""
            if at_k:
                su = log_summary(at_k)
                text = f"{su['median']:.2e}" if su["n"] == 1 else f"{su['median']:.2e} [{su['min']:.1e}, {su['max']:.1e}]"
            if early:
                text += " ".join(f" {r['final']:.2e} (stopped at K={r['iterations']}, {r['replica']})" for r in early)
            row.append(text.strip())
        reps = sorted({rep for by_rep in cells[game].values() for rep in by_rep}, key=REPLICAS.index)
        lines.append(f"| {short(game)} | {k} | " + " | ".join(row) + f" | {', '.join(reps)} |")
    return lines


def game_players(cells: dict, game: str) -> int:
    return next(iter(next(iter(cells[game].values())).values()))["num_players"]


def cost_lines(cells: dict, games: list[str]) -> list[str]:
    lines = ["| game | " + " | ".join(SOLVERS) + " |", "|---|" + "---|" * len(SOLVERS)]
    total, count = 0.0, 0
    for game in games:
        row = []
        for s in SOLVERS:
            base = cells[game].get(s, {}).get("base")
            row.append("—" if base is None else f"{base['seconds']:.0f} ({base['seconds_meta']:.0f}, {base['meta_form'][0]})")
        lines.append(f"| {short(game)} | " + " | ".join(row) + " |")
    for by_solver in cells.values():
        for by_rep in by_solver.values():
            for run in by_rep.values():
                total += run["seconds"]
                count += 1
    note_path = ROOT / "runs" / "psro_discovery" / "cost_note.md"  # hand-written context of a partial sweep
    note = note_path.read_text().strip() if note_path.exists() else ""
    base_total = sum(by_rep["base"]["seconds"] for by_solver in cells.values() for by_rep in by_solver.values()
                     if "base" in by_rep)
    return [f"Seconds per run of the base replica (meta-solver share, meta-game form d = dense, f = factored). "
            f"Sum over the base replica: {base_total / 3600:.2f} h; over all {count} runs of every replica: "
            f"{total / 3600:.2f} h. Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs "
            "(load average often 5-14 during the sweeps), nice 15-19." + (f" {note}" if note else ""), ""] + lines


def unfinished_lines(run_root: Path, cells: dict, iterations: int) -> list[str]:
    """Cells with a run directory but no summary yet: how far they got."""
    import json

    rows = []
    for run_dir in sorted(run_root.glob(f"*__{iterations}__*")) if run_root.exists() else []:
        cfg_path, metrics = run_dir / "config.json", run_dir / "metrics.jsonl"
        if not cfg_path.exists() or not metrics.exists():
            continue
        cfg = json.loads(cfg_path.read_text())
        replica = run_dir.name.rsplit("__", 1)[1]
        if replica in cells.get(cfg["game"], {}).get(cfg["solver"], {}):
            continue
        recs = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
        if recs:
            last = recs[-1]
            seconds = last.get("wall_time", 0.0)
            rows.append(f"| {short(cfg['game'])} | {cfg['solver']} | {replica} | {last['iteration']} | {last['gap']:.3e} | "
                        f"{seconds:.0f} |")
    if not rows:
        return []
    return ["## Cells not finished when this report was written", "",
            "| game | solver | replica | last k logged | e_k there | wall seconds so far (this invocation) |", "|---|---|---|---|---|---|",
            *rows, ""]


def write_report(cells: dict, iterations: int, run_root: Path | None = None, stem: str = NAME,
                 scope: str | None = None) -> None:
    """Writes ``experiments/results/{stem}.{json,md,png}``; ``scope`` (a sentence) says what a
    partial sweep covers and goes at the top of the report."""
    from gtlearn.core.io import atomic_write_bytes, atomic_write_json

    games = [g for g in ALL_GAMES if g in cells]
    claims = [shor_claim(cells, g) for g in games]
    v1 = [c for c in claims if split(c["game"]) != "v3 extra"]
    verdicts = [c["verdict"] for c in v1]
    holds, fails = verdicts.count("holds"), verdicts.count("does not hold")
    not_run = len(V1) - len(v1) + verdicts.count("not run")
    overall = ("holds" if holds > len(V1) / 2 else "does not hold" if fails >= len(V1) / 2 else "not decided")
    sens = sensitivity(cells)
    data = {"paper": "arXiv:2602.16928", "iterations": iterations, "replicas": {r.name: r.describe() for r in PSRO_REPLICAS},
            "cells": cells, "claims": claims, "overall": overall, "sensitivity": sens, "scope": scope}
    atomic_write_json(RESULTS / f"{stem}.json", data)
    lines = [
        "# PSRO meta-solvers on the CFR-discovery games, over replicas", "",
        f"Protocol: K = {iterations} PSRO iterations, exact best-response oracle (uniform tie-breaking), exact meta-game "
        "payoffs, metric e_K = exact NashConv/N of the evaluation meta-solver's profile (docs/psro.md). PRD (100,000 "
        "steps, dt 1e-3, floor 1e-6) and RM (100,000 steps, gamma 1e-6) with OpenSpiel's defaults; alpha-rank alpha=100, "
        "m=50, eps=1e-8 (refuses meta-games whose chain, payoff-identical strategies merged, has more than 3e7 "
        "transitions: the cell stops there); Nash by LP, two-player games only; SHOR = shor-train / shor-eval with the "
        "appendix constants. PRD, SHOR and alpha-rank run on the payoff-identical strategies merged (exact up to "
        "summation order; RM unmerged; docs/psro.md, speed options). Baselines use the same solver in both slots. "
        "Generated by `experiments/psro_discovery.py` (report: `experiments/psro_discovery_report.py`).", "",
        *([f"**Scope.** {scope}", ""] if scope else []),
        "**Replicas** (`experiments/replicas.py`): " + "; ".join(f"`{r.name}` = {r.describe()}" for r in PSRO_REPLICAS)
        + ". Here `backend` is the oracle's (best responses and exploitability); the meta-solvers always run their Numba "
        "kernels. Cells: median over replicas [min, max].", "",
        "## e_K per game and meta-solver", ""]
    lines += table_lines(cells, games)
    lines += ["", "## The paper's claim: SHOR matches or beats the best baseline", "",
              "Margin per replica = log10(1.1 x best baseline / SHOR) in decades. **holds** = median margin > 0 and larger "
              f"than its spread over the replicas; **does not hold** = the mirror; otherwise, and whenever fewer than {MIN_REPLICAS} "
              "replicas ran, **not decided**.", "",
              "| claim | verdict | median margin | spread | replicas | evidence |", "|---|---|---|---|---|---|"]
    for c in claims:
        v = c["verdict"] if c["verdict"] == "holds" else f"**{c['verdict']}**"
        med = f"{c['median_margin']:+.2f}" if "median_margin" in c else ""
        spread = f"{c['spread']:.2f}" if "spread" in c else ""
        lines.append(f"| {c['claim']} | {v} | {med} | {spread} | {c.get('replicas', '')} | {c['evidence']} |")
    lines += ["", f"**Overall** (the paper: SHOR matches or beats the best baseline in most games, 8 of 11): on the "
                  f"{len(V1)} v1 games {holds} hold, {fails} do not, {verdicts.count('not decided')} not decided, "
                  f"{not_run} not run: **{overall}**.", ""]
    if sens:
        lines += ["## Which replica choice moves the results most", "",
                  "|log10(e_K / base e_K)| over the cells run in both.", "",
                  "| replica | what changes | cells | identical | median (decades) | mean | max | cells moved > 0.1 decade | "
                  "worst |", "|---|---|---|---|---|---|---|---|---|"]
        for rep, s in sens.items():
            lines.append(f"| {rep} | {s['factor']} | {s['cells']} | {s['cells_identical']} | {s['median_decades']:.3f} | "
                         f"{s['mean_decades']:.3f} | {s['max_decades']:.2f} | {s['cells_over_0.1_decade']} | {s['worst']} |")
        top = max(sens, key=lambda r: sens[r]["mean_decades"])
        lines += ["", f"Largest mean move: `{top}` ({sens[top]['factor']}, {sens[top]['mean_decades']:.3f} decades; "
                  f"{sens[top]['cells_over_0.1_decade']} of {sens[top]['cells']} cells moved by more than 0.1 decade).", ""]
    lines += unfinished_lines(run_root, cells, iterations) if run_root is not None else []
    lines += ["## Cost", ""] + cost_lines(cells, games)
    atomic_write_bytes(RESULTS / f"{stem}.md", ("\n".join(lines) + "\n").encode())
    plot(cells, games, stem)


V1 = ALL_GAMES[:8]


def plot(cells: dict, games: list[str], stem: str = NAME) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 4
    rows = max(1, math.ceil(len(games) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.5 * rows), squeeze=False)
    for ax, game in zip(axes.flat, games):
        for s in SOLVERS:
            curves = [np.maximum(r["curve"], FLOOR) for r in cells[game].get(s, {}).values()]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            ys = np.array([c[:n] for c in curves])
            ax.plot(range(n), np.median(ys, axis=0), color=COLORS[s], label=s, linewidth=2.2 if s == "shor" else 1.1)
            if len(ys) > 1:
                ax.fill_between(range(n), ys.min(axis=0), ys.max(axis=0), color=COLORS[s], alpha=0.15, linewidth=0)
        ax.set_yscale("log")
        ax.set_title(f"{short(game)} ({split(game)})", fontsize=10)
        ax.set_xlabel("PSRO iteration")
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(games):]:
        ax.axis("off")
    axes[0][0].set_ylabel("e_k (median, band = replica range)")
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes.flat), key=lambda hl: len(hl[1]))
    fig.legend(handles, labels, loc="lower center", ncol=len(SOLVERS), fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(RESULTS / f"{stem}.png", dpi=100)
    plt.close(fig)
