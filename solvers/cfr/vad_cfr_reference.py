"""``vad-cfr-reference``: VAD-CFR's published components driven per history (slow, pure Python).

Li, Schultz, Hennes & Lanctot (2026), arXiv:2602.16928 v1, appendix source listing of VAD-CFR;
docs/cfr.md. The paper publishes three components (regret accumulator, policy
from regrets, average-policy accumulator) that receive *a node, one regret vector and a 0-based
iteration number*, and whose averaging reach refers to "the current history", but not the
traversal that calls them. This module supplies the OpenSpiel-style traversal that the interface
points to, so that the published semantics can be compared with the vectorized per-infoset rule
``vad-cfr`` (:mod:`solvers.cfr.rules.vad_cfr`):

* one instance of each component per solver, shared by all players and infosets, each with its
  own volatility EWMA updated on **every call** (so the volatility mixes infosets and players
  and depends on the traversal order; during the first iteration every call resets it);
* a recursive walk in OpenSpiel's order (post-order; chance outcomes in ``chance_outcomes()``
  order, actions in ``legal_actions()`` order), pruning a subtree when every player's reach
  (chance excluded) is 0, exactly like OpenSpiel's ``_compute_counterfactual_regret_for_player``;
* at each history h of the updating player p: rho(a) = pi_{-p}(h) (v_p(h.a) - v_p(h)); then
  regret component -> average component -> policy component, on the infoset's node. The
  discount and the -20 cap therefore act once per visited history, and average weights use the
  m of each history.

Switches (each an open point of the paper, docs/cfr.md; defaults first):

* ``policy_write="after_pass"`` (the pass uses a fixed sigma^t; the last visit of an infoset
  decides its sigma^{t+1}) | ``"immediate"`` (the new policy is written at once and seen by the
  later histories of the same pass);
* ``index_base=0`` (iteration_number = t - 1, per the published docstring) | ``1`` (the EWMA
  reset never fires and the warm-up ends one iteration earlier);
* ``granularity="history"`` | ``"infoset"``, and ``ewma="shared"`` | ``"per_infoset"``. The bridge
  mode ``granularity="infoset", ewma="per_infoset"`` aggregates the regrets of each infoset in
  the walk and then calls per-infoset component instances once per infoset and iteration, with
  r^t(I, .) and x_p(I); it reproduces ``vad-cfr`` to 1e-10 (tested), which ties the two forms
  together.

Implementation notes: the walk runs over the compiled :class:`~games.tree.GameTree` (the same
tree as OpenSpiel's, children stored in OpenSpiel's order) rather than over pyspiel states, for
speed; nodes hold R and S as lists indexed by the legal-action index (the published maps
action -> float, default 0). The class offers the solver interface the driver and the CLI use
(``iterate``, ``iteration``, ``average_policy``, ``current_policy``, ``exploitability``,
``state_dict``/``load_state_dict``), so ``gtlearn solve GAME --algo vad-cfr-reference`` works.
Only for small games: about 10 microseconds per visited history and player pass.
"""

from __future__ import annotations

import math

import numpy as np

from games.tree import CHANCE, TERMINAL, GameTree
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics
from solvers.best_response import exploitability, exploitability_record
from solvers.cfr.rules.vad_cfr import (
    ALPHA0,
    BETA0,
    BOOST,
    EWMA,
    GAMMA0,
    GAMMA_MAX,
    GAMMA_SENSITIVITY,
    MAGNITUDE_POWER,
    NORMALISER,
    OPTIMISM0,
    OPTIMISM_DECAY,
    POLICY_POWER,
    REGRET_FLOOR,
    SENSITIVITY,
    STABILITY_POWER,
    WARMUP,
)

REFERENCE_RULES = ("vad-cfr-reference",)


class Node:
    """An infoset's tables: cumulative regret R and average-policy numerator S."""

    __slots__ = ("regret", "avg")

    def __init__(self, num_actions: int) -> None:
        self.regret = [0.0] * num_actions
        self.avg = [0.0] * num_actions


class _Volatility:
    """The EWMA of the regret magnitude and the discounts derived from it (shared sub-computation)."""

    def __init__(self) -> None:
        self.ewma = 0.0

    def update(self, m: float, iteration_number: int) -> tuple[float, float, float]:
        self.ewma = m if iteration_number == 0 else EWMA * m + (1.0 - EWMA) * self.ewma
        v = min(1.0, self.ewma / NORMALISER)
        alpha = max(0.1, ALPHA0 - SENSITIVITY * v)
        beta = min(alpha, BETA0 - SENSITIVITY * v)
        t = iteration_number + 1.0
        ta, tb = t**alpha, t**beta
        return v, ta / (ta + 1.0), tb / (tb + 1.0)


def _boost(r: float) -> float:
    return BOOST * r if r > 0 else r


class RegretComponent(_Volatility):
    """Published regret accumulator: R(a) <- max(-20, d(R(a)) R(a) + boost(rho(a)))."""

    def __call__(self, node: Node, iteration_number: int, regrets: list[float]) -> list[float]:
        m = max((abs(r) for r in regrets), default=0.0)
        _, dp, dn = self.update(m, iteration_number)
        node.regret = [max(REGRET_FLOOR, (dp if R >= 0 else dn) * R + _boost(r)) for R, r in zip(node.regret, regrets)]
        return node.regret


class PolicyComponent(_Volatility):
    """Published policy from regrets: RM_1.5(d(R) R + o boost(rho)), o decaying and volatility-damped."""

    def __call__(self, node: Node, iteration_number: int, regrets: list[float]) -> list[float]:
        m = max((abs(r) for r in regrets), default=0.0)
        v, dp, dn = self.update(m, iteration_number)
        optimism = OPTIMISM0 / (1.0 + iteration_number / OPTIMISM_DECAY) * max(0.0, 1.0 - SENSITIVITY * v)
        w = [max((dp if R >= 0 else dn) * R + optimism * _boost(r), 0.0) ** POLICY_POWER
             for R, r in zip(node.regret, regrets)]
        total = sum(w)
        if total > 0:
            return [x / total for x in w]
        return [1.0 / len(w)] * len(w)


class AverageComponent:
    """Published average accumulator (stateless): nothing before iteration_number 500, then
    S(a) += w pi_p sigma_used(a) with w = t^g / (1 + m^1.5) max(0.1, (1 + m/2)^0.5)."""

    def __init__(self, warmup: int = WARMUP) -> None:
        self.warmup = warmup

    def __call__(self, node: Node, iteration_number: int, policy: list[float], regrets: list[float], own_reach: float) -> None:
        if iteration_number < self.warmup:
            return
        m = max((abs(r) for r in regrets), default=0.0)
        gamma = min(GAMMA_MAX, GAMMA0 + GAMMA_SENSITIVITY * min(1.0, m / NORMALISER))
        w = (iteration_number + 1.0) ** gamma / (1.0 + m**STABILITY_POWER) * max(0.1, (1.0 + m / NORMALISER) ** MAGNITUDE_POWER)
        node.avg = [s + w * own_reach * p for s, p in zip(node.avg, policy)]


class VADCFRReference:
    """VAD-CFR with the published components called per history (see the module docstring)."""

    def __init__(
        self,
        tree: GameTree,
        *,
        policy_write: str = "after_pass",
        index_base: int = 0,
        granularity: str = "history",
        ewma: str | None = None,
        warmup: int = WARMUP,
    ) -> None:
        ewma = ewma or ("per_infoset" if granularity == "infoset" else "shared")
        if policy_write not in ("after_pass", "immediate"):
            raise GtlearnError(f"policy_write must be 'after_pass' or 'immediate', not {policy_write!r}")
        if index_base not in (0, 1):
            raise GtlearnError(f"index_base must be 0 or 1, not {index_base!r}")
        if granularity not in ("history", "infoset"):
            raise GtlearnError(f"granularity must be 'history' or 'infoset', not {granularity!r}")
        if ewma not in ("shared", "per_infoset"):
            raise GtlearnError(f"ewma must be 'shared' or 'per_infoset', not {ewma!r}")
        if granularity == "infoset" and policy_write == "immediate":
            raise GtlearnError("policy_write='immediate' needs granularity='history'")
        self.tree = tree
        self.policy_write, self.index_base, self.granularity, self.ewma, self.warmup = (
            policy_write, int(index_base), granularity, ewma, int(warmup))
        self.rule = self  # the CLI prints solver.rule
        self.iteration = 0
        self.num_players = n = tree.num_players
        n_inf = tree.num_infosets
        self._num_actions = tree.legal.sum(axis=1).astype(int).tolist()
        self.nodes = [Node(k) for k in self._num_actions]
        self.sigma = [[1.0 / k] * k for k in self._num_actions]
        self._infoset_player = tree.infoset_player.tolist()
        if ewma == "shared":
            shared = (RegretComponent(), PolicyComponent(), AverageComponent(warmup))
            self._components = [shared] * n_inf
        else:
            self._components = [(RegretComponent(), PolicyComponent(), AverageComponent(warmup)) for _ in range(n_inf)]
        # Flat Python copies of the tree for the recursive walk.
        order = np.argsort(tree.parent, kind="stable")
        counts = np.bincount(tree.parent[tree.parent >= 0], minlength=tree.num_nodes)
        starts = np.concatenate([[0], np.cumsum(counts)])
        kids = order[tree.parent[order] >= 0]
        self._children = [kids[starts[i]:starts[i + 1]].tolist() for i in range(tree.num_nodes)]
        self._player = tree.player.tolist()
        self._infoset = tree.infoset.tolist()
        self._prob = tree.chance_prob.tolist()
        self._payoff = [tree.payoffs[k].tolist() if k >= 0 else None for k in tree.terminal.tolist()]
        self._zeros = [0.0] * n

    # -- solver interface --------------------------------------------------------------------
    def __repr__(self) -> str:
        return (f"VADCFRReference(policy_write={self.policy_write!r}, index_base={self.index_base}, "
                f"granularity={self.granularity!r}, ewma={self.ewma!r})")

    name = "vad-cfr-reference"

    def params(self) -> dict:
        return {"policy_write": self.policy_write, "index_base": self.index_base,
                "granularity": self.granularity, "ewma": self.ewma, "warmup": self.warmup}

    def step(self) -> None:
        t = self.iteration + 1
        iteration_number = t - 1 if self.index_base == 0 else t
        for p in range(self.num_players):
            self._pass(p, iteration_number)
        self.iteration = t

    def _array(self, rows: list[list[float]]) -> np.ndarray:
        out = np.zeros(self.tree.legal.shape)
        for i, row in enumerate(rows):
            out[i, : len(row)] = row
        return out

    def average_policy(self) -> np.ndarray:
        s = self._array([node.avg for node in self.nodes])
        legal = self.tree.legal
        total = s.sum(axis=1, keepdims=True)
        uniform = legal / legal.sum(axis=1, keepdims=True)
        return np.where(total > 0, s / np.where(total > 0, total, 1.0), uniform)

    def current_policy(self) -> np.ndarray:
        return self._array(self.sigma)

    def regrets(self) -> np.ndarray:
        return self._array([node.regret for node in self.nodes])

    def exploitability(self, average: bool = True) -> float:
        return exploitability(self.tree, self.average_policy() if average else self.current_policy())

    def gap(self) -> Metrics:
        """Exact exploitability (NashConv / players) of the average policy."""
        return exploitability_record(self.tree, self.average_policy(), self.iteration)

    def state_dict(self) -> dict[str, np.ndarray]:
        comps = self._components if self.ewma == "per_infoset" else self._components[:1]
        return {
            "iteration": np.array(self.iteration), "policy": self.current_policy(), "regrets": self.regrets(),
            "avg_acc": self._array([node.avg for node in self.nodes]),
            "ewma_regret": np.array([c[0].ewma for c in comps]), "ewma_policy": np.array([c[1].ewma for c in comps]),
        }

    def load_state_dict(self, data: dict[str, np.ndarray]) -> None:
        self.iteration = int(data["iteration"])
        for i, k in enumerate(self._num_actions):
            self.sigma[i] = data["policy"][i, :k].tolist()
            self.nodes[i].regret = data["regrets"][i, :k].tolist()
            self.nodes[i].avg = data["avg_acc"][i, :k].tolist()
        comps = self._components if self.ewma == "per_infoset" else self._components[:1]
        for c, er, ep in zip(comps, data["ewma_regret"].tolist(), data["ewma_policy"].tolist()):
            c[0].ewma, c[1].ewma = er, ep

    # -- one pass ------------------------------------------------------------------------------
    def _pass(self, p: int, iteration_number: int) -> None:
        self._p, self._i = p, iteration_number
        self._pending: dict[int, list[float]] = {}
        self._agg: dict[int, tuple[list[float], float]] = {}
        self._walk(0, [1.0] * (self.num_players + 1))
        if self.granularity == "infoset":
            block = self.tree.infosets_of(p)
            for infoset in range(block.start, block.stop):
                rho, own = self._agg.get(infoset, ([0.0] * self._num_actions[infoset], 0.0))
                self._visit(infoset, rho, own, self.sigma[infoset])
        for infoset, policy in self._pending.items():
            self.sigma[infoset] = policy

    def _visit(self, infoset: int, rho: list[float], own_reach: float, sigma_used: list[float]) -> None:
        regret_c, policy_c, average_c = self._components[infoset]
        node, i = self.nodes[infoset], self._i
        regret_c(node, i, rho)
        average_c(node, i, sigma_used, rho, own_reach)
        new = policy_c(node, i, rho)
        if self.policy_write == "immediate":
            self.sigma[infoset] = new
        else:
            self._pending[infoset] = new

    def _walk(self, h: int, reach: list[float]) -> list[float]:
        kind = self._player[h]
        n = self.num_players
        if kind == TERMINAL:
            return self._payoff[h]
        if kind == CHANCE:
            value = [0.0] * n
            for c in self._children[h]:
                prob = self._prob[c]
                child_reach = reach.copy()
                child_reach[n] *= prob
                cv = self._walk(c, child_reach)
                for j in range(n):
                    value[j] += prob * cv[j]
            return value
        if not any(reach[:n]):
            return self._zeros
        infoset = self._infoset[h]
        sigma = self.sigma[infoset]
        value = [0.0] * n
        child_values = []
        for k, c in enumerate(self._children[h]):
            child_reach = reach.copy()
            child_reach[kind] *= sigma[k]
            cv = self._walk(c, child_reach)
            child_values.append(cv)
            s = sigma[k]
            for j in range(n):
                value[j] += s * cv[j]
        p = self._p
        if kind != p:
            return value
        cf_reach = math.prod(reach[j] for j in range(n + 1) if j != p)
        rho = [cf_reach * (cv[p] - value[p]) for cv in child_values]
        if self.granularity == "infoset":
            acc = self._agg.get(infoset)
            if acc is None:
                self._agg[infoset] = (rho, reach[p])
            else:
                self._agg[infoset] = ([a + b for a, b in zip(acc[0], rho)], acc[1])
        else:
            self._visit(infoset, rho, reach[p], sigma)
        return value
