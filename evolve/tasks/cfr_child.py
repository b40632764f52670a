"""The CFR-rule task inside the sandbox, and the permutations child and parent share
(docs/evolve.md, Tasks and Trusted scoring).

:class:`ChildDriver` runs the toolkit's vectorized CFR engine with the candidate as the rule,
behind a wrapper that permutes infoset rows and the actions within each row (a fresh
permutation per evaluation seed), and returns only the average policies at the checkpoint
iterations, still permuted. The parent un-permutes and scores them (:mod:`evolve.tasks.cfr`).
"""

from __future__ import annotations

import numpy as np

from evolve.scoring import decode, encode
from games.tree import GameTree
from solvers.cfr.engine import CFRSolver
from solvers.cfr.rules.base import Rule

FUNCS = ("update_regrets", "policy_from_regrets", "accumulate_average")
ALLOWED_TYPES = (int, float, bool, np.ndarray, np.generic)


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


class ChildDriver:
    """Runs requests for one candidate inside the sandbox child."""

    def __init__(self, init: dict):
        self.trees = {name: GameTree.load(path) for name, path in init.get("trees", {}).items()}
        self.state_cap = int(init.get("state_cap_mb", 64)) << 20
        # Warm up the engine on every tree before the sandbox locks down: the compiled (Numba)
        # path loads its shared library with ctypes and its kernels from the on-disk cache, both
        # denied later, and which kernels a tree needs depends on its shape.
        for tree in self.trees.values():
            CFRSolver(tree, rule="cfr+").step()

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
        solver = CFRSolver(tree, rule=_PermutedRule(self.fns, perm, tree, self.state_cap), validate=True)
        checkpoints = sorted(set(int(c) for c in g["checkpoints"]))
        out = {}
        for t in range(1, max(checkpoints) + 1):
            solver.step()
            if t in checkpoints:
                out[str(t)] = encode(perm.fwd_all(solver.average_policy()))
        return {"game": g["game"], "policies": out}


class _PermutedRule(Rule):
    """The candidate seen through a permutation: inputs are permuted before each call and
    outputs un-permuted after, so the engine's arrays stay in tree order. The state dict is
    the candidate's own (its coordinates are the permuted ones)."""

    name = "candidate"

    def __init__(self, fns, perm: Perm, tree, cap: int):
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
