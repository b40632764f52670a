"""The CFR-rule task (docs/evolve.md, Tasks): evolve the three functions of a tabular CFR rule.

A candidate is a module defining ``update_regrets``, ``policy_from_regrets`` and
``accumulate_average`` (the rule interface of docs/cfr.md) inside EVOLVE blocks; the seed is
CFR+ (Tammelin 2014), as in the paper (Li et al., "Discovering Multiagent Learning Algorithms
with Large Language Models", arXiv:2602.16928).

Split of trust: only the candidate's three functions run in the sandbox
(:mod:`evolve.tasks.cfr_child`); the CFR engine that calls them, behind a permutation of
infosets and actions, runs in the evaluation worker (:mod:`evolve.tasks.cfr_remote`), and
:func:`score_run` validates each average policy (rejecting, never repairing) and computes its
exact exploitability with :mod:`solvers.best_response`. Nothing else the child says is used.

Horizon: ``T`` is not passed to the rule (the rule interface of docs/cfr.md). Held-out
evaluation runs at ``heldout.horizon_mult`` x the training horizon, so schedules tuned to
T=1000 show.
"""

from __future__ import annotations

import math

import numpy as np

from evolve.scoring import InvalidPayload, log_ratio_fitness, validate_policy
from evolve.tasks.base import Task
from evolve.tasks.cfr_child import FUNCS
from evolve.tasks.cfr_remote import RemoteCalls, check_props, make_prop_cases, run_candidate, run_props
from evolve.tasks.trees import get_tree
from gtlearn.core.driver import drive
from solvers.best_response import exploitability
from solvers.cfr.engine import CFRSolver

SEED = '''"""CFR+ (Tammelin 2014) in the three-function rule interface of docs/cfr.md.

Seed program of the gtlearn CFR-rule search. Load with ``gtlearn solve --rule FILE:Rule``.
"""

import numpy as np

# EVOLVE-BLOCK-START


def _rm(z, legal, q=1.0):
    w = np.where(legal, np.maximum(z, 0.0), 0.0) ** q
    total = w.sum(axis=1, keepdims=True)
    uniform = legal / legal.sum(axis=1, keepdims=True)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), uniform)


def update_regrets(cum_regret, inst_regret, legal, t, state):
    return np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0)


def policy_from_regrets(cum_regret, legal, t, state):
    return _rm(cum_regret, legal)


def accumulate_average(avg_acc, policy, reach, legal, t, state):
    return avg_acc + t * reach[:, None] * policy


# EVOLVE-BLOCK-END


class Rule:
    """The three functions as one object, for ``gtlearn solve --rule FILE:Rule``."""

    update_regrets = staticmethod(update_regrets)
    policy_from_regrets = staticmethod(policy_from_regrets)
    accumulate_average = staticmethod(accumulate_average)
'''

SYSTEM = """You improve a tabular CFR rule for imperfect-information games.
Contract (one module, only the code between # EVOLVE-BLOCK-START and # EVOLVE-BLOCK-END may change):
  update_regrets(cum_regret, inst_regret, legal, t, state) -> (I, A) array   # R^t from R^{t-1} and r^t
  policy_from_regrets(cum_regret, legal, t, state) -> (I, A) array           # sigma^{t+1}: rows are distributions over legal actions
  accumulate_average(avg_acc, policy, reach, legal, t, state) -> (I, A) array # S^t; the average policy is S normalized per row
Arrays hold all infosets of the acting player; legal is a boolean mask; reach is (I,); t is 1-based; state is a per-player
dict of numpy arrays/scalars that persists across iterations. Rules: imports only math, numpy, itertools, functools; no I/O;
deterministic; vectorized (no Python loop over infosets); permutation-equivariant in rows and in actions within a row.
Fitness: mean over training games of -log10(exploitability after {T} iterations / CFR+'s); higher is better, 0 = CFR+."""


class CFRTask(Task):
    name = "cfr"
    seed_program = SEED
    functions = FUNCS
    baseline_name = "CFR+"
    child_driver = "evolve.tasks.cfr_child:ChildDriver"

    def stages(self, cfg: dict) -> list[dict]:
        """Checkpoint lists per game: stage 1 at its horizon, stage 2 at its checkpoints and
        horizon, held-out at the training horizon and ``horizon_mult`` times it, per seed."""
        cas = cfg["cascade"]
        s1, s2, ho = cas["stage1"], cas["stage2"], cas["heldout"]
        T1, T2 = int(s1["iterations"]), int(s2["iterations"])
        cps2 = sorted({c for c in s2["checkpoints"] if c < T2} | {T2})
        T3 = T2 * int(ho["horizon_mult"])
        stages = [
            {"stage": 0},
            {"stage": 1, "games": [{"game": g, "checkpoints": [T1]} for g in s1["games"]], "epsilon": s1["epsilon"]},
            {"stage": 2, "games": [{"game": g, "checkpoints": cps2} for g in s2["games"]]},
        ]
        if ho["games"]:
            stages.append({"stage": 3, "games": [{"game": g, "checkpoints": sorted({T2, T3})} for g in ho["games"]],
                           "seeds": list(ho["seeds"])})
        return stages

    def system_prompt(self, cfg: dict) -> str:
        return SYSTEM.replace("{T}", str(int(cfg["cascade"]["stage2"]["iterations"])))

    def load_hint(self, path) -> str:
        return f"gtlearn solve GAME --rule {path}:Rule"

    def baselines(self, stages: list[dict]) -> dict:
        """CFR+'s exploitability at every checkpoint of every game of every stage."""
        return {str(s["stage"]): {g["game"]: baseline_curve(get_tree(g["game"]), g["checkpoints"]) for g in s["games"]}
                for s in stages if s["stage"] != 0}

    def check_properties(self, sandbox, seed: int) -> None:
        cases, meta = make_prop_cases(seed)
        check_props(run_props(RemoteCalls(sandbox), cases), meta)

    def score_stage(self, sandbox, stage: dict, job: dict) -> dict:
        """One run of the trusted engine per game and seed (the held-out stage has several
        seeds, each its own permutation), the candidate's functions called in its sandbox."""
        n = stage["stage"]
        seeds = stage.get("seeds", [job["seed"]]) if n == 3 else [job["seed"]]
        calls = RemoteCalls(sandbox)
        per_seed = []
        for sd in seeds:
            games = [{"game": g["game"], "checkpoints": g["checkpoints"], "seed": int(sd) * 1000 + i}
                     for i, g in enumerate(stage["games"])]
            trees = {g["game"]: get_tree(g["game"]) for g in games}
            policies = {g["game"]: run_candidate(calls, trees[g["game"]], g["seed"], g["checkpoints"], f"s{n}/{sd}/{i}")
                        for i, g in enumerate(games)}
            per_seed.append(score_run(policies, games, trees, job["baselines"][str(n)]))
        if n != 3:
            return per_seed[0]
        m, lo, hi = fitness_ci([p["fitness"] for p in per_seed])
        return {"fitness": m, "ci_low": lo, "ci_high": hi, "seeds": per_seed}


# -- stages 1-3: trusted scoring ---------------------------------------------------------------
def score_run(policies: dict, games: list[dict], trees: dict, baselines: dict) -> dict:
    """Trusted scoring of a stage: validate each average policy, compute its exploitability.

    ``policies[game][str(t)]`` is the engine's average policy at checkpoint t,
    ``baselines[game][str(t)]`` CFR+'s exploitability there. Returns the public (or private)
    metrics dict; raises InvalidPayload on any invalid policy.
    """
    per_game, fits = {}, []
    for spec in games:
        name = spec["game"]
        tree = trees[name]
        curve = {}
        for t in sorted(int(c) for c in spec["checkpoints"]):
            try:
                validate_policy(policies[name][str(t)], tree.legal)
            except InvalidPayload as exc:
                raise InvalidPayload(f"{name} t={t}: {exc}") from None
            curve[str(t)] = float(exploitability(tree, policies[name][str(t)]))
        final = str(max(int(c) for c in spec["checkpoints"]))
        base = baselines[name][final]
        f = log_ratio_fitness(curve[final], base)
        fits.append(f)
        per_game[name] = {"expl": curve[final], "baseline": base, "fitness": round(f, 6), "curve": curve,
                          "iterations": int(final)}
    return {"fitness": float(np.mean(fits)), "games": per_game}


def baseline_curve(tree, checkpoints: list[int]) -> dict:
    """CFR+'s exploitability at the checkpoints, run in trusted code (the fitness baseline)."""
    cps = sorted(set(int(c) for c in checkpoints))
    result = drive(CFRSolver(tree, rule="cfr+", validate=False), cps[-1], eval_at=cps)
    return {str(r.iteration): float(r.gap) for r in result.records}


def fitness_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% normal CI over seeds (width 0 with one seed)."""
    m = float(np.mean(values))
    if len(values) < 2:
        return m, m, m
    half = 1.96 * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return m, m - half, m + half
