"""Level-by-level sweeps over a compiled :class:`~games.tree.GameTree`.

Nodes are stored level by level, so a forward sweep (reach probabilities) is one gather per
level and a backward sweep (expected values) is one ``bincount`` per level. Both the CFR
engine and exact best response are written on top of these two primitives, against an array
module ``xp`` (NumPy or CuPy).
"""

from __future__ import annotations

import numpy as np

from games.tree import CHANCE, TERMINAL, GameTree


class Sweeps:
    """Device-resident copies of the tree arrays a sweep needs, plus the two sweeps."""

    def __init__(self, tree: GameTree, xp=np) -> None:
        self.tree = tree
        self.xp = xp
        ptr = tree.level_ptr
        self.level_slices = tree.levels()
        self.level_sizes = [int(b - a) for a, b in zip(ptr[:-1], ptr[1:])]
        # local_parent[d]: parent index, relative to the start of level d-1, of each node of level d
        self.local_parent = [None] + [
            xp.asarray((tree.parent[s] - ptr[d - 1]).astype(np.int64)) for d, s in enumerate(self.level_slices) if d > 0
        ]
        root_safe = np.maximum(tree.parent, 0)
        parent_player = tree.player[root_safe].astype(np.int16)
        parent_player[tree.parent < 0] = TERMINAL  # the root has no incoming edge
        self.parent_player_np = parent_player
        self.parent = xp.asarray(tree.parent.astype(np.int64))
        self.edge_slot_np = tree.edge_slot.astype(np.int64)
        self.player_edge = xp.asarray(self.edge_slot_np >= 0)
        self.edge_slot = xp.asarray(np.maximum(self.edge_slot_np, 0))
        self.chance_prob = xp.asarray(tree.chance_prob)
        self.is_chance_edge = xp.asarray(parent_player == CHANCE)
        terminal_nodes = np.flatnonzero(tree.terminal >= 0)
        self.terminal_nodes = xp.asarray(terminal_nodes)
        self.terminal_payoffs = xp.asarray(tree.payoffs[tree.terminal[terminal_nodes]])
        self.num_nodes = tree.num_nodes

    def edge_probs(self, policy) -> object:
        """Probability of the edge into each node under a full policy array (I, A)."""
        xp = self.xp
        flat = policy.reshape(-1)
        return xp.where(self.player_edge, flat[self.edge_slot], self.chance_prob)

    def leaf_values(self, player: int):
        """Terminal payoffs of ``player`` scattered onto a node-sized vector."""
        v = self.xp.zeros(self.num_nodes)
        v[self.terminal_nodes] = self.terminal_payoffs[:, player]
        return v

    def forward(self, factor):
        """reach[root] = 1, reach[n] = reach[parent[n]] * factor[n]."""
        reach = self.xp.empty(self.num_nodes)
        reach[0] = 1.0
        for d in range(1, len(self.level_slices)):
            s = self.level_slices[d]
            reach[s] = reach[self.parent[s]] * factor[s]
        return reach

    def backward(self, child_weight, leaf):
        """v = leaf + sum over children of child_weight[c] * v[c], level by level from the bottom."""
        xp = self.xp
        v = leaf.copy()
        for d in range(len(self.level_slices) - 1, 0, -1):
            s = self.level_slices[d]
            up = self.level_slices[d - 1]
            v[up] += xp.bincount(self.local_parent[d], weights=child_weight[s] * v[s], minlength=self.level_sizes[d - 1])
        return v
