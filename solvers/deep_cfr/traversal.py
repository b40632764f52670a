"""Deep CFR's external-sampling traversal (Brown, Lerer, Gross & Sandholm, "Deep Counterfactual
Regret Minimization", ICML 2019, Algorithm 1; OpenSpiel's ``_traverse_game_tree``).

The policy at an infoset is regret matching of the acting player's advantage network (all
mass on the largest raw advantage when none is positive, as OpenSpiel). The traverser expands
every legal action and records (info state, sampled regrets v(a) - v) as an advantage sample;
an opponent samples one action and records (info state, its strategy) as a strategy sample;
chance is sampled. Networks are fixed during an iteration, so their outputs are cached per
information state string.
"""

from __future__ import annotations

import numpy as np
import torch

from solvers.mccfr.external import sample_index


class NetPolicy:
    """Regret-matched policies of the advantage networks, cached per infoset for one iteration."""

    def __init__(self, nets, num_actions: int) -> None:
        self.nets = nets
        self.num_actions = num_actions
        self.cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, state, player: int) -> tuple[np.ndarray, np.ndarray]:
        """(info-state tensor (float32), strategy over all distinct actions (float64))."""
        key = state.information_state_string(player)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        x = np.asarray(state.information_state_tensor(player), dtype=np.float32)
        with torch.inference_mode():
            raw = self.nets[player](torch.from_numpy(x[None]))[0].double().numpy()
        legal = state.legal_actions(player)
        pos = np.maximum(raw[legal], 0.0)
        strategy = np.zeros(self.num_actions)
        total = pos.sum()
        if total > 0.0:
            strategy[legal] = pos / total
        else:
            strategy[legal[int(np.argmax(raw[legal]))]] = 1.0
        self.cache[key] = (x, strategy)
        return x, strategy


def traverse(state, player: int, policy: NetPolicy, rng, advantage: list, strategy: list) -> float:
    """One traversal for ``player``; appends (tensor, regrets) to ``advantage`` and (tensor,
    strategy) to ``strategy``; returns the sampled value of ``state`` for ``player``."""
    if state.is_terminal():
        return state.returns()[player]
    if state.is_chance_node():
        outcomes = state.chance_outcomes()
        k = sample_index([p for _, p in outcomes], rng.random())
        return traverse(state.child(outcomes[k][0]), player, policy, rng, advantage, strategy)
    q = state.current_player()
    x, sigma = policy(state, q)
    legal = state.legal_actions()
    if q == player:
        values = np.zeros(policy.num_actions)
        for a in legal:
            values[a] = traverse(state.child(a), player, policy, rng, advantage, strategy)
        cfv = float(np.dot(sigma[legal], values[legal]))
        regrets = np.zeros(policy.num_actions, dtype=np.float32)
        regrets[legal] = values[legal] - cfv
        advantage.append((x, regrets))
        return cfv
    probs = sigma[legal] / sigma[legal].sum()
    a = legal[sample_index(probs.tolist(), rng.random())]
    strategy.append((x, sigma.astype(np.float32)))
    return traverse(state.child(a), player, policy, rng, advantage, strategy)
