"""Candidate evaluations per hour: gtlearn's sandboxed, vectorized evaluation vs a per-node
OpenSpiel-Python harness of the paper's interface (evolve/pernode.py), same candidate, same run.

gtlearn: the full cascade (stage 0 property tests, stage 1, stage 2 = the 4 training games at
T=1000 with exact exploitability at 10/100/1000, trusted scoring in the parent) in a fresh
sandbox subprocess. Per-node: OpenSpiel-style recursive CFR over pyspiel states calling the three
component classes per history, timed for a few iterations per game and extrapolated linearly to
1000 (every iteration visits the same histories), plus OpenSpiel's Python nash_conv at the same
three checkpoints. CPU seconds are the primary measure (the 2 cores are shared; wall is also
reported).

    python experiments/evolve_throughput.py [PROGRAM.py]
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evolve import config as cfgmod  # noqa: E402
from evolve.evaluator import run_job  # noqa: E402
from evolve.pernode import PerNodeCFR  # noqa: E402
from evolve.scheduling import LIMIT_KEYS  # noqa: E402
from evolve.tasks import make_task  # noqa: E402
from evolve.tasks.cfr import FUNCS, SEED  # noqa: E402
from games.openspiel import load_game  # noqa: E402

ITERS = {"kuhn_poker(players=3)": 20, "leduc_poker": 5}
DEFAULT_ITERS = 2


def cpu_now() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def per_node_timings(code: str, games: list[str], T: int, checkpoints: int) -> dict:
    """Per game: the per-node harness timed over a few steady-state iterations, extrapolated to T."""
    ns: dict = {}
    exec(compile(code, "candidate.py", "exec"), ns)  # noqa: S102 - our own program, for the baseline harness
    fns = [ns[f] for f in FUNCS]
    per_game = {}
    for g in games:
        game = load_game(g)
        pn = PerNodeCFR(game, fns, "history")
        k = ITERS.get(g, DEFAULT_ITERS)
        pn.step()  # first iteration creates the node table; time steady-state iterations
        c0, w0 = cpu_now(), time.perf_counter()
        for _ in range(k):
            pn.step()
        it_cpu, it_wall = (cpu_now() - c0) / k, (time.perf_counter() - w0) / k
        c0, w0 = cpu_now(), time.perf_counter()
        pn.exploitability()
        ex_cpu, ex_wall = cpu_now() - c0, time.perf_counter() - w0
        per_game[g] = {"iterations_timed": k, "cpu_s_per_iteration": it_cpu, "wall_s_per_iteration": it_wall,
                       "nash_conv_cpu_s": ex_cpu, "nash_conv_wall_s": ex_wall,
                       "eval_cpu_s": it_cpu * T + ex_cpu * checkpoints, "eval_wall_s": it_wall * T + ex_wall * checkpoints}
        print(g, per_game[g], flush=True)
    return per_game


def main(path: str | None) -> None:
    code = Path(path).read_text() if path else SEED
    cfg = cfgmod.load(ROOT / "experiments/campaigns/cfr_rules.yaml")
    task = make_task(cfg)
    stages = [s for s in task.stages(cfg) if s["stage"] < 3]
    games = [g["game"] for g in stages[2]["games"]]
    T = int(cfg["cascade"]["stage2"]["iterations"])
    checkpoints = len(stages[2]["games"][0]["checkpoints"])
    base = run_job({"kind": "baselines", "task": task.name, "stages": stages})
    sb = cfg["sandbox"]
    limits = {k: sb[k] for k in LIMIT_KEYS}
    job = {"kind": "cascade", "task": task.name, "program_id": 0, "attempt": 0, "code": code, "stages": stages, "seed": 1,
           "limits": limits, "baselines": base}
    ours = []
    for _ in range(3):
        c0, w0 = cpu_now(), time.perf_counter()
        res = run_job(job)
        ours.append((cpu_now() - c0, time.perf_counter() - w0))
        assert res["state"] == "evaluated", res["reason"]
    ours_cpu, ours_wall = float(np.median([o[0] for o in ours])), float(np.median([o[1] for o in ours]))
    fitness = next(s["public"]["fitness"] for s in res["stages"] if s["stage"] == 2)

    per_game = per_node_timings(code, games, T, checkpoints)
    pn_cpu = sum(v["eval_cpu_s"] for v in per_game.values())
    pn_wall = sum(v["eval_wall_s"] for v in per_game.values())
    out = {
        "candidate": path or "seed (CFR+)", "candidate_public_fitness": fitness, "training_games": games, "iterations": T,
        "gtlearn": {"cpu_s_per_eval": ours_cpu, "wall_s_per_eval": ours_wall, "evals_per_hour_cpu": 3600 / ours_cpu,
                    "evals_per_hour_wall": 3600 / ours_wall, "runs": ours},
        "per_node_openspiel_python": {"cpu_s_per_eval": pn_cpu, "wall_s_per_eval": pn_wall, "evals_per_hour_cpu": 3600 / pn_cpu,
                                      "evals_per_hour_wall": 3600 / pn_wall, "games": per_game},
        "ratio_cpu": pn_cpu / ours_cpu, "ratio_wall": pn_wall / ours_wall,
        "machine": "2-core shared CPU VM (no GPU); other engineers' jobs were running",
    }
    res_dir = ROOT / "experiments/results"
    res_dir.mkdir(parents=True, exist_ok=True)
    (res_dir / "evolve_throughput.json").write_text(json.dumps(out, indent=2) + "\n")
    md = ["# Candidate evaluations per hour (4 training games, T=1000, exact exploitability)", "",
          f"Candidate: `{out['candidate']}` (public fitness {fitness:+.3f}).", "",
          "| harness | CPU s / eval | wall s / eval | evals / hour (CPU) | evals / hour (wall) |", "|---|---|---|---|---|",
          f"| gtlearn (sandbox + vectorized engine + trusted scoring) | {ours_cpu:.1f} | {ours_wall:.1f} | {3600 / ours_cpu:.0f} | {3600 / ours_wall:.0f} |",
          f"| per-node OpenSpiel-Python (paper's interface) | {pn_cpu:.0f} | {pn_wall:.0f} | {3600 / pn_cpu:.2f} | {3600 / pn_wall:.2f} |",
          "", f"Ratio: **{out['ratio_cpu']:.0f}x** (CPU), {out['ratio_wall']:.0f}x (wall).", "",
          "Per-node timings were taken over a few iterations per game and extrapolated linearly to 1000:", "",
          "| game | iterations timed | CPU s / iteration | nash_conv CPU s |", "|---|---|---|---|"]
    for g, v in per_game.items():
        md.append(f"| {g} | {v['iterations_timed']} | {v['cpu_s_per_iteration']:.3f} | {v['nash_conv_cpu_s']:.2f} |")
    (res_dir / "evolve_throughput.md").write_text("\n".join(md) + "\n")
    print(json.dumps({k: out[k] for k in ("ratio_cpu", "ratio_wall")}))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
