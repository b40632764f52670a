"""The exact best-response oracle and the population aggregator of PSRO (docs/psro.md).

* :func:`realization_weights`: x_p(I) at player p's infosets and x_p(z) at every terminal, the
  product of p's own action probabilities on the path (one forward sweep).
* :func:`aggregate`: agg(Pi_p, phi_p)(a|I) = sum_j phi_j x_j(I) pi_j(a|I) / sum_j phi_j x_j(I),
  uniform over legal actions where the denominator is 0 -- OpenSpiel's ``PolicyAggregator``
  semantics, realization-equivalent to the mixture (Kuhn's theorem).
* :func:`best_response_oracle`: :func:`solvers.best_response.best_response` with
  ``tie_break="uniform"``: at every infoset of the player, uniform over
  A*(I) = {a : Q(I,a) >= max_b Q(I,b) - tol}, tol = 1e-12 + 1e-9 |max_b Q(I,b)|; Q is computed
  against the aggregated opponents, whose reach equals the mixture's realization weight
  X_q(h) = sum_j phi_q(j) x_q^j(h). Unreached infosets get uniform rows (Q = 0 ties all).
"""

from __future__ import annotations

import numpy as np

from games.tree import GameTree
from solvers.best_response import best_response
from solvers.sweeps import Sweeps


def realization_weights(tree: GameTree, sweeps: Sweeps, policy: np.ndarray, player: int):
    """(x_p at p's infosets, shape (I_p,), x_p at terminals in ``sweeps.terminal_nodes`` order)."""
    probs = sweeps.edge_probs(np.asarray(policy, dtype=np.float64))
    own = sweeps.parent_player_np == player
    reach = sweeps.forward(np.where(own, probs, 1.0))
    block = tree.infosets_of(player)
    return reach[tree.rep_node[block]], reach[sweeps.terminal_nodes]


def aggregate_rows(tree: GameTree, player: int, policies: np.ndarray, infoset_weights: np.ndarray, phi: np.ndarray):
    """agg(Pi_p, phi_p) on player p's infosets. ``policies``: (n, I_p, A); ``infoset_weights``:
    (n, I_p); ``phi``: (n,). Returns (I_p, A)."""
    block = tree.infosets_of(player)
    legal = tree.legal[block]
    den = phi @ infoset_weights
    num = np.einsum("j,ji,jia->ia", phi, infoset_weights, policies)
    uniform = legal / legal.sum(axis=1, keepdims=True)
    safe = np.where(den > 0, den, 1.0)
    return np.where((den > 0)[:, None], num / safe[:, None], uniform)


def aggregate(tree: GameTree, policies, infoset_weights, phis) -> np.ndarray:
    """The full behaviour policy agg(Pi, phi), one block of rows per player."""
    out = np.zeros(tree.legal.shape)
    for p in range(tree.num_players):
        out[tree.infosets_of(p)] = aggregate_rows(tree, p, policies[p], infoset_weights[p], phis[p])
    return out


def best_response_oracle(tree: GameTree, policy: np.ndarray, player: int, sweeps: Sweeps | None = None):
    """(best-response value, rows of ``player``'s block) with uniform tie-breaking."""
    value, br = best_response(tree, policy, player, sweeps, tie_break="uniform")
    return value, br[tree.infosets_of(player)]
