"""Replicas: reruns of one experiment cell that differ only in things that must not matter.

A claim read off the discovery sweeps (docs/cfr.md, docs/psro.md) is robust only if it survives
changes that leave the game and the algorithm the same:

* ``backend``: the engine's summation order (CFR: the Numba kernels or the NumPy reference;
  PSRO: the oracle's best responses on the Numba kernels or on the NumPy sweeps);
* ``perm_seed``: a fixed relabelling of the compiled tree -- infosets permuted inside each
  player's block (among those with the same number of own decisions above them, so an
  infoset's own predecessors keep smaller ids, as the compiler guarantees), the legal actions of every infoset permuted, chance outcomes permuted -- with
  the node order rebuilt so the tree obeys every layout invariant of :mod:`games.tree`. The
  game is the same; results are mapped back with :meth:`Relabelling.to_original`;
* ``perturb_seed``: every payoff multiplied by (1 + 1e-12 u), u uniform in [-1, 1], one draw
  per distinct payoff entry;
* ``tie_seed`` (PSRO only): each meta-solver sees its meta-game with every player's population
  in a seeded order and its output is mapped back, so an order-dependent choice between equally
  good answers (the LP vertex of ``nash``) is drawn differently. CFR has no tie-breaking that an
  order could decide apart from the one the relabelling already moves.

``verdict`` turns the per-replica values of a claim's margin into holds / does not hold / not
decided. The tree relabelling works on a copy and never touches ``games.tree``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from games.tree import GameTree

PERTURBATION = 1e-12


@dataclass(frozen=True)
class Replica:
    name: str
    backend: str = "numba"
    perm_seed: int | None = None
    perturb_seed: int | None = None
    tie_seed: int | None = None

    def describe(self) -> str:
        parts = [f"backend={self.backend}"]
        for key in ("perm_seed", "perturb_seed", "tie_seed"):
            if getattr(self, key) is not None:
                parts.append(f"{key}={getattr(self, key)}")
        return ", ".join(parts)


BASE = Replica("base")
CFR_REPLICAS = (BASE, Replica("numpy", backend="numpy"), Replica("perm1", perm_seed=1), Replica("perm2", perm_seed=2),
                Replica("perturb1", perturb_seed=1), Replica("perturb2", perturb_seed=2))
PSRO_REPLICAS = (BASE, Replica("numpy", backend="numpy"), Replica("perm1", perm_seed=1),
                 Replica("perturb1", perturb_seed=1), Replica("tie1", tie_seed=1))
# What each replica changes, for grouping the spread by cause.
FACTOR = {"base": "none", "numpy": "backend", "perm1": "permutation", "perm2": "permutation",
          "perturb1": "payoff perturbation", "perturb2": "payoff perturbation", "tie1": "tie-break order"}


# -- relabelling ----------------------------------------------------------------------------
@dataclass
class Relabelling:
    """A relabelled copy of a tree. ``infoset_map[i]`` is the new id of old infoset i and
    ``action_map[i, a]`` the new column of old column a of infoset i (illegal columns stay)."""

    tree: GameTree
    infoset_map: np.ndarray
    action_map: np.ndarray

    def to_new(self, policy: np.ndarray) -> np.ndarray:
        out = np.zeros_like(policy)
        out[self.infoset_map[:, None], self.action_map] = policy
        return out

    def to_original(self, policy: np.ndarray) -> np.ndarray:
        return np.asarray(policy)[self.infoset_map[:, None], self.action_map]


def _sibling_ranks(parent: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Rank of each node's key among the nodes with the same parent (0-based)."""
    order = np.lexsort((keys, parent))
    sorted_parent = parent[order]
    starts = np.flatnonzero(np.r_[True, sorted_parent[1:] != sorted_parent[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - first
    return ranks


def relabel(tree: GameTree, seed: int) -> Relabelling:
    """The same game with infosets, actions and chance outcomes in a seeded order."""
    rng = np.random.default_rng(seed)
    n_inf, width = tree.legal.shape
    infoset_map = np.empty(n_inf, dtype=np.int64)
    for p in range(tree.num_players):
        block = tree.infosets_of(p)
        # Random order, but a player's earlier own infosets keep smaller ids than later ones (the
        # compiled kernels compute own reach in id order): shuffle within each own-depth.
        order = np.lexsort((rng.random(block.stop - block.start), tree.own_depth[block]))
        infoset_map[block.start + order] = block.start + np.arange(block.stop - block.start)
    keys = np.where(tree.legal, rng.random((n_inf, width)), 2.0)  # illegal columns sort last, in place
    order = np.argsort(keys, axis=1, kind="stable")
    action_map = np.empty((n_inf, width), dtype=np.int64)
    np.put_along_axis(action_map, order, np.arange(width)[None, :].repeat(n_inf, axis=0), axis=1)

    parent = tree.parent.astype(np.int64)
    safe = np.maximum(parent, 0)
    new_action = tree.action_index.astype(np.int64).copy()
    decision_edge = tree.edge_slot >= 0
    edge_inf = tree.edge_slot[decision_edge].astype(np.int64) // width
    new_action[decision_edge] = action_map[edge_inf, new_action[decision_edge]]
    chance_edge = (parent >= 0) & (tree.player[safe] == -1)
    chance_nodes = np.flatnonzero(chance_edge)
    new_action[chance_nodes] = _sibling_ranks(parent[chance_nodes], rng.random(len(chance_nodes)))

    new_pos = np.zeros(tree.num_nodes, dtype=np.int64)
    for level in tree.levels()[1:]:
        idx = np.arange(level.start, level.stop)
        order = np.lexsort((new_action[idx], new_pos[parent[idx]]))
        new_pos[idx[order]] = level.start + np.arange(len(idx))
    old = np.argsort(new_pos)
    old_parent = parent[old]
    inf_old = tree.infoset[old].astype(np.int64)
    edge_old = tree.edge_slot[old].astype(np.int64)
    edge_new = np.where(edge_old >= 0, infoset_map[np.maximum(edge_old, 0) // width] * width + new_action[old], -1)
    old_inf = np.argsort(infoset_map)
    legal = np.zeros_like(tree.legal)
    legal[infoset_map[:, None], action_map] = tree.legal
    actions = np.full_like(tree.actions, -1)
    actions[infoset_map[:, None], action_map] = tree.actions
    key_list = tree._key_list()
    blobs = [key_list[i].encode() for i in old_inf]
    offsets = np.zeros(n_inf + 1, dtype=tree.key_offsets.dtype)
    offsets[1:] = np.cumsum([len(b) for b in blobs])
    new_tree = dataclasses.replace(
        tree,
        parent=np.where(old_parent >= 0, new_pos[np.maximum(old_parent, 0)], -1).astype(tree.parent.dtype),
        player=tree.player[old].copy(),
        infoset=np.where(inf_old >= 0, infoset_map[np.maximum(inf_old, 0)], -1).astype(tree.infoset.dtype),
        action_index=np.where(old_parent >= 0, new_action[old], tree.action_index[old]).astype(tree.action_index.dtype),
        edge_slot=edge_new.astype(tree.edge_slot.dtype),
        chance_prob=tree.chance_prob[old].copy(),
        terminal=tree.terminal[old].copy(),
        infoset_player=tree.infoset_player[old_inf].copy(),
        legal=legal,
        actions=actions,
        key_blob=np.frombuffer(b"".join(blobs), dtype=tree.key_blob.dtype).copy(),
        key_offsets=offsets,
        rep_node=new_pos[tree.rep_node[old_inf]].astype(tree.rep_node.dtype),
        own_depth=tree.own_depth[old_inf].copy(),
    )
    return Relabelling(new_tree, infoset_map, action_map)


def perturb_payoffs(tree: GameTree, seed: int, scale: float = PERTURBATION) -> GameTree:
    """A copy of ``tree`` with every payoff entry multiplied by (1 + scale u), u ~ U[-1, 1]."""
    u = np.random.default_rng(seed).uniform(-1.0, 1.0, size=tree.payoffs.shape)
    return dataclasses.replace(tree, payoffs=tree.payoffs * (1.0 + scale * u))


def replica_tree(tree: GameTree, replica: Replica) -> tuple[GameTree, Relabelling | None]:
    """The tree a replica runs on, and the relabelling to map its policies back (or None)."""
    relabelling = None
    if replica.perm_seed is not None:
        relabelling = relabel(tree, replica.perm_seed)
        tree = relabelling.tree
    if replica.perturb_seed is not None:
        tree = perturb_payoffs(tree, replica.perturb_seed)
    return tree, relabelling


# -- summaries and verdicts -------------------------------------------------------------------
FLOOR = 1e-12  # exploitabilities below this are machine-precision zeros


def log_summary(values: list[float]) -> dict:
    """Median and min-max of positive quantities (floored at FLOOR), with the spread in decades."""
    v = np.maximum(np.asarray(values, dtype=float), FLOOR)
    lo, hi = float(v.min()), float(v.max())
    return {"median": float(np.median(v)), "min": lo, "max": hi, "n": int(v.size),
            "spread_decades": float(np.log10(hi / lo))}


MIN_REPLICAS = 5  # the R >= 5: fewer replicas cannot show that a margin beats the spread


def verdict(margins: list[float], min_replicas: int = MIN_REPLICAS) -> str:
    """Each margin > 0 means the claim holds in that replica (margins in decades or any unit
    where 0 is the threshold). "holds" needs the median margin > 0 and larger than the replica
    spread (max - min); "does not hold" the mirror; otherwise -- and always with fewer than
    ``min_replicas`` replicas, whose spread says little -- "not decided"."""
    m = np.asarray(margins, dtype=float)
    if m.size < min_replicas:
        return "not decided"
    med, spread = float(np.median(m)), float(m.max() - m.min())
    if med > 0 and med > spread:
        return "holds"
    if med < 0 and -med > spread:
        return "does not hold"
    return "not decided"


# -- PSRO: the meta-game in a seeded strategy order --------------------------------------------
def _permuted_meta_solver_class():
    """Built on first use: experiments import solvers lazily so that a CFR-only run stays light."""
    from games.matrix import FactoredGame, sizes_of
    from solvers.psro.meta_solvers.base import MetaSolver

    class PermutedMetaSolver(MetaSolver):
        """Shows ``inner`` the meta-game with every player's population in a seeded order and
        maps its weights back; the order depends only on (seed, player, population size)."""

        def __init__(self, inner, seed: int) -> None:
            self.inner, self.tie_seed = inner, int(seed)
            self.name, self.slots, self.stateless = inner.name, inner.slots, inner.stateless

        @property
        def state(self):
            return self.inner.state

        @state.setter
        def state(self, value):
            self.inner.state = value

        def state_dict(self):
            return self.inner.state_dict()

        def load_state_dict(self, arrays):
            self.inner.load_state_dict(arrays)

        def params(self) -> dict:
            return {"inner": repr(self.inner), "tie_seed": self.tie_seed}

        def solve(self, payoffs, t=None):
            sizes = sizes_of(payoffs)
            perms = [np.random.default_rng([self.tie_seed, q, n]).permutation(n) for q, n in enumerate(sizes)]
            if isinstance(payoffs, FactoredGame):
                shown = FactoredGame(payoffs.weights, payoffs.index, [f[p] for f, p in zip(payoffs.factors, perms)])
            else:
                shown = [np.asarray(m)[np.ix_(*perms)] for m in payoffs]
            out = self.inner(shown, t)
            back = []
            for w, p in zip(out, perms):
                v = np.empty(len(p))
                v[p] = np.asarray(w, dtype=np.float64)
                back.append(v)
            return back

    return PermutedMetaSolver


def permuted_meta_solver(inner, seed: int):
    return _permuted_meta_solver_class()(inner, seed)
