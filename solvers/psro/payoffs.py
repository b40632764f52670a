"""Exact meta-game payoffs by realization weights over terminal histories (docs/psro.md).

    M_p[j_0, ..., j_{N-1}] = sum_z c(z) u_p(z) prod_q x_q^{j_q}(z)

with c(z) the chance reach and x_q^j(z) policy j's realization weight of terminal z. No
sampling is used anywhere (OpenSpiel's ``sims_per_entry`` has no meaning here). The tensors are
extended incrementally: after new policies are appended only the entries that involve at least
one new index are computed, as the disjoint union over q of the regions
{j_r old for r < q, j_q new, j_r any for r > q}.

The same game as a sum of product terms (:meth:`MetaGame.factored`): x_q^j(z) depends on z only
through q's last own action on the path to z (its *sequence*), so with one column per sequence
that ends somewhere, and terminals with the same sequence for every player merged,

    M_p = sum_k w_k,p prod_q B_q[j_q, s_q(k)],   w_k,p = sum of c(z) u_p(z) over the merged terminals,

which meta-solvers contract in O(sum_q n_q S_q + N K) per step instead of prod_q n_q. With
``dense=False`` the tensors are not kept up to date; :attr:`MetaGame.tensors` builds them from
the factored form on demand (same values up to summation order).
"""

from __future__ import annotations

import numpy as np

from games.matrix import FactoredGame, multilinear
from games.tree import GameTree
from solvers.sweeps import Sweeps


def terminal_sequences(tree: GameTree, sweeps: Sweeps) -> np.ndarray:
    """(Z, N): for every terminal (``sweeps.terminal_nodes`` order) and player q, 1 + the local
    policy slot (infoset * A + action) of q's last own action on the path, 0 if q never acted."""
    width = tree.max_actions
    out = np.zeros((tree.num_nodes, tree.num_players), dtype=np.int64)
    slot = tree.edge_slot.astype(np.int64)
    for level in tree.levels()[1:]:
        parent_player = sweeps.parent_player_np[level]
        inherited = out[tree.parent[level]]
        for q in range(tree.num_players):
            mine = parent_player == q
            inherited[mine, q] = slot[level][mine] - tree.infosets_of(q).start * width + 1
        out[level] = inherited
    return out[sweeps.terminal_nodes]


def _merge_terminals(sequences: np.ndarray, weights: np.ndarray):
    """Terminals with the same sequence for every player merged: (summed weights (K, N), column
    index (K, N) into each player's sequence list, the first terminal of each sequence per player)."""
    rows, inverse = np.unique(sequences, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    merged = np.stack([np.bincount(inverse, weights=weights[:, p], minlength=len(rows)) for p in range(weights.shape[1])],
                      axis=1)
    index = np.empty(rows.shape, dtype=np.int64)
    first = []
    for q in range(sequences.shape[1]):
        values, at = np.unique(sequences[:, q], return_index=True)
        index[:, q] = np.searchsorted(values, rows[:, q])
        first.append(at)
    return merged, index, first


class MetaGame:
    """The exact meta-game of the current populations, extended in place."""

    def __init__(self, tree: GameTree, sweeps: Sweeps, dense: bool = True) -> None:
        self.num_players = tree.num_players
        self.dense = dense
        chance_reach = sweeps.forward(np.asarray(tree.chance_prob, dtype=np.float64))[sweeps.terminal_nodes]
        payoffs = tree.payoffs[tree.terminal[sweeps.terminal_nodes]]
        # Terminals no chance outcome reaches contribute nothing; dropping them shrinks every product.
        keep = chance_reach > 0
        self._keep = keep
        self._weights = chance_reach[keep, None] * payoffs[keep]  # (Z, N): c(z) u_p(z)
        self.realization = [np.zeros((0, int(keep.sum()))) for _ in range(self.num_players)]
        self._tensors = [np.zeros((0,) * self.num_players) for _ in range(self.num_players)]
        self._merge = _merge_terminals(terminal_sequences(tree, sweeps)[keep], self._weights) if not dense else None
        self._factored = None

    @property
    def tensors(self) -> list[np.ndarray]:
        if self._tensors is None:
            self._tensors = self.factored().dense()
        return self._tensors

    @tensors.setter
    def tensors(self, value) -> None:
        self._tensors = value

    def factored(self) -> FactoredGame:
        """The meta-game as a sum of product terms over merged terminals (``dense=False`` only)."""
        if self._merge is None:
            raise ValueError("the factored form needs MetaGame(..., dense=False)")
        if self._factored is None:
            weights, index, first = self._merge
            self._factored = FactoredGame(weights, index, [x[:, f] for x, f in zip(self.realization, first)])
        return self._factored

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(x.shape[0] for x in self.realization)

    @staticmethod
    def _append(rows: np.ndarray, more: np.ndarray) -> np.ndarray:
        """``rows`` with ``more`` below. The result is the leading rows of a buffer with spare rows
        at the end, and when ``rows`` is such a view with room left it is extended in place: a
        population's weights are 0.8 GB on 3-player Leduc at K = 100, and copying them whole at
        every iteration (np.vstack) took 3 of the 5 seconds of an extension there."""
        n, extra = rows.shape[0], more.shape[0]
        buf = rows.base
        in_place = (isinstance(buf, np.ndarray) and buf.ndim == 2 and buf.shape[1] == rows.shape[1]
                    and buf.shape[0] >= n + extra and rows.ctypes.data == buf.ctypes.data and rows.flags.c_contiguous)
        if not in_place:
            buf = np.empty((n + extra + max(8, (n + extra) // 4), rows.shape[1]))
            buf[:n] = rows
        buf[n:n + extra] = more
        return buf[:n + extra]

    def extend(self, new_terminal_weights: list[np.ndarray]) -> None:
        """Append policies: ``new_terminal_weights[q]`` has shape (k_q, Z) (x_q over all terminals,
        in ``sweeps.terminal_nodes`` order)."""
        old = self.sizes
        self.realization = [self._append(x, np.atleast_2d(w)[:, self._keep])
                            for x, w in zip(self.realization, new_terminal_weights)]
        new = self.sizes
        self._factored = None
        if not self.dense:
            self._tensors = None  # rebuilt from the factored form if a meta-solver asks for them
            return
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
            piece = multilinear(self._weights[support], mats)
            for p in range(self.num_players):
                tensors[p][tuple(ranges)] = piece[p]
        self.tensors = tensors

    def state_dict(self) -> dict[str, np.ndarray]:
        """The realization weights and (dense mode) the payoff tensors; the rest is a function of
        the tree."""
        out = {}
        for q in range(self.num_players):
            out[f"realization_{q}"] = self.realization[q]
            if self.dense:
                out[f"tensor_{q}"] = self.tensors[q]
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        # copies: extend() writes into spare rows of its own buffers, never into a caller's arrays
        realization = [np.array(state[f"realization_{q}"], dtype=np.float64) for q in range(self.num_players)]
        sizes = tuple(x.shape[0] for x in realization)
        tensors = None
        if self.dense:
            tensors = [np.asarray(state[f"tensor_{q}"], dtype=np.float64) for q in range(self.num_players)]
            if any(t.shape != sizes for t in tensors):
                raise ValueError(f"meta-game tensors do not fit the populations {sizes}")
        width = self._weights.shape[0]
        if any(x.ndim != 2 or x.shape[1] != width for x in realization):
            raise ValueError(f"meta-game arrays do not fit this game (populations {sizes}, {width} terminals)")
        self.realization, self._tensors, self._factored = realization, tensors, None

    def recompute(self) -> list[np.ndarray]:
        """The whole meta-game from scratch (for checking the incremental path)."""
        piece = multilinear(self._weights, self.realization)
        return [piece[p] for p in range(self.num_players)]
