"""The compiled CPU path (Numba): whole-tree kernels for the CFR pass and exact best response.

Numba is optional (``pip install gtlearn[fast]``). :func:`available` says whether it can be
used; everything else in this package needs it. The kernels (:mod:`solvers.fast.kernels`) are
the fused-loop twins of the NumPy reference sweeps in :mod:`solvers.sweeps` and produce the
same numbers up to floating-point summation order (tested to 1e-12).

Backend names used across the solvers: ``"numba"`` (this package), ``"numpy"`` (the
vectorized reference), ``"cuda"`` (fused CuPy kernels, :mod:`solvers.fast.cuda`) and
``"cupy"`` (the reference code on CuPy arrays). ``None`` means the fastest one available for
the device.
"""

from __future__ import annotations

import numpy as np

from games.tree import TERMINAL, GameTree
from gtlearn.core.errors import GtlearnError

BACKENDS = ("numba", "numpy", "cuda", "cupy")
CPU_BACKENDS = ("numba", "numpy")
CUDA_BACKENDS = ("cuda", "cupy")
_AVAILABLE: bool | None = None


def available() -> bool:
    """True when numba can be imported (checked once, on the first solver that asks)."""
    global _AVAILABLE
    if _AVAILABLE is None:
        try:
            import numba  # noqa: F401, PLC0415 - optional dependency
        except ImportError:
            _AVAILABLE = False
        else:
            _AVAILABLE = True
    return _AVAILABLE


def resolve_backend(backend: str | None, device: str = "cpu") -> str:
    """The backend to use: the one asked for (checked) or the fastest available for ``device``.

    CPU: ``"numba"`` (compiled, default when installed) or ``"numpy"`` (reference). CUDA:
    ``"cuda"`` (fused per-level kernels, :mod:`solvers.fast.cuda`; default) or ``"cupy"`` (the
    NumPy reference code run on CuPy arrays).
    """
    if backend is None:
        if device == "cuda":
            return "cuda"
        return "numba" if available() else "numpy"
    if backend not in BACKENDS:
        raise GtlearnError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if device == "cuda" and backend not in CUDA_BACKENDS:
        raise GtlearnError(f"backend {backend!r} runs on the CPU; device 'cuda' takes backend 'cuda' or 'cupy'")
    if device != "cuda" and backend in CUDA_BACKENDS:
        raise GtlearnError(f"backend {backend!r} needs device 'cuda'")
    if backend == "numba" and not available():
        raise GtlearnError("backend 'numba' needs numba: install it with `pip install gtlearn[fast]`")
    return backend


_KERNELS = None


def _kernels():
    global _KERNELS
    if _KERNELS is None:
        from solvers.fast import kernels  # noqa: PLC0415 - imports numba

        _KERNELS = kernels
    return _KERNELS


class FastTree:
    """The node arrays the kernels read (views of the tree's own arrays where the dtype fits,
    plus one int8 per node for the parent's player) and reusable scratch buffers."""

    def __init__(self, tree: GameTree) -> None:
        self.tree = tree
        c = np.ascontiguousarray
        self.parent = c(tree.parent, dtype=np.int32)
        parent_player = tree.player[np.maximum(tree.parent, 0)].astype(np.int8)
        parent_player[tree.parent < 0] = TERMINAL
        self.parent_player = parent_player
        self.node_player = c(tree.player, dtype=np.int8)
        self.node_infoset = c(tree.infoset, dtype=np.int32)
        self.edge_slot = c(tree.edge_slot, dtype=np.int32)
        self.chance_prob = c(tree.chance_prob, dtype=np.float64)
        self.terminal = c(tree.terminal, dtype=np.int32)
        payoffs = tree.payoffs if tree.payoffs.size else np.zeros((1, tree.num_players))
        self.payoffs = c(payoffs, dtype=np.float64)
        self.level_ptr = c(tree.level_ptr, dtype=np.int64)
        # Terminal payoffs in node order (the k-th terminal node's row is row k), so the CFR pass
        # streams them; a one-node game keeps the original rows.
        term_nodes = np.flatnonzero(tree.terminal >= 0)
        self.leaf_payoffs = c(payoffs[tree.terminal[term_nodes]] if term_nodes.size else payoffs, dtype=np.float64)
        self.legal_flat = c(tree.legal.reshape(-1))
        self.prev_slot = self._previous_own_slots()
        self._scratch: dict[str, np.ndarray] = {}

    def _previous_own_slots(self) -> np.ndarray:
        """For each infoset, the global policy slot of its player's previous own action on the
        path to it (-1 for a first decision); well defined under perfect recall."""
        tree = self.tree
        out = np.full(tree.num_infosets, -1, dtype=np.int32)
        levels = tree.levels()
        for p in range(tree.num_players):
            last = np.full(tree.num_nodes, -1, dtype=np.int32)
            for s in levels[1:]:
                own = self.parent_player[s] == p
                last[s] = np.where(own, self.edge_slot[s], last[self.parent[s]])
            b = tree.infosets_of(p)
            out[b] = last[tree.rep_node[b]]
        return out

    def scratch(self, name: str, shape) -> np.ndarray:
        buf = self._scratch.get(name)
        if buf is None or buf.shape != (tuple(shape) if isinstance(shape, tuple) else (shape,)):
            buf = self._scratch[name] = np.empty(shape)
        return buf

    # -- CFR ---------------------------------------------------------------------------------
    def _pass_statics(self, player: int):
        """The per-player kernel arguments that never change, built once (the wrapper's own
        overhead matters on small games, where a whole pass takes microseconds)."""
        statics = self._scratch.get(("pass", player))
        if statics is None:
            tree = self.tree
            b = tree.infosets_of(player)
            A = tree.max_actions
            n_inf = b.stop - b.start
            statics = self._scratch[("pass", player)] = (
                b, n_inf, b.start * A, np.ascontiguousarray(self.prev_slot[b]), np.ascontiguousarray(tree.legal[b]),
                self.scratch("opp", tree.num_nodes), self.scratch("u", tree.num_nodes), np.empty(n_inf * A),
            )
        return statics

    def cfr_regrets(self, policy: np.ndarray, player: int):
        """r^t(I, a) of ``player``'s infosets and x_p(I) against the full ``policy`` (I, A)."""
        b, n_inf, slot_start, prev_slot, legal, opp, v, q = self._pass_statics(player)
        if policy.dtype != np.float64 or not policy.flags.c_contiguous:
            policy = np.ascontiguousarray(policy, dtype=np.float64)
        regret = np.empty((n_inf, self.tree.max_actions))
        reach = np.empty(n_inf)
        _kernels().cfr_pass(
            self.parent, self.parent_player, self.node_player, self.edge_slot, self.chance_prob, self.leaf_payoffs,
            policy.reshape(-1), player, slot_start, prev_slot, policy[b], legal, opp, v, q, regret, reach,
        )
        return regret, reach

    # -- best response -------------------------------------------------------------------------
    def best_response(self, policy: np.ndarray, player: int, tie_break: str = "first"):
        """(best-response value, on-policy value, best-response rows (I, A) of all infosets)."""
        tree = self.tree
        A = tree.max_actions
        n = tree.num_nodes
        policy = np.ascontiguousarray(policy, dtype=np.float64)
        block = tree.infosets_of(player)
        n_sweeps = 1 if tree.uniform_depth else int(tree.own_depth[block].max(initial=0)) + 2
        br = np.empty(tree.num_infosets * A)
        value, on_value = _kernels().best_response(
            self.parent, self.parent_player, self.node_player, self.node_infoset, self.edge_slot, self.chance_prob,
            self.terminal, self.payoffs, self.level_ptr, policy.reshape(-1), self.legal_flat, player, A,
            bool(tree.uniform_depth), n_sweeps, tie_break == "uniform",
            self.scratch("opp", n), self.scratch("u", n), self.scratch("u_on", n),
            self.scratch("q", tree.num_infosets * A), br, np.empty(max(tree.num_infosets, 1), dtype=np.int64),
        )
        return float(value), float(on_value), br.reshape(tree.num_infosets, A)

    def expected_values(self, policy: np.ndarray) -> np.ndarray:
        policy = np.ascontiguousarray(policy, dtype=np.float64)
        v = self.scratch("v2", (self.tree.num_nodes, self.tree.num_players))
        return _kernels().expected_values(
            self.parent, self.parent_player, self.edge_slot, self.chance_prob, self.terminal, self.payoffs,
            policy.reshape(-1), v,
        )

    def nash_conv(self, policy: np.ndarray, per_player: bool = False):
        gains = np.empty(self.tree.num_players)
        for i in range(self.tree.num_players):
            value, on_value, _ = self.best_response(policy, i)
            gains[i] = value - on_value
        return gains if per_player else float(gains.sum())


def fast_tree(tree: GameTree) -> FastTree:
    """The :class:`FastTree` of ``tree``, built once and cached on the tree object."""
    cached = getattr(tree, "_fast_tree", None)
    if cached is None or cached.tree is not tree:
        cached = FastTree(tree)
        tree._fast_tree = cached  # derived data, rebuilt on demand; not part of the tree
    return cached


_CHECK_MESSAGES = {
    1: "returned non-finite values",
    2: "returned non-zero values on illegal actions",
    3: "returned negative probabilities",
    4: "returned rows that do not sum to 1",
}


def check_rule_output(arr, legal: np.ndarray, cumulative: bool) -> str | None:
    """The rule-contract check of docs/cfr.md in one compiled pass: None when ``arr`` is
    valid, else the reason. Only for float64 NumPy arrays of ``legal``'s shape."""
    code = _kernels().check_rule_output(arr, legal, cumulative)
    return _CHECK_MESSAGES.get(int(code)) if code else None
