"""The PSRO meta-solver task (docs/evolve.md, Tasks): evolve a training-time and an
evaluation-time meta-solver (the meta-solver interface of docs/psro.md), seeded with uniform for
both, as in the paper (arXiv:2602.16928, SHOR-PSRO).

PSRO itself runs in **trusted** code (:class:`solvers.psro.loop.PSROSolver`, exact best
responses, exact meta-game payoffs) in the evaluation worker. The candidate is queried through a
step protocol: one request per meta-solver call, answered by one long-lived sandboxed child per
candidate (:mod:`evolve.tasks.psro_child`, never reused for another). The answer is only a
weight vector per player; the parent validates it
(exact shape, finite, non-negative, positive sum; never repaired) and the engine normalises it
(docs/psro.md, Meta-solver interface). Exploitability is computed by the trusted loop.

Fitness per game: ``(1 - auc_weight) * final + auc_weight * auc`` with
``final = -log10(expl_K / baseline_K)`` and ``auc = -(mean_k log10 expl_k - mean_k log10 baseline_k)``
(the normalized area under the log-exploitability curve). Baseline: regret matching in both
slots (docs/psro.md, Regret matching) with ``baseline_iterations`` inner iterations (default
2,000 instead of OpenSpiel's 100,000, to keep the search affordable; documented deviation).
Population order carries age, so permutation equivariance is not enforced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evolve.scoring import FLOOR, InvalidPayload, untrusted
from evolve.tasks.base import Task
from evolve.tasks.psro_child import FUNCS
from evolve.tasks.trees import get_tree
from gtlearn.core.driver import drive
from solvers.psro.loop import PSROConfig, PSROSolver
from solvers.psro.meta_solvers import RM
from solvers.psro.meta_solvers.base import MetaSolver

SEED = '''"""Uniform meta-solvers for both PSRO slots (the seed of the gtlearn PSRO meta-solver search).

Load with ``gtlearn psro --train-meta FILE:train_meta_solver --eval-meta FILE:eval_meta_solver``.
"""

import numpy as np

# EVOLVE-BLOCK-START


def _payoff_vs(payoffs, x, p):
    u = payoffs[p]
    for q in reversed(range(len(x))):
        if q != p:
            u = np.tensordot(u, x[q], axes=([q], [0]))
    return u


def train_meta_solver(payoffs, t, state):
    return [np.ones(n) / n for n in payoffs[0].shape]


def eval_meta_solver(payoffs, state):
    return [np.ones(n) / n for n in payoffs[0].shape]


# EVOLVE-BLOCK-END
'''

SYSTEM = """You improve the meta-strategy solvers of PSRO (policy-space response oracles).
Contract (one module, only the code between # EVOLVE-BLOCK-START and # EVOLVE-BLOCK-END may change):
  train_meta_solver(payoffs, t, state) -> list of weight vectors   # the mixture the next best responses target
  eval_meta_solver(payoffs, state) -> list of weight vectors       # the mixture whose exploitability is reported
payoffs[p] has one axis per player's population (newest strategy last); t is the 1-based PSRO iteration; state is a
dict persisted across calls. Return one non-negative vector per player (normalized by the engine). Imports only math,
numpy, itertools, functools; no I/O; deterministic.
Fitness: mean over training games of a mix of -log10(final exploitability / regret matching's) and the same on the
area under the log-exploitability curve; higher is better, 0 = the baseline."""


@dataclass(frozen=True)
class PSROTaskConfig:
    """The task's own settings in the campaign's ``cascade`` section."""

    auc_weight: float = 0.5  # weight of the area under the curve in a game's fitness
    baseline_iterations: int = 2000  # inner iterations of the regret-matching baseline


# -- in the parent (trusted) ----------------------------------------------------------------
class PSROTask(Task):
    name = "psro"
    seed_program = SEED
    functions = FUNCS
    baseline_name = "regret matching"
    child_driver = "evolve.tasks.psro_child:ChildDriver"

    def __init__(self, config: PSROTaskConfig | None = None):
        super().__init__(config or PSROTaskConfig())

    def stages(self, cfg: dict) -> list[dict]:
        """PSRO iterations per game: stage 1 and 2 at their horizons, held-out at
        ``horizon_mult`` x the stage-2 horizon (one run: the loop is deterministic)."""
        cas = cfg["cascade"]
        s1, s2, ho = cas["stage1"], cas["stage2"], cas["heldout"]
        out = [{"stage": 0},
               {"stage": 1, "games": [{"game": g, "steps": int(s1["iterations"])} for g in s1["games"]], "epsilon": s1["epsilon"]},
               {"stage": 2, "games": [{"game": g, "steps": int(s2["iterations"])} for g in s2["games"]]}]
        if ho["games"]:
            out.append({"stage": 3, "games": [{"game": g, "steps": int(s2["iterations"]) * int(ho["horizon_mult"])} for g in ho["games"]],
                        "seeds": [0]})
        for s in out:
            s["auc_weight"] = float(self.config.auc_weight)
            s["baseline_iterations"] = int(self.config.baseline_iterations)
        return out

    def system_prompt(self, cfg: dict) -> str:
        return SYSTEM

    def load_hint(self, path) -> str:
        return f"gtlearn psro GAME --train-meta {path}:train_meta_solver --eval-meta {path}:eval_meta_solver"

    def baselines(self, stages: list[dict]) -> dict:
        """Regret matching in both slots: the exploitability curve of every game of every stage."""
        out = {}
        for s in stages:
            if s["stage"] == 0:
                continue
            it = s["baseline_iterations"]
            out[str(s["stage"])] = {g["game"]: curve(get_tree(g["game"]), RM(iterations=it), RM(iterations=it), g["steps"])
                                    for g in s["games"]}
        return out

    def check_properties(self, sandbox, seed: int) -> None:
        """Both slots on random meta-games of 2 and 3 players, twice from a reset: valid and
        deterministic."""
        rng = np.random.default_rng([int(seed), 5])
        for shape in ((3, 4), (2, 2, 3)):
            pay = [rng.normal(size=shape) for _ in shape]
            outs = []
            for _ in range(2):
                _ask(sandbox, {"op": "reset"})
                for slot in ("train", "eval"):
                    outs.append(_check_weights(_ask(sandbox, {"op": slot, "t": 1}, pay, "stage 0"), shape))
            if not all(np.array_equal(a, b) for x, y in zip(outs[:2], outs[2:]) for a, b in zip(x, y)):
                raise InvalidPayload("stage 0: meta-solver is not deterministic")

    def score_stage(self, sandbox, stage: dict, job: dict) -> dict:
        """One trusted PSRO run per game with the candidate in both slots (its state reset per game)."""
        per_game, fits = {}, []
        for g in stage["games"]:
            _ask(sandbox, {"op": "reset"})
            c = curve(get_tree(g["game"]), _SandboxedMetaSolver(sandbox, "train"), _SandboxedMetaSolver(sandbox, "eval"), g["steps"])
            base = job["baselines"][str(stage["stage"])][g["game"]]
            f = fitness(c, base, stage["auc_weight"])
            per_game[g["game"]] = {"expl": c[-1], "baseline": base[-1], "fitness": f["fitness"], "final": f["final"],
                                   "auc": f["auc"], "curve": c, "iterations": g["steps"]}
            fits.append(f["fitness"])
        m = {"fitness": float(np.mean(fits)), "games": per_game}
        if stage["stage"] == 3:
            return {**m, "ci_low": m["fitness"], "ci_high": m["fitness"], "seeds": [m]}
        return m


def _ask(sandbox, msg: dict, payoffs=(), what: str | None = None) -> list:
    head, arrays = sandbox.request(msg, payoffs)
    if not head.get("ok"):
        raise InvalidPayload(f"{what or msg['op'] + ' meta-solver'}: the candidate raised {untrusted(head.get('error'))}")
    return arrays


def _check_weights(ws: list, sizes) -> list[np.ndarray]:
    if len(ws) != len(sizes):
        raise InvalidPayload(f"meta-solver returned {len(ws)} vectors for {len(sizes)} players")
    out = []
    for w, n in zip(ws, sizes):
        if w.dtype != np.float64 or w.shape != (n,):
            raise InvalidPayload(f"meta-distribution has shape {w.shape}, expected ({n},)")
        if not np.all(np.isfinite(w)):
            raise InvalidPayload("meta-distribution has NaN or infinite entries")
        if np.any(w < 0):
            raise InvalidPayload("meta-distribution has negative entries")
        if not w.sum() > 0:
            raise InvalidPayload("meta-distribution sums to 0")
        out.append(w)
    return out


class _SandboxedMetaSolver(MetaSolver):
    """One slot of the candidate, answered by its sandbox; every answer validated here."""

    def __init__(self, sandbox, slot: str):
        super().__init__()
        self.sandbox = sandbox
        self.name = f"candidate-{slot}"
        self.slots = (slot,)

    def solve(self, payoffs, t=None):
        slot = self.slots[0]
        payoffs = [np.asarray(p, dtype=np.float64) for p in payoffs]
        msg = {"op": slot}
        if slot == "train":
            msg["t"] = int(t)
            self.state["calls"] = int(t)
        return _check_weights(_ask(self.sandbox, msg, payoffs), payoffs[0].shape)


def curve(tree, train, evaluate, steps: int) -> list[float]:
    """Exploitability of the evaluation profile before the first and after every PSRO iteration."""
    solver = PSROSolver(tree, PSROConfig(train_meta=train, eval_meta=evaluate))
    return [float(r.gap) for r in drive(solver, steps, log_initial=True).records]


def fitness(cand: list[float], base: list[float], w: float) -> dict:
    c = np.log10(np.maximum(cand, FLOOR))
    b = np.log10(np.maximum(base, FLOOR))
    final = -(c[-1] - b[-1])
    auc = -(c.mean() - b.mean())
    return {"final": float(final), "auc": float(auc), "fitness": float((1 - w) * final + w * auc)}
