"""Exact meta-game payoffs by realization weights over terminal histories (docs/psro.md).

    M_p[j_0, ..., j_{N-1}] = sum_z c(z) u_p(z) prod_q x_q^{j_q}(z)

with c(z) the chance reach and x_q^j(z) policy j's realization weight of terminal z. No
sampling is used anywhere (OpenSpiel's ``sims_per_entry`` has no meaning here). The tensors are
extended incrementally: after new policies are appended only the entries that involve at least
one new index are computed, as the disjoint union over q of the regions
{j_r old for r < q, j_q new, j_r any for r > q}.
"""

from __future__ import annotations

import numpy as np

from games.tree import GameTree
from solvers.sweeps import Sweeps


def _multilinear(weights: np.ndarray, mats: list[np.ndarray]) -> np.ndarray:
    """T_p[i_0, ..., i_{N-1}] = sum_z weights[z, p] prod_r mats[r][i_r, z], for every p.
    Returns shape (N_payoff, k_0, ..., k_{N-1})."""
    sizes = [m.shape[0] for m in mats]
    b = mats[0]
    for m in mats[1:-1]:
        b = (b[:, None, :] * m[None, :, :]).reshape(-1, m.shape[1])
    last = mats[-1]
    out = np.empty((weights.shape[1], *sizes))
    if min(sizes) == 0:
        return out
    for p in range(weights.shape[1]):
        out[p] = ((b * weights[:, p]) @ last.T).reshape(sizes)
    return out


class MetaGame:
    """The exact meta-game of the current populations, extended in place."""

    def __init__(self, tree: GameTree, sweeps: Sweeps) -> None:
        self.num_players = tree.num_players
        chance_reach = sweeps.forward(np.asarray(tree.chance_prob, dtype=np.float64))[sweeps.terminal_nodes]
        payoffs = tree.payoffs[tree.terminal[sweeps.terminal_nodes]]
        # Terminals no chance outcome reaches contribute nothing; dropping them shrinks every product.
        keep = chance_reach > 0
        self._keep = keep
        self._weights = chance_reach[keep, None] * payoffs[keep]  # (Z, N): c(z) u_p(z)
        self.realization = [np.zeros((0, int(keep.sum()))) for _ in range(self.num_players)]
        self.tensors = [np.zeros((0,) * self.num_players) for _ in range(self.num_players)]

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(x.shape[0] for x in self.realization)

    def extend(self, new_terminal_weights: list[np.ndarray]) -> None:
        """Append policies: ``new_terminal_weights[q]`` has shape (k_q, Z) (x_q over all terminals,
        in ``sweeps.terminal_nodes`` order)."""
        old = self.sizes
        self.realization = [
            np.vstack([x, np.atleast_2d(w)[:, self._keep]]) for x, w in zip(self.realization, new_terminal_weights)
        ]
        new = self.sizes
        tensors = [np.empty(new) for _ in range(self.num_players)]
        old_block = tuple(slice(0, o) for o in old)
        for p in range(self.num_players):
            tensors[p][old_block] = self.tensors[p]
        for q in range(self.num_players):
            if new[q] == old[q]:
                continue
            ranges = [slice(0, old[r]) if r < q else (slice(old[q], new[q]) if r == q else slice(0, new[r]))
                      for r in range(self.num_players)]
            # Only terminals the new policies reach contribute; best responses reach few of them.
            support = np.flatnonzero(np.any(self.realization[q][ranges[q]] != 0, axis=0))
            mats = [self.realization[r][ranges[r]][:, support] for r in range(self.num_players)]
            piece = _multilinear(self._weights[support], mats)
            for p in range(self.num_players):
                tensors[p][tuple(ranges)] = piece[p]
        self.tensors = tensors

    def state_dict(self) -> dict[str, np.ndarray]:
        """The realization weights and payoff tensors (the rest is a function of the tree)."""
        out = {}
        for q in range(self.num_players):
            out[f"realization_{q}"] = self.realization[q]
            out[f"tensor_{q}"] = self.tensors[q]
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        realization = [np.asarray(state[f"realization_{q}"], dtype=np.float64) for q in range(self.num_players)]
        tensors = [np.asarray(state[f"tensor_{q}"], dtype=np.float64) for q in range(self.num_players)]
        sizes = tuple(x.shape[0] for x in realization)
        width = self._weights.shape[0]
        if any(x.ndim != 2 or x.shape[1] != width for x in realization) or any(t.shape != sizes for t in tensors):
            raise ValueError(f"meta-game arrays do not fit this game (populations {sizes}, {width} terminals)")
        self.realization, self.tensors = realization, tensors

    def recompute(self) -> list[np.ndarray]:
        """The whole meta-game from scratch (for checking the incremental path)."""
        piece = _multilinear(self._weights, self.realization)
        return [piece[p] for p in range(self.num_players)]
