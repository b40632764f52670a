"""A per-node OpenSpiel-Python harness of the paper's interface, for throughput comparison.

The paper (arXiv:2602.16928) evaluates candidates by calling three component classes -- a
regret accumulator, a policy-from-regret function and a policy accumulator -- from an
OpenSpiel-style recursive CFR traversal over ``pyspiel`` states, once per visited history
(docs/cfr.md, The per-history driver). This module is that harness, driving the *same* candidate functions with
(1, A) arrays, so that the cost of an evaluation there can be compared with gtlearn's
vectorized, sandboxed evaluation of the same program.

``granularity="history"`` is the paper's call pattern (used for timing). ``"infoset"`` sums
the per-history regrets of an infoset during the pass and calls the components once per infoset
after it; with it the harness must reproduce the vectorized engine (tested), which shows the
two evaluate the same algorithm. Exploitability uses OpenSpiel's Python ``nash_conv``.
"""

from __future__ import annotations

import numpy as np


class _Node:
    __slots__ = ("legal", "mask", "R", "S", "sigma", "state", "rho", "reach")

    def __init__(self, legal_actions, num_actions):
        n = len(legal_actions)
        self.legal = list(legal_actions)
        self.mask = np.ones((1, n), dtype=bool)
        self.R = np.zeros((1, n))
        self.S = np.zeros((1, n))
        self.sigma = np.full(n, 1.0 / n)
        self.state: dict = {}
        self.rho = np.zeros(n)
        self.reach = 0.0


class RegretAccumulator:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, node, t, rho):
        node.R = np.asarray(self.fn(node.R, rho[None], node.mask, t, node.state), dtype=np.float64)


class PolicyFromRegret:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, node, t):
        return np.asarray(self.fn(node.R, node.mask, t, node.state), dtype=np.float64)[0]


class PolicyAccumulator:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, node, t, sigma, reach):
        node.S = np.asarray(self.fn(node.S, sigma[None], np.array([reach]), node.mask, t, node.state), dtype=np.float64)


class PerNodeCFR:
    """OpenSpiel-style alternating CFR with per-history component calls."""

    def __init__(self, game, fns, granularity: str = "history"):
        self.game = game
        self.N = game.num_players()
        self.regret = RegretAccumulator(fns[0])
        self.policy_fn = PolicyFromRegret(fns[1])
        self.average = PolicyAccumulator(fns[2])
        self.granularity = granularity
        self.nodes: dict[str, _Node] = {}
        self.t = 0
        self.root = game.new_initial_state()

    def _node(self, state, player):
        key = state.information_state_string(player)
        node = self.nodes.get(key)
        if node is None:
            node = self.nodes[key] = _Node(state.legal_actions(player), self.game.num_distinct_actions())
        return node

    def _walk(self, state, reach, p, pending):
        if state.is_terminal():
            return np.asarray(state.returns())
        if state.is_chance_node():
            v = np.zeros(self.N)
            for a, prob in state.chance_outcomes():
                r2 = reach.copy()
                r2[-1] *= prob
                v += prob * self._walk(state.child(a), r2, p, pending)
            return v
        q = state.current_player()
        if not np.any(reach[: self.N]):
            return np.zeros(self.N)
        node = self._node(state, q)
        sigma = node.sigma
        child_v = np.empty((len(node.legal), self.N))
        for i, a in enumerate(node.legal):
            r2 = reach.copy()
            r2[q] *= sigma[i]
            child_v[i] = self._walk(state.child(a), r2, p, pending)
        v = sigma @ child_v
        if q != p:
            return v
        cf = np.prod(np.delete(reach, p))
        rho = cf * (child_v[:, p] - v[p])
        if self.granularity == "history":
            self.regret(node, self.t, rho)
            self.average(node, self.t, sigma, reach[p])
            pending[id(node)] = (node, self.policy_fn(node, self.t))  # last visit wins, written after the pass
        else:
            node.rho += rho
            node.reach = reach[p]
            pending[id(node)] = (node, None)
        return v

    def step(self):
        self.t += 1
        for p in range(self.N):
            pending: dict = {}
            self._walk(self.root, np.ones(self.N + 1), p, pending)
            for node, sigma in pending.values():
                if self.granularity == "infoset":
                    self.regret(node, self.t, node.rho)
                    self.average(node, self.t, node.sigma, node.reach)
                    sigma = self.policy_fn(node, self.t)
                    node.rho = np.zeros_like(node.rho)
                node.sigma = sigma

    def average_policy(self):
        """An OpenSpiel TabularPolicy of the normalized S (uniform on zero rows)."""
        from open_spiel.python import policy as policy_lib

        pol = policy_lib.TabularPolicy(self.game)
        for key, node in self.nodes.items():
            if key not in pol.state_lookup:
                continue
            row = pol.policy_for_key(key)
            s = node.S[0]
            tot = s.sum()
            row[:] = 0.0
            probs = s / tot if tot > 0 else np.full(len(node.legal), 1.0 / len(node.legal))
            for a, pr in zip(node.legal, probs):
                row[a] = pr
        return pol

    def exploitability(self):
        from open_spiel.python.algorithms import exploitability

        return exploitability.nash_conv(self.game, self.average_policy()) / self.N
