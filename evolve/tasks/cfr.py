"""The CFR-rule task (docs/evolve.md, Tasks): evolve the three functions of a tabular CFR rule.

A candidate is a module defining ``update_regrets``, ``policy_from_regrets`` and
``accumulate_average`` (the rule interface of docs/cfr.md) inside EVOLVE blocks; the seed is
CFR+ (Tammelin 2014), as in the paper (Li et al., "Discovering Multiagent Learning Algorithms
with Large Language Models", arXiv:2602.16928).

Split of trust: :class:`evolve.tasks.cfr_child.ChildDriver` runs the candidate inside the
sandbox behind a permutation of infosets and actions and returns only permuted average
policies; :func:`score_run` runs **in the parent**: it decodes, un-permutes and validates each
policy (rejecting, never repairing) and computes the exact exploitability with
:mod:`solvers.best_response`. Nothing else the child says is used.

Horizon: ``T`` is not passed to the rule (the rule interface of docs/cfr.md). Held-out
evaluation runs at ``heldout.horizon_mult`` x the training horizon, so schedules tuned to
T=1000 show.
"""

from __future__ import annotations

import math

import numpy as np

from evolve.scoring import InvalidPayload, decode, encode, log_ratio_fitness, validate_policy
from evolve.tasks.base import Task
from evolve.tasks.cfr_child import FUNCS, ChildDriver, Perm
from evolve.tasks.trees import get_tree, tree_file
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
    child_driver = ChildDriver

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

    def sandbox_inputs(self, stages: list[dict]) -> tuple[dict, dict]:
        games = sorted({g["game"] for s in stages for g in s["games"]})
        files = {f"t{i}.npz": tree_file(g) for i, g in enumerate(games)}
        return files, {"trees": {g: f"t{i}.npz" for i, g in enumerate(games)}}

    def check_properties(self, sandbox, seed: int) -> None:
        cases, meta = make_prop_cases(seed)
        resp = sandbox.request({"op": "props", "cases": cases})
        if not resp.get("ok"):
            raise InvalidPayload(f"stage 0: {resp.get('error', '?')}")
        check_props(resp, meta)

    def score_stage(self, sandbox, stage: dict, job: dict) -> dict:
        """One ``run`` request per seed (the held-out stage has several, each its own permutation)."""
        n = stage["stage"]
        seeds = stage.get("seeds", [job["seed"]]) if n == 3 else [job["seed"]]
        per_seed = []
        for sd in seeds:
            games = [{"game": g["game"], "checkpoints": g["checkpoints"], "seed": int(sd) * 1000 + i}
                     for i, g in enumerate(stage["games"])]
            resp = sandbox.request({"op": "run", "games": games})
            if not resp.get("ok"):
                raise InvalidPayload(f"stage {n}: {resp.get('error', '?')}")
            trees = {g["game"]: get_tree(g["game"]) for g in games}
            per_seed.append(score_run(resp, games, trees, job["baselines"][str(n)]))
        if n != 3:
            return per_seed[0]
        m, lo, hi = fitness_ci([p["fitness"] for p in per_seed])
        return {"fitness": m, "ci_low": lo, "ci_high": hi, "seeds": per_seed}


# -- stage 0: property tests (trusted inputs, trusted checks) --------------------------------
def make_prop_cases(seed: int, n: int = 7, A: int = 4, steps: int = 3) -> tuple[list[dict], dict]:
    """Random inputs for stage 0; case 1 is case 0 permuted, case 2 repeats case 0."""
    rng = np.random.default_rng([int(seed), 17])
    legal = rng.random((n, A)) < 0.7
    legal[np.arange(n), rng.integers(0, A, n)] = True
    legal[0] = False
    legal[0, 1] = True  # a row with a single legal action
    R = np.where(legal, rng.normal(size=(n, A)), 0.0)
    S = np.where(legal, rng.random((n, A)), 0.0)
    sigma = np.where(legal, rng.random((n, A)) + 0.05, 0.0)
    sigma /= sigma.sum(axis=1, keepdims=True)
    reach = rng.random(n)
    reach[2] = 0.0
    rs = [np.where(legal, rng.normal(size=(n, A)) * 2.0, 0.0) for _ in range(steps)]
    rows = rng.permutation(n)
    cols = np.argsort(rng.random((n, A)), axis=1)

    def P(X):
        return X[rows[:, None], cols]

    base = {"legal": legal, "R": R, "S": S, "sigma": sigma, "reach": reach, "r": rs}
    permuted = {"legal": P(legal), "R": P(R), "S": P(S), "sigma": P(sigma), "reach": reach[rows], "r": [P(x) for x in rs]}

    def enc(c):
        return {k: ([encode(x) for x in v] if isinstance(v, list) else encode(v)) for k, v in c.items()} | {"ts": list(range(1, steps + 1))}

    return [enc(base), enc(permuted), enc(base)], {"rows": rows, "cols": cols, "legal": legal, "n": n, "A": A}


def check_props(resp: dict, meta: dict, steps: int = 3) -> None:
    """Stage-0 property checks on the returned outputs; raises InvalidPayload."""
    rows, cols, legal, n, A = meta["rows"], meta["cols"], meta["legal"], meta["n"], meta["A"]
    cases = resp.get("cases")
    if not isinstance(cases, list) or len(cases) != 3:
        raise InvalidPayload("stage 0: wrong number of property cases returned")
    dec = []
    for c in cases:
        st = c.get("steps") if isinstance(c, dict) else None
        if not isinstance(st, list) or len(st) != steps:
            raise InvalidPayload("stage 0: wrong number of steps returned")
        dec.append([{k: decode(s.get(k), shape=(n, A)) for k in ("R", "S", "sigma")} for s in st])
    for k in range(steps):
        a, b, c = dec[0][k], dec[1][k], dec[2][k]
        for name in ("R", "S", "sigma"):
            if not np.all(np.isfinite(a[name])):
                raise InvalidPayload(f"stage 0: {name} not finite at t={k + 1}")
            if np.any(a[name][~legal] != 0):
                raise InvalidPayload(f"stage 0: {name} non-zero on illegal actions at t={k + 1}")
            if not np.array_equal(a[name], c[name]):
                raise InvalidPayload(f"stage 0: {name} is not deterministic (same inputs, different outputs)")
            expect = a[name][rows[:, None], cols]
            if not np.allclose(b[name], expect, rtol=1e-9, atol=1e-12):
                raise InvalidPayload(f"stage 0: {name} is not permutation-equivariant at t={k + 1}")
        validate_policy(a["sigma"], legal, tol=1e-9)


# -- stages 1-3: trusted scoring ---------------------------------------------------------------
def score_run(resp: dict, games: list[dict], trees: dict, baselines: dict) -> dict:
    """Trusted scoring of a stage's ``run`` answer: un-permute, validate, exploitability.

    ``baselines[game][str(t)]`` is CFR+'s exploitability at checkpoint t. Returns the public
    (or private) metrics dict; raises InvalidPayload on any invalid policy.
    """
    out_games = resp.get("games")
    if not isinstance(out_games, list) or len(out_games) != len(games):
        raise InvalidPayload("wrong number of games returned")
    per_game, fits = {}, []
    for spec, got in zip(games, out_games):
        name = spec["game"]
        tree = trees[name]
        if not isinstance(got, dict) or got.get("game") != name or not isinstance(got.get("policies"), dict):
            raise InvalidPayload(f"{name}: malformed game result")
        perm = Perm(tree, spec["seed"])
        curve = {}
        for t in sorted(int(c) for c in spec["checkpoints"]):
            raw = got["policies"].get(str(t))
            if raw is None:
                raise InvalidPayload(f"{name}: no policy at iteration {t}")
            policy = perm.inv_all(decode(raw, shape=tree.legal.shape))
            try:
                validate_policy(policy, tree.legal)
            except InvalidPayload as exc:
                raise InvalidPayload(f"{name} t={t}: {exc}") from None
            curve[str(t)] = float(exploitability(tree, policy))
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
