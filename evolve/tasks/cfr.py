"""The CFR-rule task (specs/evolve.md §2.1): evolve the three functions of a tabular CFR rule.

A candidate is a module defining ``update_regrets``, ``policy_from_regrets`` and
``accumulate_average`` (the rule interface of specs/cfr.md §3) inside EVOLVE blocks; the seed
is CFR+ (Tammelin 2014), as in the paper (Li et al., "Discovering Multiagent Learning
Algorithms with Large Language Models", arXiv:2602.16928).

Split of trust:

* :class:`ChildDriver` runs **inside the sandbox**: it runs the toolkit's vectorized CFR engine
  with the candidate as the rule, behind a wrapper that permutes infoset rows and the actions
  within each row (a fresh permutation per evaluation seed), and returns only the average
  policies at the checkpoint iterations, still permuted.
* :func:`score_run` runs **in the parent**: it decodes, un-permutes and validates each policy
  (rejecting, never repairing) and computes the exact exploitability with
  :mod:`solvers.best_response`. Nothing else the child says is used.

Horizon: ``T`` is not passed to the rule (the CFR spec's interface). Held-out evaluation runs
at ``heldout_horizon_mult`` x the training horizon, so schedules tuned to T=1000 show.
"""

from __future__ import annotations

import math

import numpy as np

from evolve.scoring import InvalidPayload, decode, encode, log_ratio_fitness, validate_policy
from solvers.cfr.rules.base import Rule as _RuleBase

FUNCS = ("update_regrets", "policy_from_regrets", "accumulate_average")
ALLOWED_TYPES = (int, float, bool, np.ndarray, np.generic)

SEED = '''"""CFR+ (Tammelin 2014) in the three-function rule interface of specs/cfr.md §3.

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


# -- permutations (computed identically by child and parent from the tree and the seed) -----
class Perm:
    """Per player: a row permutation of its infosets and, per row, a permutation of the A
    action slots. ``fwd(X)[i, j] = X[rows[i], cols[i, j]]``."""

    def __init__(self, tree, seed: int):
        rng = np.random.default_rng([int(seed), 7919])
        A = tree.max_actions
        self.blocks = [tree.infosets_of(p) for p in range(tree.num_players)]
        self.rows, self.cols = [], []
        for b in self.blocks:
            n = b.stop - b.start
            self.rows.append(rng.permutation(n))
            self.cols.append(np.argsort(rng.random((n, A)), axis=1))

    def fwd(self, p, X):
        return X[self.rows[p][:, None], self.cols[p]]

    def inv(self, p, Xp):
        X = np.zeros_like(Xp)
        X[self.rows[p][:, None], self.cols[p]] = Xp
        return X

    def fwd_all(self, policy):
        return np.concatenate([self.fwd(p, policy[b]) for p, b in enumerate(self.blocks)], axis=0)

    def inv_all(self, policy):
        return np.concatenate([self.inv(p, policy[b]) for p, b in enumerate(self.blocks)], axis=0)


def state_nbytes(state: dict) -> int:
    total = 0
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, ALLOWED_TYPES):
            raise TypeError(f"state values must be numpy arrays or scalars (key {k!r} holds {type(v).__name__})")
        total += v.nbytes if isinstance(v, np.ndarray) else 8
    return total


# -- inside the sandbox ---------------------------------------------------------------------
class ChildDriver:
    """Runs requests for one candidate inside the sandbox child."""

    def __init__(self, init: dict):
        from games.tree import GameTree
        from solvers.cfr.engine import CFRSolver
        from solvers.cfr.rules.base import Rule

        self.CFRSolver, self.Rule = CFRSolver, Rule
        self.trees = {name: GameTree.load(path) for name, path in init.get("trees", {}).items()}
        self.state_cap = int(init.get("state_cap_mb", 64)) << 20
        # Warm up the engine before the sandbox locks down: the compiled (Numba) path loads its
        # shared library with ctypes and its kernels from the on-disk cache, both denied later.
        if self.trees:
            smallest = min(self.trees.values(), key=lambda t: t.num_nodes)
            CFRSolver(smallest, rule="cfr+").iterate()

    def load(self, ns: dict) -> None:
        missing = [f for f in FUNCS if not callable(ns.get(f))]
        if missing:
            raise TypeError(f"candidate defines no {', '.join(missing)}")
        self.fns = tuple(ns[f] for f in FUNCS)

    def handle(self, msg: dict) -> dict:
        if msg["op"] == "props":
            return {"cases": [self._props(c) for c in msg["cases"]]}
        if msg["op"] == "run":
            return {"games": [self._run(g) for g in msg["games"]]}
        raise ValueError(f"unknown op {msg['op']!r}")

    def _props(self, case: dict) -> dict:
        upd, pol, acc = self.fns
        legal = decode(case["legal"], dtype="|b1")
        R, S, sigma = decode(case["R"]), decode(case["S"]), decode(case["sigma"])
        reach = decode(case["reach"])
        state: dict = {}
        outs = []
        for k, t in enumerate(case["ts"]):
            r = decode(case["r"][k])
            R = np.asarray(upd(R, r, legal, t, state), dtype=np.float64)
            S = np.asarray(acc(S, sigma, reach, legal, t, state), dtype=np.float64)
            sigma = np.asarray(pol(R, legal, t, state), dtype=np.float64)
            if state_nbytes(state) > self.state_cap:
                raise MemoryError("state dict over its size cap")
            outs.append({"R": encode(R), "S": encode(S), "sigma": encode(sigma)})
        return {"steps": outs}

    def _run(self, g: dict) -> dict:
        tree = self.trees[g["game"]]
        perm = Perm(tree, g["seed"])
        rule = _PermutedRule(self.fns, perm, tree, self.state_cap, self.Rule)
        solver = self.CFRSolver(tree, rule=rule, validate=True)
        checkpoints = sorted(set(int(c) for c in g["checkpoints"]))
        out = {}
        for t in range(1, max(checkpoints) + 1):
            solver.iterate()
            if t in checkpoints:
                out[str(t)] = encode(perm.fwd_all(solver.average_policy()))
        return {"game": g["game"], "policies": out}




class _PermutedRule(_RuleBase):
    """The candidate seen through a permutation: inputs are permuted before each call and
    outputs un-permuted after, so the engine's arrays stay in tree order. The state dict is
    the candidate's own (its coordinates are the permuted ones)."""

    name = "candidate"

    def __init__(self, fns, perm: Perm, tree, cap: int, base):
        self.fns, self.perm, self.cap = fns, perm, cap
        self.legal = [perm.fwd(p, tree.legal[b]) for p, b in enumerate(perm.blocks)]
        self.player_of: dict[int, int] = {}

    def _p(self, state):
        return self.player_of.setdefault(id(state), len(self.player_of))

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        p = self._p(state)
        P = self.perm
        out = self.fns[0](P.fwd(p, cum_regret), P.fwd(p, inst_regret), self.legal[p], t, state)
        if state_nbytes(state) > self.cap:
            raise MemoryError("state dict over its size cap")
        return P.inv(p, np.asarray(out, dtype=np.float64))

    def policy_from_regrets(self, cum_regret, legal, t, state):
        p = self._p(state)
        P = self.perm
        return P.inv(p, np.asarray(self.fns[1](P.fwd(p, cum_regret), self.legal[p], t, state), dtype=np.float64))

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        p = self._p(state)
        P = self.perm
        out = self.fns[2](P.fwd(p, avg_acc), P.fwd(p, policy), reach[P.rows[p]], self.legal[p], t, state)
        return P.inv(p, np.asarray(out, dtype=np.float64))


# -- in the parent (trusted) ----------------------------------------------------------------
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


def score_run(resp: dict, games: list[dict], trees: dict, baselines: dict) -> dict:
    """Trusted scoring of a stage's ``run`` answer: un-permute, validate, exploitability.

    ``baselines[game][str(t)]`` is CFR+'s exploitability at checkpoint t. Returns the public
    (or private) metrics dict; raises InvalidPayload on any invalid policy.
    """
    from solvers.best_response import exploitability

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


def baseline_curve(tree, iterations: int, checkpoints: list[int]) -> dict:
    """CFR+'s exploitability at the checkpoints, run in trusted code (the fitness baseline)."""
    from solvers.best_response import exploitability
    from solvers.cfr.engine import CFRSolver

    solver = CFRSolver(tree, rule="cfr+", validate=False)
    out = {}
    cps = set(int(c) for c in checkpoints)
    for t in range(1, iterations + 1):
        solver.iterate()
        if t in cps:
            out[str(t)] = float(exploitability(tree, solver.average_policy()))
    return out


def fitness_ci(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% normal CI over seeds (width 0 with one seed)."""
    m = float(np.mean(values))
    if len(values) < 2:
        return m, m, m
    half = 1.96 * float(np.std(values, ddof=1)) / math.sqrt(len(values))
    return m, m - half, m + half
